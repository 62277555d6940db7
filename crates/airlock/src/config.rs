//! Configuration, loaded once at startup into one typed struct: built-in
//! defaults, then an optional TOML file, then `AIRLOCK_*` environment variables
//! (`__` for nesting). Secrets come only from the environment, each with a
//! `_FILE` twin (a path to read it from); giving both is refused.

use std::path::{Path, PathBuf};
use std::time::Duration;

use airlock_core::egress::EgressPolicy;
use airlock_core::envelope::MasterKeys;
use airlock_core::key::KeyHasher;
use airlock_core::netaddr::parse_cidrs;
use airlock_relay::RelaySettings;
use airlock_relay::state::{MetricsExposure, RequestLimits};
use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Config {
    /// `sqlite://…` or `postgres://…`. `DATABASE_URL` is read too.
    pub database_url: String,
    pub relay_addr: String,
    pub console_addr: String,
    /// `text` or `json` log lines on stderr.
    pub log_format: String,
    /// Run migrations at startup (turn off when `airlock migrate` runs separately).
    pub auto_migrate: bool,
    pub relay: RelayConfig,
    /// `redis://…`: limits and budgets shared by every relay. `REDIS_URL` is read
    /// too. Unset: they live in each relay process (fine for one instance).
    pub redis_url: Option<String>,
    /// `smtp://host:port`, `smtp://user:pass@host?tls=required` or `smtps://host`:
    /// where the console sends invitations. Unset: the inviter is shown the link.
    pub smtp_url: Option<String>,
    /// The sender of the console's mail.
    pub mail_from: String,
    /// The console's address as people open it, for links in mail
    /// (`https://airlock.example.com`). Unset: the address a request came to.
    pub console_public_url: Option<String>,
    /// The relay's address as apps call it (`https://relay.example.com`), shown to
    /// developers on the keys pages with ready-to-paste snippets
    /// (`AIRLOCK_RELAY_PUBLIC_URL`). The demo sets it to its own relay.
    pub relay_public_url: Option<String>,
    /// Anyone may make an account (`false`: accounts by invitation only).
    pub allow_signup: bool,
    /// Where `/metrics` is served when the relay's port does not serve it
    /// (`relay.public_metrics` off and no `AIRLOCK_METRICS_TOKEN`). Empty: nowhere.
    pub metrics_addr: String,
    pub billing: BillingConfig,
    pub jobs: JobsConfig,
}

/// The job runner (budget alerts and their mail).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct JobsConfig {
    /// Seconds between runs in the console's process (`AIRLOCK_JOBS__INTERVAL_SECS`);
    /// 0 runs them only on demand (`airlock jobs run-once`).
    pub interval_secs: u64,
}

/// Stripe metered billing. The secret key is `AIRLOCK_STRIPE_SECRET_KEY` (or
/// `_FILE`); without it billing is off.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct BillingConfig {
    /// Stripe's API address (tests point it at a local fake).
    pub stripe_api_base: String,
    /// The Billing Meter's `event_name` usage is reported under.
    pub meter_event_name: String,
    /// Seconds between background syncs; 0 syncs only on demand (`airlock billing sync`).
    pub sync_interval_secs: u64,
    /// Billing statuses that suspend a tenant's keys (`billing_suspended`, 402):
    /// any of `past_due`, `canceled`.
    #[serde(deserialize_with = "list_or_csv")]
    pub suspend_when: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct RelayConfig {
    pub max_body_bytes: usize,
    /// CIDRs of the proxies whose `X-Forwarded-For` is believed, e.g.
    /// `["10.0.0.0/8"]`. Empty (the default): the TCP peer is the client.
    pub trusted_proxies: Vec<String>,
    pub max_messages: usize,
    pub max_input_chars: u64,
    /// Image parts per request (images are passed on and counted, not inspected).
    pub max_images: usize,
    pub max_output_tokens: u32,
    /// Output tokens assumed for the cost estimate of a request without `max_tokens`.
    pub assumed_output_tokens: u32,
    pub upstream_connect_timeout_ms: u64,
    pub upstream_first_byte_timeout_ms: u64,
    pub upstream_total_timeout_ms: u64,
    /// The longest silence between two chunks of an upstream answer or stream.
    pub upstream_idle_timeout_ms: u64,
    /// The largest non-streamed upstream answer read.
    pub max_upstream_body_bytes: usize,
    /// The largest single event (or line) of an upstream stream.
    pub max_upstream_event_bytes: usize,
    /// The longest a client may take to send its request body (then 408).
    pub body_read_timeout_ms: u64,
    pub cache_refresh_ms: u64,
    /// Every cached key, tenant and price is reloaded this often, whatever the
    /// change poll saw.
    pub full_resync_secs: u64,
    /// Internal upstream destinations that are allowed although private: CIDRs or
    /// `host:port` (e.g. a self-hosted model on `10.0.0.5:8000`). A list in TOML,
    /// comma-separated in `AIRLOCK_RELAY__EGRESS_ALLOW`.
    #[serde(deserialize_with = "list_or_csv")]
    pub egress_allow: Vec<String>,
    /// Refuse plain-http upstreams (recommended in production).
    pub egress_https_only: bool,
    /// Serve `/metrics` to anyone on the relay's port.
    pub public_metrics: bool,
}

