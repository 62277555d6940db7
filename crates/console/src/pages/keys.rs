//! Relay keys: the list per environment, create (shown once), revoke, rotate.

use actix_web::{HttpRequest, HttpResponse, web};
use airlock_core::key::Env;
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::{Layout, actor, redirect, render};
use crate::auth::{Checked, CurrentUser};
use crate::error::ConsoleError;
use crate::scope::{Permission, TenantScope};
use crate::scoped::{self, KEYS_PER_PAGE, KeyRow};
use crate::state::ConsoleState;

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
    user: CurrentUser,
    slug: web::Path<String>,
    query: web::Query<KeysQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let scope = TenantScope::check(&state.db, &user, &slug).await?;
    let env = parse_env(query.env.as_deref())?;
    let page = query.page.unwrap_or(0);
    let (rows, total) = scoped::list_keys(&state.db, &scope, env, page).await?;
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
        page,
        pages: total.div_ceil(KEYS_PER_PAGE).max(1),
        can_create: scope.can(Permission::ManageKeys(env)),
        layout: Layout::new(&state.db, &user, Some(&scope)).await?,
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
    slug: web::Path<String>,
    checked: Checked<NewKeyForm>,
) -> Result<HttpResponse, ConsoleError> {
    let Checked { user, form } = checked;
    let scope = TenantScope::check(&state.db, &user, &slug).await?;
    let env = parse_env(Some(form.env.as_str()))?;
    let (row, key) =
        scoped::create_key(&state, &scope, &actor(&req, &user), env, &form.name).await?;
    tracing::info!(key_id = %row.id, tenant_id = %scope.tenant_id(), "key created in the console");
    render(&KeyCreatedPage {
        layout: Layout::new(&state.db, &user, Some(&scope)).await?,
        slug: &scope.tenant().slug,
        env: env.as_str(),
        name: &row.name,
        key: key.expose(),
        rotated: None,
    })
}

pub async fn revoke(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    path: web::Path<(String, Uuid)>,
    checked: Checked<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let (slug, key_id) = path.into_inner();
    let user = checked.user;
    let scope = TenantScope::check(&state.db, &user, &slug).await?;
    let key = scoped::revoke_key(&state, &scope, &actor(&req, &user), key_id).await?;
    Ok(redirect(&format!(
        "/t/{}/keys?env={}",
        scope.tenant().slug,
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
    checked: Checked<RotateForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (slug, key_id) = path.into_inner();
    let Checked { user, form } = checked;
    let scope = TenantScope::check(&state.db, &user, &slug).await?;
    let grace_hours = match form.grace_hours.as_deref().map(str::trim) {
        None | Some("") => scoped::DEFAULT_GRACE_HOURS,
        Some(text) => text.parse().map_err(|_| {
            ConsoleError::Invalid("the grace period is a whole number of hours".into())
        })?,
    };
    let rotated =
        scoped::rotate_key(&state, &scope, &actor(&req, &user), key_id, grace_hours).await?;
    let until = rotated
        .old
        .grace_until
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    render(&KeyCreatedPage {
        layout: Layout::new(&state.db, &user, Some(&scope)).await?,
        slug: &scope.tenant().slug,
        env: &rotated.new.env,
        name: &rotated.new.name,
        key: rotated.key.expose(),
        rotated: Some((rotated.old.display_prefix.clone(), until)),
    })
}
