//! Which provider answers a model name, for one tenant: the rule the relay
//! applies and the console shows (its effective-routes table and route tester).
//! In order:
//!
//! 1. `provider/model` names a configured provider explicitly;
//! 2. a route for exactly this model;
//! 3. the longest route pattern that matches (`claude-*`: a prefix and a `*`);
//! 4. the tenant's default provider.
//!
//! Nothing else. The kind or the name of a provider never draws traffic by
//! itself, so adding or changing a provider moves no model unless a route or the
//! default says so. A route whose provider is gone is passed over.

/// Where a route sends its models.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteTarget {
    /// A provider name of the tenant.
    pub provider: String,
    /// The model name sent upstream, when it differs (exact routes only).
    pub upstream_model: Option<String>,
}

/// Why a model goes where it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The request said `provider/model`.
    Named,
    /// A route for exactly this model.
    Route,
    /// A route pattern, e.g. `claude-*`.
    Pattern(String),
    /// The tenant's default provider.
    Default,
}

impl Reason {
    /// As the console says it.
    pub fn describe(&self) -> String {
        match self {
            Reason::Named => "named in the request (provider/model)".to_owned(),
            Reason::Route => "a route for this model".to_owned(),
            Reason::Pattern(pattern) => format!("the route {pattern}"),
            Reason::Default => "the default provider".to_owned(),
        }
    }
}

/// Where a model goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution<'a> {
    /// The provider's name.
    pub provider: &'a str,
    /// The model name sent to it.
    pub upstream_model: String,
    /// Which rule decided.
    pub reason: Reason,
}

/// A route's model is a pattern when it ends in `*`: it matches every model name
/// that starts with what comes before.
pub fn is_pattern(route_model: &str) -> bool {
    route_model.ends_with('*')
}

fn pattern_matches(pattern: &str, model: &str) -> bool {
    pattern
        .strip_suffix('*')
        .is_some_and(|prefix| model.starts_with(prefix))
}

/// A tenant's routing, borrowed from wherever its routes live.
pub struct Routing<'a, P, E> {
    /// Whether the tenant has a provider of this name.
    pub has_provider: P,
    /// The route for exactly this model, if any.
    pub exact: E,
    /// The pattern routes, longest first (see [`sort_patterns`]).
    pub patterns: &'a [(String, RouteTarget)],
    /// Where every model no route names goes.
    pub default_provider: Option<&'a str>,
}

/// Orders pattern routes so that the longest (most specific) is tried first.
pub fn sort_patterns(patterns: &mut [(String, RouteTarget)]) {
    patterns.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
}

impl<'a, P, E> Routing<'a, P, E>
where
    P: Fn(&str) -> bool,
    E: Fn(&str) -> Option<&'a RouteTarget>,
{
    /// Where `model` goes, or `None` when nothing routes it (no default).
    pub fn resolve<'m>(&self, model: &'m str) -> Option<Resolution<'m>>
    where
        'a: 'm,
    {
        if let Some((name, rest)) = model.split_once('/')
            && !rest.is_empty()
            && (self.has_provider)(name)
        {
            return Some(Resolution {
                provider: name,
                upstream_model: rest.to_owned(),
                reason: Reason::Named,
            });
        }
        if let Some(target) = (self.exact)(model)
            && (self.has_provider)(&target.provider)
        {
            return Some(Resolution {
                provider: &target.provider,
                upstream_model: target.upstream_model.as_deref().unwrap_or(model).to_owned(),
                reason: Reason::Route,
            });
        }
        if let Some((pattern, target)) = self.patterns.iter().find(|(pattern, target)| {
            pattern_matches(pattern, model) && (self.has_provider)(&target.provider)
        }) {
            return Some(Resolution {
                provider: &target.provider,
                upstream_model: model.to_owned(),
                reason: Reason::Pattern(pattern.clone()),
            });
        }
        self.default_provider
            .filter(|name| (self.has_provider)(name))
            .map(|name| Resolution {
                provider: name,
                upstream_model: model.to_owned(),
                reason: Reason::Default,
            })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn target(provider: &str) -> RouteTarget {
        RouteTarget {
            provider: provider.to_owned(),
            upstream_model: None,
        }
    }

    #[test]
    fn routes_in_documented_order_and_nothing_by_kind_or_name() {
        let providers = ["mock", "openai", "anthropic", "claude-eu"];
        let exact: HashMap<&str, RouteTarget> = HashMap::from([(
            "fast",
            RouteTarget {
                provider: "openai".into(),
                upstream_model: Some("gpt-4o-mini".into()),
            },
        )]);
        let mut patterns = vec![
            ("claude-*".to_owned(), target("anthropic")),
            ("claude-eu-*".to_owned(), target("claude-eu")),
            ("gone-*".to_owned(), target("deleted")),
        ];
        sort_patterns(&mut patterns);
        let routing = Routing {
            has_provider: |name: &str| providers.contains(&name),
            exact: |model: &str| exact.get(model),
            patterns: &patterns,
            default_provider: Some("mock"),
        };
        let go = |model: &str| {
            let r = routing.resolve(model).unwrap();
            (r.provider.to_owned(), r.upstream_model, r.reason)
        };
        assert_eq!(
            go("openai/gpt-4o"),
            ("openai".into(), "gpt-4o".into(), Reason::Named)
        );
        assert_eq!(
            go("fast"),
            ("openai".into(), "gpt-4o-mini".into(), Reason::Route)
        );
        assert_eq!(
            go("claude-eu-sonnet"),
            (
                "claude-eu".into(),
                "claude-eu-sonnet".into(),
                Reason::Pattern("claude-eu-*".into())
            )
        );
        assert_eq!(go("claude-sonnet-4").0, "anthropic");
        // A provider named like the family, or of its kind, draws nothing.
        assert_eq!(
            go("gpt-4o"),
            ("mock".into(), "gpt-4o".into(), Reason::Default)
        );
        // A route to a provider that is gone is passed over.
        assert_eq!(go("gone-model").2, Reason::Default);
        // `unknown/x` is a model name, not a provider.
        assert_eq!(go("unknown/x").0, "mock");
    }

    #[test]
    fn without_a_default_an_unrouted_model_goes_nowhere() {
        let routing = Routing {
            has_provider: |name: &str| name == "openai",
            exact: |_: &str| None,
            patterns: &[],
            default_provider: None,
        };
        assert!(routing.resolve("gpt-4o").is_none());
        assert!(routing.resolve("openai/gpt-4o").is_some());
    }

    #[test]
    fn a_pattern_is_a_prefix_and_a_star() {
        assert!(is_pattern("claude-*"));
        assert!(!is_pattern("claude-3"));
        assert!(pattern_matches("claude-*", "claude-3"));
        assert!(pattern_matches("*", "anything"));
        assert!(!pattern_matches("claude-*", "gpt-4o"));
    }
}
