//! `serve`, `relay`, `console`, `migrate` and `mock-upstream`, including the
//! `--demo` setup: a fresh SQLite database, a demo tenant answered by the mock
//! provider, an owner login and one key per environment, printed once.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use actix_web::{App, HttpServer, web};
use airlock_console::ConsoleState;
use airlock_console::accounts::{self, NewUser};
use airlock_console::tenant::{self, Actor, NewTenant, Store, TenantScope};
use airlock_core::key::Env;
use airlock_core::provider::ProviderKind;
use airlock_migrations::{Migrator, MigratorTrait};
use airlock_relay::RelayRuntime;
use airlock_relay::mock_upstream::{self, MockBehaviour, MockUpstream};
use anyhow::Context;
use clap::Args;
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret;
use serde_json::json;

use crate::config::{Config, Secrets};

#[derive(Args, Clone)]
pub struct PlaneArgs {
    /// Relay listen address (also AIRLOCK_RELAY_ADDR).
    #[arg(long)]
    relay_addr: Option<String>,
    /// Console listen address (also AIRLOCK_CONSOLE_ADDR).
    #[arg(long)]
    console_addr: Option<String>,
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    planes: PlaneArgs,
    /// Start with a fresh demo: SQLite in --data-dir, the mock provider, a demo tenant, login and keys.
    #[arg(long)]
    demo: bool,
    /// With --demo: print the URLs, login and keys as one JSON line.
    #[arg(long, requires = "demo")]
    json: bool,
    /// With --demo: where the demo database goes (it is recreated on every start).
    #[arg(long, default_value = "airlock-demo", requires = "demo")]
    data_dir: PathBuf,
    /// With --demo: answer with an OpenAI-compatible endpoint at this URL instead of the in-process mock.
    #[arg(long, requires = "demo")]
    upstream: Option<String>,
}

#[derive(Args)]
pub struct MockArgs {
    #[arg(long, default_value = "127.0.0.1:8090")]
    addr: String,
    /// Wait this long before every answer.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Answer every request with this HTTP status.
    #[arg(long)]
    error_status: Option<u16>,
    /// End streams after this many chunks, without the end marker.
    #[arg(long)]
    cut_after: Option<usize>,
}

pub fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if config.log_format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

pub async fn connect(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let db = airlock_schema::db::connect(&config.database_url)
        .await
        .context("connecting to the database (AIRLOCK_DATABASE_URL / DATABASE_URL)")?;
    if config.auto_migrate {
        Migrator::up(&db, None)
            .await
            .context("applying migrations")?;
    }
    Ok(db)
}

pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let db = airlock_schema::db::connect(&config.database_url).await?;
    Migrator::up(&db, None)
        .await
        .context("applying migrations")?;
    eprintln!("migrations applied");
    Ok(())
}

