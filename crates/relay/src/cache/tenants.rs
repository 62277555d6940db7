//! Each tenant's runtime configuration: its providers (credentials decrypted into
//! memory, never logged) and model routes. Loaded on first use, then refreshed by
//! the poller when the tenant's rows change.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use airlock_core::class::DataClass;
use airlock_core::envelope::{MasterKeys, Sealed};
use airlock_core::key::Env;
use airlock_core::money::MicroDollars;
use airlock_core::policy::{AgreementStatus, AgreementTerms, ClassPolicy};
use airlock_schema::entities::provider_credential;
use airlock_schema::{queries, settings};
use chrono::NaiveDate;
use sea_orm::DatabaseConnection;
use secrecy::SecretString;
use uuid::Uuid;

use crate::error::RelayError;
use crate::providers::ProviderEndpoint;

/// Where a route sends its models (the rule is `airlock_core::routing`).
pub type ModelRoute = airlock_core::routing::RouteTarget;

/// An environment's defaults: limits for keys that set none, and the budget of
/// the environment as a whole.
#[derive(Clone, Copy, Debug, Default)]
pub struct EnvDefaults {
    pub rpm_limit: Option<u32>,
    pub tpm_limit: Option<u32>,
    pub monthly_budget: Option<MicroDollars>,
}

#[derive(Debug)]
pub struct TenantRuntime {
    pub tenant_id: Uuid,
    pub default_provider: Option<String>,
    pub providers: HashMap<String, Arc<ProviderEndpoint>>,
    /// Routes for exactly one model name.
    pub routes: HashMap<String, ModelRoute>,
    /// Pattern routes (`claude-*`), longest first.
    pub route_patterns: Vec<(String, ModelRoute)>,
    /// Providers marked self-hosted (plus every `mock` provider: nothing leaves).
    pub self_hosted: HashSet<String>,
    /// Per provider name, lower-cased.
    pub agreements: HashMap<String, AgreementTerms>,
    pub policies: HashMap<DataClass, ClassPolicy>,
    pub env_defaults: HashMap<Env, EnvDefaults>,
    pub rpm_limit: Option<u32>,
    pub tpm_limit: Option<u32>,
    pub monthly_budget: Option<MicroDollars>,
    /// The tenant's billing is suspended: its keys get `billing_suspended` (402).
    pub billing_suspended: bool,
}

impl TenantRuntime {
    /// The tenant's policy for a class, or the built-in default.
    pub fn policy(&self, class: DataClass) -> ClassPolicy {
        self.policies
            .get(&class)
            .cloned()
            .unwrap_or_else(|| ClassPolicy::default_for(class))
    }

    pub fn agreement_status(&self, provider: &str, today: NaiveDate) -> AgreementStatus {
        self.agreements
            .get(&provider.to_ascii_lowercase())
            .map(|a| a.status_on(today))
            .unwrap_or_default()
    }

    pub fn env_defaults(&self, env: Env) -> EnvDefaults {
        self.env_defaults.get(&env).copied().unwrap_or_default()
    }
}

pub struct TenantCache {
    map: RwLock<HashMap<Uuid, Arc<TenantRuntime>>>,
}

impl Default for TenantCache {
    fn default() -> Self {
        Self::new()
    }
}

