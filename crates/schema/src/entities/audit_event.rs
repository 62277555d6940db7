// Hand-maintained to match migrations/ (there is no codegen). When a column changes,
// change the migration and this file together; airlock_migrations' tests compare the
// two on SQLite and PostgreSQL.

//! `audit_events`: every change to keys, budgets, credentials, agreements, policies and
//! members. Events form a hash chain per tenant (`seq`, `prev_hash`, `hash`), unique per
//! (tenant_id, seq), so an edited or deleted row is detectable.
//!
//! `actor_user_id` deliberately has no foreign key: deleting a user must not rewrite
//! history, which would also break the hash chain.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// NULL for events outside any tenant (e.g. instance administration).
    pub tenant_id: Option<Uuid>,
    /// Position in the tenant's chain, starting at 1.
    pub seq: i64,
    pub actor_user_id: Option<Uuid>,
    /// Who did it, as shown (email, "system", an API token name).
    pub actor_label: String,
    /// e.g. `key.create`, `key.rotate`, `credential.update`.
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    /// State before the change (JSON, secrets removed); NULL on create.
    pub before: Option<Json>,
    /// State after the change (JSON, secrets removed); NULL on delete.
    pub after: Option<Json>,
    pub created_at: DateTimeUtc,
    /// Hex hash of the previous event in the chain.
    pub prev_hash: String,
    /// Hex HMAC-SHA-256 (under the server's audit key) over this event's fields
    /// and `prev_hash`.
    pub hash: String,
    /// The hash is keyed (every event since keyed chains; an older event is
    /// re-keyed at startup once its chain verifies).
    pub keyed: bool,
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
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