/// A list from TOML (`["a", "b"]`) or a comma-separated string from the environment.
fn list_or_csv<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCsv {
        List(Vec<String>),
        Csv(String),
    }
    Ok(match ListOrCsv::deserialize(d)? {
        ListOrCsv::List(list) => list,
        ListOrCsv::Csv(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://airlock.db?mode=rwc".into(),
            relay_addr: "127.0.0.1:8080".into(),
            console_addr: "127.0.0.1:8081".into(),
            log_format: "text".into(),
            auto_migrate: true,
            redis_url: None,
            smtp_url: None,
            mail_from: "Airlock <airlock@localhost>".into(),
            console_public_url: None,
            relay_public_url: None,
            metrics_addr: "127.0.0.1:9464".into(),
            allow_signup: true,
            billing: BillingConfig {
                stripe_api_base: "https://api.stripe.com".into(),
                meter_event_name: "airlock_usage".into(),
                sync_interval_secs: 300,
                suspend_when: vec!["canceled".into()],
            },
            jobs: JobsConfig { interval_secs: 60 },
            relay: RelayConfig {
                max_body_bytes: 4 * 1024 * 1024,
                trusted_proxies: Vec::new(),
                max_messages: 2_048,
                max_input_chars: 2_000_000,
                max_images: 20,
                max_output_tokens: 1_000_000,
                assumed_output_tokens: 1_024,
                upstream_connect_timeout_ms: 5_000,
                upstream_first_byte_timeout_ms: 60_000,
                upstream_total_timeout_ms: 600_000,
                upstream_idle_timeout_ms: 60_000,
                max_upstream_body_bytes: 16 << 20,
                max_upstream_event_bytes: 1 << 20,
                body_read_timeout_ms: 10_000,
                cache_refresh_ms: 250,
                full_resync_secs: 60,
                egress_allow: Vec::new(),
                egress_https_only: false,
                public_metrics: false,
            },
        }
    }
}

/// Secret variables; each also accepts `<NAME>_FILE`.
pub const MASTER_KEY: &str = "AIRLOCK_MASTER_KEY";
pub const KEY_PEPPER: &str = "AIRLOCK_KEY_PEPPER";
pub const JWT_SECRET: &str = "AIRLOCK_JWT_SECRET";
/// Optional: a bearer token that opens `/metrics` on the relay's port.
pub const METRICS_TOKEN: &str = "AIRLOCK_METRICS_TOKEN";
/// Optional: Stripe's secret API key (billing is off without it).
pub const STRIPE_SECRET_KEY: &str = "AIRLOCK_STRIPE_SECRET_KEY";
/// Optional: the signing secret of the Stripe webhook endpoint (`whsec_…`).
pub const STRIPE_WEBHOOK_SECRET: &str = "AIRLOCK_STRIPE_WEBHOOK_SECRET";
const SECRET_NAMES: [&str; 6] = [
    "master_key",
    "key_pepper",
    "jwt_secret",
    "metrics_token",
    "stripe_secret_key",
    "stripe_webhook_secret",
];