pub async fn serve(mut config: Config, args: ServeArgs) -> anyhow::Result<()> {
    if !args.demo {
        return run_planes(config, args.planes, true, true).await;
    }
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating the demo data dir {}", args.data_dir.display()))?;
    let db_path = args.data_dir.join(DEMO_DATABASE);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db_path.display()));
    }
    config.database_url = format!("sqlite://{}?mode=rwc", db_path.display());
    config.auto_migrate = true;
    if config.metrics_addr == Config::default().metrics_addr {
        // Several demos (and the tests' demos) run side by side on one machine.
        config.metrics_addr = "127.0.0.1:0".into();
    }
    let secrets = Secrets::random()?;
    // The CLI reads these to work on the running demo (`airlock admin --data-dir …`).
    secrets.write_env_file(&args.data_dir.join(crate::config::DEMO_SECRETS_FILE))?;
    let db = connect(&config).await?;
    let demo_egress = match args.upstream.as_deref() {
        Some(url) => demo_egress(url, config.relay.egress_https_only)?,
        None => config.egress()?,
    };
    let demo = seed_demo(&db, &secrets, args.upstream.as_deref(), &demo_egress).await?;
    let relay_addr = args
        .planes
        .relay_addr
        .clone()
        .unwrap_or(config.relay_addr.clone());
    let console_addr = args
        .planes
        .console_addr
        .clone()
        .unwrap_or(config.console_addr.clone());
    let mut console_settings = config.console_settings()?;
    console_settings.egress = demo_egress.clone();
    let billing = console_settings.billing.clone();
    let console_secrets = secrets.console();
    let mut settings = config.relay_settings()?;
    // The demo's upstream is usually `airlock mock-upstream` on this machine:
    // allow exactly its host and port, nothing else internal.
    settings.egress = demo_egress;
    let runtime =
        RelayRuntime::start(db.clone(), secrets.hasher, secrets.master_keys, settings).await?;
    let (relay, relay_url, relay_addrs) = bind_relay(&runtime, &relay_addr)?;
    // The console tells developers where the relay is: the demo's own address
    // unless the operator named another.
    if console_settings.relay_public_url.is_none() {
        console_settings.relay_public_url = Some(relay_url.clone());
    }
    let console_state = ConsoleState::new(
        db.clone(),
        console_secrets,
        config.mailer()?,
        console_settings,
    )
    .await?;
    let store = console_state.store.clone();
    let (console, console_url, console_addrs) = bind_console(console_state, &console_addr)?;
    airlock_console::jobs::spawn(
        airlock_console::jobs::Jobs::new(db, config.mailer()?, Some(console_url.clone()))
            .with_store(store)
            .with_billing(billing, billing_interval(&config)),
        std::time::Duration::from_secs(config.jobs.interval_secs),
    );
    let metrics = bind_metrics(&runtime, &config)?;
    runtime.add_own_listeners(&[relay_addrs, console_addrs, metrics.1.clone()].concat());
    let metrics_url = (!metrics.1.is_empty()).then(|| format!("{}/metrics", url_of(&metrics.1)));
    if args.json {
        println!(
            "{}",
            json!({"relay_url": relay_url, "console_url": console_url, "email": demo.email,
                   "password": demo.password, "keys": demo.keys, "metrics_url": metrics_url})
        );
    } else {
        println!(
            "Airlock demo is running (data in {}).",
            args.data_dir.display()
        );
        println!("  relay:    {relay_url}   (OpenAI base URL: {relay_url}/v1)");
        println!("  console:  {console_url}");
        if let Some(url) = &metrics_url {
            println!("  metrics:  {url}");
        }
        println!("  login:    {} / {}", demo.email, demo.password);
        for (env, key) in &demo.keys {
            println!("  {env:<5} key: {key}");
        }
        println!("These keys are shown once. Stop with Ctrl-C.");
    }
    let (a, b, c) = futures_util::future::join3(relay, console, run_optional(metrics.0)).await;
    runtime.shutdown().await;
    a.context("relay server")?;
    b.context("console server")?;
    c.context("metrics server")?;
    Ok(())
}

/// The egress policy of `serve --demo --upstream URL`: that URL's host and port.
fn demo_egress(url: &str, https_only: bool) -> anyhow::Result<airlock_core::egress::EgressPolicy> {
    let parsed = url::Url::parse(url).with_context(|| format!("--upstream {url} is not a URL"))?;
    let host = parsed
        .host_str()
        .with_context(|| format!("--upstream {url} has no host"))?;
    let port = parsed
        .port_or_known_default()
        .with_context(|| format!("--upstream {url} has no port"))?;
    airlock_core::egress::EgressPolicy::parse([format!("{host}:{port}").as_str()], https_only)
        .map_err(|e| anyhow::anyhow!("--upstream {url}: {e}"))
}

struct Demo {
    email: String,
    password: String,
    keys: BTreeMap<&'static str, String>,
}

/// The demo's database file, in its data directory.
pub const DEMO_DATABASE: &str = "airlock-demo.db";

