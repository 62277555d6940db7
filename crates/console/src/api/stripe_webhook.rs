//! `POST /stripe/webhook`: Stripe's events about a tenant's invoices and
//! subscription. Not under `/api` (Stripe signs its requests instead of
//! presenting an API token), and 404 unless the operator set
//! `AIRLOCK_STRIPE_WEBHOOK_SECRET`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::billing::webhook::{self, Applied, ApplyError};
use crate::state::ConsoleState;

/// Largest event body read. Stripe's events are far smaller; an invoice event
/// with many lines is the largest kind.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

fn refused(status: actix_web::http::StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("x-airlock-error-code", code.to_owned()))
        .json(json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": code}}))
}

pub async fn receive(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    body: web::Bytes,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let Some((billing, secret)) = state
        .billing()
        .and_then(|b| b.settings.webhook_secret.as_ref().map(|s| (b, s)))
    else {
        return refused(
            StatusCode::NOT_FOUND,
            "not_found",
            "Stripe webhooks are not configured on this Airlock",
        );
    };
    let header = req
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    use secrecy::ExposeSecret;
    if let Err(e) = webhook::verify(
        secret.expose_secret().as_bytes(),
        header,
        &body,
        chrono::Utc::now(),
    ) {
        return refused(StatusCode::BAD_REQUEST, "invalid_signature", &e.to_string());
    }
    match webhook::apply(state.db(), &body, &billing.settings.suspend_when).await {
        Ok(applied) => {
            if let Applied::Status {
                tenant_id,
                status,
                suspended,
            } = &applied
            {
                tracing::info!(%tenant_id, status = status.as_str(), suspended, "billing status changed by a Stripe webhook");
            }
            let outcome = match applied {
                Applied::Status { .. } => "applied",
                Applied::Replay => "replay",
                Applied::Ignored => "ignored",
                Applied::Outdated => "outdated",
            };
            HttpResponse::Ok().json(json!({"received": true, "outcome": outcome}))
        }
        Err(ApplyError::NotAnEvent) => refused(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body is not a Stripe event",
        ),
        Err(ApplyError::Db(e)) => {
            // 500 tells Stripe to retry the event later; nothing was recorded.
            tracing::error!(error = %e, "recording a Stripe webhook failed");
            refused(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "the event could not be recorded; Stripe will retry it",
            )
        }
    }
}