impl Config {
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("AIRLOCK_CONFIG").map(PathBuf::from));
        if let Some(path) = file {
            if !path.exists() {
                bail!(
                    "config file {} does not exist (from --config or AIRLOCK_CONFIG)",
                    path.display()
                );
            }
            figment = figment.merge(Toml::file(path));
        }
        if let Ok(url) = std::env::var("DATABASE_URL") {
            figment = figment.merge(Serialized::default("database_url", url));
        }
        if let Ok(url) = std::env::var("REDIS_URL")
            && !url.is_empty()
        {
            figment = figment.merge(Serialized::default("redis_url", url));
        }
        let ignored: Vec<String> = SECRET_NAMES
            .iter()
            .flat_map(|n| [n.to_string(), format!("{n}_file")])
            .chain(["config".to_string()])
            .collect();
        let ignored: Vec<&str> = ignored.iter().map(String::as_str).collect();
        figment = figment.merge(Env::prefixed("AIRLOCK_").split("__").ignore(&ignored));
        figment
            .extract()
            .context("invalid configuration (check the config file and AIRLOCK_* variables)")
    }

    /// The console's mailer, when an SMTP URL is set.
    pub fn mailer(&self) -> anyhow::Result<Option<airlock_console::mail::Mailer>> {
        self.smtp_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .map(|url| {
                airlock_console::mail::Mailer::new(url, &self.mail_from)
                    .map_err(|e| anyhow::anyhow!("smtp_url / mail_from: {e}"))
            })
            .transpose()
    }

    /// The operator's egress policy (`relay.egress_allow`, `relay.egress_https_only`).
    pub fn egress(&self) -> anyhow::Result<EgressPolicy> {
        EgressPolicy::parse(
            self.relay.egress_allow.iter().map(String::as_str),
            self.relay.egress_https_only,
        )
        .map_err(|e| anyhow::anyhow!("relay.egress_allow (AIRLOCK_RELAY__EGRESS_ALLOW): {e}"))
    }

    /// The console's settings.
    pub fn console_settings(&self) -> anyhow::Result<airlock_console::ConsoleSettings> {
        Ok(airlock_console::ConsoleSettings {
            public_url: self.console_public_url.clone().filter(|u| !u.is_empty()),
            relay_public_url: self.relay_public_url.clone().filter(|u| !u.is_empty()),
            allow_signup: self.allow_signup,
            egress: self.egress()?,
            body_read_timeout: Duration::from_millis(self.relay.body_read_timeout_ms.max(100)),
            billing: self.billing()?,
        })
    }

    /// Stripe billing, when `AIRLOCK_STRIPE_SECRET_KEY` is set; `None` turns it off.
    pub fn billing(
        &self,
    ) -> anyhow::Result<Option<std::sync::Arc<airlock_console::billing::Billing>>> {
        use airlock_console::billing::{Billing, BillingSettings, BillingStatus, StripeApi};
        let Some(secret) = read_secret(STRIPE_SECRET_KEY)? else {
            return Ok(None);
        };
        let key = secret.expose_secret();
        if !(key.starts_with("sk_") || key.starts_with("rk_")) {
            bail!("{STRIPE_SECRET_KEY} must be a Stripe secret or restricted key (sk_… or rk_…)");
        }
        let mut suspend_when = Vec::new();
        for name in &self.billing.suspend_when {
            match BillingStatus::parse(name.trim()) {
                Some(BillingStatus::Active) | None => {
                    bail!("billing.suspend_when: `{name}` is not past_due or canceled")
                }
                Some(status) => suspend_when.push(status),
            }
        }
        let api = StripeApi::new(
            key,
            &self.billing.stripe_api_base,
            &self.billing.meter_event_name,
        )
        .map_err(|e| anyhow::anyhow!(e))?;
        Ok(Some(std::sync::Arc::new(Billing {
            api,
            settings: BillingSettings {
                api_base: self.billing.stripe_api_base.clone(),
                meter_event_name: self.billing.meter_event_name.trim().to_owned(),
                suspend_when,
                webhook_secret: read_secret(STRIPE_WEBHOOK_SECRET)?,
            },
        })))
    }

    pub fn relay_settings(&self) -> anyhow::Result<RelaySettings> {
        let trusted_proxies = parse_cidrs(self.relay.trusted_proxies.iter().map(String::as_str))
            .map_err(|e| anyhow::anyhow!("relay.trusted_proxies: {e}"))?;
        let egress = self.egress()?;
        let metrics = if self.relay.public_metrics {
            MetricsExposure::Public
        } else if let Some(token) = read_secret(METRICS_TOKEN)? {
            if token.expose_secret().len() < 16 {
                bail!("{METRICS_TOKEN} must be at least 16 characters");
            }
            MetricsExposure::Token(token)
        } else {
            MetricsExposure::Private
        };
        if self.relay.max_upstream_body_bytes == 0 || self.relay.max_upstream_event_bytes == 0 {
            bail!(
                "relay.max_upstream_body_bytes and relay.max_upstream_event_bytes must be above 0"
            );
        }
        let mut settings = RelaySettings {
            max_body_bytes: self.relay.max_body_bytes,
            body_read_timeout: Duration::from_millis(self.relay.body_read_timeout_ms.max(100)),
            egress,
            metrics,
            refresh_interval: Duration::from_millis(self.relay.cache_refresh_ms.max(10)),
            full_resync_interval: Duration::from_secs(self.relay.full_resync_secs.max(1)),
            trusted_proxies,
            redis_url: self.redis_url.clone().filter(|u| !u.is_empty()),
            limits: RequestLimits {
                max_messages: self.relay.max_messages,
                max_input_chars: self.relay.max_input_chars,
                max_images: self.relay.max_images,
                max_output_tokens: self.relay.max_output_tokens,
                assumed_output_tokens: self.relay.assumed_output_tokens,
            },
            ..RelaySettings::default()
        };
        let timeouts = &mut settings.upstream.timeouts;
        timeouts.connect = Duration::from_millis(self.relay.upstream_connect_timeout_ms);
        timeouts.first_byte = Duration::from_millis(self.relay.upstream_first_byte_timeout_ms);
        timeouts.idle = Duration::from_millis(self.relay.upstream_idle_timeout_ms);
        timeouts.total = Duration::from_millis(self.relay.upstream_total_timeout_ms);
        settings.upstream.max_body_bytes = self.relay.max_upstream_body_bytes;
        settings.upstream.max_event_bytes = self.relay.max_upstream_event_bytes;
        Ok(settings)
    }
}

