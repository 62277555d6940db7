// Hand-maintained to match migrations/ (there is no codegen). When a column changes,
// change the migration and this file together; airlock_migrations' tests compare the
// two on SQLite and PostgreSQL.

//! `alerts`: what Airlock tells a tenant's people (a budget crossing a threshold),
//! shown in the console and mailed. `subject` and `body` are text Airlock writes
//! from numbers and names ("dev budget at 80 % ($4.01 of $5.00)"), never prompt
//! text or a secret. One alert per (tenant, kind, scope, period, threshold): the
//! unique index makes firing idempotent however many job runners race.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "alerts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// `budget`.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub kind: String,
    /// `info`, `warning` or `critical`.
    #[sea_orm(column_type = "String(StringLen::N(16))")]
    pub severity: String,
    /// What the alert is about: `tenant`, `env:prod`, `key:<uuid>`.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub scope: String,
    /// The period counted: `2026-12` (a month) or `2026-12-02` (a day).
    #[sea_orm(column_type = "String(StringLen::N(16))")]
    pub period: String,
    /// The threshold crossed, in percent.
    pub threshold: i32,
    pub subject: String,
    #[sea_orm(column_type = "Text")]
    pub body: String,
    pub key_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub acknowledged_at: Option<DateTimeUtc>,
    pub acknowledged_by: Option<Uuid>,
    /// `pending`, `sending`, `sent`, `failed` (gave up) or `none` (no mail server).
    #[sea_orm(column_type = "String(StringLen::N(16))")]
    pub mail_state: String,
    pub mail_attempts: i32,
    /// The last sending error, as the mail server said it (no secret in it).
    pub mail_error: Option<String>,
    /// When a `pending` mail is next tried (after a failure), or how long a
    /// `sending` claim lasts.
    pub next_mail_at: Option<DateTimeUtc>,
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
