// Hand-maintained to match migrations/ (there is no codegen). When a column changes,
// change the migration and this file together; airlock_migrations' tests compare the
// two on SQLite and PostgreSQL.

//! `alert_settings`: when a tenant's budget alerts fire. A tenant without a row
//! uses the defaults (50, 80 and 100 %).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "alert_settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// Percentages, comma-separated and ascending: `50,80,100`.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub budget_thresholds: String,
    /// Environments (`prod,ci`) where an anomaly suspends the key at once; empty:
    /// anomalies only alert.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub suspend_on_anomaly: String,
    pub updated_at: DateTimeUtc,
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
