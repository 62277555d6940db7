//! Relay keys: the list per environment, create and rotate (the new key shown
//! once, by post-redirect-get: see [`crate::shown_once`]), revoke.

use actix_web::{HttpRequest, HttpResponse, web};
use airlock_core::key::Env;
use askama::Template;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Layout, TenantForm, TenantPage, redirect, render};
use crate::error::ConsoleError;
use crate::state::ConsoleState;
use crate::tenant::Permission;
use crate::tenant::keys::{
    self, KEYS_PER_PAGE, KeyFilter, KeyRow, KeySort, NewKey, Rotation, StatusFilter,
};

pub struct EnvTab {
    pub env: &'static str,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "console/keys.html")]
struct KeysPage {
    layout: Layout,
    env: &'static str,
    tabs: Vec<EnvTab>,
    rows: Vec<KeyRow>,
    total: u64,
    page: u64,
    pages: u64,
    can_create: bool,
    /// Where apps call the relay, when the operator said.
    relay_url: Option<String>,
    filter: ShownFilter,
    notice: Option<&'static str>,
    /// Why the new key could not be made, shown by the form, with the name typed.
    create_error: Option<String>,
    typed_name: String,
    /// The walk-through of a new tenant, until its first call.
    first_steps: Option<keys::FirstSteps>,
    /// The member may add providers (links to the page).
    can_settings: bool,
}

#[derive(Deserialize, Default)]
pub struct KeysQuery {
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    page: Option<u64>,
    /// Part of a name or the start of a prefix.
    #[serde(default)]
    q: Option<String>,
    /// `revoked` or `all`; anything else hides revoked keys.
    #[serde(default)]
    status: Option<String>,
    /// `last_used`; anything else is newest first.
    #[serde(default)]
    sort: Option<String>,
    /// `revoked` after a revocation: the notice that says so.
    #[serde(default)]
    done: Option<String>,
}

impl KeysQuery {
    fn filter(&self) -> KeyFilter {
        KeyFilter {
            search: self
                .q
                .as_deref()
                .map(str::trim)
                .filter(|q| !q.is_empty())
                .map(|q| q.chars().take(keys::MAX_SEARCH_CHARS).collect()),
            status: match self.status.as_deref() {
                Some("revoked") => StatusFilter::Revoked,
                Some("all") => StatusFilter::All,
                _ => StatusFilter::NotRevoked,
            },
            sort: match self.sort.as_deref() {
                Some("last_used") => KeySort::LastUsed,
                _ => KeySort::Created,
            },
        }
    }
}

/// The list's filter as its form shows it back and its page links carry it.
pub struct ShownFilter {
    pub q: String,
    pub status: &'static str,
    pub sort: &'static str,
    /// `&q=…&status=…&sort=…`, URL-encoded, for the previous/next links.
    pub link: String,
    /// Anything other than the default list (a search, a status, a sort).
    pub narrowed: bool,
}

impl ShownFilter {
    fn of(filter: &KeyFilter) -> ShownFilter {
        let q = filter.search.clone().unwrap_or_default();
        let status = match filter.status {
            StatusFilter::NotRevoked => "",
            StatusFilter::Revoked => "revoked",
            StatusFilter::All => "all",
        };
        let sort = match filter.sort {
            KeySort::Created => "",
            KeySort::LastUsed => "last_used",
        };
        let link =
            serde_urlencoded::to_string([("q", q.as_str()), ("status", status), ("sort", sort)])
                .map(|query| format!("&{query}"))
                .unwrap_or_default();
        ShownFilter {
            narrowed: *filter != KeyFilter::default(),
            q,
            status,
            sort,
            link,
        }
    }
}

fn parse_env(text: Option<&str>) -> Result<Env, ConsoleError> {
    match text {
        None | Some("") => Ok(Env::Dev),
        Some(text) => text
            .parse()
            .map_err(|_| ConsoleError::Invalid("env must be dev, stg, prod or ci".into())),
    }
}

pub async fn list(
    state: web::Data<ConsoleState>,
    page: TenantPage,
    query: web::Query<KeysQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let env = parse_env(query.env.as_deref())?;
    show_list(&state, &page, env, &query, None).await
}

/// The keys of one environment; with `failed`, the name that was typed and why
/// no key was made, next to the form (status 400).
async fn show_list(
    state: &ConsoleState,
    page: &TenantPage,
    env: Env,
    query: &KeysQuery,
    failed: Option<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let number = query.page.unwrap_or(0);
    let filter = query.filter();
    let (rows, total) = keys::list(&state.store, &page.scope, env, &filter, number).await?;
    let first_steps =
        Some(keys::first_steps(&state.store, &page.scope).await?).filter(|steps| !steps.done());
    let (typed_name, create_error) = match failed {
        Some((name, message)) => (name, Some(super::errors::sentence(&message))),
        None => (String::new(), None),
    };
    let invalid = create_error.is_some();
    let mut response = render(&KeysPage {
        create_error,
        typed_name,
        first_steps,
        can_settings: page.scope.can(Permission::ReadSettings),
        filter: ShownFilter::of(&filter),
        notice: query.done.as_deref().and_then(super::done_notice),
        env: env.as_str(),
        tabs: Env::ALL
            .into_iter()
            .map(|e| EnvTab {
                env: e.as_str(),
                selected: e == env,
            })
            .collect(),
        rows,
        total,
        page: number,
        pages: total.div_ceil(KEYS_PER_PAGE).max(1),
        can_create: page.scope.can(Permission::ManageKeys(env)),
        relay_url: state
            .settings
            .relay_public_url
            .as_deref()
            .map(|url| super::snippets::relay_base(url).to_owned()),
        layout: page.layout(state).await?,
    })?;
    if invalid {
        super::invalid_status(&mut response);
    }
    Ok(response)
}

#[derive(Template)]
#[template(path = "console/key_created.html")]
struct KeyCreatedPage<'a> {
    layout: Layout,
    slug: &'a str,
    /// `None`: the key was already shown (a reload, another tab, too late).
    shown: Option<KeyShown>,
    /// Where apps call the relay, when the operator said.
    relay_url: Option<&'a str>,
    /// Ready-to-paste lines with the key filled in (empty without `relay_url`).
    snippets: Vec<super::snippets::Snippet>,
}

