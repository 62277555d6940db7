//! `airlock admin …`: enough to run Airlock before the console exists.
//! Secrets (passwords, provider API keys) are read from standard input, never
//! from arguments, so they stay out of shell history and process lists.

use std::io::BufRead;

use airlock_console::ops;
use airlock_core::key::Env;
use airlock_core::provider::ProviderKind;
use airlock_core::role::Role;
use anyhow::{Context, bail};
use clap::Subcommand;
use secrecy::{ExposeSecret, SecretString};

use crate::config::{Config, KEY_PEPPER, MASTER_KEY, require_secret};
use crate::serve::connect;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create a tenant (with the default environment limits).
    CreateTenant {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
    },
    /// Create a user and make them a member of a tenant. The password is read from stdin,
    /// or generated and printed once with --generate-password.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        tenant: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long)]
        generate_password: bool,
    },
    /// Create a relay key; the key is printed once.
    CreateKey {
        #[arg(long)]
        tenant: String,
        #[arg(long, value_parser = parse_env)]
        env: Env,
        #[arg(long)]
        name: String,
        /// Comma-separated model allow-list (empty: every model).
        #[arg(long, value_delimiter = ',')]
        allowed_models: Vec<String>,
    },
    /// Revoke a key by its display prefix (e.g. dev_Ab12Cd34).
    RevokeKey {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        prefix: String,
    },
    /// Add or replace a provider credential; the API key is read from stdin.
    SetCredential {
        #[arg(long)]
        tenant: String,
        /// Provider name used for routing (e.g. openai, anthropic, deepseek).
        #[arg(long)]
        name: String,
        /// Wire format: openai (any OpenAI-compatible URL), anthropic, gemini or mock.
        #[arg(long, value_parser = parse_kind)]
        kind: ProviderKind,
        #[arg(long)]
        base_url: Option<String>,
        /// Also make this the tenant's default provider.
        #[arg(long)]
        default: bool,
    },
    #[command(flatten)]
    Policy(crate::admin_policy::PolicyCommand),
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
        .map_err(|_| "one of owner, admin, developer, finance, viewer".to_owned())
}
fn parse_env(s: &str) -> Result<Env, String> {
    s.parse()
        .map_err(|_| "one of dev, stg, prod, ci".to_owned())
}
fn parse_kind(s: &str) -> Result<ProviderKind, String> {
    ProviderKind::parse(s).ok_or_else(|| "one of openai, anthropic, gemini, mock".to_owned())
}

fn read_stdin_line(what: &str) -> anyhow::Result<SecretString> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("reading the {what} from stdin"))?;
    let value = line.trim_end_matches(['\n', '\r']).to_owned();
    if value.is_empty() {
        bail!("expected the {what} on standard input");
    }
    Ok(SecretString::from(value))
}

pub async fn run(config: Config, command: AdminCommand) -> anyhow::Result<()> {
    let db = connect(&config).await?;
    match command {
        AdminCommand::CreateTenant { slug, name } => {
            let tenant = ops::create_tenant(&db, &slug, &name).await?;
            println!("created tenant {} ({})", tenant.slug, tenant.id);
        }
        AdminCommand::CreateUser {
            email,
            tenant,
            role,
            name,
            generate_password,
        } => {
            let tenant = ops::find_tenant(&db, &tenant).await?;
            let password = if generate_password {
                airlock_console::password::generate_password()
            } else {
                read_stdin_line("password")?
            };
            let user = ops::create_user(&db, &email, &name, password.clone()).await?;
            ops::add_member(&db, tenant.id, user.id, role).await?;
            println!("created user {} as {} of {}", user.email, role, tenant.slug);
            if generate_password {
                println!("password (shown once): {}", password.expose_secret());
            }
        }
        AdminCommand::CreateKey {
            tenant,
            env,
            name,
            allowed_models,
        } => {
            let hasher = airlock_core::key::KeyHasher::new(
                require_secret(KEY_PEPPER)?.expose_secret().as_bytes(),
            )
            .map_err(|e| anyhow::anyhow!("{KEY_PEPPER} is invalid: {e}"))?;
            let tenant = ops::find_tenant(&db, &tenant).await?;
            let allowed_models = allowed_models
                .into_iter()
                .filter(|m| !m.is_empty())
                .collect();
            let (row, key) = ops::create_key(
                &db,
                &hasher,
                ops::NewKey {
                    tenant_id: tenant.id,
                    env,
                    name,
                    owner_user_id: None,
                    allowed_models,
                    expires_at: None,
                },
            )
            .await?;
            eprintln!(
                "created key {} (shown once below; store it now)",
                row.display_prefix
            );
            println!("{}", key.expose());
        }
        AdminCommand::RevokeKey { tenant, prefix } => {
            let tenant = ops::find_tenant(&db, &tenant).await?;
            let row = ops::revoke_key(&db, tenant.id, &prefix).await?;
            println!("revoked {}", row.display_prefix);
        }
        AdminCommand::SetCredential {
            tenant,
            name,
            kind,
            base_url,
            default,
        } => {
            let master_keys = airlock_core::envelope::MasterKeys::parse(
                require_secret(MASTER_KEY)?.expose_secret(),
            )
            .map_err(|e| anyhow::anyhow!("{MASTER_KEY} is invalid: {e}"))?;
            let tenant = ops::find_tenant(&db, &tenant).await?;
            let secret = if kind.needs_credential() {
                Some(read_stdin_line("provider API key")?)
            } else {
                None
            };
            let row = ops::set_credential(
                &db,
                &master_keys,
                ops::NewCredential {
                    tenant_id: tenant.id,
                    name: &name,
                    kind,
                    base_url: base_url.as_deref(),
                    secret,
                },
            )
            .await?;
            if default {
                ops::set_default_provider(&db, tenant, &name).await?;
            }
            println!(
                "provider {} ({}) saved, key ending {}",
                row.name,
                row.kind,
                row.last4.unwrap_or_default()
            );
        }
        AdminCommand::Policy(command) => crate::admin_policy::run(&db, command).await?,
    }
    Ok(())
}
