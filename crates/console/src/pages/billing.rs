//! The billing page: status, what is waiting to be reported, Stripe invoices and
//! the upcoming one; owners change the settings and can sync now. Stripe being
//! down shows as a message on the page, never as an error page.

use actix_web::{HttpRequest, HttpResponse, web};
use airlock_core::money::MicroDollars;
use askama::Template;
use serde::Deserialize;

use super::form::text;
use super::{
    FormError, Layout, SettingsPage, TenantForm, TenantPage, View, redirect, render,
    save_or_redisplay,
};
use crate::billing::stripe::InvoiceLine;
use crate::error::ConsoleError;
use crate::state::ConsoleState;
use crate::tenant::Permission;
use crate::tenant::billing::{self, BillingInput, BillingView, Invoices};

#[derive(Template)]
#[template(path = "console/billing.html")]
pub(crate) struct BillingPage {
    layout: Layout,
    view: BillingView,
    invoices: Option<Invoices>,
    /// Why the invoices could not be shown.
    invoices_error: Option<String>,
    can_manage: bool,
    notice: Option<&'static str>,
    error: FormError,
    typed: BillingForm,
}

impl BillingPage {
    fn dollars(&self, micros: &i64) -> String {
        MicroDollars::new(*micros).readable().to_string()
    }

    /// An invoice amount (Stripe's smallest currency unit) with its currency.
    fn amount(&self, invoice: &InvoiceLine) -> String {
        let cents = invoice.amount_due;
        let sign = if cents < 0 { "-" } else { "" };
        format!(
            "{sign}{}.{:02} {}",
            cents.unsigned_abs() / 100,
            cents.unsigned_abs() % 100,
            invoice.currency.to_uppercase()
        )
    }

    /// Stripe's hosted page, as a link only when it is an https address (the
    /// answer comes from outside; a `javascript:` link must not reach the page).
    fn hosted_url<'a>(&self, invoice: &'a InvoiceLine) -> Option<&'a str> {
        invoice
            .hosted_invoice_url
            .as_deref()
            .filter(|url| url.starts_with("https://"))
    }

    fn typed_or<'a>(&'a self, typed: &'a Option<String>, current: &'a str) -> &'a str {
        typed.as_deref().unwrap_or(current)
    }
}

#[derive(Deserialize, Default)]
pub struct BillingForm {
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    customer: Option<String>,
    #[serde(default)]
    markup_percent: Option<String>,
    #[serde(default)]
    billing_email: Option<String>,
}

impl SettingsPage for BillingPage {
    type Typed = BillingForm;
    const PATH: &'static str = "billing";

    async fn show(
        state: &ConsoleState,
        page: &TenantPage,
        view: View<BillingForm>,
    ) -> Result<HttpResponse, ConsoleError> {
        let billing_view = billing::view(&state.store, &page.scope, state.billing()).await?;
        let (invoices, invoices_error) = if state.billing().is_some() {
            match billing::invoices(&state.store, &page.scope, state.billing()).await {
                Ok(invoices) => (Some(invoices), None),
                Err(ConsoleError::Stripe(message)) => (None, Some(message)),
                Err(other) => return Err(other),
            }
        } else {
            (None, None)
        };
        render(&BillingPage {
            view: billing_view,
            invoices,
            invoices_error,
            can_manage: page.scope.can(Permission::ManageBilling),
            notice: view.notice,
            error: view.error,
            typed: view.typed,
            layout: page.layout(state).await?,
        })
    }
}

pub async fn save(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    post: TenantForm<BillingForm>,
) -> Result<HttpResponse, ConsoleError> {
    let TenantForm { page, form } = post;
    let input = BillingInput {
        enabled: form.enabled.as_deref() == Some("on"),
        customer: text(&form.customer).map(str::to_owned),
        markup_percent: form.markup_percent.clone(),
        billing_email: Some(form.billing_email.clone().unwrap_or_default()),
    };
    let saved = billing::configure(
        &state.store,
        &page.scope,
        &page.actor(&req),
        state.billing(),
        input,
    )
    .await
    .map(drop);
    save_or_redisplay::<BillingPage>(&state, &page, "settings", form, saved).await
}

/// Reports this tenant's unreported usage now (owners).
pub async fn sync_now(
    state: web::Data<ConsoleState>,
    post: TenantForm<BillingForm>,
) -> Result<HttpResponse, ConsoleError> {
    let TenantForm { page, .. } = post;
    page.scope.require(Permission::ManageBilling)?;
    let billing_state = state.billing().ok_or_else(billing::not_configured)?;
    let Some(row) = billing::row(state.db(), &page.scope).await? else {
        return Err(ConsoleError::Invalid("turn billing on first".into()));
    };
    if !row.enabled {
        return Err(ConsoleError::Invalid("turn billing on first".into()));
    }
    let result = crate::billing::sync::sync_tenant(
        state.db(),
        &billing_state.api,
        &row,
        page.scope.slug(),
        chrono::Utc::now(),
    )
    .await;
    let outcome = if result.error.is_some() {
        "failed"
    } else {
        "ok"
    };
    Ok(redirect(&format!(
        "/t/{}/billing?sync={outcome}",
        page.slug()
    )))
}
