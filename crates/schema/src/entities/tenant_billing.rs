// Hand-maintained to match migrations/ (there is no codegen). When a column changes,
// change the migration and this file together; airlock_migrations' tests compare the
// two on SQLite and PostgreSQL.

//! `tenant_billing`: whether a tenant's usage is billed through Stripe, to which
//! customer, with what markup over provider cost, and the status Stripe's webhooks
//! report. One row per tenant that has ever had billing set up.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_billing")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    pub enabled: bool,
    /// `cus_…`.
    #[sea_orm(column_type = "String(StringLen::N(64))", nullable)]
    pub stripe_customer_id: Option<String>,
    /// Markup over provider cost in hundredths of a percent (1250 = 12.5 %).
    pub markup_basis_points: i32,
    #[sea_orm(column_type = "String(StringLen::N(254))", nullable)]
    pub billing_email: Option<String>,
    /// The first UTC day whose usage is billed (the day billing was turned on).
    pub bill_from: Option<Date>,
    /// active | past_due | canceled, from Stripe's webhooks.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub status: String,
    pub status_changed_at: Option<DateTimeUtc>,
    pub last_sync_at: Option<DateTimeUtc>,
    /// Why the last sync failed (a Stripe message, never a secret); NULL after a success.
    #[sea_orm(column_type = "String(StringLen::N(500))", nullable)]
    pub last_sync_error: Option<String>,
    pub created_at: DateTimeUtc,
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