/// Where secrets are read from: the environment (`NAME`, or the file named by
/// `NAME_FILE`), and, for the CLI against a running demo, the demo's
/// `secrets.env` for what the environment does not set.
#[derive(Default)]
pub struct SecretSource {
    demo: std::collections::HashMap<String, String>,
}

/// The file the demo writes its generated secrets to, in its data directory.
pub const DEMO_SECRETS_FILE: &str = "secrets.env";

impl SecretSource {
    /// The environment only (the server).
    pub fn environment() -> SecretSource {
        SecretSource::default()
    }

    /// The environment, then the demo's `secrets.env` in `data_dir`, or (without
    /// one) next to a SQLite database URL if the demo left the file there.
    pub fn for_cli(config: &Config, data_dir: Option<&Path>) -> anyhow::Result<SecretSource> {
        let dir = match data_dir {
            Some(dir) => Some(dir.to_path_buf()),
            None => sqlite_dir(&config.database_url),
        };
        let Some(dir) = dir else {
            return Ok(SecretSource::default());
        };
        let path = dir.join(DEMO_SECRETS_FILE);
        if !path.exists() {
            if data_dir.is_some() {
                bail!(
                    "{} does not exist (is --data-dir the demo's data directory?)",
                    path.display()
                );
            }
            return Ok(SecretSource::default());
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let demo = text
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        Ok(SecretSource { demo })
    }

    /// A secret from `NAME`, `NAME_FILE`, or the demo's file.
    pub fn read(&self, name: &str) -> anyhow::Result<Option<SecretString>> {
        match read_secret(name)? {
            Some(secret) => Ok(Some(secret)),
            None => Ok(self.demo.get(name).cloned().map(SecretString::from)),
        }
    }

    pub fn require(&self, name: &str) -> anyhow::Result<SecretString> {
        self.read(name)?.with_context(|| {
            format!("{name} is not set: set {name} or {name}_FILE (generate one with `openssl rand -base64 32`)")
        })
    }
}

/// The directory of a SQLite database URL (`sqlite://dir/file.db?…`).
fn sqlite_dir(url: &str) -> Option<PathBuf> {
    let path = url.strip_prefix("sqlite://")?.split('?').next()?;
    Path::new(path).parent().map(Path::to_path_buf)
}

/// Reads a secret from `NAME` or the file named by `NAME_FILE`.
pub fn read_secret(name: &str) -> anyhow::Result<Option<SecretString>> {
    let file_var = format!("{name}_FILE");
    let direct = std::env::var(name).ok().filter(|v| !v.is_empty());
    let file = std::env::var(&file_var).ok().filter(|v| !v.is_empty());
    match (direct, file) {
        (Some(_), Some(_)) => bail!("both {name} and {file_var} are set; set only one"),
        (Some(value), None) => Ok(Some(SecretString::from(value))),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {file_var} ({path})"))?;
            Ok(Some(SecretString::from(
                text.trim_end_matches(['\n', '\r']).to_owned(),
            )))
        }
        (None, None) => Ok(None),
    }
}