impl TenantCache {
    pub fn new() -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
        }
    }

    pub async fn get(
        &self,
        db: &DatabaseConnection,
        master_keys: &MasterKeys,
        tenant_id: Uuid,
    ) -> Result<Arc<TenantRuntime>, RelayError> {
        if let Ok(map) = self.map.read()
            && let Some(runtime) = map.get(&tenant_id)
        {
            return Ok(runtime.clone());
        }
        self.load(db, master_keys, tenant_id).await
    }

    /// Ids of every cached tenant (for the periodic full reload).
    pub fn cached_ids(&self) -> Vec<Uuid> {
        self.map
            .read()
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Reloads a tenant only if it is cached (the poller's path).
    pub async fn refresh_if_cached(
        &self,
        db: &DatabaseConnection,
        master_keys: &MasterKeys,
        tenant_id: Uuid,
    ) -> Result<(), RelayError> {
        let cached = self
            .map
            .read()
            .map(|m| m.contains_key(&tenant_id))
            .unwrap_or(false);
        if cached {
            self.load(db, master_keys, tenant_id).await?;
        }
        Ok(())
    }

    async fn load(
        &self,
        db: &DatabaseConnection,
        master_keys: &MasterKeys,
        tenant_id: Uuid,
    ) -> Result<Arc<TenantRuntime>, RelayError> {
        let config = queries::load_tenant_relay_config(db, tenant_id)
            .await
            .map_err(|e| {
                tracing::error!(tenant.id = %tenant_id, error = %e, "loading tenant relay config failed");
                RelayError::Internal
            })?
            .ok_or(RelayError::InvalidApiKey("the key's tenant no longer exists"))?;
        let providers = config
            .credentials
            .iter()
            .filter_map(|row| endpoint_from_row(row, master_keys))
            .map(|endpoint| (endpoint.name.clone(), Arc::new(endpoint)))
            .collect();
        let (mut route_patterns, routes): (Vec<_>, Vec<_>) = config
            .routes
            .into_iter()
            .map(|r| {
                (
                    r.model,
                    ModelRoute {
                        provider: r.provider_name,
                        upstream_model: r.upstream_model,
                    },
                )
            })
            .partition(|(model, _)| airlock_core::routing::is_pattern(model));
        airlock_core::routing::sort_patterns(&mut route_patterns);
        let routes = routes.into_iter().collect();
        let self_hosted = config
            .credentials
            .iter()
            .filter(|row| settings::is_self_hosted(row))
            .map(|row| row.name.clone())
            .collect();
        let agreements = config
            .agreements
            .iter()
            .map(|row| {
                (
                    row.provider_name.to_ascii_lowercase(),
                    settings::agreement_terms(row),
                )
            })
            .collect();
        let policies = config
            .policies
            .iter()
            .map(|row| (*row.data_class, settings::class_policy(row)))
            .collect();
        let env_defaults = config
            .env_defaults
            .iter()
            .map(|row| {
                (
                    *row.env,
                    EnvDefaults {
                        rpm_limit: u32::try_from(row.rpm_limit).ok().filter(|v| *v > 0),
                        tpm_limit: row.tpm_limit.and_then(|v| u32::try_from(v).ok()),
                        monthly_budget: Some(MicroDollars::new(row.monthly_budget_micros)),
                    },
                )
            })
            .collect();
        let runtime = Arc::new(TenantRuntime {
            tenant_id,
            default_provider: config.tenant.default_provider,
            providers,
            routes,
            route_patterns,
            self_hosted,
            agreements,
            policies,
            env_defaults,
            rpm_limit: config.tenant.rpm_limit.and_then(|v| u32::try_from(v).ok()),
            tpm_limit: config.tenant.tpm_limit.and_then(|v| u32::try_from(v).ok()),
            monthly_budget: config.tenant.monthly_budget_micros.map(MicroDollars::new),
            billing_suspended: config.tenant.billing_suspended,
        });
        if let Ok(mut map) = self.map.write() {
            map.insert(tenant_id, runtime.clone());
        }
        Ok(runtime)
    }
}

/// Decrypts a credential row. A row that cannot be decrypted stays configured but
/// without a credential, so calls to it fail with a clear `upstream_error` naming
/// the provider instead of the tenant losing all its providers.
fn endpoint_from_row(
    row: &provider_credential::Model,
    master_keys: &MasterKeys,
) -> Option<ProviderEndpoint> {
    let kind = *row.kind;
    let credential = match (&row.ciphertext, &row.nonce, row.key_version) {
        (Some(ciphertext), Some(nonce), Some(version)) => {
            let sealed = Sealed {
                key_version: u32::try_from(version).unwrap_or(0),
                nonce: nonce.clone(),
                ciphertext: ciphertext.clone(),
            };
            match master_keys.open(row.tenant_id.as_bytes(), &sealed) {
                Ok(plain) => match String::from_utf8(plain) {
                    Ok(text) => Some(SecretString::from(text)),
                    Err(_) => None,
                },
                Err(e) => {
                    tracing::error!(tenant.id = %row.tenant_id, provider = %row.name, error = %e,
                        "provider credential cannot be decrypted with the configured master keys");
                    None
                }
            }
        }
        _ => None,
    };
    Some(ProviderEndpoint {
        name: row.name.clone(),
        kind,
        base_url: row
            .base_url
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| kind.default_base_url().to_owned()),
        credential,
    })
}
