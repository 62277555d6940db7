//! Limits and budgets: each environment's defaults (the limits of keys that set
//! none, the environment's monthly budget across its keys, the maximum key age),
//! the tenant-wide limits, and one key's own limits, models, addresses, data
//! classes and expiry.

use airlock_core::class::DataClass;
use airlock_core::key::Env;
use airlock_core::money::MicroDollars;
use airlock_core::netaddr::parse_cidr;
use airlock_schema::entities::{env_default, relay_key, tenant};
use airlock_schema::stored::Stored;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use super::audit::{self, Event};
use super::{Actor, Change, Permission, Store, TenantScope};
use crate::error::ConsoleError;

/// The longest a key may live, in days (ten years).
const MAX_KEY_AGE_DAYS: u32 = 3650;

fn to_i32(v: u32, what: &str) -> Result<i32, ConsoleError> {
    i32::try_from(v).map_err(|_| ConsoleError::Invalid(format!("{what} is too large")))
}

/// A per-minute limit: 1 to 2,147,483,647 (what the column holds).
fn per_minute(v: u32, what: &str) -> Result<i32, ConsoleError> {
    if v == 0 || v > airlock_core::rate::MAX_PER_MINUTE {
        return Err(ConsoleError::Invalid(format!(
            "{what} must be between 1 and {} per minute",
            airlock_core::rate::MAX_PER_MINUTE
        )));
    }
    to_i32(v, what)
}

/// The environment defaults in the order dev, stg, prod, ci.
pub async fn env_defaults(
    store: &Store,
    scope: &TenantScope,
) -> Result<Vec<env_default::Model>, ConsoleError> {
    scope.require(Permission::ReadBudgets)?;
    let mut rows = env_default::Entity::find()
        .filter(env_default::Column::TenantId.eq(scope.tenant_id()))
        .all(store.db())
        .await?;
    rows.sort_by_key(|r| Env::ALL.iter().position(|e| *e == *r.env));
    Ok(rows)
}

fn env_snapshot(row: &env_default::Model) -> Value {
    json!({
        "env": row.env.to_string(),
        "rpm_limit": row.rpm_limit,
        "tpm_limit": row.tpm_limit,
        "monthly_budget_micros": row.monthly_budget_micros,
        "max_key_age_days": row.max_key_age_days,
        "enforce_max_age": row.enforce_max_age,
    })
}

/// New defaults of one environment.
pub struct EnvDefaultsInput {
    pub env: Env,
    pub rpm: u32,
    pub tpm: Change<u32>,
    pub monthly_budget: MicroDollars,
    pub max_key_age_days: u32,
    /// Keys may not be made or extended past the maximum age; `None` keeps the
    /// current setting.
    pub enforce_max_age: Option<bool>,
}

pub async fn save_env_defaults(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    input: EnvDefaultsInput,
) -> Result<env_default::Model, ConsoleError> {
    scope.require(Permission::ManageBudgets)?;
    let rpm = per_minute(input.rpm, "rpm")?;
    if !(1..=MAX_KEY_AGE_DAYS).contains(&input.max_key_age_days) {
        return Err(ConsoleError::Invalid(format!(
            "the maximum key age is 1 to {MAX_KEY_AGE_DAYS} days"
        )));
    }
    if input.monthly_budget < MicroDollars::ZERO {
        return Err(ConsoleError::Invalid("a budget is not negative".into()));
    }
    let txn = store.db().begin().await?;
    let row = env_default::Entity::find()
        .filter(env_default::Column::TenantId.eq(scope.tenant_id()))
        .filter(env_default::Column::Env.eq(Stored(input.env)))
        .one(&txn)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let before = env_snapshot(&row);
    let tpm = input
        .tpm
        .apply(row.tpm_limit.and_then(|v| u32::try_from(v).ok()))
        .map(|v| per_minute(v, "tpm"))
        .transpose()?;
    let mut active: env_default::ActiveModel = row.into();
    active.rpm_limit = Set(rpm);
    active.tpm_limit = Set(tpm);
    active.monthly_budget_micros = Set(input.monthly_budget.as_micros());
    active.max_key_age_days = Set(to_i32(input.max_key_age_days, "max key age")?);
    if let Some(enforce) = input.enforce_max_age {
        active.enforce_max_age = Set(enforce);
    }
    active.updated_at = Set(Utc::now());
    let saved = active.update(&txn).await?;
    audit::commit_with(
        txn,
        store,
        scope,
        actor,
        Event {
            action: "budget.env_defaults",
            target_type: "env",
            target_id: Some(input.env.as_str().to_owned()),
            before: Some(before),
            after: Some(env_snapshot(&saved)),
        },
    )
    .await?;
    Ok(saved)
}

fn tenant_snapshot(row: &tenant::Model) -> Value {
    json!({
        "rpm_limit": row.rpm_limit,
        "tpm_limit": row.tpm_limit,
        "monthly_budget_micros": row.monthly_budget_micros,
    })
}

