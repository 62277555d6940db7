//! `airlock usage …`: operator commands over usage data. They need only the
//! database (`DATABASE_URL`, or a demo's `--data-dir`), none of the server's
//! secrets, and are safe while the relay serves traffic.

use std::path::PathBuf;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Args, Subcommand};

use crate::config::Config;
use crate::serve::connect;

#[derive(Args)]
pub struct UsageArgs {
    /// A demo's data directory: use its database.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: UsageCommand,
}

#[derive(Subcommand)]
enum UsageCommand {
    /// Recompute the daily rollups (`usage_daily` and its per-key and per-model
    /// grains) from the usage records, from a UTC day to today. The usage writer
    /// keeps them current; this backfills records written before rollups
    /// existed, or repairs a hand-edited table.
    Rollup {
        /// First UTC day to recompute, e.g. 2026-11-01.
        #[arg(long, value_parser = parse_day)]
        from: NaiveDate,
    },
}

pub(crate) fn parse_day(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| format!("`{s}` is not a date like 2026-11-01"))
}

/// The database a CLI command works on: a demo's, or the configured one.
pub(crate) fn use_data_dir(config: &mut Config, data_dir: Option<&PathBuf>) {
    if let Some(dir) = data_dir {
        config.database_url = format!(
            "sqlite://{}?mode=rw",
            dir.join(crate::serve::DEMO_DATABASE).display()
        );
    }
}

pub async fn run(mut config: Config, args: UsageArgs) -> anyhow::Result<()> {
    use_data_dir(&mut config, args.data_dir.as_ref());
    match args.command {
        UsageCommand::Rollup { from } => {
            let today = chrono::Utc::now().date_naive();
            if from > today {
                anyhow::bail!("--from {from} is in the future (today is {today} UTC)");
            }
            if (today - from).num_days() > 3_660 {
                anyhow::bail!("--from {from} is more than ten years back; pick a later day");
            }
            let db = connect(&config).await?;
            let report = airlock_schema::rollup::rebuild_from(&db, from)
                .await
                .context("recomputing the rollups")?;
            println!(
                "recomputed {} days from {from} to {today}: {} rollup rows",
                report.days, report.rows
            );
        }
    }
    Ok(())
}
