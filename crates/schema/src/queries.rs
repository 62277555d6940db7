//! Queries the relay and the console share. Each takes a connection (or a
//! transaction), so it runs the same inside a transaction and in tests.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::entities::{model_route, provider_credential, relay_key, tenant, usage_record};

/// The key row with this keyed hash (lowercase hex), if any.
pub async fn find_key_by_hash(
    db: &impl ConnectionTrait,
    key_hash_hex: &str,
) -> Result<Option<relay_key::Model>, DbErr> {
    relay_key::Entity::find()
        .filter(relay_key::Column::KeyHash.eq(key_hash_hex))
        .one(db)
        .await
}

/// Keys whose row changed at or after `since` (revocation, rotation, limits …).
pub async fn keys_changed_since(
    db: &impl ConnectionTrait,
    since: DateTime<Utc>,
) -> Result<Vec<relay_key::Model>, DbErr> {
    relay_key::Entity::find()
        .filter(relay_key::Column::UpdatedAt.gte(since))
        .all(db)
        .await
}

/// Tenants whose relay configuration (the tenant row, its provider credentials or
/// model routes) changed at or after `since`, with the latest change time seen.
pub async fn tenant_configs_changed_since(
    db: &impl ConnectionTrait,
    since: DateTime<Utc>,
) -> Result<Vec<(Uuid, DateTime<Utc>)>, DbErr> {
    let mut changed: Vec<(Uuid, DateTime<Utc>)> = tenant::Entity::find()
        .select_only()
        .column(tenant::Column::Id)
        .column(tenant::Column::UpdatedAt)
        .filter(tenant::Column::UpdatedAt.gte(since))
        .into_tuple()
        .all(db)
        .await?;
    changed.extend(
        provider_credential::Entity::find()
            .select_only()
            .column(provider_credential::Column::TenantId)
            .column(provider_credential::Column::UpdatedAt)
            .filter(provider_credential::Column::UpdatedAt.gte(since))
            .into_tuple::<(Uuid, DateTime<Utc>)>()
            .all(db)
            .await?,
    );
    changed.extend(
        model_route::Entity::find()
            .select_only()
            .column(model_route::Column::TenantId)
            .column(model_route::Column::UpdatedAt)
            .filter(model_route::Column::UpdatedAt.gte(since))
            .into_tuple::<(Uuid, DateTime<Utc>)>()
            .all(db)
            .await?,
    );
    Ok(changed)
}

/// Everything the relay needs to route a tenant's requests.
pub struct TenantRelayConfig {
    pub tenant: tenant::Model,
    pub credentials: Vec<provider_credential::Model>,
    pub routes: Vec<model_route::Model>,
}

pub async fn load_tenant_relay_config(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
) -> Result<Option<TenantRelayConfig>, DbErr> {
    let Some(tenant) = tenant::Entity::find_by_id(tenant_id).one(db).await? else {
        return Ok(None);
    };
    let credentials = provider_credential::Entity::find()
        .filter(provider_credential::Column::TenantId.eq(tenant_id))
        .all(db)
        .await?;
    let routes = model_route::Entity::find()
        .filter(model_route::Column::TenantId.eq(tenant_id))
        .all(db)
        .await?;
    Ok(Some(TenantRelayConfig {
        tenant,
        credentials,
        routes,
    }))
}

/// Writes a batch of usage records in one statement.
pub async fn insert_usage_batch(
    db: &impl ConnectionTrait,
    records: Vec<usage_record::ActiveModel>,
) -> Result<(), DbErr> {
    if records.is_empty() {
        return Ok(());
    }
    usage_record::Entity::insert_many(records).exec(db).await?;
    Ok(())
}

/// Sets `last_used_at` without touching `updated_at`: the relay polls
/// `updated_at`, and a key being used is not a configuration change.
pub async fn touch_key_last_used(
    db: &impl ConnectionTrait,
    key_id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    relay_key::Entity::update_many()
        .col_expr(relay_key::Column::LastUsedAt, Expr::value(at))
        .filter(relay_key::Column::Id.eq(key_id))
        .exec(db)
        .await?;
    Ok(())
}
