// Hand-maintained to match migrations/ (there is no codegen). When a column changes,
// change the migration and this file together; airlock_migrations' tests compare the
// two on SQLite and PostgreSQL.

//! `classification_policies`: what a tenant allows for one data class. Unique per
//! (tenant, data_class).

use airlock_core::class::DataClass;
use airlock_core::policy::{CheckAction, InjectionAction};
use airlock_core::redact::ContentAction;
use sea_orm::entity::prelude::*;

use crate::stored::Stored;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "classification_policies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// e.g. public | internal | confidential | restricted (parsed by `airlock_core`).
    pub data_class: Stored<DataClass>,
    /// JSON array of provider names allowed for this class.
    pub allowed_providers: Json,
    pub require_dpa: bool,
    pub require_zdr: bool,
    pub require_baa: bool,
    /// allow | flag | redact | block, as applies to each check.
    pub pii_action: Stored<ContentAction>,
    pub secret_action: Stored<ContentAction>,
    pub injection_action: Stored<InjectionAction>,
    pub output_action: Stored<CheckAction>,
    pub block_code: bool,
    /// The judge of `injection = judge`: one of the tenant's provider names…
    #[sea_orm(column_type = "String(StringLen::N(64))", nullable)]
    pub judge_provider: Option<String>,
    /// …the model to ask…
    #[sea_orm(column_type = "String(StringLen::N(128))", nullable)]
    pub judge_model: Option<String>,
    /// …how long to wait…
    pub judge_timeout_ms: Option<i32>,
    /// …and `closed` or `open` when it does not answer.
    #[sea_orm(column_type = "String(StringLen::N(16))", nullable)]
    pub judge_on_failure: Option<String>,
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