pub fn require_secret(name: &str) -> anyhow::Result<SecretString> {
    SecretSource::environment().require(name)
}

/// The audit chain's key, derived from the session secret.
pub fn audit_key(jwt: &SecretString) -> anyhow::Result<airlock_console::tenant::AuditKey> {
    airlock_console::tenant::AuditKey::derive(jwt.expose_secret().as_bytes())
        .map_err(|e| anyhow::anyhow!("{JWT_SECRET} is invalid: {e}"))
}

/// The secrets the server needs, validated.
pub struct Secrets {
    pub master_keys: MasterKeys,
    pub hasher: KeyHasher,
    /// Signs console sessions and derives their CSRF tokens.
    pub sessions: airlock_console::session::SessionKeys,
    /// Signs the audit chain (derived from the session secret).
    pub audit_key: airlock_console::tenant::AuditKey,
    /// The values, for the demo to write to its data directory.
    raw: [(&'static str, SecretString); 3],
}

impl Secrets {
    pub fn from_env() -> anyhow::Result<Secrets> {
        let master = require_secret(MASTER_KEY)?;
        let pepper = require_secret(KEY_PEPPER)?;
        let jwt = require_secret(JWT_SECRET)?;
        Self::from_values(&master, &pepper, jwt)
    }

    pub fn from_values(
        master: &SecretString,
        pepper: &SecretString,
        jwt: SecretString,
    ) -> anyhow::Result<Secrets> {
        let master_keys = MasterKeys::parse(master.expose_secret())
            .map_err(|e| anyhow::anyhow!("{MASTER_KEY} is invalid: {e}"))?;
        let hasher = KeyHasher::new(pepper.expose_secret().as_bytes())
            .map_err(|e| anyhow::anyhow!("{KEY_PEPPER} is invalid: {e}"))?;
        let sessions = airlock_console::session::SessionKeys::new(&jwt)
            .map_err(|_| anyhow::anyhow!("{JWT_SECRET} must be at least 32 bytes"))?;
        let audit_key = audit_key(&jwt)?;
        Ok(Secrets {
            master_keys,
            hasher,
            sessions,
            audit_key,
            raw: [
                (MASTER_KEY, master.clone()),
                (KEY_PEPPER, pepper.clone()),
                (JWT_SECRET, jwt),
            ],
        })
    }

    /// The console's share of the secrets.
    pub fn console(&self) -> airlock_console::ConsoleSecrets {
        airlock_console::ConsoleSecrets {
            hasher: self.hasher.clone(),
            sessions: self.sessions.clone(),
            master_keys: self.master_keys.clone(),
            audit_key: self.audit_key.clone(),
        }
    }

    /// Writes the secrets as `NAME=value` lines to `path`, readable by the owner
    /// only: the demo's, so the CLI can work on the running demo.
    pub fn write_env_file(&self, path: &Path) -> anyhow::Result<()> {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options
            .open(path)
            .with_context(|| format!("writing {}", path.display()))?;
        for (name, value) in &self.raw {
            writeln!(file, "{name}={}", value.expose_secret())?;
        }
        Ok(())
    }

    /// Fresh random secrets (the demo).
    pub fn random() -> anyhow::Result<Secrets> {
        use base64::Engine;
        use rand::RngCore;
        let mut rng = rand::rngs::OsRng;
        let mut random_b64 = || {
            let mut bytes = [0u8; 32];
            rng.fill_bytes(&mut bytes);
            SecretString::from(base64::engine::general_purpose::STANDARD.encode(bytes))
        };
        let (master, pepper, jwt) = (random_b64(), random_b64(), random_b64());
        Self::from_values(&master, &pepper, jwt)
    }
}
