//! `airlock incident contain|release`: the console's incident steps from the
//! shell, for operators and scripts. Like `airlock admin` they sign the tenant's
//! audit log, so they need `AIRLOCK_JWT_SECRET` (or a demo's `--data-dir`): a
//! containment nobody can find in the audit log afterwards would be an incident
//! of its own. They need no other secret; the relays pick the change up from the
//! database within a second.

use std::path::PathBuf;

use airlock_console::tenant::incidents::{self, Containment, Target};
use airlock_console::tenant::{Actor, Store, TenantScope};
use airlock_core::key::Env;
use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};

use crate::config::{Config, JWT_SECRET, SecretSource, audit_key};
use crate::serve::connect;
use crate::usage_cli::use_data_dir;

#[derive(Args)]
pub struct IncidentArgs {
    /// A demo's data directory: use its database and secrets.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: IncidentCommand,
}

/// Whose keys: exactly one of these.
#[derive(Args)]
#[group(required = true, multiple = false)]
struct Whose {
    /// Every key of one environment (dev, stg, prod, ci).
    #[arg(long)]
    env: Option<Env>,
    /// Every key one person owns in the tenant, by email.
    #[arg(long)]
    member: Option<String>,
    /// Every key of the tenant.
    #[arg(long)]
    all: bool,
}

impl Whose {
    fn target(&self) -> Target {
        match (&self.env, &self.member) {
            (Some(env), _) => Target::Env(*env),
            (None, Some(email)) => Target::Member(email.clone()),
            (None, None) => Target::All,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Action {
    /// Refused with key_suspended until released.
    Suspend,
    /// Refused for good.
    Revoke,
}

#[derive(Subcommand)]
enum IncidentCommand {
    /// Suspend or revoke every key of the tenant, an environment or a person.
    Contain {
        /// The tenant's address (slug).
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        whose: Whose,
        #[arg(long, value_enum)]
        action: Action,
        /// Why, for the audit log (at most 500 characters).
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Lift the suspensions of the tenant, an environment or a person.
    Release {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        whose: Whose,
        /// What was checked, for the audit log.
        #[arg(long, default_value = "")]
        note: String,
    },
}

pub async fn run(mut config: Config, args: IncidentArgs) -> anyhow::Result<()> {
    use_data_dir(&mut config, args.data_dir.as_ref());
    let secrets = SecretSource::for_cli(&config, args.data_dir.as_deref())?;
    let jwt = secrets.require(JWT_SECRET).context(
        "incident commands sign the tenant's audit log with a key derived from AIRLOCK_JWT_SECRET",
    )?;
    let db = connect(&config).await?;
    let store = Store::new(db, audit_key(&jwt)?);
    let actor = Actor::cli();
    match args.command {
        IncidentCommand::Contain {
            tenant,
            whose,
            action,
            note,
        } => {
            let scope = scope(&store, &tenant).await?;
            let target = whose.target();
            let containment = match action {
                Action::Suspend => Containment::Suspend,
                Action::Revoke => Containment::Revoke,
            };
            let note = incidents::check_note(&note)?;
            let stopped =
                incidents::contain(&store, &scope, &actor, &target, containment, note).await?;
            let verb = match containment {
                Containment::Suspend => "suspended",
                Containment::Revoke | Containment::Rotate => "revoked",
            };
            println!(
                "{tenant}: {verb} {stopped} {} ({}); the relays refuse them within a second",
                if stopped == 1 { "key" } else { "keys" },
                target.describe()
            );
        }
        IncidentCommand::Release {
            tenant,
            whose,
            note,
        } => {
            let scope = scope(&store, &tenant).await?;
            let target = whose.target();
            let note = incidents::check_note(&note)?;
            let released = incidents::release(&store, &scope, &actor, &target, note).await?;
            println!(
                "{tenant}: released {released} {} ({}); they work again within a second",
                if released == 1 { "key" } else { "keys" },
                target.describe()
            );
        }
    }
    Ok(())
}

async fn scope(store: &Store, slug: &str) -> anyhow::Result<TenantScope> {
    TenantScope::operator(store.db(), slug)
        .await
        .with_context(|| format!("no tenant with the address `{slug}`"))
}
