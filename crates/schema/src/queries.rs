//! Queries the relay and the console share. Each takes a connection (or a
//! transaction), so it runs the same inside a transaction and in tests.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Alias, Expr, Func};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::entities::{
    classification_policy, env_default, model_route, provider_agreement, provider_credential,
    relay_key, tenant, usage_daily,
};

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

/// `(tenant id, updated_at)` of the rows of one table changed at or after `since`.
async fn changed_in<C>(
    db: &impl ConnectionTrait,
    tenant_column: C,
    updated_column: C,
    since: DateTime<Utc>,
) -> Result<Vec<(Uuid, DateTime<Utc>)>, DbErr>
where
    C: ColumnTrait,
    C::EntityName: EntityTrait<Column = C>,
{
    <C::EntityName as EntityTrait>::find()
        .select_only()
        .column(tenant_column)
        .column(updated_column)
        .filter(updated_column.gte(since))
        .into_tuple()
        .all(db)
        .await
}

/// Tenants whose relay configuration (the tenant row, its provider credentials,
/// model routes, class policies, provider agreements or environment defaults)
/// changed at or after `since`, with the change times seen.
pub async fn tenant_configs_changed_since(
    db: &impl ConnectionTrait,
    since: DateTime<Utc>,
) -> Result<Vec<(Uuid, DateTime<Utc>)>, DbErr> {
    use crate::entities::{
        classification_policy as cp, env_default as ed, model_route as mr,
        provider_agreement as pa, provider_credential as pc,
    };
    let mut changed = changed_in(db, tenant::Column::Id, tenant::Column::UpdatedAt, since).await?;
    for rows in [
        changed_in(db, pc::Column::TenantId, pc::Column::UpdatedAt, since).await?,
        changed_in(db, mr::Column::TenantId, mr::Column::UpdatedAt, since).await?,
        changed_in(db, cp::Column::TenantId, cp::Column::UpdatedAt, since).await?,
        changed_in(db, pa::Column::TenantId, pa::Column::UpdatedAt, since).await?,
        changed_in(db, ed::Column::TenantId, ed::Column::UpdatedAt, since).await?,
    ] {
        changed.extend(rows);
    }
    Ok(changed)
}

/// Everything the relay needs to route a tenant's requests and apply its policy.
pub struct TenantRelayConfig {
    pub tenant: tenant::Model,
    pub credentials: Vec<provider_credential::Model>,
    pub routes: Vec<model_route::Model>,
    pub policies: Vec<classification_policy::Model>,
    pub agreements: Vec<provider_agreement::Model>,
    pub env_defaults: Vec<env_default::Model>,
}

/// Every row of one table that belongs to the tenant.
async fn rows_of_tenant<C>(
    db: &impl ConnectionTrait,
    tenant_column: C,
    tenant_id: Uuid,
) -> Result<Vec<<C::EntityName as EntityTrait>::Model>, DbErr>
where
    C: ColumnTrait,
    C::EntityName: EntityTrait<Column = C>,
{
    <C::EntityName as EntityTrait>::find()
        .filter(tenant_column.eq(tenant_id))
        .all(db)
        .await
}

pub async fn load_tenant_relay_config(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
) -> Result<Option<TenantRelayConfig>, DbErr> {
    let Some(tenant) = tenant::Entity::find_by_id(tenant_id).one(db).await? else {
        return Ok(None);
    };
    let credentials = rows_of_tenant(db, provider_credential::Column::TenantId, tenant_id).await?;
    let routes = rows_of_tenant(db, model_route::Column::TenantId, tenant_id).await?;
    let policies = rows_of_tenant(db, classification_policy::Column::TenantId, tenant_id).await?;
    let agreements = rows_of_tenant(db, provider_agreement::Column::TenantId, tenant_id).await?;
    let env_defaults = rows_of_tenant(db, env_default::Column::TenantId, tenant_id).await?;
    Ok(Some(TenantRelayConfig {
        tenant,
        credentials,
        routes,
        policies,
        agreements,
        env_defaults,
    }))
}

/// Money spent since the start of the UTC day `since` (settled usage, from the
/// daily rollups), for one scope of a budget: a key, an environment of a tenant,
/// or a whole tenant.
pub async fn spent_since(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    key_id: Option<Uuid>,
    env: Option<&str>,
    since: NaiveDate,
) -> Result<i64, DbErr> {
    // The keys rollup for a key's budget, the models rollup (fewer rows) otherwise.
    let grain = usage_daily::Grain::covering(usage_daily::Needs {
        key: key_id.is_some(),
        ..usage_daily::Needs::default()
    });
    let mut query = grain
        .find()
        .select_only()
        // SUM of a BIGINT is NUMERIC on Postgres: cast it back so it reads as i64.
        .column_as(
            Expr::from(Func::cast_as(
                Func::sum(Expr::col(usage_daily::Column::CostMicros)),
                Alias::new("BIGINT"),
            )),
            "spent",
        )
        .filter(usage_daily::Column::TenantId.eq(tenant_id))
        .filter(usage_daily::Column::Day.gte(since));
    if let Some(key_id) = key_id {
        query = query.filter(usage_daily::Column::KeyId.eq(key_id));
    }
    if let Some(env) = env {
        query = query.filter(usage_daily::Column::Env.eq(env));
    }
    let spent: Option<Option<i64>> = query.into_tuple().one(db).await?;
    Ok(spent.flatten().unwrap_or(0))
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

/// Every model price row: list prices (`tenant_id` NULL) and tenants' own.
pub async fn all_model_prices(
    db: &impl ConnectionTrait,
) -> Result<Vec<crate::entities::model_price::Model>, DbErr> {
    crate::entities::model_price::Entity::find().all(db).await
}

/// `(row count, newest updated_at)` of `model_prices`: the relay reloads its prices
/// when this changes (a deleted row changes the count, an edit the time).
pub async fn model_prices_stamp(
    db: &impl ConnectionTrait,
) -> Result<(i64, Option<DateTime<Utc>>), DbErr> {
    use crate::entities::model_price;
    let stamp: Option<(i64, Option<DateTime<Utc>>)> = model_price::Entity::find()
        .select_only()
        .column_as(
            Expr::from(Func::count(Expr::col(model_price::Column::Id))),
            "rows",
        )
        .column_as(
            Expr::from(Func::max(Expr::col(model_price::Column::UpdatedAt))),
            "newest",
        )
        .into_tuple()
        .one(db)
        .await?;
    Ok(stamp.unwrap_or((0, None)))
}

/// Key rows by id (the relay's periodic full reload of the keys it caches).
pub async fn keys_by_ids(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<Vec<relay_key::Model>, DbErr> {
    relay_key::Entity::find()
        .filter(relay_key::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await
}
