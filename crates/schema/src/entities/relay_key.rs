// Hand-maintained to match migrations/ (there is no codegen). When a column changes,
// change the migration and this file together; airlock_migrations' tests compare the
// two on SQLite and PostgreSQL.

//! `relay_keys`: the keys applications hold. Only a keyed hash of the key is stored,
//! never the key. The relay polls `updated_at > watermark` to invalidate its cache, so
//! every change to a row must bump `updated_at`.

use airlock_core::class::DataClass;
use airlock_core::key::Env;
use sea_orm::entity::prelude::*;

use crate::stored::Stored;

/// `Debug` is written by hand so the key hash never reaches a log: with the hash a log
/// reader could match a leaked key to its row without the pepper.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "relay_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// dev | stg | prod | ci.
    pub env: Stored<Env>,
    pub name: String,
    /// The public start of the key shown in lists, e.g. `dev_ab12…`.
    pub display_prefix: String,
    /// 64 lowercase hex characters of HMAC-SHA-256(pepper, key); unique.
    #[sea_orm(column_type = "String(StringLen::N(64))", unique)]
    pub key_hash: String,
    pub owner_user_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub expires_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    /// Set while an incident holds the key: the relay refuses it with
    /// `key_suspended` until a person releases it (clears this).
    pub suspended_at: Option<DateTimeUtc>,
    pub last_used_at: Option<DateTimeUtc>,
    /// The key this one succeeds (set on the new key at rotation).
    pub rotated_from_id: Option<Uuid>,
    /// Set on the old key at rotation: it keeps working until then.
    pub grace_until: Option<DateTimeUtc>,
    pub rpm_limit: Option<i32>,
    pub tpm_limit: Option<i32>,
    pub daily_budget_micros: Option<i64>,
    pub monthly_budget_micros: Option<i64>,
    pub per_request_cap_micros: Option<i64>,
    /// JSON array of model names; empty means every model.
    pub allowed_models: Json,
    /// JSON array of CIDR strings; empty means any address.
    pub ip_allowlist: Json,
    /// Highest data class this key may send (default `internal`).
    pub max_data_class: Stored<DataClass>,
    /// Data class assumed when a request declares none (default `internal`).
    pub default_data_class: Stored<DataClass>,
    /// Highest `max_tokens` a request may ask for; `None` is no ceiling.
    pub max_tokens_ceiling: Option<i32>,
    /// Refuse a request over the ceiling instead of lowering its `max_tokens`.
    pub reject_over_ceiling: bool,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("relay_key::Model")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("env", &self.env)
            .field("name", &self.name)
            .field("display_prefix", &self.display_prefix)
            .field("key_hash", &"[redacted]")
            .field("owner_user_id", &self.owner_user_id)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .field("last_used_at", &self.last_used_at)
            .field("rotated_from_id", &self.rotated_from_id)
            .field("grace_until", &self.grace_until)
            .field("rpm_limit", &self.rpm_limit)
            .field("tpm_limit", &self.tpm_limit)
            .field("daily_budget_micros", &self.daily_budget_micros)
            .field("monthly_budget_micros", &self.monthly_budget_micros)
            .field("per_request_cap_micros", &self.per_request_cap_micros)
            .field("allowed_models", &self.allowed_models)
            .field("ip_allowlist", &self.ip_allowlist)
            .field("max_data_class", &self.max_data_class)
            .field("default_data_class", &self.default_data_class)
            .field("max_tokens_ceiling", &self.max_tokens_ceiling)
            .field("reject_over_ceiling", &self.reject_over_ceiling)
            .finish()
    }
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
        belongs_to = "super::user::Entity",
        from = "Column::OwnerUserId",
        to = "super::user::Column::Id",
        on_delete = "SetNull"
    )]
    Owner,
    #[sea_orm(has_many = "super::usage_record::Entity")]
    UsageRecord,
    #[sea_orm(has_many = "super::usage_daily::Entity")]
    UsageDaily,
    #[sea_orm(has_many = "super::alert::Entity")]
    Alert,
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Owner.def()
    }
}

impl Related<super::usage_record::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UsageRecord.def()
    }
}

impl Related<super::usage_daily::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UsageDaily.def()
    }
}

impl Related<super::alert::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Alert.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_key_hash() {
        let at = DateTimeUtc::default();
        let key = Model {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            env: Stored(Env::Dev),
            name: "ci bot".to_owned(),
            display_prefix: "dev_ab12".to_owned(),
            key_hash: "f".repeat(64),
            owner_user_id: None,
            created_at: at,
            updated_at: at,
            expires_at: None,
            revoked_at: None,
            suspended_at: None,
            last_used_at: None,
            rotated_from_id: None,
            grace_until: None,
            rpm_limit: None,
            tpm_limit: None,
            daily_budget_micros: None,
            monthly_budget_micros: None,
            per_request_cap_micros: None,
            allowed_models: serde_json::json!([]),
            ip_allowlist: serde_json::json!([]),
            max_data_class: Stored(DataClass::Internal),
            default_data_class: Stored(DataClass::Internal),
            max_tokens_ceiling: None,
            reject_over_ceiling: false,
        };
        let shown = format!("{key:?}");
        assert!(shown.contains("dev_ab12"));
        assert!(!shown.contains(&"f".repeat(64)), "{shown}");
    }
}
