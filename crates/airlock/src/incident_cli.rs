//! `airlock incident contain|release`: the console's incident steps from the
//! shell, for operators and scripts. They need only the database: the relays
//! pick the change up from it within a second. With `AIRLOCK_JWT_SECRET` (or a
//! demo's `--data-dir`) each step is in the tenant's audit log like the
//! console's; without it (an operator on another host in a hurry) the keys are
//! stopped all the same and the command says the step is not in the audit log,
//! so nobody takes its absence there for "nothing happened".

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
    let jwt = SecretSource::for_cli(&config, args.data_dir.as_deref())?.read(JWT_SECRET)?;
    let db = connect(&config).await?;
    // Audited when the audit key can be derived.
    let store = match &jwt {
        Some(jwt) => Some(Store::new(db.clone(), audit_key(jwt)?)),
        None => None,
    };
    let actor = Actor::cli();
    let say_unaudited = |store: &Option<Store>| {
        if store.is_none() {
            println!(
                "(not in the tenant's audit log: set {JWT_SECRET} to record CLI steps there; record this one by hand)"
            );
        }
    };
    match args.command {
        IncidentCommand::Contain {
            tenant,
            whose,
            action,
            note,
        } => {
            let scope = scope(&db, &tenant).await?;
            let target = whose.target();
            let containment = match action {
                Action::Suspend => Containment::Suspend,
                Action::Revoke => Containment::Revoke,
            };
            let note = incidents::check_note(&note)?;
            let stopped = match &store {
                Some(store) => {
                    incidents::contain(store, &scope, &actor, &target, containment, note).await?
                }
                None => incidents::contain_unaudited(&db, &scope, &target, containment).await?,
            };
            let verb = match containment {
                Containment::Suspend => "suspended",
                Containment::Revoke | Containment::Rotate => "revoked",
            };
            println!(
                "{tenant}: {verb} {stopped} {} ({}); the relays refuse them within a second",
                if stopped == 1 { "key" } else { "keys" },
                target.describe()
            );
            say_unaudited(&store);
        }
        IncidentCommand::Release {
            tenant,
            whose,
            note,
        } => {
            let scope = scope(&db, &tenant).await?;
            let target = whose.target();
            let note = incidents::check_note(&note)?;
            let released = match &store {
                Some(store) => incidents::release(store, &scope, &actor, &target, note).await?,
                None => incidents::release_unaudited(&db, &scope, &target).await?,
            };
            println!(
                "{tenant}: released {released} {} ({}); they work again within a second",
                if released == 1 { "key" } else { "keys" },
                target.describe()
            );
            say_unaudited(&store);
        }
    }
    Ok(())
}

async fn scope(db: &sea_orm::DatabaseConnection, slug: &str) -> anyhow::Result<TenantScope> {
    TenantScope::operator(db, slug)
        .await
        .with_context(|| format!("no tenant with the address `{slug}`"))
}
