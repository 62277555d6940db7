//! `airlock admin …`: the operator's commands. They go through the same tenant
//! functions as the console, with the operator's scope and the `cli:<os user>`
//! actor, so every change is validated like a page's and lands in the tenant's
//! audit log. Secrets (passwords, provider API keys) are read from standard
//! input, never from arguments, so they stay out of shell history and process
//! lists.
//!
//! Writes sign the audit chain, so they need `AIRLOCK_JWT_SECRET` (the audit key
//! is derived from it); `create-key` also needs the pepper and `set-credential`
//! the master key. Against a running demo they read the demo's `secrets.env`
//! (`--data-dir`, or found next to the demo's database).

use std::io::BufRead;
use std::path::PathBuf;

use airlock_console::accounts::{self, NewUser};
use airlock_console::tenant::members::NewMember;
use airlock_console::tenant::{self, Actor, NewTenant, Store, TenantScope};
use airlock_core::envelope::MasterKeys;
use airlock_core::key::{Env, KeyHasher};
use airlock_core::provider::ProviderKind;
use airlock_core::role::Role;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use secrecy::{ExposeSecret, SecretString};

use crate::config::{Config, JWT_SECRET, KEY_PEPPER, MASTER_KEY, SecretSource, audit_key};
use crate::serve::connect;

#[derive(Args)]
pub struct AdminArgs {
    /// A demo's data directory: use its database and its secrets (secrets.env).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: AdminCommand,
}

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
    /// Set a user's password (stdin, or generated with --generate-password); signs them out everywhere.
    ResetPassword {
        #[arg(long)]
        email: String,
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
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_kind)]
        kind: ProviderKind,
        #[arg(long)]
        base_url: Option<String>,
        /// Make it the tenant's default provider.
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
pub(crate) fn parse_env(s: &str) -> Result<Env, String> {
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

/// What an admin command works with: the tenant layer's store, the operator as
/// actor, and where to find the secrets a command needs.
pub struct Operator {
    pub store: Store,
    pub actor: Actor,
    secrets: SecretSource,
}

impl Operator {
    /// The operator's scope over a tenant.
    pub async fn scope(&self, slug: &str) -> anyhow::Result<TenantScope> {
        TenantScope::operator(self.store.db(), slug)
            .await
            .with_context(|| format!("no tenant with the address `{slug}`"))
    }

    fn hasher(&self) -> anyhow::Result<KeyHasher> {
        KeyHasher::new(self.secrets.require(KEY_PEPPER)?.expose_secret().as_bytes())
            .map_err(|e| anyhow::anyhow!("{KEY_PEPPER} is invalid: {e}"))
    }

    fn master_keys(&self) -> anyhow::Result<MasterKeys> {
        MasterKeys::parse(self.secrets.require(MASTER_KEY)?.expose_secret())
            .map_err(|e| anyhow::anyhow!("{MASTER_KEY} is invalid: {e}"))
    }
}

pub async fn run(mut config: Config, args: AdminArgs) -> anyhow::Result<()> {
    if let Some(dir) = &args.data_dir {
        config.database_url = format!(
            "sqlite://{}?mode=rw",
            dir.join(crate::serve::DEMO_DATABASE).display()
        );
    }
    let secrets = SecretSource::for_cli(&config, args.data_dir.as_deref())?;
    let jwt = secrets
        .require(JWT_SECRET)
        .context("admin commands sign the audit log with a key derived from AIRLOCK_JWT_SECRET")?;
    let db = connect(&config).await?;
    let operator = Operator {
        store: Store::new(db, audit_key(&jwt)?),
        actor: Actor::cli(),
        secrets,
    };
    let egress = config.egress()?;
    run_command(&operator, &egress, args.command).await
}

async fn run_command(
    op: &Operator,
    egress: &airlock_core::egress::EgressPolicy,
    command: AdminCommand,
) -> anyhow::Result<()> {
    match command {
        AdminCommand::CreateTenant { slug, name } => {
            let tenant =
                tenant::create(&op.store, &op.actor, None, NewTenant { slug, name }).await?;
            println!("created tenant {} ({})", tenant.slug, tenant.id);
        }
        AdminCommand::CreateUser {
            email,
            tenant,
            role,
            name,
            generate_password,
        } => {
            let scope = op.scope(&tenant).await?;
            let password = if generate_password {
                accounts::generate_password()
            } else {
                read_stdin_line("password")?
            };
            let user = accounts::create_user(
                op.store.db(),
                NewUser {
                    email,
                    display_name: name,
                    password: password.clone(),
                    verified: true,
                },
            )
            .await?;
            tenant::members::add(
                &op.store,
                &scope,
                &op.actor,
                NewMember {
                    user_id: user.id,
                    role,
                },
            )
            .await?;
            println!(
                "created user {} as {} of {}",
                user.email,
                role,
                scope.slug()
            );
            if generate_password {
                println!("password (shown once): {}", password.expose_secret());
            }
        }
        AdminCommand::ResetPassword {
            email,
            generate_password,
        } => {
            let password = if generate_password {
                accounts::generate_password()
            } else {
                read_stdin_line("password")?
            };
            let user = accounts::find_by_email(op.store.db(), &email)
                .await?
                .with_context(|| format!("no account with the address {email}"))?;
            accounts::set_password(op.store.db(), user.id, password.clone()).await?;
            println!(
                "set a new password for {}; their sessions ended",
                user.email
            );
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
            let hasher = op.hasher()?;
            let scope = op.scope(&tenant).await?;
            let new = tenant::keys::NewKey {
                hasher: &hasher,
                env,
                name,
                allowed_models,
                expires_at: None,
            };
            let created = tenant::keys::create(&op.store, &scope, &op.actor, new).await?;
            eprintln!(
                "created key {} (shown once below; store it now)",
                created.row.display_prefix
            );
            println!("{}", created.key.expose());
        }
        AdminCommand::RevokeKey { tenant, prefix } => {
            let scope = op.scope(&tenant).await?;
            let key = tenant::keys::by_prefix(&op.store, &scope, &prefix)
                .await
                .with_context(|| format!("no key starting with `{prefix}` in this tenant"))?;
            let row = tenant::keys::revoke(&op.store, &scope, &op.actor, key.id).await?;
            println!("revoked {}", row.display_prefix);
        }
        AdminCommand::SetCredential {
            tenant,
            name,
            kind,
            base_url,
            default,
        } => {
            let master_keys = op.master_keys()?;
            let scope = op.scope(&tenant).await?;
            let api_key = if kind.needs_credential() {
                Some(read_stdin_line("provider API key")?)
            } else {
                None
            };
            let input = tenant::providers::ProviderInput {
                master_keys: &master_keys,
                egress,
                name: name.clone(),
                kind,
                base_url,
                api_key,
            };
            let row = tenant::providers::save(&op.store, &scope, &op.actor, input).await?;
            if default {
                tenant::providers::set_default(&op.store, &scope, &op.actor, &name).await?;
            }
            println!(
                "provider {} ({}) saved, key ending {}",
                row.name,
                row.kind,
                row.last4.unwrap_or_default()
            );
        }
        AdminCommand::Policy(command) => crate::admin_policy::run(op, command).await?,
    }
    Ok(())
}
