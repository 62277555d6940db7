//! Relay keys over the API: list per environment, create (the key is in the
//! answer once), revoke, rotate, and a key's limits.

use actix_web::{HttpRequest, HttpResponse, web};
use airlock_core::class::DataClass;
use airlock_core::key::Env;
use airlock_schema::entities::relay_key;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ApiCaller, ApiError, ErrorBody, micros, ok};
use crate::error::ConsoleError;
use crate::state::ConsoleState;
use crate::tenant::Change;
use crate::tenant::keys::{self, KEYS_PER_PAGE, KeyRow, NewKey, Rotation};
use crate::tenant::limits::{self, KeyLimits, KeyLimitsInput};

/// A key as the API shows it: never the key or its hash.
#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub id: Uuid,
    pub display_prefix: String,
    pub env: String,
    pub name: String,
    pub owner_user_id: Option<Uuid>,
    /// active, grace, expired or revoked.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub grace_until: Option<DateTime<Utc>>,
    pub rpm_limit: Option<i32>,
    pub tpm_limit: Option<i32>,
    pub daily_budget_micros: Option<i64>,
    pub monthly_budget_micros: Option<i64>,
    pub per_request_cap_micros: Option<i64>,
    pub max_tokens_ceiling: Option<i32>,
    pub allowed_models: Vec<String>,
    pub ip_allowlist: Vec<String>,
    pub max_data_class: String,
    pub default_data_class: String,
}

