//! Relay keys: the list per environment, create (shown once), revoke, rotate.

use actix_web::{HttpRequest, HttpResponse, web};
use airlock_core::key::Env;
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::{Layout, TenantForm, TenantPage, redirect, render};
use crate::error::ConsoleError;
use crate::state::ConsoleState;
use crate::tenant::Permission;
use crate::tenant::keys::{self, KEYS_PER_PAGE, KeyRow, NewKey, Rotation};

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
}

#[derive(Deserialize)]
pub struct KeysQuery {
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    page: Option<u64>,
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
    let number = query.page.unwrap_or(0);
    let (rows, total) = keys::list(&state.store, &page.scope, env, number).await?;
    render(&KeysPage {
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
        layout: page.layout(&state).await?,
    })
}

#[derive(Template)]
#[template(path = "console/key_created.html")]
struct KeyCreatedPage<'a> {
    layout: Layout,
    slug: &'a str,
    env: &'a str,
    name: &'a str,
    key: &'a str,
    /// Set on rotation: the old key and when it stops working.
    rotated: Option<(String, String)>,
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
        name: form.name,
        allowed_models: Vec::new(),
        expires_at: None,
    };
    let created = keys::create(&state.store, &page.scope, &page.actor(&req), new).await?;
    render(&KeyCreatedPage {
        layout: page.layout(&state).await?,
        slug: page.slug(),
        env: env.as_str(),
        name: &created.row.name,
        key: created.key.expose(),
        rotated: None,
    })
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
        "/t/{}/keys?env={}",
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
    render(&KeyCreatedPage {
        layout: page.layout(&state).await?,
        slug: page.slug(),
        env: rotated.new.env.as_str(),
        name: &rotated.new.name,
        key: rotated.key.expose(),
        rotated: Some((rotated.old.display_prefix.clone(), until)),
    })
}
