// Hand-maintained to match migrations/ (there is no codegen). When a column changes,
// change the migration and this file together; airlock_migrations' tests compare the
// two on SQLite and PostgreSQL.

//! `model_prices`: price per million tokens in micro-dollars. `tenant_id` NULL is the
//! list price (seeded by `m20261123_000002_seed_list_prices`); a tenant row overrides it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "model_prices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// NULL: list price for every tenant.
    pub tenant_id: Option<Uuid>,
    pub model: String,
    pub provider_family: String,
    pub input_per_mtok_micros: i64,
    pub output_per_mtok_micros: i64,
    /// JSON array of other names at this price; `{date}` stands for a release date
    /// (see `airlock_core::pricing::alias_matches`).
    pub aliases: Json,
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
