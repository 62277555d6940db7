// Hand-maintained to match migrations/ (there is no codegen). When a column changes,
// change the migration and this file together; airlock_migrations' tests compare the
// two on SQLite and PostgreSQL.

//! `stripe_webhook_events`: ids of Stripe webhook events already applied, so a
//! replayed or redelivered event changes nothing.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "stripe_webhook_events")]
pub struct Model {
    /// Stripe's `evt_…`.
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(255))"
    )]
    pub id: String,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub event_type: String,
    pub received_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
