//! Providers: credentials (sealed with the master key; shown by their last 4
//! characters only), base URLs, the default provider, the self-hosted mark, and
//! model → provider routes.
//!
//! A base URL is tenant input pointing the relay somewhere, so it is checked when
//! saved (http or https, no credentials, no query or fragment, no internal
//! address the operator has not allowed) and again by the relay on every
//! connection. Changing where a provider points, or its kind, clears its
//! self-hosted mark: the admin attests again for the new place.

use airlock_core::egress::EgressPolicy;
use airlock_core::envelope::MasterKeys;
use airlock_core::provider::ProviderKind;
use airlock_core::routing::is_pattern;
use airlock_schema::entities::{model_route, provider_credential};
use airlock_schema::settings;
use airlock_schema::stored::Stored;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, ModelTrait, QueryFilter,
    QueryOrder, TransactionTrait,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use uuid::Uuid;

use super::audit::{self, Event};
use super::{Actor, Permission, Store, TenantScope, valid_slug};
use crate::error::ConsoleError;

/// A provider as a page or the API shows it: never the credential, only its last
/// 4 characters; the base URL in full only to those who may edit it.
pub struct ProviderRow {
    pub name: String,
    pub kind: ProviderKind,
    /// The full URL for editors; scheme and host for others.
    pub base_url: Option<String>,
    pub last4: Option<String>,
    pub self_hosted: bool,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
}

impl ProviderRow {
    fn of(
        row: provider_credential::Model,
        default_provider: Option<&str>,
        full_url: bool,
    ) -> ProviderRow {
        ProviderRow {
            is_default: default_provider == Some(row.name.as_str()),
            self_hosted: settings::is_self_hosted(&row),
            base_url: row
                .base_url
                .as_deref()
                .and_then(|url| shown_url(url, full_url)),
            name: row.name,
            kind: *row.kind,
            last4: row.last4,
            created_at: row.created_at,
            rotated_at: row.rotated_at,
        }
    }
}

/// A stored base URL as it may be shown: never with `user:pass@`; without path
/// and the rest unless `full`.
fn shown_url(url: &str, full: bool) -> Option<String> {
    let mut parsed = url::Url::parse(url).ok()?;
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    if full {
        return Some(parsed.to_string());
    }
    Some(format!("{}://{}", parsed.scheme(), parsed.host_str()?))
}

