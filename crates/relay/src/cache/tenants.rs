//! Each tenant's runtime configuration: its providers (credentials decrypted into
//! memory, never logged) and model routes. Loaded on first use, then refreshed by
//! the poller when the tenant's rows change.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use airlock_core::envelope::{MasterKeys, Sealed};
use airlock_schema::entities::provider_credential;
use airlock_schema::queries;
use sea_orm::DatabaseConnection;
use secrecy::SecretString;
use uuid::Uuid;

use crate::error::RelayError;
use crate::providers::{ProviderEndpoint, ProviderKind};

#[derive(Clone, Debug)]
pub struct ModelRoute {
    pub provider: String,
    pub upstream_model: Option<String>,
}

#[derive(Debug)]
pub struct TenantRuntime {
    pub tenant_id: Uuid,
    pub default_provider: Option<String>,
    pub providers: HashMap<String, Arc<ProviderEndpoint>>,
    pub routes: HashMap<String, ModelRoute>,
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
        let routes = config
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
            .collect();
        let runtime = Arc::new(TenantRuntime {
            tenant_id,
            default_provider: config.tenant.default_provider,
            providers,
            routes,
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
    let Some(kind) = ProviderKind::parse(&row.kind) else {
        tracing::error!(tenant.id = %row.tenant_id, provider = %row.name, "unknown provider kind; provider skipped");
        return None;
    };
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