async fn seed_demo(
    db: &DatabaseConnection,
    secrets: &Secrets,
    upstream: Option<&str>,
    egress: &airlock_core::egress::EgressPolicy,
) -> anyhow::Result<Demo> {
    let store = Store::new(db.clone(), secrets.audit_key.clone());
    let actor = Actor {
        label: "airlock serve --demo".into(),
        ..Actor::cli()
    };
    let email = "owner@demo.airlock.local".to_owned();
    let password = accounts::generate_password();
    let user = accounts::create_user(
        db,
        NewUser {
            email: email.clone(),
            display_name: "Demo Owner".into(),
            password: password.clone(),
            verified: true,
        },
    )
    .await?;
    tenant::create(
        &store,
        &actor,
        Some(user.id),
        NewTenant {
            slug: "demo".into(),
            name: "Demo Org".into(),
        },
    )
    .await?;
    let scope = TenantScope::check(db, &user, "demo").await?;
    let (name, kind, base_url, api_key) = match upstream {
        None => ("mock", ProviderKind::Mock, None, None),
        Some(url) => (
            "upstream",
            ProviderKind::OpenAi,
            Some(url.to_owned()),
            Some(secrecy::SecretString::from("demo-upstream-key")),
        ),
    };
    let provider = tenant::providers::ProviderInput {
        master_keys: &secrets.master_keys,
        egress,
        name: name.into(),
        kind,
        base_url,
        api_key,
    };
    tenant::providers::save(&store, &scope, &actor, provider).await?;
    if upstream.is_some() {
        // The demo's upstream is a local stand-in (`airlock mock-upstream`): data
        // sent to it does not leave, so every data class may go there.
        let mark = tenant::providers::SelfHosted {
            provider: name.into(),
            self_hosted: true,
        };
        tenant::providers::set_self_hosted(&store, &scope, &actor, mark).await?;
    }
    let mut keys = BTreeMap::new();
    for env in Env::ALL {
        let new = tenant::keys::NewKey {
            hasher: &secrets.hasher,
            env,
            name: format!("demo {env}"),
            allowed_models: Vec::new(),
            expires_at: None,
        };
        let created = tenant::keys::create(&store, &scope, &actor, new).await?;
        keys.insert(env.as_str(), created.key.expose().to_owned());
    }
    Ok(Demo {
        email,
        password: password.expose_secret().to_owned(),
        keys,
    })
}

type Running = actix_web::dev::Server;

fn url_of(addrs: &[std::net::SocketAddr]) -> String {
    addrs
        .first()
        .map(|a| format!("http://{a}"))
        .unwrap_or_default()
}

type Addrs = Vec<std::net::SocketAddr>;

fn bind_relay(runtime: &RelayRuntime, addr: &str) -> anyhow::Result<(Running, String, Addrs)> {
    let configure = runtime.configure();
    let server = HttpServer::new(move || App::new().configure(configure.clone()))
        // Streams are many small writes; with Nagle on, each waits for the client's
        // delayed ACK (~40 ms per frame, measured by e2e/bench/relay.sh).
        .on_connect(|connection, _| {
            if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
                let _ = tcp.set_nodelay(true);
            }
        })
        .shutdown_timeout(30)
        .bind(addr)
        .with_context(|| {
            format!("binding the relay to {addr} (AIRLOCK_RELAY_ADDR / --relay-addr)")
        })?;
    let addrs = server.addrs();
    let url = url_of(&addrs);
    Ok((server.run(), url, addrs))
}

/// The operator's metrics listener (`metrics_addr`), unless the relay's port
/// serves `/metrics` itself (public or behind the token) or the address is empty.
fn bind_metrics(
    runtime: &RelayRuntime,
    config: &Config,
) -> anyhow::Result<(Option<Running>, Addrs)> {
    let addr = config.metrics_addr.trim();
    let on_relay_port = config.relay.public_metrics
        || crate::config::read_secret(crate::config::METRICS_TOKEN)?.is_some();
    if addr.is_empty() || on_relay_port {
        return Ok((None, Vec::new()));
    }
    let configure = runtime.configure_metrics();
    let server = HttpServer::new(move || App::new().configure(configure.clone()))
        .workers(1)
        .shutdown_timeout(1)
        .bind(addr)
        .with_context(|| {
            format!("binding the metrics listener to {addr} (metrics_addr / AIRLOCK_METRICS_ADDR; empty turns it off)")
        })?;
    let addrs = server.addrs();
    eprintln!("metrics listening on {}", url_of(&addrs));
    Ok((Some(server.run()), addrs))
}

