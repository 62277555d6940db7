//! Usage over the API: the report (JSON, or CSV with `Accept: text/csv` or
//! `?format=csv`), the month so far, and a key's recent activity. The same
//! parameters and checks as the usage page.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use uuid::Uuid;

use super::{ApiCaller, ApiError, ErrorBody, ok};
use crate::state::ConsoleState;
use crate::tenant::usage::activity::{self, KeyActivity};
use crate::tenant::usage::overview::{self, Overview};
use crate::tenant::usage::{self, UsageQuery, UsageReport, export};

/// Whether the caller asked for CSV.
pub(crate) fn wants_csv(req: &HttpRequest, params: &HashMap<String, String>) -> bool {
    match params.get("format").map(|f| f.trim()) {
        Some("csv") => true,
        Some("json") => false,
        _ => req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/csv")),
    }
}

/// The CSV download of a query, streamed.
pub(crate) async fn csv_response(
    state: &ConsoleState,
    scope: &crate::tenant::TenantScope,
    query: &UsageQuery,
) -> Result<HttpResponse, crate::error::ConsoleError> {
    let body = export::csv(&state.store, scope, query).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"{}\"",
                export::file_name(scope, query)
            ),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}

/// Requests, errors, tokens, images and cost of a period, per day and per group
/// (`group` = day, key, member, model, provider or env), filtered by `env`,
/// `provider`, `model`, `key` and `member`. `period` is this_month (default),
/// last_month, last_7_days, last_30_days or custom (with `from`/`to`, at most 400
/// days). Unknown parameters are refused. Metadata only: Airlock keeps no prompt
/// text. With `Accept: text/csv` or `format=csv` the same rows stream as CSV, one
/// per group and day, money in dollars with six decimals.
#[utoipa::path(get, path = "/api/v1/tenants/{slug}/usage", tag = "usage",
    params(("slug" = String, Path),
        ("period" = Option<String>, Query), ("from" = Option<String>, Query), ("to" = Option<String>, Query),
        ("env" = Option<String>, Query), ("provider" = Option<String>, Query), ("model" = Option<String>, Query),
        ("key" = Option<Uuid>, Query), ("member" = Option<Uuid>, Query), ("group" = Option<String>, Query),
        ("format" = Option<String>, Query)),
    responses((status = 200, body = UsageReport, content_type = "application/json"),
        (status = 200, description = "CSV", content_type = "text/csv"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn usage(
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    slug: web::Path<String>,
    params: web::Query<HashMap<String, String>>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.scope(&state, &slug).await?;
    let query = UsageQuery::parse(&params)?;
    if wants_csv(&req, &params) {
        return Ok(csv_response(&state, &scope, &query).await?);
    }
    ok(&usage::report(&state.store, &scope, &query).await?)
}

/// This month so far: spend to date, a linear month-end forecast on the last
/// seven days, and the utilisation of every budget (tenant, environments, keys).
#[utoipa::path(get, path = "/api/v1/tenants/{slug}/usage/overview", tag = "usage",
    params(("slug" = String, Path)),
    responses((status = 200, body = Overview), (status = 404, body = ErrorBody)))]
pub async fn usage_overview(
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.scope(&state, &slug).await?;
    ok(&overview::overview(&state.store, &scope).await?)
}

/// A key's last 100 requests: time, model, status, tokens, cost, latency and
/// client address (metadata only).
#[utoipa::path(get, path = "/api/v1/tenants/{slug}/keys/{key_id}/activity", tag = "usage",
    params(("slug" = String, Path), ("key_id" = Uuid, Path)),
    responses((status = 200, body = KeyActivity), (status = 404, body = ErrorBody)))]
pub async fn key_activity(
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, key_id) = path.into_inner();
    let scope = caller.scope(&state, &slug).await?;
    ok(&activity::key_activity(&state.store, &scope, key_id).await?)
}
