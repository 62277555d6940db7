// Hand-maintained to match migrations/ (there is no codegen). When a column changes,
// change the migration and this file together; airlock_migrations' tests compare the
// two on SQLite and PostgreSQL.

//! `tenants`: one organisation using Airlock. Everything else hangs off a tenant and is
//! deleted with it (ON DELETE CASCADE).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// URL-safe unique name.
    #[sea_orm(unique)]
    pub slug: String,
    pub name: String,
    /// Name of a `provider_credentials` row used when a model has no route and no
    /// provider family matches.
    pub default_provider: Option<String>,
    pub monthly_budget_micros: Option<i64>,
    pub rpm_limit: Option<i32>,
    pub tpm_limit: Option<i32>,
    /// Set when the tenant's billing status is one the operator suspends for: the
    /// relay refuses its keys with `billing_suspended` (402).
    pub billing_suspended: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::membership::Entity")]
    Membership,
    #[sea_orm(has_many = "super::relay_key::Entity")]
    RelayKey,
    #[sea_orm(has_many = "super::env_default::Entity")]
    EnvDefault,
    #[sea_orm(has_many = "super::provider_credential::Entity")]
    ProviderCredential,
    #[sea_orm(has_many = "super::model_route::Entity")]
    ModelRoute,
    #[sea_orm(has_many = "super::provider_agreement::Entity")]
    ProviderAgreement,
    #[sea_orm(has_many = "super::classification_policy::Entity")]
    ClassificationPolicy,
    #[sea_orm(has_many = "super::model_price::Entity")]
    ModelPrice,
    #[sea_orm(has_many = "super::usage_record::Entity")]
    UsageRecord,
    #[sea_orm(has_many = "super::usage_daily::Entity")]
    UsageDaily,
    #[sea_orm(has_many = "super::audit_event::Entity")]
    AuditEvent,
    #[sea_orm(has_many = "super::alert::Entity")]
    Alert,
}

impl Related<super::membership::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Membership.def()
    }
}

impl Related<super::relay_key::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::RelayKey.def()
    }
}

impl Related<super::env_default::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::EnvDefault.def()
    }
}

impl Related<super::provider_credential::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ProviderCredential.def()
    }
}

impl Related<super::model_route::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ModelRoute.def()
    }
}

impl Related<super::provider_agreement::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ProviderAgreement.def()
    }
}

impl Related<super::classification_policy::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ClassificationPolicy.def()
    }
}

impl Related<super::model_price::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ModelPrice.def()
    }
}

impl Related<super::usage_record::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UsageRecord.def()
    }
}

impl Related<super::usage_daily::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UsageDaily.def()
    }
}

impl Related<super::audit_event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AuditEvent.def()
    }
}

impl Related<super::alert::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Alert.def()
    }
}

/// Users who are members of this tenant, through `memberships`.
impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        super::membership::Relation::User.def()
    }

    fn via() -> Option<RelationDef> {
        Some(super::membership::Relation::Tenant.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}
