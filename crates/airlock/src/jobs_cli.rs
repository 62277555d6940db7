//! `airlock jobs run-once [--job NAME]`: runs the periodic jobs now (budget
//! alerts, rotation reminders, then their mail). Needs only the database and the mail settings
//! (`DATABASE_URL` or a demo's `--data-dir`, `AIRLOCK_SMTP_URL`,
//! `AIRLOCK_CONSOLE_PUBLIC_URL`), none of the server's secrets, so it runs from
//! any host that reaches the database, also beside running servers (the jobs
//! are idempotent: an alert fires once, a mail is claimed before it is sent).

use std::path::PathBuf;

use airlock_console::jobs::{Job, Jobs};
use clap::{Args, Subcommand};

use crate::config::Config;
use crate::serve::connect;
use crate::usage_cli::use_data_dir;

#[derive(Args)]
pub struct JobsArgs {
    /// A demo's data directory: use its database.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: JobsCommand,
}

#[derive(Subcommand)]
enum JobsCommand {
    /// Run every job once now, or only `--job NAME`.
    RunOnce {
        /// budget-alerts, rotation-reminders, anomaly-detection, alert-mail or
        /// billing-sync.
        #[arg(long, value_parser = parse_job)]
        job: Option<Job>,
    },
}

fn parse_job(name: &str) -> Result<Job, String> {
    Job::parse(name).ok_or_else(|| {
        let names: Vec<&str> = Job::ALL.iter().map(|j| j.name()).collect();
        format!("no job `{name}`; the jobs are {}", names.join(", "))
    })
}

pub async fn run(mut config: Config, args: JobsArgs) -> anyhow::Result<()> {
    use_data_dir(&mut config, args.data_dir.as_ref());
    let JobsCommand::RunOnce { job } = args.command;
    let db = connect(&config).await?;
    let billing = config.console_settings()?.billing;
    let jobs = Jobs::new(db, config.mailer()?, config.console_public_url.clone())
        .with_billing(billing, std::time::Duration::ZERO);
    let chosen: Vec<Job> = match job {
        Some(job) => vec![job],
        None => Job::ALL.to_vec(),
    };
    for job in chosen {
        let summary = jobs
            .run(job, chrono::Utc::now())
            .await
            .map_err(|e| anyhow::anyhow!("{}: {e}", job.name()))?;
        println!("{summary}");
    }
    Ok(())
}
