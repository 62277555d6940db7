//! A tenant's configuration as the console reads and changes it: provider
//! credentials and model routes, agreements, data-classification policies,
//! environment defaults, tenant-wide limits and per-key limits.
//!
//! Like [`crate::scoped`], every function takes a [`TenantScope`], checks the
//! caller's permission, and writes its audit event in the transaction of the
//! change. The validation itself lives in [`crate::ops`] and
//! [`crate::policy_ops`], which the `airlock admin` CLI shares.

use airlock_core::class::DataClass;
use airlock_core::key::Env;
use airlock_core::money::MicroDollars;
use airlock_core::policy::{ClassPolicy, Destination, check_destination};
use airlock_core::provider::ProviderKind;
use airlock_schema::entities::{
    classification_policy, env_default, model_route, provider_agreement, provider_credential,
    relay_key, tenant,
};
use airlock_schema::settings;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, ModelTrait,
    QueryFilter, QueryOrder, TransactionTrait,
};
use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::audit::{self, Actor, Change as AuditChange};
use crate::error::ConsoleError;
use crate::ops;
use crate::policy_ops::{self, Change, KeyLimits, NewAgreement, NewPolicy};
use crate::scope::{Permission, TenantScope};
use crate::state::ConsoleState;

/// Agreements ending within this many days are highlighted.
pub const AGREEMENT_WARNING_DAYS: i64 = 30;

// ---------------------------------------------------------------------------
// Providers and routes

/// A provider as the page shows it: never the credential, only its last 4
/// characters.
pub struct ProviderRow {
    pub name: String,
    pub kind: String,
    pub base_url: Option<String>,
    pub last4: Option<String>,
    pub self_hosted: bool,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
}

impl ProviderRow {
    fn of(row: provider_credential::Model, default_provider: Option<&str>) -> ProviderRow {
        ProviderRow {
            is_default: default_provider == Some(row.name.as_str()),
            self_hosted: settings::is_self_hosted(&row),
            name: row.name,
            kind: row.kind,
            base_url: row.base_url,
            last4: row.last4,
            created_at: row.created_at,
            rotated_at: row.rotated_at,
        }
    }
}

fn provider_snapshot(row: &provider_credential::Model) -> Value {
    json!({
        "name": row.name,
        "kind": row.kind,
        "base_url": row.base_url,
        "last4": row.last4,
        "self_hosted": row.self_hosted,
        "key_version": row.key_version,
    })
}

async fn provider_rows(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
) -> Result<Vec<provider_credential::Model>, ConsoleError> {
    Ok(provider_credential::Entity::find()
        .filter(provider_credential::Column::TenantId.eq(tenant_id))
        .order_by_asc(provider_credential::Column::Name)
        .all(db)
        .await?)
}

pub async fn list_providers(
    db: &DatabaseConnection,
    scope: &TenantScope,
) -> Result<Vec<ProviderRow>, ConsoleError> {
    scope.require(Permission::ReadSettings)?;
    let default = scope.tenant().default_provider.as_deref();
    Ok(provider_rows(db, scope.tenant_id())
        .await?
        .into_iter()
        .map(|row| ProviderRow::of(row, default))
        .collect())
}

/// A provider as an admin enters it.
pub struct ProviderInput {
    pub name: String,
    pub kind: String,
    pub base_url: Option<String>,
    pub api_key: Option<SecretString>,
}

