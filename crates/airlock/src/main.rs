//! The `airlock` binary: parses the command line, loads configuration and starts
//! things. The work itself lives in the library crates.

mod admin;
mod admin_policy;
mod billing_cli;
mod config;
mod incident_cli;
mod jobs_cli;
mod serve;
mod usage_cli;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "airlock",
    version,
    about = "Airlock: the AI gateway between your apps and AI providers"
)]
struct Cli {
    /// TOML configuration file (also AIRLOCK_CONFIG).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the relay and the console.
    Serve(serve::ServeArgs),
    /// Run the relay (data plane) only.
    Relay(serve::PlaneArgs),
    /// Run the console (control plane) only.
    Console(serve::PlaneArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Run a deterministic stand-in for the OpenAI, Anthropic and Gemini APIs.
    MockUpstream(serve::MockArgs),
    /// Manage tenants, users, keys, providers and policies from the shell (audited).
    Admin(admin::AdminArgs),
    /// Usage data: recompute the daily rollups.
    Usage(usage_cli::UsageArgs),
    /// Stripe billing: turn it on for a tenant, sync now, reconcile a month.
    Billing(billing_cli::BillingArgs),
    /// Periodic jobs (budget alerts, rotation reminders, their mail): run them now.
    Jobs(jobs_cli::JobsArgs),
    /// Incident response: contain (suspend or revoke many keys) and release.
    Incident(incident_cli::IncidentArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = actix_web::rt::System::new().block_on(run(cli));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = config::Config::load(cli.config.as_deref())?;
    serve::init_logging(&config);
    match cli.command {
        Command::Serve(args) => serve::serve(config, args).await,
        Command::Relay(args) => serve::run_planes(config, args, true, false).await,
        Command::Console(args) => serve::run_planes(config, args, false, true).await,
        Command::Migrate => serve::migrate(&config).await,
        Command::MockUpstream(args) => serve::mock_upstream(args).await,
        Command::Admin(command) => admin::run(config, command).await,
        Command::Usage(args) => usage_cli::run(config, args).await,
        Command::Billing(args) => billing_cli::run(config, args).await,
        Command::Jobs(args) => jobs_cli::run(config, args).await,
        Command::Incident(args) => incident_cli::run(config, args).await,
    }
}