impl KeyView {
    fn of(key: relay_key::Model) -> KeyView {
        let status = keys::state_of(&key, Utc::now()).as_str().to_owned();
        KeyView {
            id: key.id,
            allowed_models: airlock_schema::json_strings(&key.allowed_models),
            ip_allowlist: airlock_schema::json_strings(&key.ip_allowlist),
            display_prefix: key.display_prefix,
            env: key.env.to_string(),
            name: key.name,
            owner_user_id: key.owner_user_id,
            status,
            created_at: key.created_at,
            last_used_at: key.last_used_at,
            expires_at: key.expires_at,
            grace_until: key.grace_until,
            rpm_limit: key.rpm_limit,
            tpm_limit: key.tpm_limit,
            daily_budget_micros: key.daily_budget_micros,
            monthly_budget_micros: key.monthly_budget_micros,
            per_request_cap_micros: key.per_request_cap_micros,
            max_tokens_ceiling: key.max_tokens_ceiling,
            max_data_class: key.max_data_class.to_string(),
            default_data_class: key.default_data_class.to_string(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyPage {
    pub keys: Vec<KeyView>,
    pub total: u64,
    pub page: u64,
    pub pages: u64,
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct KeysQuery {
    /// dev (default), stg, prod or ci.
    env: Option<String>,
    /// From 0; 50 keys a page.
    page: Option<u64>,
}

fn parse_env(text: Option<&str>) -> Result<Env, ApiError> {
    text.unwrap_or("dev")
        .parse()
        .map_err(|_| ApiError(ConsoleError::Invalid("env is dev, stg, prod or ci".into())))
}

/// One page of a tenant's keys of one environment, newest first.
#[utoipa::path(get, path = "/api/v1/tenants/{slug}/keys", tag = "keys",
    params(("slug" = String, Path, description = "The tenant's address"), KeysQuery),
    responses((status = 200, body = KeyPage), (status = 404, body = ErrorBody)))]
pub async fn list(
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    slug: web::Path<String>,
    query: web::Query<KeysQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.scope(&state, &slug).await?;
    let env = parse_env(query.env.as_deref())?;
    let page = query.page.unwrap_or(0);
    let (rows, total) = keys::list(
        &state.store,
        &scope,
        env,
        &keys::KeyFilter::everything(),
        page,
    )
    .await?;
    ok(&KeyPage {
        keys: rows
            .into_iter()
            .map(|r: KeyRow| KeyView::of(r.key))
            .collect(),
        total,
        page,
        pages: total.div_ceil(KEYS_PER_PAGE).max(1),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewKeyBody {
    /// dev, stg, prod or ci.
    pub env: String,
    pub name: String,
}

/// A new key: `key` is shown here once and never again.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedKey {
    pub key: String,
    pub details: KeyView,
}

/// Creates a key owned by the caller.
#[utoipa::path(post, path = "/api/v1/tenants/{slug}/keys", tag = "keys",
    params(("slug" = String, Path)), request_body = NewKeyBody,
    responses((status = 201, body = CreatedKey), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    slug: web::Path<String>,
    body: web::Json<NewKeyBody>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.scope(&state, &slug).await?;
    let env = parse_env(Some(&body.env))?;
    let body = body.into_inner();
    let new = NewKey {
        hasher: &state.hasher,
        env,
        name: body.name,
        allowed_models: Vec::new(),
        expires_at: None,
    };
    let created = keys::create(&state.store, &scope, &caller.actor(&req), new).await?;
    Ok(HttpResponse::Created().json(CreatedKey {
        key: created.key.expose().to_owned(),
        details: KeyView::of(created.row),
    }))
}

/// Revokes a key; relays refuse it within a second.
#[utoipa::path(post, path = "/api/v1/tenants/{slug}/keys/{key_id}/revoke", tag = "keys",
    params(("slug" = String, Path), ("key_id" = Uuid, Path)),
    responses((status = 200, body = KeyView), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, key_id) = path.into_inner();
    let scope = caller.scope(&state, &slug).await?;
    let key = keys::revoke(&state.store, &scope, &caller.actor(&req), key_id).await?;
    ok(&KeyView::of(key))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RotateBody {
    /// How long the old key keeps working: 0–720 hours, default 24.
    pub grace_hours: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RotatedKey {
    /// The new key, shown once.
    pub key: String,
    pub new: KeyView,
    pub old: KeyView,
}

/// Rotates a key: a new key with the same settings; the old one works until its grace ends.
#[utoipa::path(post, path = "/api/v1/tenants/{slug}/keys/{key_id}/rotate", tag = "keys",
    params(("slug" = String, Path), ("key_id" = Uuid, Path)), request_body = RotateBody,
    responses((status = 200, body = RotatedKey), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn rotate(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    path: web::Path<(String, Uuid)>,
    body: Option<web::Json<RotateBody>>,
) -> Result<HttpResponse, ApiError> {
    let (slug, key_id) = path.into_inner();
    let scope = caller.scope(&state, &slug).await?;
    let grace = body
        .and_then(|b| b.grace_hours)
        .unwrap_or(keys::DEFAULT_GRACE_HOURS);
    let rotation = Rotation {
        hasher: &state.hasher,
        key_id,
        grace_hours: grace,
    };
    let rotated = keys::rotate(&state.store, &scope, &caller.actor(&req), rotation).await?;
    ok(&RotatedKey {
        key: rotated.key.expose().to_owned(),
        new: KeyView::of(rotated.new),
        old: KeyView::of(rotated.old),
    })
}

/// A key's settings. Every field is set as given: a field left out (or null)
/// clears that limit, except the data classes, which are required.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct KeyLimitsBody {
    pub rpm_limit: Option<u32>,
    pub tpm_limit: Option<u32>,
    pub daily_budget_micros: Option<i64>,
    pub monthly_budget_micros: Option<i64>,
    pub per_request_cap_micros: Option<i64>,
    pub max_tokens_ceiling: Option<u32>,
    #[serde(default)]
    pub reject_over_ceiling: bool,
    #[serde(default)]
    pub allowed_models: Vec<String>,
    #[serde(default)]
    pub ip_allowlist: Vec<String>,
    pub max_data_class: String,
    pub default_data_class: String,
    pub expires_at: Option<DateTime<Utc>>,
}

fn money(
    value: Option<i64>,
    what: &str,
) -> Result<Change<airlock_core::money::MicroDollars>, ApiError> {
    Ok(value.map(|v| micros(v, what)).transpose()?.into())
}

fn class(text: &str, what: &str) -> Result<DataClass, ApiError> {
    text.parse().map_err(|_| {
        ApiError(ConsoleError::Invalid(format!(
            "{what} is public, internal, confidential or restricted"
        )))
    })
}

/// Sets a key's limits, budgets, models, addresses, classes and expiry (owners and admins).
#[utoipa::path(put, path = "/api/v1/tenants/{slug}/keys/{key_id}/limits", tag = "keys",
    params(("slug" = String, Path), ("key_id" = Uuid, Path)), request_body = KeyLimitsBody,
    responses((status = 200, body = KeyView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn set_limits(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    path: web::Path<(String, Uuid)>,
    body: web::Json<KeyLimitsBody>,
) -> Result<HttpResponse, ApiError> {
    let (slug, key_id) = path.into_inner();
    let scope = caller.scope(&state, &slug).await?;
    let body = body.into_inner();
    if body.expires_at.is_some_and(|t| t <= Utc::now()) {
        return Err(ApiError(ConsoleError::Invalid(
            "expires_at is in the past; revoke the key instead".into(),
        )));
    }
    let limits = KeyLimits {
        rpm: body.rpm_limit.into(),
        tpm: body.tpm_limit.into(),
        daily_budget: money(body.daily_budget_micros, "daily_budget_micros")?,
        monthly_budget: money(body.monthly_budget_micros, "monthly_budget_micros")?,
        per_request_cap: money(body.per_request_cap_micros, "per_request_cap_micros")?,
        ip_allowlist: Some(body.ip_allowlist),
        allowed_models: Some(body.allowed_models),
        max_data_class: Some(class(&body.max_data_class, "max_data_class")?),
        default_data_class: Some(class(&body.default_data_class, "default_data_class")?),
        max_tokens_ceiling: body.max_tokens_ceiling.into(),
        reject_over_ceiling: Some(body.reject_over_ceiling),
        expires_at: body.expires_at.into(),
    };
    let input = KeyLimitsInput { key_id, limits };
    let key = limits::save_key_limits(&state.store, &scope, &caller.actor(&req), input).await?;
    ok(&KeyView::of(key))
}