/// Checks a base URL as the relay will use it: the reason in words when it is
/// refused. The connect-time check in the relay is what enforces; this catches
/// the mistake (or the attempt) where the admin can see it.
pub fn check_base_url(url: &str, egress: &EgressPolicy) -> Result<String, ConsoleError> {
    let invalid = |why: &str| Err(ConsoleError::Invalid(format!("the base URL {why}")));
    let text = url.trim();
    if text.len() > 2000 {
        return invalid("is too long");
    }
    let Ok(parsed) = url::Url::parse(text) else {
        return invalid("is not a URL, like https://api.deepseek.com");
    };
    if egress.check_scheme(parsed.scheme()).is_err() {
        return match parsed.scheme() {
            "http" => {
                invalid("must start with https:// (this deployment allows no plain http upstream)")
            }
            _ => invalid("must start with https:// or http://"),
        };
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return invalid("must not hold a user name or password; put the API key in its own field");
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return invalid("must not have a query (?…) or fragment (#…)");
    }
    let ip = match parsed.host() {
        Some(url::Host::Ipv4(v4)) => Some(std::net::IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(std::net::IpAddr::V6(v6)),
        Some(url::Host::Domain(_)) => None,
        None => return invalid("has no host"),
    };
    if let Some(ip) = ip
        && !egress.allows(ip, parsed.port_or_known_default(), None, |_| false)
    {
        return invalid(
            "points at an internal address this deployment does not allow (the operator allows one with relay.egress_allow)",
        );
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

fn snapshot(row: &provider_credential::Model) -> Value {
    json!({
        "name": row.name,
        "kind": row.kind.to_string(),
        "base_url": row.base_url.as_deref().and_then(|u| shown_url(u, true)),
        "last4": row.last4,
        "self_hosted": row.self_hosted,
        "key_version": row.key_version,
    })
}

async fn rows(
    db: &impl ConnectionTrait,
    scope: &TenantScope,
) -> Result<Vec<provider_credential::Model>, ConsoleError> {
    Ok(provider_credential::Entity::find()
        .filter(provider_credential::Column::TenantId.eq(scope.tenant_id()))
        .order_by_asc(provider_credential::Column::Name)
        .all(db)
        .await?)
}

pub async fn list(store: &Store, scope: &TenantScope) -> Result<Vec<ProviderRow>, ConsoleError> {
    scope.require(Permission::ReadSettings)?;
    let default = scope.tenant().default_provider.as_deref();
    let full = scope.can(Permission::ManageProviders);
    Ok(rows(store.db(), scope)
        .await?
        .into_iter()
        .map(|row| ProviderRow::of(row, default, full))
        .collect())
}

/// Provider rows for the policy preview (the tenant layer only).
pub(crate) async fn all_rows(
    db: &impl ConnectionTrait,
    scope: &TenantScope,
) -> Result<Vec<provider_credential::Model>, ConsoleError> {
    rows(db, scope).await
}

/// A provider as an admin enters it.
pub struct ProviderInput<'a> {
    /// Seals the API key (the relays open it with the same keys).
    pub master_keys: &'a MasterKeys,
    /// The operator's egress policy, which the base URL must fit.
    pub egress: &'a EgressPolicy,
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: Option<String>,
    pub api_key: Option<SecretString>,
}

async fn find(
    db: &impl ConnectionTrait,
    scope: &TenantScope,
    name: &str,
) -> Result<Option<provider_credential::Model>, ConsoleError> {
    Ok(provider_credential::Entity::find()
        .filter(provider_credential::Column::TenantId.eq(scope.tenant_id()))
        .filter(provider_credential::Column::Name.eq(name))
        .one(db)
        .await?)
}

async fn require(
    db: &impl ConnectionTrait,
    scope: &TenantScope,
    name: &str,
) -> Result<provider_credential::Model, ConsoleError> {
    find(db, scope, name)
        .await?
        .ok_or_else(|| ConsoleError::Invalid(format!("the tenant has no provider `{name}`")))
}

/// Adds a provider or replaces its credential (rotation). The first provider of a
/// tenant becomes its default, so a new tenant works with one step.
pub async fn save(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    input: ProviderInput<'_>,
) -> Result<ProviderRow, ConsoleError> {
    scope.require(Permission::ManageProviders)?;
    let name = input.name.trim().to_ascii_lowercase();
    if !valid_slug(&name) {
        return Err(ConsoleError::Invalid(
            "a provider name is 2–40 characters of a-z, 0-9 and '-'".into(),
        ));
    }
    let base_url = input
        .base_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| check_base_url(u, input.egress))
        .transpose()?;
    if base_url.is_some() && input.kind == ProviderKind::Mock {
        return Err(ConsoleError::Invalid(
            "the built-in mock provider has no base URL".into(),
        ));
    }
    if let Some(key) = &input.api_key
        && (key.expose_secret().len() > 4096 || key.expose_secret().chars().any(char::is_control))
    {
        return Err(ConsoleError::Invalid(
            "the API key is at most 4096 printable characters".into(),
        ));
    }
    if input.kind.needs_credential() && input.api_key.is_none() {
        return Err(ConsoleError::Invalid(format!(
            "a `{}` provider needs an API key",
            input.kind.as_str()
        )));
    }
    let txn = store.db().begin().await?;
    let before = find(&txn, scope, &name).await?;
    let sealed = input.api_key.as_ref().map(|secret| {
        input.master_keys.seal(
            scope.tenant_id().as_bytes(),
            secret.expose_secret().as_bytes(),
            &mut rand::rngs::OsRng,
        )
    });
    let last4 = input.api_key.as_ref().map(|s| {
        let chars: Vec<char> = s.expose_secret().chars().collect();
        chars[chars.len().saturating_sub(4)..]
            .iter()
            .collect::<String>()
    });
    let now = Utc::now();
    let mut active = match &before {
        Some(row) => {
            let mut active: provider_credential::ActiveModel = row.clone().into();
            active.rotated_at = Set(Some(now));
            // The mark was given for a place and a kind; a new one needs a new word.
            if row.base_url != base_url || *row.kind != input.kind {
                active.self_hosted = Set(false);
            }
            active
        }
        None => provider_credential::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(scope.tenant_id()),
            name: Set(name.clone()),
            self_hosted: Set(false),
            created_at: Set(now),
            rotated_at: Set(None),
            ..Default::default()
        },
    };
    active.kind = Set(Stored(input.kind));
    active.base_url = Set(base_url);
    active.key_version = Set(sealed
        .as_ref()
        .map(|s| i32::try_from(s.key_version).unwrap_or(i32::MAX)));
    active.nonce = Set(sealed.as_ref().map(|s| s.nonce.clone()));
    active.ciphertext = Set(sealed.map(|s| s.ciphertext));
    active.last4 = Set(last4);
    active.updated_at = Set(now);
    let saved = if before.is_some() {
        active.update(&txn).await?
    } else {
        active.insert(&txn).await?
    };
    let tenant = super::current(&txn, scope).await?;
    let default_provider = match tenant.default_provider.clone() {
        Some(name) => name,
        None => {
            let mut active: airlock_schema::entities::tenant::ActiveModel = tenant.into();
            active.default_provider = Set(Some(saved.name.clone()));
            active.updated_at = Set(now);
            active.update(&txn).await?;
            saved.name.clone()
        }
    };
    audit::commit_with(
        txn,
        store,
        scope,
        actor,
        Event {
            action: if before.is_some() {
                "provider.replace"
            } else {
                "provider.create"
            },
            target_type: "provider",
            target_id: Some(saved.name.clone()),
            before: before.as_ref().map(snapshot),
            after: Some(snapshot(&saved)),
        },
    )
    .await?;
    Ok(ProviderRow::of(saved, Some(&default_provider), true))
}

