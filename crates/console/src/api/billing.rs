//! Billing over the API: the same facts and rules as the billing page. Owners,
//! admins and finance read; only owners change the settings or sync now.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{ApiCaller, ApiError, ErrorBody, ok};
use crate::billing::sync::{self, TenantSync};
use crate::error::ConsoleError;
use crate::state::ConsoleState;
use crate::tenant::Permission;
use crate::tenant::billing::{self, BillingInput, BillingView, Invoices};

/// The tenant's billing: Stripe customer, markup, status (and whether the relay
/// refuses its keys for it), the last sync and what waits to be reported.
#[utoipa::path(get, path = "/api/v1/tenants/{slug}/billing", tag = "billing",
    params(("slug" = String, Path)),
    responses((status = 200, body = BillingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show(
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.scope(&state, &slug).await?;
    ok(&billing::view(&state.store, &scope, state.billing()).await?)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct BillingBody {
    pub enabled: bool,
    /// An existing Stripe customer (`cus_…`) to bill. Without one, turning
    /// billing on creates a customer in Stripe.
    #[serde(default)]
    pub stripe_customer_id: Option<String>,
    /// Markup over provider cost in percent, at most two decimals (`"12.5"`);
    /// absent keeps the current one.
    #[serde(default)]
    pub markup_percent: Option<String>,
    /// Absent keeps the current one; `""` removes it.
    #[serde(default)]
    pub billing_email: Option<String>,
}

/// Turns billing on or off and sets the customer, markup and billing email
/// (owners; audited as `billing.update`).
#[utoipa::path(put, path = "/api/v1/tenants/{slug}/billing", tag = "billing",
    params(("slug" = String, Path)), request_body = BillingBody,
    responses((status = 200, body = BillingView), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn configure(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    slug: web::Path<String>,
    body: web::Json<BillingBody>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.scope(&state, &slug).await?;
    let body = body.into_inner();
    let input = BillingInput {
        enabled: body.enabled,
        customer: body.stripe_customer_id,
        markup_percent: body.markup_percent,
        billing_email: body.billing_email,
    };
    billing::configure(
        &state.store,
        &scope,
        &caller.actor(&req),
        state.billing(),
        input,
    )
    .await?;
    let scope = caller.scope(&state, &slug).await?;
    ok(&billing::view(&state.store, &scope, state.billing()).await?)
}

/// The customer's Stripe invoices (newest first) and the upcoming invoice.
#[utoipa::path(get, path = "/api/v1/tenants/{slug}/billing/invoices", tag = "billing",
    params(("slug" = String, Path)),
    responses((status = 200, body = Invoices), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn invoices(
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.scope(&state, &slug).await?;
    ok(&billing::invoices(&state.store, &scope, state.billing()).await?)
}

/// Reports the tenant's unreported usage to Stripe now (owners). A Stripe
/// failure is in `error`; the usage stays unsent and is retried.
#[utoipa::path(post, path = "/api/v1/tenants/{slug}/billing/sync", tag = "billing",
    params(("slug" = String, Path)),
    responses((status = 200, body = TenantSync), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn sync_now(
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.scope(&state, &slug).await?;
    scope.require(Permission::ManageBilling)?;
    let stripe = state.billing().ok_or_else(billing::not_configured)?;
    let row = billing::row(state.db(), &scope)
        .await?
        .filter(|row| row.enabled && row.stripe_customer_id.is_some())
        .ok_or_else(|| ConsoleError::Invalid("turn billing on first".into()))?;
    ok(&sync::sync_tenant(
        state.db(),
        &stripe.api,
        &row,
        scope.slug(),
        chrono::Utc::now(),
    )
    .await)
}
