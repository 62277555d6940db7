//! Where each model goes, as the relay will route it: the effective-routes table
//! of the providers page and its route tester. The rule is the relay's own
//! ([`airlock_core::routing`]), applied to the tenant's providers, routes and
//! default provider as stored, so what the page says is what the relay does.

use std::collections::{BTreeSet, HashMap};

use airlock_core::routing::{self, RouteTarget, Routing};
use airlock_schema::entities::usage_daily::Grain;
use airlock_schema::entities::{provider_credential, relay_key, usage_daily};
use chrono::{Days, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::{Permission, Store, TenantScope};
use crate::error::ConsoleError;

/// The most models the table lists (routes, keys' allowed models, recent use).
const MAX_MODELS: usize = 200;

/// Where one model name goes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct EffectiveRoute {
    /// The model name apps send (or the pattern / "any other model" row).
    pub model: String,
    /// The provider that answers it; `None`: the relay refuses it (no route and
    /// no default provider).
    pub provider: Option<String>,
    /// The name sent upstream.
    pub upstream_model: Option<String>,
    /// Why, in words.
    pub reason: String,
}

/// The tenant's routing as stored, ready to resolve names.
pub struct TenantRouting {
    providers: BTreeSet<String>,
    exact: HashMap<String, RouteTarget>,
    patterns: Vec<(String, RouteTarget)>,
    default_provider: Option<String>,
}

impl TenantRouting {
    pub async fn load(store: &Store, scope: &TenantScope) -> Result<TenantRouting, ConsoleError> {
        scope.require(Permission::ReadSettings)?;
        let providers: Vec<String> = provider_credential::Entity::find()
            .select_only()
            .column(provider_credential::Column::Name)
            .filter(provider_credential::Column::TenantId.eq(scope.tenant_id()))
            .into_tuple()
            .all(store.db())
            .await?;
        let (mut patterns, exact): (Vec<_>, Vec<_>) = super::providers::routes(store, scope)
            .await?
            .into_iter()
            .map(|r| {
                (
                    r.model,
                    RouteTarget {
                        provider: r.provider_name,
                        upstream_model: r.upstream_model,
                    },
                )
            })
            .partition(|(model, _)| routing::is_pattern(model));
        routing::sort_patterns(&mut patterns);
        Ok(TenantRouting {
            providers: providers.into_iter().collect(),
            exact: exact.into_iter().collect(),
            patterns,
            default_provider: scope.tenant().default_provider.clone(),
        })
    }

    /// Where `model` goes, as a table row.
    pub fn resolve(&self, model: &str) -> EffectiveRoute {
        let routing = Routing {
            has_provider: |name: &str| self.providers.contains(name),
            exact: |model: &str| self.exact.get(model),
            patterns: &self.patterns,
            default_provider: self.default_provider.as_deref(),
        };
        match routing.resolve(model) {
            Some(resolved) => EffectiveRoute {
                model: model.to_owned(),
                provider: Some(resolved.provider.to_owned()),
                upstream_model: Some(resolved.upstream_model),
                reason: resolved.reason.describe(),
            },
            None => EffectiveRoute {
                model: model.to_owned(),
                provider: None,
                upstream_model: None,
                reason: "no route and no default provider: the relay refuses it".to_owned(),
            },
        }
    }

    /// The row for every model no route names.
    fn any_other(&self) -> EffectiveRoute {
        let provider = self
            .default_provider
            .clone()
            .filter(|name| self.providers.contains(name));
        EffectiveRoute {
            model: "any other model".to_owned(),
            upstream_model: None,
            reason: match provider {
                Some(_) => "the default provider".to_owned(),
                None => "no default provider: the relay refuses it".to_owned(),
            },
            provider,
        }
    }
}

/// Every model the tenant routes, its keys may use, or it used in the last 30
/// days, with where it goes and why; then each pattern route, then "any other
/// model".
pub async fn effective_routes(
    store: &Store,
    scope: &TenantScope,
    routing: &TenantRouting,
) -> Result<Vec<EffectiveRoute>, ConsoleError> {
    scope.require(Permission::ReadSettings)?;
    let mut models: BTreeSet<String> = routing.exact.keys().cloned().collect();
    let allowed: Vec<serde_json::Value> = relay_key::Entity::find()
        .select_only()
        .column(relay_key::Column::AllowedModels)
        .filter(relay_key::Column::TenantId.eq(scope.tenant_id()))
        .filter(relay_key::Column::RevokedAt.is_null())
        .into_tuple()
        .all(store.db())
        .await?;
    for list in allowed {
        if let Some(names) = list.as_array() {
            models.extend(names.iter().filter_map(|n| n.as_str()).map(str::to_owned));
        }
    }
    let since = Utc::now().date_naive() - Days::new(30);
    let used: Vec<String> = Grain::Models
        .find()
        .select_only()
        .column(usage_daily::Column::Model)
        .filter(usage_daily::Column::TenantId.eq(scope.tenant_id()))
        .filter(usage_daily::Column::Day.gte(since))
        .distinct()
        .into_tuple()
        .all(store.db())
        .await?;
    models.extend(used.into_iter().filter(|m| !m.is_empty()));
    let mut rows: Vec<EffectiveRoute> = models
        .iter()
        .filter(|m| !routing::is_pattern(m))
        .take(MAX_MODELS)
        .map(|model| routing.resolve(model))
        .collect();
    for (pattern, target) in &routing.patterns {
        rows.push(EffectiveRoute {
            model: pattern.clone(),
            provider: routing
                .providers
                .contains(&target.provider)
                .then(|| target.provider.clone()),
            upstream_model: None,
            reason: if routing.providers.contains(&target.provider) {
                "a route pattern: every model that starts so".to_owned()
            } else {
                "a route pattern whose provider is gone: passed over".to_owned()
            },
        });
    }
    rows.push(routing.any_other());
    Ok(rows)
}
