//! `airlock billing …` and the background sync. The commands need only the
//! database (`DATABASE_URL`, or a demo's `--data-dir`) and the Stripe settings
//! (`AIRLOCK_STRIPE_SECRET_KEY`, `billing.*`), not the server's other secrets,
//! and are safe while the server runs: reports are planned under a unique
//! range, so two syncs at once cannot report the same usage twice.

use std::path::PathBuf;
use std::sync::Arc;

use airlock_console::billing::Billing;
use airlock_console::billing::reconcile::{self, ReconcileError};
use airlock_console::billing::sync::{self, TenantSync};
use airlock_console::tenant::billing::{self as tenant_billing, BillingInput, percent_text};
use airlock_console::tenant::{Actor, Store, TenantScope};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::config::{Config, JWT_SECRET, STRIPE_SECRET_KEY, SecretSource, audit_key};
use crate::serve::connect;
use crate::usage_cli::use_data_dir;

#[derive(Args)]
pub struct BillingArgs {
    /// A demo's data directory: use its database.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: BillingCommand,
}

#[derive(Subcommand)]
enum BillingCommand {
    /// Turn billing on for a tenant: link an existing Stripe customer, or create
    /// one, and set the markup. Usage is billed from today.
    Enable {
        #[arg(long)]
        tenant: String,
        /// An existing Stripe customer (cus_…); without it one is created.
        #[arg(long)]
        customer: Option<String>,
        /// Markup over provider cost in percent (two decimals at most).
        #[arg(long)]
        markup_percent: Option<String>,
        /// Where Stripe sends the invoices.
        #[arg(long)]
        email: Option<String>,
    },
    /// Report every tenant's unreported usage to Stripe now. Exits non-zero if
    /// any tenant's sync failed (its usage stays unsent and is retried).
    Sync,
    /// Compare a month's rollups, what Airlock reported, and Stripe's meter
    /// event summaries, day by day. Exits non-zero on any difference.
    Reconcile {
        #[arg(long)]
        tenant: String,
        /// The month, like 2026-11.
        #[arg(long, value_parser = reconcile::parse_month)]
        month: chrono::NaiveDate,
    },
}

fn billing_of(config: &Config) -> anyhow::Result<Arc<Billing>> {
    config.billing()?.with_context(|| {
        format!("billing is off: set {STRIPE_SECRET_KEY} (or {STRIPE_SECRET_KEY}_FILE) to Stripe's secret key")
    })
}

fn dollars(micros: i64) -> String {
    airlock_core::money::MicroDollars::new(micros).to_string()
}

pub async fn run(mut config: Config, args: BillingArgs) -> anyhow::Result<()> {
    use_data_dir(&mut config, args.data_dir.as_ref());
    let billing = billing_of(&config)?;
    let db = connect(&config).await?;
    match args.command {
        BillingCommand::Enable {
            tenant,
            customer,
            markup_percent,
            email,
        } => {
            let scope = TenantScope::operator(&db, &tenant).await?;
            let input = BillingInput {
                enabled: true,
                customer,
                markup_percent,
                billing_email: email,
            };
            // Audited under the CLI's actor when the audit key can be derived
            // (AIRLOCK_JWT_SECRET, or the demo's secrets file); the command
            // needs only the database and Stripe, so without it the change is
            // made and said to be unaudited.
            let jwt = SecretSource::for_cli(&config, args.data_dir.as_deref())
                .ok()
                .and_then(|secrets| secrets.read(JWT_SECRET).ok().flatten());
            let (saved, audited) = match jwt {
                Some(jwt) => {
                    let store = Store::new(db.clone(), audit_key(&jwt)?);
                    let saved = tenant_billing::configure(
                        &store,
                        &scope,
                        &Actor::cli(),
                        Some(&billing),
                        input,
                    )
                    .await?;
                    (saved, true)
                }
                None => (
                    tenant_billing::configure_as_operator(&db, &scope, &billing, input).await?,
                    false,
                ),
            };
            println!(
                "billing is on for {tenant}: Stripe customer {}, markup {} %, usage billed from {}",
                saved.stripe_customer_id.as_deref().unwrap_or("none"),
                percent_text(saved.markup_basis_points),
                saved
                    .bill_from
                    .map_or_else(|| "today".to_owned(), |d| d.to_string()),
            );
            if audited {
                println!("(in the tenant's audit log as billing.update by the CLI)");
            } else {
                println!(
                    "(not in the tenant's audit log: set {JWT_SECRET} to record CLI changes there)"
                );
            }
        }
        BillingCommand::Sync => {
            let results = sync::sync_all(&db, &billing.api)
                .await
                .context("reading the tenants to bill")?;
            let failed = print_syncs(&results);
            if failed > 0 {
                bail!(
                    "{failed} of {} tenants did not finish their sync",
                    results.len()
                );
            }
        }
        BillingCommand::Reconcile { tenant, month } => {
            let scope = TenantScope::operator(&db, &tenant).await?;
            let result = reconcile::reconcile(&db, &billing.api, scope.tenant_id(), month)
                .await
                .map_err(|e| match e {
                    ReconcileError::Db(e) => anyhow::Error::new(e).context("reading usage"),
                    ReconcileError::Stripe(f) => anyhow::anyhow!("Stripe: {}", f.message),
                })?;
            println!(
                "{tenant} {}: customer {}, meter `{}` {}",
                month.format("%Y-%m"),
                result.customer.as_deref().unwrap_or("none"),
                billing.api.meter_event_name(),
                if result.meter_found {
                    "found"
                } else {
                    "NOT FOUND in Stripe"
                }
            );
            println!("day         expected     reported     waiting      stripe");
            for day in &result.days {
                if day.expected_micros == 0
                    && day.reported_micros == 0
                    && day.unsent_micros == 0
                    && day.stripe_micros.unwrap_or(0) == 0
                {
                    continue;
                }
                println!(
                    "{}  {:>11}  {:>11}  {:>11}  {:>11}",
                    day.day,
                    dollars(day.expected_micros),
                    dollars(day.reported_micros),
                    dollars(day.unsent_micros),
                    day.stripe_micros.map_or_else(|| "-".to_owned(), dollars),
                );
            }
            let differences = result.differences();
            if differences.is_empty() {
                println!("no differences");
            } else {
                for (day, text) in &differences {
                    println!("DIFFERENCE {day}: {text}");
                }
                bail!("{} days differ", differences.len());
            }
        }
    }
    Ok(())
}

/// Prints one line per tenant; returns how many failed.
fn print_syncs(results: &[TenantSync]) -> usize {
    if results.is_empty() {
        println!("no tenant has billing on");
    }
    let mut failed = 0;
    for r in results {
        match &r.error {
            None => println!(
                "{}: {} reports sent ({}), {} waiting",
                r.slug,
                r.sent,
                dollars(r.sent_value_micros),
                r.unsent
            ),
            Some(error) => {
                failed += 1;
                println!(
                    "{}: FAILED after {} reports sent, {} waiting: {error}",
                    r.slug, r.sent, r.unsent
                );
            }
        }
    }
    failed
}
