//! Everything a relay request handler can reach, built once at startup.

use std::sync::Arc;
use std::time::Duration;

use airlock_core::envelope::MasterKeys;
use airlock_core::key::KeyHasher;
use sea_orm::DatabaseConnection;

use airlock_core::netaddr::IpNet;

use crate::budget::Ledger;
use crate::cache::keys::UnknownKeyThrottle;
use crate::cache::{KeyCache, TenantCache};
use crate::limits::Limiter;
use crate::metrics::RelayMetrics;
use crate::prices::PriceBook;
use crate::providers::egress::Egress;
use crate::providers::{Providers, UpstreamSettings};
use crate::usage::{UsageRecorder, UsageWriterConfig};
use airlock_core::egress::EgressPolicy;

/// Settings of the data plane (the binary fills them from its configuration).
#[derive(Clone, Debug)]
pub struct RelaySettings {
    pub max_body_bytes: usize,
    /// The longest a client may take to send its request body (slow senders hold a
    /// worker's connection otherwise).
    pub body_read_timeout: Duration,
    pub upstream: UpstreamSettings,
    /// Which upstream addresses may be connected to (`relay.egress_allow`).
    pub egress: EgressPolicy,
    /// How often the caches poll the database for changes.
    pub refresh_interval: Duration,
    /// How often every cached key and tenant is reloaded whatever the change poll
    /// saw, so a change written with a skewed clock or committed late is applied
    /// within this long at worst.
    pub full_resync_interval: Duration,
    pub usage: UsageWriterConfig,
    /// Peers whose `X-Forwarded-For` is believed (load balancers, ingress). Empty:
    /// the TCP peer is the client, whatever the header says.
    pub trusted_proxies: Vec<IpNet>,
    /// Shared limits and budgets across relays; `None` keeps them in this process.
    pub redis_url: Option<String>,
    pub limits: RequestLimits,
    /// Who may read `/metrics` on the relay's port.
    pub metrics: MetricsExposure,
}

/// Who may read `/metrics` on the relay's own port.
#[derive(Clone, Debug, Default)]
pub enum MetricsExposure {
    /// Anyone (`relay.public_metrics = true`).
    Public,
    /// Holders of this bearer token (`AIRLOCK_METRICS_TOKEN`).
    Token(secrecy::SecretString),
    /// Nobody: metrics are served on the operator's `metrics_addr` instead.
    #[default]
    Private,
}

/// Bounds on a request's shape, beyond the body size.
#[derive(Clone, Copy, Debug)]
pub struct RequestLimits {
    pub max_messages: usize,
    /// Characters across all messages.
    pub max_input_chars: u64,
    /// Image parts across all messages.
    pub max_images: usize,
    /// The largest `max_tokens` accepted at all (keys may set a lower ceiling).
    pub max_output_tokens: u32,
    /// Output tokens assumed for the cost estimate when a request sets no `max_tokens`.
    pub assumed_output_tokens: u32,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_messages: 2_048,
            max_input_chars: 2_000_000,
            max_images: 20,
            max_output_tokens: 1_000_000,
            assumed_output_tokens: 1_024,
        }
    }
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            trusted_proxies: Vec::new(),
            redis_url: None,
            limits: RequestLimits::default(),
            metrics: MetricsExposure::default(),
            max_body_bytes: 4 * 1024 * 1024,
            body_read_timeout: Duration::from_secs(10),
            upstream: UpstreamSettings::default(),
            egress: EgressPolicy::default(),
            refresh_interval: Duration::from_millis(250),
            full_resync_interval: Duration::from_secs(60),
            usage: UsageWriterConfig::default(),
        }
    }
}

pub struct RelayState {
    pub db: DatabaseConnection,
    pub hasher: KeyHasher,
    pub master_keys: MasterKeys,
    pub keys: Arc<KeyCache>,
    pub tenants: Arc<TenantCache>,
    pub providers: Providers,
    pub usage: UsageRecorder,
    pub metrics: Arc<RelayMetrics>,
    pub prices: Arc<PriceBook>,
    pub egress: Arc<Egress>,
    /// Lookups of keys that are not cached, per client network (before the database).
    pub unknown_keys: UnknownKeyThrottle,
    pub limiter: Limiter,
    pub ledger: Arc<Ledger>,
    pub settings: RelaySettings,
}
