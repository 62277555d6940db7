//! Which provider answers a model name, for one tenant: the rule of
//! [`airlock_core::routing`] (`provider/model`, an exact route, the longest
//! route pattern, the default provider; never a provider's kind or name by
//! itself), applied to the tenant's cached providers and routes.

use std::sync::Arc;

use airlock_core::routing::Routing;

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
    let routing = Routing {
        has_provider: |name: &str| tenant.providers.contains_key(name),
        exact: |model: &str| tenant.routes.get(model),
        patterns: &tenant.route_patterns,
        default_provider: tenant.default_provider.as_deref(),
    };
    routing
        .resolve(model)
        .and_then(|resolved| {
            Some(Route {
                provider: tenant.providers.get(resolved.provider)?.clone(),
                upstream_model: resolved.upstream_model,
            })
        })
        .ok_or_else(|| {
            RelayError::InvalidRequest(format!(
                "no provider is configured for model `{}`; add a model route or a default provider for this tenant",
                crate::front::truncate_label(model)
            ))
        })
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
            route_patterns: vec![(
                "claude-*".to_owned(),
                ModelRoute {
                    provider: "claude-prod".into(),
                    upstream_model: None,
                },
            )],
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
        // A provider named `openai` draws no `gpt-*` model by itself: the default.
        assert_eq!(resolve(&t, "gpt-4o").unwrap().provider.name, "mock");
        // A pattern route sends the family where the admin said.
        let r = resolve(&t, "claude-sonnet-4-5").unwrap();
        assert_eq!(
            (r.provider.name.as_str(), r.upstream_model.as_str()),
            ("claude-prod", "claude-sonnet-4-5")
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