/// What the key-created page shows, held once between the form and the page.
#[derive(Serialize, Deserialize)]
struct KeyShown {
    tenant_id: Uuid,
    env: String,
    name: String,
    key: String,
    /// Set on rotation: the old key's prefix and when it stops working.
    rotated: Option<(String, String)>,
}

/// Holds the new key for its page and sends the browser there (post-redirect-get:
/// a reload of that page cannot make another key).
async fn show_once(
    state: &ConsoleState,
    page: &TenantPage,
    shown: KeyShown,
) -> Result<HttpResponse, ConsoleError> {
    let ticket = crate::shown_once::hold(state, &page.user, &shown).await?;
    Ok(redirect(&format!(
        "/t/{}/keys/created/{ticket}",
        page.slug()
    )))
}

/// The new key, once; afterwards a page that says it was already shown (a fact,
/// not an error), never the key again.
pub async fn created(
    state: web::Data<ConsoleState>,
    page: TenantPage,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let (_, ticket) = path.into_inner();
    let shown = crate::shown_once::take::<KeyShown>(&state, &page.user, &ticket)
        .await?
        .filter(|shown| shown.tenant_id == page.scope.tenant_id());
    let relay_url = state
        .settings
        .relay_public_url
        .as_deref()
        .map(super::snippets::relay_base);
    let snippets = match (relay_url, &shown) {
        (Some(relay), Some(shown)) => super::snippets::for_key(relay, &shown.key),
        _ => Vec::new(),
    };
    // Like every page, sent `Cache-Control: no-store` (the session middleware):
    // no copy of the key stays in a cache.
    render(&KeyCreatedPage {
        layout: page.layout(&state).await?,
        slug: page.slug(),
        shown,
        relay_url,
        snippets,
    })
}

#[derive(Deserialize)]
pub struct NewKeyForm {
    env: String,
    name: String,
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    post: TenantForm<NewKeyForm>,
) -> Result<HttpResponse, ConsoleError> {
    let TenantForm { page, form } = post;
    let env = parse_env(Some(form.env.as_str()))?;
    let new = NewKey {
        hasher: &state.hasher,
        env,
        name: form.name.clone(),
        allowed_models: Vec::new(),
        expires_at: None,
    };
    let created = match keys::create(&state.store, &page.scope, &page.actor(&req), new).await {
        Ok(created) => created,
        Err(ConsoleError::Invalid(message)) => {
            let query = KeysQuery {
                env: Some(env.as_str().to_owned()),
                ..KeysQuery::default()
            };
            return show_list(&state, &page, env, &query, Some((form.name, message))).await;
        }
        Err(other) => return Err(other),
    };
    let shown = KeyShown {
        tenant_id: page.scope.tenant_id(),
        env: env.as_str().to_owned(),
        name: created.row.name.clone(),
        key: created.key.expose().to_owned(),
        rotated: None,
    };
    show_once(&state, &page, shown).await
}

pub async fn revoke(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    path: web::Path<(String, Uuid)>,
    post: TenantForm<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let (_, key_id) = path.into_inner();
    let page = post.page;
    let key = keys::revoke(&state.store, &page.scope, &page.actor(&req), key_id).await?;
    Ok(redirect(&format!(
        "/t/{}/keys?env={}&done=key-revoked",
        page.slug(),
        key.env
    )))
}

#[derive(Deserialize)]
pub struct RotateForm {
    #[serde(default)]
    grace_hours: Option<String>,
}

pub async fn rotate(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    path: web::Path<(String, Uuid)>,
    post: TenantForm<RotateForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (_, key_id) = path.into_inner();
    let TenantForm { page, form } = post;
    let grace_hours = match form.grace_hours.as_deref().map(str::trim) {
        None | Some("") => keys::DEFAULT_GRACE_HOURS,
        Some(text) => text.parse().map_err(|_| {
            ConsoleError::Invalid("the grace period is a whole number of hours".into())
        })?,
    };
    let rotation = Rotation {
        hasher: &state.hasher,
        key_id,
        grace_hours,
    };
    let rotated = keys::rotate(&state.store, &page.scope, &page.actor(&req), rotation).await?;
    let until = rotated
        .old
        .grace_until
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    let shown = KeyShown {
        tenant_id: page.scope.tenant_id(),
        env: rotated.new.env.as_str().to_owned(),
        name: rotated.new.name.clone(),
        key: rotated.key.expose().to_owned(),
        rotated: Some((rotated.old.display_prefix.clone(), until)),
    };
    show_once(&state, &page, shown).await
}
