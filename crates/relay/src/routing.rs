//! Which provider answers a model name, for one tenant. In order:
//! 1. `provider/model` names a configured provider explicitly;
//! 2. the tenant's model → provider mapping;
//! 3. the model's family (`gpt-…` → openai, `claude-…` → anthropic, …) if the
//!    tenant has a provider of that name or wire format;
//! 4. the tenant's default provider.

use std::sync::Arc;

use airlock_core::pricing::family_of;

use crate::cache::TenantRuntime;
use crate::error::RelayError;
use crate::providers::{ProviderEndpoint, ProviderKind};

#[derive(Debug)]
pub struct Route {
    pub provider: Arc<ProviderEndpoint>,
    /// The model name sent upstream.
    pub upstream_model: String,
}

/// A route's upstream model name, checked before it is sent: no control
/// characters anywhere, and for providers that put the model in the URL path
/// (Gemini) nothing that could leave its path segment (`/`, `?`, `#`, `..`).
/// Routes are tenant input, and so is the part after `provider/`.
fn checked(route: Route) -> Result<Route, RelayError> {
    let name = route.upstream_model.as_str();
    let in_path = route.provider.kind == ProviderKind::Gemini;
    let bad = name.is_empty()
        || name.len() > 256
        || name.chars().any(char::is_control)
        || (in_path && (name.contains(['/', '?', '#', '\\', '%']) || name.contains("..")));
    if bad {
        return Err(RelayError::InvalidRequest(format!(
            "the model name `{}` cannot be sent to provider `{}`",
            crate::front::truncate_label(name),
            route.provider.name
        )));
    }
    Ok(route)
}

pub fn resolve(tenant: &TenantRuntime, model: &str) -> Result<Route, RelayError> {
    resolve_unchecked(tenant, model).and_then(checked)
}

fn resolve_unchecked(tenant: &TenantRuntime, model: &str) -> Result<Route, RelayError> {
    let route = |provider: &Arc<ProviderEndpoint>, upstream_model: &str| Route {
        provider: provider.clone(),
        upstream_model: upstream_model.to_owned(),
    };
    if let Some((name, rest)) = model.split_once('/')
        && let Some(provider) = tenant.providers.get(name)
        && !rest.is_empty()
    {
        return Ok(route(provider, rest));
    }
    if let Some(mapped) = tenant.routes.get(model)
        && let Some(provider) = tenant.providers.get(&mapped.provider)
    {
        return Ok(route(
            provider,
            mapped.upstream_model.as_deref().unwrap_or(model),
        ));
    }
    if let Some(family) = family_of(model) {
        if let Some(provider) = tenant.providers.get(family) {
            return Ok(route(provider, model));
        }
        if let Some(kind) = ProviderKind::parse(family)
            && let Some(provider) = tenant.providers.values().find(|p| p.kind == kind)
        {
            return Ok(route(provider, model));
        }
    }
    if let Some(default) = &tenant.default_provider
        && let Some(provider) = tenant.providers.get(default)
    {
        return Ok(route(provider, model));
    }
    Err(RelayError::InvalidRequest(format!(
        "no provider is configured for model `{}`; add a model route or a default provider for this tenant",
        crate::front::truncate_label(model)
    )))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use uuid::Uuid;

    use super::*;
    use crate::cache::ModelRoute;

    fn endpoint(name: &str, kind: ProviderKind) -> (String, Arc<ProviderEndpoint>) {
        (
            name.to_owned(),
            Arc::new(ProviderEndpoint {
                name: name.into(),
                kind,
                base_url: String::new(),
                credential: None,
            }),
        )
    }

    fn tenant() -> TenantRuntime {
        TenantRuntime {
            tenant_id: Uuid::nil(),
            default_provider: Some("mock".into()),
            providers: HashMap::from([
                endpoint("openai", ProviderKind::OpenAi),
                endpoint("claude-prod", ProviderKind::Anthropic),
                endpoint("deepseek", ProviderKind::OpenAi),
                endpoint("mock", ProviderKind::Mock),
            ]),
            routes: HashMap::from([(
                "fast".to_owned(),
                ModelRoute {
                    provider: "deepseek".into(),
                    upstream_model: Some("deepseek-chat".into()),
                },
            )]),
            self_hosted: Default::default(),
            agreements: HashMap::new(),
            policies: HashMap::new(),
            env_defaults: HashMap::new(),
            billing_suspended: false,
            rpm_limit: None,
            tpm_limit: None,
            monthly_budget: None,
        }
    }

    #[test]
    fn routes_in_documented_order() {
        let t = tenant();
        let r = resolve(&t, "deepseek/deepseek-reasoner").unwrap();
        assert_eq!(
            (r.provider.name.as_str(), r.upstream_model.as_str()),
            ("deepseek", "deepseek-reasoner")
        );
        let r = resolve(&t, "fast").unwrap();
        assert_eq!(
            (r.provider.name.as_str(), r.upstream_model.as_str()),
            ("deepseek", "deepseek-chat")
        );
        assert_eq!(resolve(&t, "gpt-4o").unwrap().provider.name, "openai");
        // family by wire format when no provider carries the family's name
        assert_eq!(
            resolve(&t, "claude-sonnet-4-5").unwrap().provider.name,
            "claude-prod"
        );
        assert_eq!(resolve(&t, "llama-3").unwrap().provider.name, "mock");
        // an unknown `x/` prefix is not a provider: the whole name falls through
        let r = resolve(&t, "meta/llama").unwrap();
        assert_eq!(
            (r.provider.name.as_str(), r.upstream_model.as_str()),
            ("mock", "meta/llama")
        );
    }

    #[test]
    fn no_route_is_a_clear_invalid_request() {
        let mut t = tenant();
        t.default_provider = None;
        assert!(
            matches!(resolve(&t, "llama-3"), Err(RelayError::InvalidRequest(m)) if m.contains("llama-3"))
        );
    }
}