/// Limits across all of the tenant's keys.
#[derive(Clone, Debug, Default)]
pub struct TenantLimits {
    pub rpm: Change<u32>,
    pub tpm: Change<u32>,
    pub monthly_budget: Change<MicroDollars>,
}

pub async fn save_tenant_limits(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    limits: TenantLimits,
) -> Result<tenant::Model, ConsoleError> {
    scope.require(Permission::ManageBudgets)?;
    let txn = store.db().begin().await?;
    let row = super::current(&txn, scope).await?;
    let before = tenant_snapshot(&row);
    let rpm = limits
        .rpm
        .apply(row.rpm_limit.and_then(|v| u32::try_from(v).ok()));
    let tpm = limits
        .tpm
        .apply(row.tpm_limit.and_then(|v| u32::try_from(v).ok()));
    let budget = limits
        .monthly_budget
        .apply(row.monthly_budget_micros.map(MicroDollars::new));
    if budget.is_some_and(|b| b < MicroDollars::ZERO) {
        return Err(ConsoleError::Invalid("a budget is not negative".into()));
    }
    let mut active: tenant::ActiveModel = row.into();
    active.rpm_limit = Set(rpm.map(|v| per_minute(v, "rpm")).transpose()?);
    active.tpm_limit = Set(tpm.map(|v| per_minute(v, "tpm")).transpose()?);
    active.monthly_budget_micros = Set(budget.map(MicroDollars::as_micros));
    active.updated_at = Set(Utc::now());
    let saved = active.update(&txn).await?;
    audit::commit_with(
        txn,
        store,
        scope,
        actor,
        Event {
            action: "budget.tenant_limits",
            target_type: "tenant",
            target_id: Some(scope.tenant_id().to_string()),
            before: Some(before),
            after: Some(tenant_snapshot(&saved)),
        },
    )
    .await?;
    Ok(saved)
}

/// Changes to one key's limits. `Keep` everywhere changes nothing.
#[derive(Clone, Debug, Default)]
pub struct KeyLimits {
    pub rpm: Change<u32>,
    pub tpm: Change<u32>,
    pub daily_budget: Change<MicroDollars>,
    pub monthly_budget: Change<MicroDollars>,
    pub per_request_cap: Change<MicroDollars>,
    /// CIDRs or addresses; an empty list allows any address.
    pub ip_allowlist: Option<Vec<String>>,
    /// An empty list allows every model.
    pub allowed_models: Option<Vec<String>>,
    pub max_data_class: Option<DataClass>,
    pub default_data_class: Option<DataClass>,
    pub max_tokens_ceiling: Change<u32>,
    pub reject_over_ceiling: Option<bool>,
    pub expires_at: Change<DateTime<Utc>>,
}

/// One key's new limits.
pub struct KeyLimitsInput {
    pub key_id: Uuid,
    pub limits: KeyLimits,
}

fn check_lists(limits: &KeyLimits) -> Result<(), ConsoleError> {
    if let Some(entries) = &limits.ip_allowlist {
        if entries.len() > 100 {
            return Err(ConsoleError::Invalid(
                "an IP allowlist holds at most 100 entries".into(),
            ));
        }
        for entry in entries {
            parse_cidr(entry).map_err(|e| ConsoleError::Invalid(e.to_string()))?;
        }
    }
    if let Some(models) = &limits.allowed_models
        && (models.len() > 200
            || models
                .iter()
                .any(|m| m.trim().is_empty() || m.len() > 200 || m.chars().any(char::is_control)))
    {
        return Err(ConsoleError::Invalid(
            "allowed models are at most 200 names of 1–200 printable characters".into(),
        ));
    }
    Ok(())
}

