// Hand-maintained to match migrations/ (there is no codegen). When a column changes,
// change the migration and this file together; airlock_migrations' tests compare the
// two on SQLite and PostgreSQL.

//! `usage_daily`: usage rolled up per tenant, UTC day and grouping (environment, key,
//! the key's owner, provider, model). The usage writer upserts it in the same
//! transaction as each batch of usage records, so every usage view and export reads
//! it instead of scanning the records. Unique per `(tenant_id, day, dims)`, where
//! `dims` is [`dims_digest`] of the grouping (NULL-safe, unlike a unique index over
//! the nullable columns themselves). Missing names are stored as `""`.

use sea_orm::entity::prelude::*;
use sha2::{Digest, Sha256};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_daily")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// UTC calendar day.
    pub day: Date,
    /// Hex SHA-256 of the grouping: see [`dims_digest`].
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub dims: String,
    /// dev | stg | prod | ci, or `""` when unknown.
    #[sea_orm(column_type = "String(StringLen::N(8))")]
    pub env: String,
    pub key_id: Option<Uuid>,
    /// The key's owner (a user id); no foreign key, so deleting a user keeps history.
    pub member_id: Option<Uuid>,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub provider: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub model: String,
    pub requests: i64,
    /// Requests answered with a status of 400 or more.
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub images: i64,
    pub cost_micros: i64,
    /// Requests whose model had no price (their cost is 0 for that reason).
    pub unpriced_requests: i64,
    pub updated_at: DateTimeUtc,
}

/// The digest that identifies one grouping within a tenant's day. The writer and
/// the backfill both use it, so they land on the same row.
pub fn dims_digest(
    env: &str,
    key_id: Option<Uuid>,
    member_id: Option<Uuid>,
    provider: &str,
    model: &str,
) -> String {
    let mut hasher = Sha256::new();
    for part in [
        env,
        &key_id.map(|k| k.to_string()).unwrap_or_default(),
        &member_id.map(|m| m.to_string()).unwrap_or_default(),
        provider,
        model,
    ] {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::tenant::Entity",
        from = "Column::TenantId",
        to = "super::tenant::Column::Id",
        on_delete = "Cascade"
    )]
    Tenant,
    #[sea_orm(
        belongs_to = "super::relay_key::Entity",
        from = "Column::KeyId",
        to = "super::relay_key::Column::Id",
        on_delete = "SetNull"
    )]
    RelayKey,
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl Related<super::relay_key::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::RelayKey.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_separate_their_parts() {
        let a = dims_digest("prod", None, None, "ab", "c");
        let b = dims_digest("prod", None, None, "a", "bc");
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(a, dims_digest("prod", None, None, "ab", "c"));
    }
}
