// Hand-maintained to match migrations/ (there is no codegen). When a column changes,
// change the migration and this file together; airlock_migrations' tests compare the
// two on SQLite and PostgreSQL.

//! `job_leases`: which instance may run a periodic job, until when. An instance
//! takes a lease only when it has run out, in one conditional UPDATE, so of
//! several servers on one database exactly one runs each job per tick.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "job_leases")]
pub struct Model {
    /// The job's name (`budget-alerts`, `alert-mail`).
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(64))"
    )]
    pub name: String,
    /// The instance holding it (random per process).
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub holder: String,
    pub leased_until: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