/// Adds a provider or replaces its credential (rotation). The first provider of a
/// tenant becomes its default, so a new tenant works with one step.
pub async fn save_provider(
    state: &ConsoleState,
    scope: &TenantScope,
    actor: &Actor,
    input: ProviderInput,
) -> Result<ProviderRow, ConsoleError> {
    scope.require(Permission::ManageProviders)?;
    let kind = ProviderKind::parse(&input.kind).ok_or_else(|| {
        ConsoleError::Invalid("the kind is one of openai, anthropic, gemini or mock".into())
    })?;
    let name = input.name.trim().to_ascii_lowercase();
    let txn = state.db.begin().await?;
    let before = provider_credential::Entity::find()
        .filter(provider_credential::Column::TenantId.eq(scope.tenant_id()))
        .filter(provider_credential::Column::Name.eq(name.as_str()))
        .one(&txn)
        .await?;
    let saved = ops::set_credential(
        &txn,
        &state.master_keys,
        ops::NewCredential {
            tenant_id: scope.tenant_id(),
            name: &name,
            kind,
            base_url: input.base_url.as_deref(),
            secret: input.api_key,
        },
    )
    .await?;
    let tenant = current_tenant(&txn, scope).await?;
    let default_provider = match tenant.default_provider.clone() {
        Some(name) => name,
        None => {
            ops::set_default_provider(&txn, tenant, &saved.name).await?;
            saved.name.clone()
        }
    };
    audit::record(
        &txn,
        scope,
        actor,
        AuditChange {
            action: if before.is_some() {
                "provider.replace"
            } else {
                "provider.create"
            },
            target_type: "provider",
            target_id: Some(saved.name.clone()),
            before: before.as_ref().map(provider_snapshot),
            after: Some(provider_snapshot(&saved)),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(ProviderRow::of(saved, Some(&default_provider)))
}

/// The tenant row as of now (the scope's copy may be older than this request's
/// own changes).
async fn current_tenant(
    db: &impl ConnectionTrait,
    scope: &TenantScope,
) -> Result<tenant::Model, ConsoleError> {
    tenant::Entity::find_by_id(scope.tenant_id())
        .one(db)
        .await?
        .ok_or(ConsoleError::NotFound)
}

async fn require_provider(
    db: &impl ConnectionTrait,
    scope: &TenantScope,
    name: &str,
) -> Result<provider_credential::Model, ConsoleError> {
    provider_credential::Entity::find()
        .filter(provider_credential::Column::TenantId.eq(scope.tenant_id()))
        .filter(provider_credential::Column::Name.eq(name))
        .one(db)
        .await?
        .ok_or_else(|| ConsoleError::Invalid(format!("the tenant has no provider `{name}`")))
}

/// Sets the provider that answers models no route names.
pub async fn set_default_provider(
    state: &ConsoleState,
    scope: &TenantScope,
    actor: &Actor,
    name: &str,
) -> Result<(), ConsoleError> {
    scope.require(Permission::ManageProviders)?;
    let txn = state.db.begin().await?;
    let provider = require_provider(&txn, scope, name).await?;
    let tenant = current_tenant(&txn, scope).await?;
    let before = tenant.default_provider.clone();
    ops::set_default_provider(&txn, tenant, &provider.name).await?;
    audit::record(
        &txn,
        scope,
        actor,
        AuditChange {
            action: "provider.default",
            target_type: "tenant",
            target_id: Some(scope.tenant_id().to_string()),
            before: Some(json!({ "default_provider": before })),
            after: Some(json!({ "default_provider": provider.name })),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

pub async fn list_routes(
    db: &DatabaseConnection,
    scope: &TenantScope,
) -> Result<Vec<model_route::Model>, ConsoleError> {
    scope.require(Permission::ReadSettings)?;
    Ok(model_route::Entity::find()
        .filter(model_route::Column::TenantId.eq(scope.tenant_id()))
        .order_by_asc(model_route::Column::Model)
        .all(db)
        .await?)
}

fn route_snapshot(row: &model_route::Model) -> Value {
    json!({
        "model": row.model,
        "provider": row.provider_name,
        "upstream_model": row.upstream_model,
    })
}

/// Sends `model` to `provider` (as `upstream_model` when given). A model has one
/// route: saving it again replaces it.
pub async fn save_route(
    state: &ConsoleState,
    scope: &TenantScope,
    actor: &Actor,
    model: &str,
    provider: &str,
    upstream_model: Option<&str>,
) -> Result<model_route::Model, ConsoleError> {
    scope.require(Permission::ManageProviders)?;
    let model = model.trim();
    if model.is_empty() || model.len() > 200 || model.chars().any(char::is_control) {
        return Err(ConsoleError::Invalid(
            "a model name is 1–200 printable characters".into(),
        ));
    }
    let upstream_model = upstream_model.map(str::trim).filter(|m| !m.is_empty());
    if upstream_model.is_some_and(|m| m.len() > 200 || m.chars().any(char::is_control)) {
        return Err(ConsoleError::Invalid(
            "an upstream model name is at most 200 printable characters".into(),
        ));
    }
    let txn = state.db.begin().await?;
    let provider = require_provider(&txn, scope, provider.trim()).await?;
    let existing = model_route::Entity::find()
        .filter(model_route::Column::TenantId.eq(scope.tenant_id()))
        .filter(model_route::Column::Model.eq(model))
        .one(&txn)
        .await?;
    let now = Utc::now();
    let before = existing.as_ref().map(route_snapshot);
    let saved = match existing {
        Some(row) => {
            let mut active: model_route::ActiveModel = row.into();
            active.provider_name = Set(provider.name);
            active.upstream_model = Set(upstream_model.map(str::to_owned));
            active.updated_at = Set(now);
            active.update(&txn).await?
        }
        None => {
            model_route::ActiveModel {
                id: Set(Uuid::now_v7()),
                tenant_id: Set(scope.tenant_id()),
                model: Set(model.to_owned()),
                provider_name: Set(provider.name),
                upstream_model: Set(upstream_model.map(str::to_owned)),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?
        }
    };
    audit::record(
        &txn,
        scope,
        actor,
        AuditChange {
            action: "route.save",
            target_type: "route",
            target_id: Some(saved.id.to_string()),
            before,
            after: Some(route_snapshot(&saved)),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

/// Removes a route; the model then goes to the default provider.
pub async fn remove_route(
    state: &ConsoleState,
    scope: &TenantScope,
    actor: &Actor,
    route_id: Uuid,
) -> Result<(), ConsoleError> {
    scope.require(Permission::ManageProviders)?;
    let txn = state.db.begin().await?;
    let route = model_route::Entity::find_by_id(route_id)
        .filter(model_route::Column::TenantId.eq(scope.tenant_id()))
        .one(&txn)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let before = route_snapshot(&route);
    route.delete(&txn).await?;
    // The relays notice a removal through the tenant's `updated_at`.
    let mut tenant: tenant::ActiveModel = current_tenant(&txn, scope).await?.into();
    tenant.updated_at = Set(Utc::now());
    tenant.update(&txn).await?;
    audit::record(
        &txn,
        scope,
        actor,
        AuditChange {
            action: "route.remove",
            target_type: "route",
            target_id: Some(route_id.to_string()),
            before: Some(before),
            after: None,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Agreements

/// Where an agreement stands today.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgreementStanding {
    Current,
    /// Ends within [`AGREEMENT_WARNING_DAYS`].
    Expiring,
    Expired,
}

impl AgreementStanding {
    pub fn as_str(self) -> &'static str {
        match self {
            AgreementStanding::Current => "current",
            AgreementStanding::Expiring => "expiring",
            AgreementStanding::Expired => "expired",
        }
    }

    pub fn of(expires_on: Option<NaiveDate>, today: NaiveDate) -> AgreementStanding {
        match expires_on {
            Some(end) if end < today => AgreementStanding::Expired,
            Some(end) if (end - today).num_days() <= AGREEMENT_WARNING_DAYS => {
                AgreementStanding::Expiring
            }
            _ => AgreementStanding::Current,
        }
    }
}

pub struct AgreementRow {
    pub agreement: provider_agreement::Model,
    pub standing: AgreementStanding,
}

pub async fn list_agreements(
    db: &DatabaseConnection,
    scope: &TenantScope,
    today: NaiveDate,
) -> Result<Vec<AgreementRow>, ConsoleError> {
    scope.require(Permission::ReadSettings)?;
    Ok(provider_agreement::Entity::find()
        .filter(provider_agreement::Column::TenantId.eq(scope.tenant_id()))
        .order_by_asc(provider_agreement::Column::ProviderName)
        .all(db)
        .await?
        .into_iter()
        .map(|agreement| AgreementRow {
            standing: AgreementStanding::of(agreement.expires_on, today),
            agreement,
        })
        .collect())
}

fn agreement_snapshot(row: &provider_agreement::Model) -> Value {
    json!({
        "provider": row.provider_name,
        "dpa_signed_on": row.dpa_signed_on,
        "dpa_reference": row.dpa_reference,
        "baa": row.baa,
        "zero_data_retention": row.zero_data_retention,
        "training_opt_out": row.training_opt_out,
        "region": row.region,
        "expires_on": row.expires_on,
    })
}

/// Records (or replaces) what is on file with a provider.
pub async fn save_agreement(
    state: &ConsoleState,
    scope: &TenantScope,
    actor: &Actor,
    new: NewAgreement,
) -> Result<provider_agreement::Model, ConsoleError> {
    scope.require(Permission::ManageProviders)?;
    if new.dpa_reference.as_ref().is_some_and(|r| r.len() > 200)
        || new.region.as_ref().is_some_and(|r| r.len() > 64)
    {
        return Err(ConsoleError::Invalid(
            "a document reference is at most 200 characters and a region at most 64".into(),
        ));
    }
    let txn = state.db.begin().await?;
    let before = provider_agreement::Entity::find()
        .filter(provider_agreement::Column::TenantId.eq(scope.tenant_id()))
        .filter(
            provider_agreement::Column::ProviderName.eq(new.provider.trim().to_ascii_lowercase()),
        )
        .one(&txn)
        .await?;
    let saved = policy_ops::set_agreement(&txn, scope.tenant_id(), new).await?;
    audit::record(
        &txn,
        scope,
        actor,
        AuditChange {
            action: "agreement.save",
            target_type: "agreement",
            target_id: Some(saved.provider_name.clone()),
            before: before.as_ref().map(agreement_snapshot),
            after: Some(agreement_snapshot(&saved)),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

// ---------------------------------------------------------------------------
// Data-classification policies

/// Each class's policy, as stored or the built-in default, read the way the
/// relay reads it.
pub async fn policies(
    db: &DatabaseConnection,
    scope: &TenantScope,
) -> Result<Vec<(DataClass, ClassPolicy)>, ConsoleError> {
    scope.require(Permission::ReadSettings)?;
    let rows = classification_policy::Entity::find()
        .filter(classification_policy::Column::TenantId.eq(scope.tenant_id()))
        .all(db)
        .await?;
    Ok(DataClass::ALL
        .into_iter()
        .map(|class| {
            let policy = rows
                .iter()
                .find(|r| r.data_class == class.as_str())
                .map(settings::class_policy)
                .unwrap_or_else(|| ClassPolicy::default_for(class));
            (class, policy)
        })
        .collect())
}

fn policy_snapshot(policy: &NewPolicy) -> Value {
    json!({
        "class": policy.class.as_str(),
        "allowed_providers": policy.allowed_providers,
        "require_dpa": policy.require_dpa,
        "require_zdr": policy.require_zdr,
        "require_baa": policy.require_baa,
        "pii": policy.pii.as_str(),
        "secrets": policy.secrets.as_str(),
        "injection": policy.injection.as_str(),
        "output": policy.output.as_str(),
        "block_code": policy.block_code,
    })
}

pub async fn save_policy(
    state: &ConsoleState,
    scope: &TenantScope,
    actor: &Actor,
    policy: NewPolicy,
) -> Result<(), ConsoleError> {
    scope.require(Permission::ManageProviders)?;
    if policy.allowed_providers.len() > 100 {
        return Err(ConsoleError::Invalid(
            "a policy names at most 100 providers".into(),
        ));
    }
    let txn = state.db.begin().await?;
    let before = policy_ops::policy_of(&txn, scope.tenant_id(), policy.class).await?;
    let after = policy_snapshot(&policy);
    policy_ops::set_policy(&txn, scope.tenant_id(), policy).await?;
    audit::record(
        &txn,
        scope,
        actor,
        AuditChange {
            action: "policy.save",
            target_type: "policy",
            target_id: Some(before.class.as_str().to_owned()),
            before: Some(policy_snapshot(&before)),
            after: Some(after),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// One cell of the preview: may this provider receive this class today?
pub struct PreviewCell {
    pub class: &'static str,
    /// `None`: allowed. Otherwise what stands in the way, in a few words.
    pub blocked: Option<String>,
}

pub struct PreviewRow {
    pub provider: String,
    pub cells: Vec<PreviewCell>,
}

/// For each provider and class, what the relay would decide today (the same
/// `check_destination` the relay calls, on the same rows).
pub async fn preview(
    db: &DatabaseConnection,
    scope: &TenantScope,
    today: NaiveDate,
) -> Result<Vec<PreviewRow>, ConsoleError> {
    use airlock_core::policy::ClassBlocked;
    let policies = policies(db, scope).await?;
    let agreements = provider_agreement::Entity::find()
        .filter(provider_agreement::Column::TenantId.eq(scope.tenant_id()))
        .all(db)
        .await?;
    let providers = provider_rows(db, scope.tenant_id()).await?;
    Ok(providers
        .iter()
        .map(|provider| {
            let terms = agreements
                .iter()
                .find(|a| a.provider_name.eq_ignore_ascii_case(&provider.name))
                .map(settings::agreement_terms)
                .unwrap_or_default();
            let dest = Destination {
                name: &provider.name,
                self_hosted: settings::is_self_hosted(provider),
                agreements: terms.status_on(today),
            };
            let cells = policies
                .iter()
                .map(|(class, policy)| PreviewCell {
                    class: class.as_str(),
                    blocked: check_destination(*class, false, policy, dest)
                        .err()
                        .map(|why| match why {
                            ClassBlocked::ProviderNotAllowed { .. } => {
                                "not on the allowed list".to_owned()
                            }
                            ClassBlocked::NotSelfHosted { .. } => "not self-hosted".to_owned(),
                            ClassBlocked::MissingAgreement { missing, .. } => {
                                format!("missing {missing}")
                            }
                        }),
                })
                .collect();
            PreviewRow {
                provider: provider.name.clone(),
                cells,
            }
        })
        .collect())
}

// ---------------------------------------------------------------------------
// Limits and budgets

/// The environment defaults in the order dev, stg, prod, ci.
pub async fn env_defaults(
    db: &DatabaseConnection,
    scope: &TenantScope,
) -> Result<Vec<env_default::Model>, ConsoleError> {
    scope.require(Permission::ReadSettings)?;
    let mut rows = env_default::Entity::find()
        .filter(env_default::Column::TenantId.eq(scope.tenant_id()))
        .all(db)
        .await?;
    rows.sort_by_key(|r| {
        Env::ALL
            .iter()
            .position(|e| e.as_str() == r.env)
            .unwrap_or(usize::MAX)
    });
    Ok(rows)
}

fn env_default_snapshot(row: &env_default::Model) -> Value {
    json!({
        "env": row.env,
        "rpm_limit": row.rpm_limit,
        "tpm_limit": row.tpm_limit,
        "monthly_budget_micros": row.monthly_budget_micros,
        "max_key_age_days": row.max_key_age_days,
    })
}

/// New defaults of one environment.
pub struct EnvDefaultsInput {
    pub rpm: u32,
    pub tpm: Change<u32>,
    pub monthly_budget: MicroDollars,
    pub max_key_age_days: u32,
}

pub async fn save_env_defaults(
    state: &ConsoleState,
    scope: &TenantScope,
    actor: &Actor,
    env: Env,
    input: EnvDefaultsInput,
) -> Result<env_default::Model, ConsoleError> {
    scope.require(Permission::ManageBudgets)?;
    let txn = state.db.begin().await?;
    let before = env_default::Entity::find()
        .filter(env_default::Column::TenantId.eq(scope.tenant_id()))
        .filter(env_default::Column::Env.eq(env.as_str()))
        .one(&txn)
        .await?;
    let saved = policy_ops::set_env_default(
        &txn,
        scope.tenant_id(),
        env,
        Some(input.rpm),
        input.tpm,
        Some(input.monthly_budget),
        Some(input.max_key_age_days),
    )
    .await?;
    audit::record(
        &txn,
        scope,
        actor,
        AuditChange {
            action: "budget.env_defaults",
            target_type: "env",
            target_id: Some(env.as_str().to_owned()),
            before: before.as_ref().map(env_default_snapshot),
            after: Some(env_default_snapshot(&saved)),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

fn tenant_limits_snapshot(row: &tenant::Model) -> Value {
    json!({
        "rpm_limit": row.rpm_limit,
        "tpm_limit": row.tpm_limit,
        "monthly_budget_micros": row.monthly_budget_micros,
    })
}

/// Limits across all of the tenant's keys.
pub async fn save_tenant_limits(
    state: &ConsoleState,
    scope: &TenantScope,
    actor: &Actor,
    rpm: Change<u32>,
    tpm: Change<u32>,
    monthly_budget: Change<MicroDollars>,
) -> Result<tenant::Model, ConsoleError> {
    scope.require(Permission::ManageBudgets)?;
    let txn = state.db.begin().await?;
    let tenant = current_tenant(&txn, scope).await?;
    let before = tenant_limits_snapshot(&tenant);
    let saved = policy_ops::set_tenant_limits(&txn, tenant, rpm, tpm, monthly_budget).await?;
    audit::record(
        &txn,
        scope,
        actor,
        AuditChange {
            action: "budget.tenant_limits",
            target_type: "tenant",
            target_id: Some(scope.tenant_id().to_string()),
            before: Some(before),
            after: Some(tenant_limits_snapshot(&saved)),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

/// Changes one key's limits, budgets, models, addresses, classes and expiry.
pub async fn save_key_limits(
    state: &ConsoleState,
    scope: &TenantScope,
    actor: &Actor,
    key_id: Uuid,
    limits: KeyLimits,
) -> Result<relay_key::Model, ConsoleError> {
    scope.require(Permission::ManageBudgets)?;
    let txn = state.db.begin().await?;
    let key = crate::scoped::find_key(&txn, scope, key_id).await?;
    let before = crate::scoped::key_snapshot(&key);
    let saved =
        policy_ops::set_key_limits(&txn, scope.tenant_id(), &key.display_prefix, limits).await?;
    audit::record(
        &txn,
        scope,
        actor,
        AuditChange {
            action: "key.limits",
            target_type: "key",
            target_id: Some(saved.id.to_string()),
            before: Some(before),
            after: Some(crate::scoped::key_snapshot(&saved)),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(saved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreements_are_flagged_before_and_after_they_end() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
        let day = |n: i64| today + chrono::Duration::days(n);
        assert_eq!(
            AgreementStanding::of(None, today),
            AgreementStanding::Current
        );
        assert_eq!(
            AgreementStanding::of(Some(day(31)), today),
            AgreementStanding::Current
        );
        assert_eq!(
            AgreementStanding::of(Some(day(30)), today),
            AgreementStanding::Expiring
        );
        assert_eq!(
            AgreementStanding::of(Some(today), today),
            AgreementStanding::Expiring
        );
        assert_eq!(
            AgreementStanding::of(Some(day(-1)), today),
            AgreementStanding::Expired
        );
    }
}