/// Waits for a server that may not exist.
async fn run_optional(server: Option<Running>) -> std::io::Result<()> {
    match server {
        Some(server) => server.await,
        None => Ok(()),
    }
}

fn bind_console(state: Arc<ConsoleState>, addr: &str) -> anyhow::Result<(Running, String, Addrs)> {
    let server = HttpServer::new(move || airlock_console::web::app(state.clone()))
        .shutdown_timeout(10)
        .bind(addr)
        .with_context(|| {
            format!("binding the console to {addr} (AIRLOCK_CONSOLE_ADDR / --console-addr)")
        })?;
    let addrs = server.addrs();
    let url = url_of(&addrs);
    Ok((server.run(), url, addrs))
}

/// How often the job runner reports usage to Stripe (`billing.sync_interval_secs`;
/// 0: only on demand).
fn billing_interval(config: &Config) -> std::time::Duration {
    std::time::Duration::from_secs(config.billing.sync_interval_secs)
}

pub async fn run_planes(
    config: Config,
    args: PlaneArgs,
    relay: bool,
    console: bool,
) -> anyhow::Result<()> {
    let secrets = Secrets::from_env()?;
    let db = connect(&config).await?;
    let mut servers = Vec::new();
    let mut runtime = None;
    let mut own = Vec::new();
    if console {
        let console_settings = config.console_settings()?;
        let billing = console_settings.billing.clone();
        let state = ConsoleState::new(
            db.clone(),
            secrets.console(),
            config.mailer()?,
            console_settings,
        )
        .await?;
        airlock_console::jobs::spawn(
            airlock_console::jobs::Jobs::new(
                db.clone(),
                config.mailer()?,
                config.console_public_url.clone().filter(|u| !u.is_empty()),
            )
            .with_store(state.store.clone())
            .with_billing(billing, billing_interval(&config)),
            std::time::Duration::from_secs(config.jobs.interval_secs),
        );
        let addr = args
            .console_addr
            .clone()
            .unwrap_or(config.console_addr.clone());
        let (server, url, addrs) = bind_console(state, &addr)?;
        own.extend(addrs);
        eprintln!("console listening on {url}");
        servers.push(server);
    }
    if relay {
        let rt = RelayRuntime::start(
            db,
            secrets.hasher,
            secrets.master_keys,
            config.relay_settings()?,
        )
        .await?;
        let addr = args.relay_addr.unwrap_or(config.relay_addr.clone());
        let (server, url, addrs) = bind_relay(&rt, &addr)?;
        own.extend(addrs);
        eprintln!("relay listening on {url}");
        servers.push(server);
        let (metrics, addrs) = bind_metrics(&rt, &config)?;
        own.extend(addrs);
        if let Some(metrics) = metrics {
            servers.push(metrics);
        }
        runtime = Some(rt);
    }
    if let Some(rt) = &runtime {
        // A console in another process on this host is not known here; the
        // hop header stops a relay calling itself through it anyway.
        rt.add_own_listeners(&own);
    }
    let results = futures_util::future::join_all(servers).await;
    if let Some(rt) = runtime {
        rt.shutdown().await;
    }
    for result in results {
        result.context("server")?;
    }
    Ok(())
}

pub async fn mock_upstream(args: MockArgs) -> anyhow::Result<()> {
    let state = web::Data::new(MockUpstream::new(MockBehaviour {
        delay_ms: args.delay_ms,
        error_status: args.error_status,
        cut_after: args.cut_after,
        ..MockBehaviour::default()
    }));
    let configure = mock_upstream::configure(state);
    let server = HttpServer::new(move || App::new().configure(configure.clone()))
        .bind(&args.addr)
        .with_context(|| format!("binding the mock upstream to {}", args.addr))?;
    println!("{}", json!({"mock_upstream_url": url_of(&server.addrs())}));
    server.run().await.context("mock upstream")
}
