//! The poller that keeps the caches in step with the database. Every tick it asks
//! for rows changed since a watermark (indexed `updated_at` columns, so the query
//! is cheap) and applies them. With the default 250 ms tick a revocation in the
//! database stops the key on this relay well within a second.
//!
//! The watermark trails the newest change seen by an overlap, so a row written
//! with a slightly older timestamp by another process is still picked up; applying
//! a change twice is harmless. A change written with a clock further behind, or
//! committed long after its `updated_at`, is missed by that poll; so every
//! `full_resync_interval` (60 s by default) every cached key, every cached tenant
//! and the prices are reloaded whatever the poll saw. A revocation therefore takes
//! effect within a second normally, and within the resync interval at worst.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use airlock_core::envelope::MasterKeys;
use airlock_schema::queries;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cache::{KeyCache, TenantCache};
use crate::prices::PriceBook;

const OVERLAP: chrono::Duration = chrono::Duration::seconds(5);

/// Keys reloaded per query during a full resync.
const RESYNC_BATCH: usize = 500;

/// What the poller needs: the database, the caches it keeps current and its
/// intervals (nothing else of the relay's state).
pub struct Refresher {
    pub db: DatabaseConnection,
    /// Opens the provider credentials of reloaded tenants.
    pub master_keys: MasterKeys,
    pub keys: Arc<KeyCache>,
    pub tenants: Arc<TenantCache>,
    pub prices: Arc<PriceBook>,
    pub every: Duration,
    pub full_resync_every: Duration,
}

pub fn spawn(refresher: Refresher, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut key_mark = Utc::now();
        let mut tenant_mark = Utc::now();
        let mut ticker = tokio::time::interval(refresher.every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_full = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.changed() => break,
            }
            let full = last_full.elapsed() >= refresher.full_resync_every;
            if full {
                last_full = tokio::time::Instant::now();
                refresher.resync_keys().await;
                refresher.resync_tenants().await;
            }
            key_mark = refresher.refresh_keys(key_mark).await;
            tenant_mark = refresher.refresh_tenants(tenant_mark).await;
            if let Err(e) = refresher.prices.refresh(&refresher.db, full).await {
                tracing::warn!(error = %e, "reloading model prices failed; will retry");
            }
        }
    })
}

impl Refresher {
    /// Reloads every cached key by id, and forgets those whose rows are gone.
    async fn resync_keys(&self) {
        let ids = self.keys.cached_ids();
        for batch in ids.chunks(RESYNC_BATCH) {
            match queries::keys_by_ids(&self.db, batch).await {
                Ok(rows) => {
                    let present: HashSet<uuid::Uuid> = rows.iter().map(|r| r.id).collect();
                    for row in &rows {
                        self.keys.apply_change(row);
                    }
                    let checked = batch.iter().copied().collect();
                    self.keys.forget_missing(&checked, &present);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "full resync of relay keys failed; will retry");
                    return;
                }
            }
        }
    }

    /// Reloads every cached tenant's configuration.
    async fn resync_tenants(&self) {
        for tenant_id in self.tenants.cached_ids() {
            if let Err(e) = self
                .tenants
                .refresh_if_cached(&self.db, &self.master_keys, tenant_id)
                .await
            {
                tracing::warn!(tenant.id = %tenant_id, error = ?e, "full resync of a tenant failed");
            }
        }
    }

    async fn refresh_keys(&self, mark: DateTime<Utc>) -> DateTime<Utc> {
        match queries::keys_changed_since(&self.db, mark - OVERLAP).await {
            Ok(rows) => {
                let mut newest = mark;
                for row in &rows {
                    self.keys.apply_change(row);
                    newest = newest.max(row.updated_at);
                }
                newest
            }
            Err(e) => {
                tracing::warn!(error = %e, "polling relay key changes failed; will retry");
                mark
            }
        }
    }

    async fn refresh_tenants(&self, mark: DateTime<Utc>) -> DateTime<Utc> {
        let changed = match queries::tenant_configs_changed_since(&self.db, mark - OVERLAP).await {
            Ok(changed) => changed,
            Err(e) => {
                tracing::warn!(error = %e, "polling tenant config changes failed; will retry");
                return mark;
            }
        };
        let mut newest = mark;
        let mut seen = HashSet::new();
        for (tenant_id, updated_at) in changed {
            newest = newest.max(updated_at);
            if seen.insert(tenant_id)
                && let Err(e) = self
                    .tenants
                    .refresh_if_cached(&self.db, &self.master_keys, tenant_id)
                    .await
            {
                tracing::warn!(tenant.id = %tenant_id, error = ?e, "reloading tenant config failed");
                return mark;
            }
        }
        newest
    }
}