/// Sets the provider that answers models no route names.
pub async fn set_default(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    name: &str,
) -> Result<(), ConsoleError> {
    scope.require(Permission::ManageProviders)?;
    let txn = store.db().begin().await?;
    let provider = require(&txn, scope, name.trim()).await?;
    let tenant = super::current(&txn, scope).await?;
    let before = tenant.default_provider.clone();
    let mut active: airlock_schema::entities::tenant::ActiveModel = tenant.into();
    active.default_provider = Set(Some(provider.name.clone()));
    active.updated_at = Set(Utc::now());
    active.update(&txn).await?;
    audit::commit_with(
        txn,
        store,
        scope,
        actor,
        Event {
            action: "provider.default",
            target_type: "tenant",
            target_id: Some(scope.tenant_id().to_string()),
            before: Some(json!({ "default_provider": before })),
            after: Some(json!({ "default_provider": provider.name })),
        },
    )
    .await?;
    Ok(())
}

/// The self-hosted mark of a provider.
pub struct SelfHosted {
    pub provider: String,
    pub self_hosted: bool,
}

/// Marks a provider as running on the tenant's own infrastructure (restricted
/// data may go to it) or not. An attestation by the admin: audited.
pub async fn set_self_hosted(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    mark: SelfHosted,
) -> Result<(), ConsoleError> {
    scope.require(Permission::ManageProviders)?;
    let txn = store.db().begin().await?;
    let row = require(&txn, scope, mark.provider.trim()).await?;
    let before = snapshot(&row);
    let mut active: provider_credential::ActiveModel = row.into();
    active.self_hosted = Set(mark.self_hosted);
    active.updated_at = Set(Utc::now());
    let saved = active.update(&txn).await?;
    audit::commit_with(
        txn,
        store,
        scope,
        actor,
        Event {
            action: "provider.self_hosted",
            target_type: "provider",
            target_id: Some(saved.name.clone()),
            before: Some(before),
            after: Some(snapshot(&saved)),
        },
    )
    .await?;
    Ok(())
}

