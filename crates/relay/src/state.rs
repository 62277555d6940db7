//! Everything a relay request handler can reach, built once at startup.

use std::sync::Arc;
use std::time::Duration;

use airlock_core::envelope::MasterKeys;
use airlock_core::key::KeyHasher;
use airlock_core::pricing::PriceTable;
use sea_orm::DatabaseConnection;

use crate::cache::{KeyCache, TenantCache};
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
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
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
    pub settings: RelaySettings,
}
