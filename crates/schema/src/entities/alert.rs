// Hand-maintained to match migrations/ (there is no codegen). When a column changes,
// change the migration and this file together; airlock_migrations' tests compare the
// two on SQLite and PostgreSQL.

//! `alerts`: budget, rotation and anomaly alerts shown in the console and emailed.
//! `subject` and `body` are text Airlock generates ("Key dev_ab… reached 80% of its
//! budget"), never prompt text.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "alerts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// e.g. `budget`, `rotation`, `anomaly`.
    pub kind: String,
    /// e.g. `info`, `warning`, `critical`.
    pub severity: String,
    pub subject: String,
    pub body: String,
    pub key_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub acknowledged_at: Option<DateTimeUtc>,
    pub emailed_at: Option<DateTimeUtc>,
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
