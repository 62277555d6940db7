//! Everything a relay request handler can reach, built once at startup.

use std::sync::Arc;
use std::time::Duration;

use airlock_core::envelope::MasterKeys;
use airlock_core::key::KeyHasher;
use airlock_core::pricing::PriceTable;
use sea_orm::DatabaseConnection;

use airlock_core::netaddr::IpNet;

use crate::budget::Ledger;
use crate::cache::{KeyCache, TenantCache};
use crate::limits::Limiter;
use crate::metrics::RelayMetrics;
use crate::providers::{Providers, UpstreamTimeouts};
use crate::usage::{UsageRecorder, UsageWriterConfig};

/// Settings of the data plane (the binary fills them from its configuration).
#[derive(Clone, Debug)]
pub struct RelaySettings {
    pub max_body_bytes: usize,
    pub upstream: UpstreamTimeouts,
    /// How often the caches poll the database for changes.
    pub refresh_interval: Duration,
    pub usage: UsageWriterConfig,
    /// Peers whose `X-Forwarded-For` is believed (load balancers, ingress). Empty:
    /// the TCP peer is the client, whatever the header says.
    pub trusted_proxies: Vec<IpNet>,
    /// Shared limits and budgets across relays; `None` keeps them in this process.
    pub redis_url: Option<String>,
    pub limits: RequestLimits,
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
            max_body_bytes: 4 * 1024 * 1024,
            upstream: UpstreamTimeouts::default(),
            refresh_interval: Duration::from_millis(250),
            usage: UsageWriterConfig::default(),
        }
    }
}

pub struct RelayState {
    pub db: DatabaseConnection,
    pub hasher: KeyHasher,
    pub master_keys: MasterKeys,
    pub keys: KeyCache,
    pub tenants: TenantCache,
    pub providers: Providers,
    pub usage: UsageRecorder,
    pub metrics: Arc<RelayMetrics>,
    pub prices: PriceTable,
    pub limiter: Limiter,
    pub ledger: Arc<Ledger>,
    pub settings: RelaySettings,
}