pub async fn save_key_limits(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    input: KeyLimitsInput,
) -> Result<relay_key::Model, ConsoleError> {
    scope.require(Permission::ManageBudgets)?;
    let limits = input.limits;
    check_lists(&limits)?;
    let txn = store.db().begin().await?;
    let row = super::keys::find(&txn, scope, input.key_id).await?;
    let before = super::keys::snapshot(&row);
    let max_class = limits.max_data_class.unwrap_or(*row.max_data_class);
    let default_class = limits.default_data_class.unwrap_or(*row.default_data_class);
    if default_class > max_class {
        return Err(ConsoleError::Invalid(format!(
            "the default data class ({default_class}) must not be above the highest allowed ({max_class})"
        )));
    }
    let rpm = limits
        .rpm
        .apply(row.rpm_limit.and_then(|v| u32::try_from(v).ok()));
    let tpm = limits
        .tpm
        .apply(row.tpm_limit.and_then(|v| u32::try_from(v).ok()));
    let ceiling = limits
        .max_tokens_ceiling
        .apply(row.max_tokens_ceiling.and_then(|v| u32::try_from(v).ok()));
    let money = |c: Change<MicroDollars>, cur: Option<i64>| -> Result<Option<i64>, ConsoleError> {
        let value = c.apply(cur.map(MicroDollars::new));
        if value.is_some_and(|v| v < MicroDollars::ZERO) {
            return Err(ConsoleError::Invalid(
                "a budget or cap is not negative".into(),
            ));
        }
        Ok(value.map(MicroDollars::as_micros))
    };
    let expires_at = limits.expires_at.apply(row.expires_at);
    // Only an extension (or removing the expiry) meets an enforced maximum age:
    // keys made before the rule keep their other settings editable.
    let extended = match (row.expires_at, expires_at) {
        (_, None) => row.expires_at.is_some(),
        (Some(old), Some(new)) => new > old,
        (None, Some(_)) => false,
    };
    if extended {
        super::keys::check_enforced_age(
            &txn,
            scope.tenant_id(),
            *row.env,
            row.created_at,
            expires_at,
        )
        .await?;
    }
    let mut active: relay_key::ActiveModel = row.clone().into();
    active.rpm_limit = Set(rpm.map(|v| per_minute(v, "rpm")).transpose()?);
    active.tpm_limit = Set(tpm.map(|v| per_minute(v, "tpm")).transpose()?);
    active.daily_budget_micros = Set(money(limits.daily_budget, row.daily_budget_micros)?);
    active.monthly_budget_micros = Set(money(limits.monthly_budget, row.monthly_budget_micros)?);
    active.per_request_cap_micros = Set(money(limits.per_request_cap, row.per_request_cap_micros)?);
    if let Some(entries) = limits.ip_allowlist {
        active.ip_allowlist = Set(json!(entries));
    }
    if let Some(models) = limits.allowed_models {
        let models: Vec<String> = models.into_iter().map(|m| m.trim().to_owned()).collect();
        active.allowed_models = Set(json!(models));
    }
    active.max_data_class = Set(Stored(max_class));
    active.default_data_class = Set(Stored(default_class));
    active.max_tokens_ceiling = Set(ceiling.map(|v| to_i32(v, "max tokens")).transpose()?);
    if let Some(reject) = limits.reject_over_ceiling {
        active.reject_over_ceiling = Set(reject);
    }
    active.expires_at = Set(expires_at);
    active.updated_at = Set(Utc::now());
    let saved = active.update(&txn).await?;
    audit::commit_with(
        txn,
        store,
        scope,
        actor,
        Event {
            action: "key.limits",
            target_type: "key",
            target_id: Some(saved.id.to_string()),
            before: Some(before),
            after: Some(super::keys::snapshot(&saved)),
        },
    )
    .await?;
    Ok(saved)
}

#[cfg(test)]
mod tests {
    use super::super::testing::TestStore;
    use super::*;
    use airlock_core::key::KeyHasher;
    use airlock_core::role::Role;

    #[tokio::test]
    async fn key_limits_refuse_bad_addresses_inverted_classes_and_zero_rates() {
        let store = TestStore::new().await;
        let scope = store.tenant("acme").await;
        let hasher = KeyHasher::new(&[5; 32]).unwrap();
        let key = super::super::keys::create(
            &store,
            &scope,
            &Actor::cli(),
            super::super::keys::NewKey {
                hasher: &hasher,
                env: Env::Dev,
                name: "k".into(),
                allowed_models: vec![],
                expires_at: None,
            },
        )
        .await
        .unwrap();
        let actor = Actor::cli();
        let save = |limits| {
            save_key_limits(
                &store,
                &scope,
                &actor,
                KeyLimitsInput {
                    key_id: key.row.id,
                    limits,
                },
            )
        };
        let cases = [
            (
                KeyLimits {
                    ip_allowlist: Some(vec!["10.0.0.0/33".into()]),
                    ..Default::default()
                },
                "203.0.113.0/24",
            ),
            (
                KeyLimits {
                    max_data_class: Some(DataClass::Public),
                    default_data_class: Some(DataClass::Internal),
                    ..Default::default()
                },
                "must not be above",
            ),
            (
                KeyLimits {
                    rpm: Change::Set(0),
                    ..Default::default()
                },
                "between 1 and",
            ),
            (
                KeyLimits {
                    allowed_models: Some(vec![" ".into()]),
                    ..Default::default()
                },
                "allowed models",
            ),
        ];
        for (limits, expected) in cases {
            let err = save(limits).await.err().unwrap();
            assert!(err.to_string().contains(expected), "{err}");
        }
        let saved = save(KeyLimits {
            rpm: Change::Set(60),
            ..Default::default()
        })
        .await
        .unwrap();
        assert_eq!(saved.rpm_limit, Some(60));
    }

    #[tokio::test]
    async fn finance_reads_budgets_but_does_not_change_them() {
        let store = TestStore::new().await;
        let scope = store.tenant("acme").await;
        let (_, finance) = store.member(&scope, Role::Finance).await;
        assert_eq!(env_defaults(&store, &finance).await.unwrap().len(), 4);
        assert!(matches!(
            save_tenant_limits(&store, &finance, &Actor::cli(), TenantLimits::default()).await,
            Err(ConsoleError::Forbidden)
        ));
    }
}
