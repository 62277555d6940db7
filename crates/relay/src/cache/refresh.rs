//! The poller that keeps the caches in step with the database. Every tick it asks
//! for rows changed since a watermark (indexed `updated_at` columns, so the query
//! is cheap) and applies them. With the default 250 ms tick a revocation in the
//! database stops the key on this relay well within a second.
//!
//! The watermark trails the newest change seen by an overlap, so a row written
//! with a slightly older timestamp by another process is still picked up; applying
//! a change twice is harmless.

use std::sync::Arc;
use std::time::Duration;

use airlock_schema::queries;
use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::RelayState;

const OVERLAP: chrono::Duration = chrono::Duration::seconds(5);

pub fn spawn(
    state: Arc<RelayState>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut key_mark = Utc::now();
        let mut tenant_mark = Utc::now();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.changed() => break,
            }
            key_mark = refresh_keys(&state, key_mark).await;
            tenant_mark = refresh_tenants(&state, tenant_mark).await;
        }
    })
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
