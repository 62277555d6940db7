//! Control-plane operations on the settings the relay enforces: key limits and
//! budgets, environment defaults, tenant-wide limits, provider agreements and
//! data-classification policies. The `airlock admin` CLI calls these; the console
//! will call the same functions. Each validates its input before writing and sets
//! `updated_at`, which is how every relay picks the change up within a second.

use airlock_core::class::DataClass;
use airlock_core::key::Env;
use airlock_core::money::MicroDollars;
use airlock_core::netaddr::parse_cidr;
use airlock_core::policy::CheckAction;
use airlock_core::redact::ContentAction;
use airlock_schema::entities::{
    classification_policy, env_default, provider_agreement, provider_credential, relay_key, tenant,
};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::ops::OpsError;

/// A change to one setting: leave it, clear it, or set it.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Change<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

/// `None` clears, `Some` sets: how a full replacement (a form, a PUT) reads.
impl<T> From<Option<T>> for Change<T> {
    fn from(value: Option<T>) -> Self {
        value.map_or(Change::Clear, Change::Set)
    }
}

impl<T> Change<T> {
    fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Change::Keep => current,
            Change::Clear => None,
            Change::Set(v) => Some(v),
        }
    }
}

/// Changes to a key's limits. `Keep` everywhere changes nothing.
#[derive(Clone, Debug, Default)]
pub struct KeyLimits {
    pub rpm: Change<u32>,
    pub tpm: Change<u32>,
    pub daily_budget: Change<MicroDollars>,
    pub monthly_budget: Change<MicroDollars>,
    pub per_request_cap: Change<MicroDollars>,
    /// CIDRs or addresses; an empty list allows any address.
    pub ip_allowlist: Option<Vec<String>>,
    pub allowed_models: Option<Vec<String>>,
    pub max_data_class: Option<DataClass>,
    pub default_data_class: Option<DataClass>,
    pub max_tokens_ceiling: Change<u32>,
    pub reject_over_ceiling: Option<bool>,
    pub expires_at: Change<DateTime<Utc>>,
}

fn to_i32(v: u32, what: &str) -> Result<i32, OpsError> {
    i32::try_from(v).map_err(|_| OpsError::Invalid(format!("{what} is too large")))
}

/// A per-minute limit: 1 to 2,147,483,647 (what the column holds).
fn per_minute(v: u32, what: &str) -> Result<i32, OpsError> {
    if v == 0 || v > airlock_core::rate::MAX_PER_MINUTE {
        return Err(OpsError::Invalid(format!(
            "{what} must be between 1 and {} per minute",
            airlock_core::rate::MAX_PER_MINUTE
        )));
    }
    to_i32(v, what)
}