pub async fn routes(
    store: &Store,
    scope: &TenantScope,
) -> Result<Vec<model_route::Model>, ConsoleError> {
    scope.require(Permission::ReadSettings)?;
    Ok(model_route::Entity::find()
        .filter(model_route::Column::TenantId.eq(scope.tenant_id()))
        .order_by_asc(model_route::Column::Model)
        .all(store.db())
        .await?)
}

fn route_snapshot(row: &model_route::Model) -> Value {
    json!({
        "model": row.model,
        "provider": row.provider_name,
        "upstream_model": row.upstream_model,
    })
}

/// A route: `model` goes to `provider`, as `upstream_model` when given. A model
/// ending in `*` is a pattern (`claude-*`): every name that starts so.
pub struct NewRoute {
    pub model: String,
    pub provider: String,
    pub upstream_model: Option<String>,
}

fn check_model_name(name: &str, what: &str) -> Result<(), ConsoleError> {
    if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err(ConsoleError::Invalid(format!(
            "{what} is 1–200 printable characters"
        )));
    }
    Ok(())
}

/// Saves a route. A model has one route: saving it again replaces it.
pub async fn save_route(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    new: NewRoute,
) -> Result<model_route::Model, ConsoleError> {
    scope.require(Permission::ManageProviders)?;
    let model = new.model.trim();
    check_model_name(model, "a model name")?;
    let upstream_model = new
        .upstream_model
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty());
    if let Some(upstream) = upstream_model {
        check_model_name(upstream, "an upstream model name")?;
    }
    if model.contains('*') && (!is_pattern(model) || model.matches('*').count() > 1) {
        return Err(ConsoleError::Invalid(
            "a route pattern is a prefix followed by one `*` at the end, e.g. claude-*".into(),
        ));
    }
    if is_pattern(model) && upstream_model.is_some() {
        return Err(ConsoleError::Invalid(
            "a route pattern sends each model under its own name: leave the upstream model empty"
                .into(),
        ));
    }
    let txn = store.db().begin().await?;
    let provider = require(&txn, scope, new.provider.trim()).await?;
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
    audit::commit_with(
        txn,
        store,
        scope,
        actor,
        Event {
            action: "route.save",
            target_type: "route",
            target_id: Some(saved.id.to_string()),
            before,
            after: Some(route_snapshot(&saved)),
        },
    )
    .await?;
    Ok(saved)
}

