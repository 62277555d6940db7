// Hand-maintained to match migrations/ (there is no codegen). When a column changes,
// change the migration and this file together; airlock_migrations' tests compare the
// two on SQLite and PostgreSQL.

//! `billing_reports`: every Billing Meter Event Airlock reports to Stripe, written
//! with its identifier before it is sent. A report covers one tenant's UTC day from
//! the day's cumulative cost `range_from_micros` to `range_to_micros`; the newest
//! `range_to_micros` of a day is that day's watermark. `sent_at` is NULL until
//! Stripe accepted it; an unsent report is resent with the same identifier, which
//! Stripe deduplicates.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "billing_reports")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub day: Date,
    pub range_from_micros: i64,
    pub range_to_micros: i64,
    /// What is reported: the range's cost after markup, in micro-dollars.
    pub value_micros: i64,
    #[sea_orm(column_type = "String(StringLen::N(100))", unique)]
    pub identifier: String,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub customer_id: String,
    pub event_timestamp: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
    pub attempts: i32,
    #[sea_orm(column_type = "String(StringLen::N(500))", nullable)]
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTimeUtc>,
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