/// Updates a key (found by its display prefix in the tenant) with `limits`.
pub async fn set_key_limits(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    display_prefix: &str,
    limits: KeyLimits,
) -> Result<relay_key::Model, OpsError> {
    let row = relay_key::Entity::find()
        .filter(relay_key::Column::TenantId.eq(tenant_id))
        .filter(relay_key::Column::DisplayPrefix.eq(display_prefix))
        .one(db)
        .await?
        .ok_or_else(|| OpsError::UnknownKey(display_prefix.to_owned()))?;
    if let Some(entries) = &limits.ip_allowlist {
        for entry in entries {
            parse_cidr(entry).map_err(|e| OpsError::Invalid(e.to_string()))?;
        }
    }
    let max_class = limits
        .max_data_class
        .unwrap_or(row.max_data_class.parse().unwrap_or(DataClass::Internal));
    let default_class = limits.default_data_class.unwrap_or(
        row.default_data_class
            .parse()
            .unwrap_or(DataClass::Internal),
    );
    if default_class > max_class {
        return Err(OpsError::Invalid(format!(
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
    let money = |c: Change<MicroDollars>, cur: Option<i64>| {
        c.apply(cur.map(MicroDollars::new))
            .map(MicroDollars::as_micros)
    };
    let mut active: relay_key::ActiveModel = row.clone().into();
    active.rpm_limit = Set(rpm.map(|v| per_minute(v, "rpm")).transpose()?);
    active.tpm_limit = Set(tpm.map(|v| per_minute(v, "tpm")).transpose()?);
    active.daily_budget_micros = Set(money(limits.daily_budget, row.daily_budget_micros));
    active.monthly_budget_micros = Set(money(limits.monthly_budget, row.monthly_budget_micros));
    active.per_request_cap_micros = Set(money(limits.per_request_cap, row.per_request_cap_micros));
    if let Some(entries) = limits.ip_allowlist {
        active.ip_allowlist = Set(serde_json::json!(entries));
    }
    if let Some(models) = limits.allowed_models {
        active.allowed_models = Set(serde_json::json!(models));
    }
    active.max_data_class = Set(max_class.as_str().to_owned());
    active.default_data_class = Set(default_class.as_str().to_owned());
    active.max_tokens_ceiling = Set(ceiling.map(|v| to_i32(v, "max tokens")).transpose()?);
    if let Some(reject) = limits.reject_over_ceiling {
        active.reject_over_ceiling = Set(reject);
    }
    active.expires_at = Set(limits.expires_at.apply(row.expires_at));
    active.updated_at = Set(Utc::now());
    Ok(active.update(db).await?)
}

/// Sets an environment's defaults (limits for keys that set none, and the
/// environment's monthly budget across its keys).
pub async fn set_env_default(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    env: Env,
    rpm: Option<u32>,
    tpm: Change<u32>,
    monthly_budget: Option<MicroDollars>,
    max_key_age_days: Option<u32>,
) -> Result<env_default::Model, OpsError> {
    let row = env_default::Entity::find()
        .filter(env_default::Column::TenantId.eq(tenant_id))
        .filter(env_default::Column::Env.eq(env.as_str()))
        .one(db)
        .await?
        .ok_or_else(|| OpsError::Invalid(format!("the tenant has no {} defaults", env.as_str())))?;
    let mut active: env_default::ActiveModel = row.clone().into();
    if let Some(rpm) = rpm {
        active.rpm_limit = Set(per_minute(rpm, "rpm")?);
    }
    active.tpm_limit = Set(tpm
        .apply(row.tpm_limit.and_then(|v| u32::try_from(v).ok()))
        .map(|v| per_minute(v, "tpm"))
        .transpose()?);
    if let Some(budget) = monthly_budget {
        active.monthly_budget_micros = Set(budget.as_micros());
    }
    if let Some(days) = max_key_age_days {
        if days == 0 {
            return Err(OpsError::Invalid(
                "the maximum key age is at least 1 day".into(),
            ));
        }
        active.max_key_age_days = Set(to_i32(days, "max key age")?);
    }
    active.updated_at = Set(Utc::now());
    Ok(active.update(db).await?)
}

/// Sets the tenant-wide limits (across all its keys).
pub async fn set_tenant_limits(
    db: &impl ConnectionTrait,
    tenant: tenant::Model,
    rpm: Change<u32>,
    tpm: Change<u32>,
    monthly_budget: Change<MicroDollars>,
) -> Result<tenant::Model, OpsError> {
    let rpm = rpm.apply(tenant.rpm_limit.and_then(|v| u32::try_from(v).ok()));
    let tpm = tpm.apply(tenant.tpm_limit.and_then(|v| u32::try_from(v).ok()));
    let budget = monthly_budget.apply(tenant.monthly_budget_micros.map(MicroDollars::new));
    let mut active: tenant::ActiveModel = tenant.into();
    active.rpm_limit = Set(rpm.map(|v| per_minute(v, "rpm")).transpose()?);
    active.tpm_limit = Set(tpm.map(|v| per_minute(v, "tpm")).transpose()?);
    active.monthly_budget_micros = Set(budget.map(MicroDollars::as_micros));
    active.updated_at = Set(Utc::now());
    Ok(active.update(db).await?)
}

/// What is on file with a provider.
#[derive(Clone, Debug, Default)]
pub struct NewAgreement {
    pub provider: String,
    pub dpa_signed_on: Option<NaiveDate>,
    pub dpa_reference: Option<String>,
    pub baa: bool,
    pub zero_data_retention: bool,
    pub training_opt_out: bool,
    pub region: Option<String>,
    pub expires_on: Option<NaiveDate>,
}

/// Records (or replaces) the agreement with a provider.
pub async fn set_agreement(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    new: NewAgreement,
) -> Result<provider_agreement::Model, OpsError> {
    let provider = new.provider.trim().to_ascii_lowercase();
    if provider.is_empty() || provider.len() > 64 {
        return Err(OpsError::Invalid(
            "a provider name is 1–64 characters".into(),
        ));
    }
    if let (Some(signed), Some(expires)) = (new.dpa_signed_on, new.expires_on)
        && expires < signed
    {
        return Err(OpsError::Invalid(
            "the agreement expires before it was signed".into(),
        ));
    }
    let existing = provider_agreement::Entity::find()
        .filter(provider_agreement::Column::TenantId.eq(tenant_id))
        .filter(provider_agreement::Column::ProviderName.eq(provider.as_str()))
        .one(db)
        .await?;
    let now = Utc::now();
    let mut active = match &existing {
        Some(row) => row.clone().into(),
        None => provider_agreement::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(tenant_id),
            provider_name: Set(provider),
            created_at: Set(now),
            ..Default::default()
        },
    };
    active.dpa_signed_on = Set(new.dpa_signed_on);
    active.dpa_reference = Set(new.dpa_reference);
    active.baa = Set(new.baa);
    active.zero_data_retention = Set(new.zero_data_retention);
    active.training_opt_out = Set(new.training_opt_out);
    active.region = Set(new.region);
    active.expires_on = Set(new.expires_on);
    active.updated_at = Set(now);
    Ok(if existing.is_some() {
        active.update(db).await?
    } else {
        active.insert(db).await?
    })
}

/// A class's policy as an admin writes it.
#[derive(Clone, Debug)]
pub struct NewPolicy {
    pub class: DataClass,
    pub allowed_providers: Vec<String>,
    pub require_dpa: bool,
    pub require_zdr: bool,
    pub require_baa: bool,
    pub pii: ContentAction,
    pub secrets: ContentAction,
    pub injection: CheckAction,
    pub output: CheckAction,
    pub block_code: bool,
}

impl NewPolicy {
    /// The built-in default of a class, as a starting point for changes.
    pub fn default_for(class: DataClass) -> NewPolicy {
        let d = airlock_core::policy::ClassPolicy::default_for(class);
        NewPolicy {
            class,
            allowed_providers: d.allowed_providers,
            require_dpa: d.require_dpa,
            require_zdr: d.require_zdr,
            require_baa: d.require_baa,
            pii: d.redaction.pii,
            secrets: d.redaction.secrets,
            injection: d.injection,
            output: d.output,
            block_code: d.block_code,
        }
    }
}

/// The stored policy of a class, or the built-in default.
pub async fn policy_of(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    class: DataClass,
) -> Result<NewPolicy, OpsError> {
    let row = classification_policy::Entity::find()
        .filter(classification_policy::Column::TenantId.eq(tenant_id))
        .filter(classification_policy::Column::DataClass.eq(class.as_str()))
        .one(db)
        .await?;
    let Some(row) = row else {
        return Ok(NewPolicy::default_for(class));
    };
    let invalid = |e: airlock_core::policy::UnknownAction| OpsError::Invalid(e.to_string());
    Ok(NewPolicy {
        class,
        allowed_providers: airlock_schema::json_strings(&row.allowed_providers),
        require_dpa: row.require_dpa,
        require_zdr: row.require_zdr,
        require_baa: row.require_baa,
        pii: row.pii_action.parse().map_err(invalid)?,
        secrets: row.secret_action.parse().map_err(invalid)?,
        injection: row.injection_action.parse().map_err(invalid)?,
        output: row.output_action.parse().map_err(invalid)?,
        block_code: row.block_code,
    })
}

/// Writes a class's policy.
pub async fn set_policy(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    policy: NewPolicy,
) -> Result<classification_policy::Model, OpsError> {
    let existing = classification_policy::Entity::find()
        .filter(classification_policy::Column::TenantId.eq(tenant_id))
        .filter(classification_policy::Column::DataClass.eq(policy.class.as_str()))
        .one(db)
        .await?;
    let mut active = match &existing {
        Some(row) => row.clone().into(),
        None => classification_policy::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(tenant_id),
            data_class: Set(policy.class.as_str().to_owned()),
            ..Default::default()
        },
    };
    let providers: Vec<String> = policy
        .allowed_providers
        .iter()
        .map(|p| p.trim().to_ascii_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    active.allowed_providers = Set(serde_json::json!(providers));
    active.require_dpa = Set(policy.require_dpa);
    active.require_zdr = Set(policy.require_zdr);
    active.require_baa = Set(policy.require_baa);
    active.pii_action = Set(policy.pii.as_str().to_owned());
    active.secret_action = Set(policy.secrets.as_str().to_owned());
    active.injection_action = Set(policy.injection.as_str().to_owned());
    active.output_action = Set(policy.output.as_str().to_owned());
    active.block_code = Set(policy.block_code);
    active.updated_at = Set(Utc::now());
    Ok(if existing.is_some() {
        active.update(db).await?
    } else {
        active.insert(db).await?
    })
}

/// Marks a provider as running on the tenant's own infrastructure (restricted
/// data may go to it) or not.
pub async fn set_self_hosted(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    provider: &str,
    self_hosted: bool,
) -> Result<provider_credential::Model, OpsError> {
    let row = provider_credential::Entity::find()
        .filter(provider_credential::Column::TenantId.eq(tenant_id))
        .filter(provider_credential::Column::Name.eq(provider))
        .one(db)
        .await?
        .ok_or_else(|| OpsError::Invalid(format!("the tenant has no provider `{provider}`")))?;
    let mut active: provider_credential::ActiveModel = row.into();
    active.self_hosted = Set(self_hosted);
    active.updated_at = Set(Utc::now());
    Ok(active.update(db).await?)
}
