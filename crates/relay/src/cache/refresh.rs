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

use std::sync::Arc;

use airlock_schema::queries;
use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::RelayState;

const OVERLAP: chrono::Duration = chrono::Duration::seconds(5);

/// Keys reloaded per query during a full resync.
const RESYNC_BATCH: usize = 500;

pub fn spawn(state: Arc<RelayState>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut key_mark = Utc::now();
        let mut tenant_mark = Utc::now();
        let mut ticker = tokio::time::interval(state.settings.refresh_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let full_every = state.settings.full_resync_interval;
        let mut last_full = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.changed() => break,
            }
            let full = last_full.elapsed() >= full_every;
            if full {
                last_full = tokio::time::Instant::now();
                resync_keys(&state).await;
                resync_tenants(&state).await;
            }
            key_mark = refresh_keys(&state, key_mark).await;
            tenant_mark = refresh_tenants(&state, tenant_mark).await;
            if let Err(e) = state.prices.refresh(&state.db, full).await {
                tracing::warn!(error = %e, "reloading model prices failed; will retry");
            }
        }
    })
}

/// Reloads every cached key by id, and forgets those whose rows are gone.
async fn resync_keys(state: &RelayState) {
    let ids = state.keys.cached_ids();
    for batch in ids.chunks(RESYNC_BATCH) {
        match queries::keys_by_ids(&state.db, batch).await {
            Ok(rows) => {
                let present: std::collections::HashSet<uuid::Uuid> =
                    rows.iter().map(|r| r.id).collect();
                for row in &rows {
                    state.keys.apply_change(row);
                }
                let checked = batch.iter().copied().collect();
                state.keys.forget_missing(&checked, &present);
            }
            Err(e) => {
                tracing::warn!(error = %e, "full resync of relay keys failed; will retry");
                return;
            }
        }
    }
}

/// Reloads every cached tenant's configuration.
async fn resync_tenants(state: &RelayState) {
    for tenant_id in state.tenants.cached_ids() {
        if let Err(e) = state
            .tenants
            .refresh_if_cached(&state.db, &state.master_keys, tenant_id)
            .await
        {
            tracing::warn!(tenant.id = %tenant_id, error = ?e, "full resync of a tenant failed");
        }
    }
}

async fn refresh_keys(state: &RelayState, mark: DateTime<Utc>) -> DateTime<Utc> {
    match queries::keys_changed_since(&state.db, mark - OVERLAP).await {
        Ok(rows) => {
            let mut newest = mark;
            for row in &rows {
                state.keys.apply_change(row);
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

async fn refresh_tenants(state: &RelayState, mark: DateTime<Utc>) -> DateTime<Utc> {
    let changed = match queries::tenant_configs_changed_since(&state.db, mark - OVERLAP).await {
        Ok(changed) => changed,
        Err(e) => {
            tracing::warn!(error = %e, "polling tenant config changes failed; will retry");
            return mark;
        }
    };
    let mut newest = mark;
    let mut seen = std::collections::HashSet::new();
    for (tenant_id, updated_at) in changed {
        newest = newest.max(updated_at);
        if seen.insert(tenant_id)
            && let Err(e) = state
                .tenants
                .refresh_if_cached(&state.db, &state.master_keys, tenant_id)
                .await
        {
            tracing::warn!(tenant.id = %tenant_id, error = ?e, "reloading tenant config failed");
            return mark;
        }
    }
    newest
}
