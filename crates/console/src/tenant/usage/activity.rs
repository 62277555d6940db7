//! A key's recent activity: its last 100 requests, metadata only (time, model,
//! status, tokens, cost, latency, client address). The one usage view that reads
//! usage records rather than rollups, on the (key, created_at) index.

use airlock_core::money::MicroDollars;
use airlock_schema::entities::usage_record;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use uuid::Uuid;

use crate::error::ConsoleError;
use crate::tenant::{Permission, Store, TenantScope, keys};

/// How many requests the view shows.
pub const LIMIT: u64 = 100;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Request {
    pub at: DateTime<Utc>,
    pub request_id: String,
    pub endpoint: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub status: i32,
    pub error_code: Option<String>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
    pub latency_ms: i64,
    pub client_ip: Option<String>,
    pub streamed: bool,
}

impl Request {
    pub fn cost(&self) -> MicroDollars {
        MicroDollars::new(self.cost_micros)
    }
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct KeyActivity {
    pub key_id: Uuid,
    pub name: String,
    pub display_prefix: String,
    /// The newest first.
    pub requests: Vec<Request>,
}

pub async fn key_activity(
    store: &Store,
    scope: &TenantScope,
    key_id: Uuid,
) -> Result<KeyActivity, ConsoleError> {
    scope.require(Permission::ReadUsage)?;
    // Another tenant's key is not found, like a missing one.
    let key = keys::find(store.db(), scope, key_id).await?;
    let rows = usage_record::Entity::find()
        .filter(usage_record::Column::KeyId.eq(key.id))
        .filter(usage_record::Column::TenantId.eq(scope.tenant_id()))
        .order_by_desc(usage_record::Column::CreatedAt)
        .limit(LIMIT)
        .all(store.db())
        .await?;
    Ok(KeyActivity {
        key_id: key.id,
        name: key.name,
        display_prefix: key.display_prefix,
        requests: rows
            .into_iter()
            .map(|r| Request {
                at: r.created_at,
                request_id: r.request_id,
                endpoint: r.endpoint,
                provider: r.provider,
                model: r.model,
                status: r.status_code,
                error_code: r.error_code,
                input_tokens: r.input_tokens,
                output_tokens: r.output_tokens,
                cost_micros: r.cost_micros,
                latency_ms: r.latency_ms,
                client_ip: r.client_ip,
                streamed: r.streamed,
            })
            .collect(),
    })
}