/// Removes a route; the model then goes to the default provider.
pub async fn remove_route(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    route_id: Uuid,
) -> Result<(), ConsoleError> {
    scope.require(Permission::ManageProviders)?;
    let txn = store.db().begin().await?;
    let route = model_route::Entity::find_by_id(route_id)
        .filter(model_route::Column::TenantId.eq(scope.tenant_id()))
        .one(&txn)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let before = route_snapshot(&route);
    route.delete(&txn).await?;
    super::touch(&txn, scope).await?;
    audit::commit_with(
        txn,
        store,
        scope,
        actor,
        Event {
            action: "route.remove",
            target_type: "route",
            target_id: Some(route_id.to_string()),
            before: Some(before),
            after: None,
        },
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testing::TestStore;
    use super::*;
    use airlock_core::role::Role;

    #[test]
    fn base_urls_are_checked_before_they_are_saved() {
        let open = EgressPolicy::default();
        for (url, expected) in [
            ("ftp://x.example", "https:// or http://"),
            ("not a url", "is not a URL"),
            (
                "https://user:pass@api.example.com/v1",
                "user name or password",
            ),
            ("https://api.example.com/v1?x=", "query"),
            ("https://api.example.com/v1#x", "fragment"),
            ("http://127.0.0.1:8080/v1", "internal address"),
            ("http://169.254.169.254/", "internal address"),
            ("http://[::ffff:10.0.0.1]/", "internal address"),
            ("http://2130706433/", "internal address"),
        ] {
            let err = check_base_url(url, &open).unwrap_err().to_string();
            assert!(err.contains(expected), "{url}: {err}");
        }
        assert_eq!(
            check_base_url("https://api.deepseek.com/", &open).unwrap(),
            "https://api.deepseek.com"
        );
        let allowed = EgressPolicy::parse(["10.0.0.5:8000"], false).unwrap();
        assert!(check_base_url("http://10.0.0.5:8000/v1", &allowed).is_ok());
        assert!(check_base_url("http://10.0.0.5:8001/v1", &allowed).is_err());
        let strict = EgressPolicy::parse(Vec::<&str>::new(), true).unwrap();
        assert!(
            check_base_url("http://api.example.com", &strict)
                .unwrap_err()
                .to_string()
                .contains("https://")
        );
    }

    #[test]
    fn others_see_scheme_and_host_and_nobody_sees_credentials() {
        assert_eq!(
            shown_url("https://u:p@llm.internal:8443/v1/x", true).unwrap(),
            "https://llm.internal:8443/v1/x"
        );
        assert_eq!(
            shown_url("https://u:p@llm.internal:8443/v1/x", false).unwrap(),
            "https://llm.internal"
        );
    }

    fn input<'a>(keys: &'a MasterKeys, egress: &'a EgressPolicy, url: &str) -> ProviderInput<'a> {
        ProviderInput {
            master_keys: keys,
            egress,
            name: "local".into(),
            kind: ProviderKind::OpenAi,
            base_url: Some(url.into()),
            api_key: Some(SecretString::from("sk-test-1234")),
        }
    }

    #[tokio::test]
    async fn moving_a_provider_clears_its_self_hosted_mark() {
        let store = TestStore::new().await;
        let scope = store.tenant("acme").await;
        let keys = MasterKeys::new(1, [3; 32]);
        let egress = EgressPolicy::default();
        save(
            &store,
            &scope,
            &Actor::cli(),
            input(&keys, &egress, "https://a.example.com/v1"),
        )
        .await
        .unwrap();
        let mark = SelfHosted {
            provider: "local".into(),
            self_hosted: true,
        };
        set_self_hosted(&store, &scope, &Actor::cli(), mark)
            .await
            .unwrap();
        // Replacing the key alone keeps the mark...
        let kept = save(
            &store,
            &scope,
            &Actor::cli(),
            input(&keys, &egress, "https://a.example.com/v1"),
        )
        .await
        .unwrap();
        assert!(kept.self_hosted);
        // ...pointing it elsewhere clears it.
        let moved = save(
            &store,
            &scope,
            &Actor::cli(),
            input(&keys, &egress, "https://b.example.com/v1"),
        )
        .await
        .unwrap();
        assert!(!moved.self_hosted);
    }

    #[tokio::test]
    async fn viewers_see_the_host_only() {
        let store = TestStore::new().await;
        let scope = store.tenant("acme").await;
        let keys = MasterKeys::new(1, [3; 32]);
        let egress = EgressPolicy::default();
        save(
            &store,
            &scope,
            &Actor::cli(),
            input(&keys, &egress, "https://llm.example.com/secret/path"),
        )
        .await
        .unwrap();
        let (_, viewer) = store.member(&scope, Role::Viewer).await;
        let rows = list(&store, &viewer).await.unwrap();
        assert_eq!(rows[0].base_url.as_deref(), Some("https://llm.example.com"));
        assert_eq!(rows[0].last4.as_deref(), Some("1234"));
    }
}
