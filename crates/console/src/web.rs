//! The console's HTTP surface: routes, static files, and the middleware every
//! request passes: a request id and a tracing span (where errors are logged,
//! once), a deadline on reading the body, the session, error pages, and the
//! headers every response carries.

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpMessage, HttpResponse, web};
use futures_util::StreamExt;
use tracing::Instrument;

use crate::auth::session_middleware;
use crate::error::ConsoleError;
use crate::pages::{
    account, agreements, alerts, audit, auth, billing, errors, incidents, invitations, keys,
    limits, policies, prices, providers, show_settings, tenants, usage,
};
use crate::state::ConsoleState;

/// The id of a request, in its span, its 5xx page and its `x-request-id` header.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The most a console request body may hold (forms and API JSON are small).
const MAX_BODY_BYTES: usize = 1 << 20;

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("cache-control", "public, max-age=3600"))
        .body(include_str!("../../../static/airlock.css"))
}

async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("cache-control", "public, max-age=3600"))
        .body(include_str!("../../../static/airlock.js"))
}

async fn htmx() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("cache-control", "public, max-age=86400"))
        .body(include_str!("../../../static/htmx.min.js"))
}

/// The tab icon; browsers that ask for `/favicon.ico` get it too (no 404 on a
/// first visit).
async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header(("cache-control", "public, max-age=86400"))
        .body(include_str!("../../../static/favicon.svg"))
}

async fn not_found() -> Result<HttpResponse, ConsoleError> {
    Err(ConsoleError::NotFound)
}

pub use crate::api::API_ROUTES;

/// Declares the routes once: the registration and the [`ROUTES`] list that the
/// tenant-isolation sweep enumerates come from the same lines, so a route cannot
/// be added without the sweep seeing it.
macro_rules! console_routes {
    ($($method:ident $path:literal => $handler:path),* $(,)?) => {
        /// Every console route as (method, path pattern).
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        fn register_routes(cfg: &mut web::ServiceConfig) {
            $(cfg.route($path, web::$method().to($handler));)*
        }
    };
}

console_routes! {
    get "/" => auth::home,
    get "/signin" => auth::signin_page,
    post "/signin" => auth::signin,
    get "/signup" => auth::signup_page,
    post "/signup" => auth::signup,
    post "/signout" => auth::signout,
    get "/verify/{token}" => auth::verify,
    post "/verify/resend" => auth::resend_verification,
    get "/forgot" => auth::forgot_page,
    post "/forgot" => auth::forgot,
    get "/reset/{token}" => auth::reset_page,
    post "/reset/{token}" => auth::reset,
    get "/tenants" => tenants::list,
    post "/tenants" => tenants::create,
    get "/t/{slug}" => tenants::open,
    get "/t/{slug}/keys" => keys::list,
    post "/t/{slug}/keys" => keys::create,
    get "/t/{slug}/keys/created/{ticket}" => keys::created,
    post "/t/{slug}/keys/{key_id}/revoke" => keys::revoke,
    post "/t/{slug}/keys/{key_id}/rotate" => keys::rotate,
    get "/t/{slug}/keys/{key_id}" => limits::key_page,
    post "/t/{slug}/keys/{key_id}/limits" => limits::save_key,
    get "/t/{slug}/limits" => show_settings::<limits::LimitsPage>,
    post "/t/{slug}/limits/env/{env}" => limits::save_env,
    post "/t/{slug}/limits/tenant" => limits::save_tenant,
    get "/t/{slug}/providers" => show_settings::<providers::ProvidersPage>,
    post "/t/{slug}/providers" => providers::save,
    post "/t/{slug}/providers/default" => providers::set_default,
    get "/t/{slug}/providers/route" => providers::test_route,
    post "/t/{slug}/providers/self-hosted" => providers::set_self_hosted,
    post "/t/{slug}/routes" => providers::save_route,
    post "/t/{slug}/routes/{route_id}/remove" => providers::remove_route,
    get "/t/{slug}/agreements" => agreements::page,
    post "/t/{slug}/agreements" => agreements::save,
    post "/t/{slug}/agreements/{provider}/delete" => agreements::delete,
    get "/t/{slug}/policies" => show_settings::<policies::PoliciesPage>,
    post "/t/{slug}/policies/{class}" => policies::save,
    get "/t/{slug}/prices" => show_settings::<prices::PricesPage>,
    post "/t/{slug}/prices" => prices::save,
    post "/t/{slug}/prices/remove" => prices::remove,
    get "/t/{slug}/members" => tenants::members,
    post "/t/{slug}/members/{user_id}/role" => tenants::change_role,
    post "/t/{slug}/members/{user_id}/remove" => tenants::remove_member,
    post "/t/{slug}/invitations" => tenants::invite,
    post "/t/{slug}/invitations/{invitation_id}/cancel" => tenants::cancel_invitation,
    get "/t/{slug}/members/invited/{ticket}" => tenants::invited,
    get "/account/tokens" => account::tokens,
    post "/account/tokens" => account::create,
    get "/account/tokens/created/{ticket}" => account::created,
    post "/account/tokens/{token_id}/revoke" => account::revoke,
    post "/account/notifications" => account::save_notifications,
    get "/invite/{token}" => invitations::open,
    post "/invite/{token}/accept" => invitations::accept,
    get "/t/{slug}/usage" => usage::page,
    get "/t/{slug}/keys/{key_id}/activity" => usage::key_activity,
    get "/t/{slug}/billing" => show_settings::<billing::BillingPage>,
    post "/t/{slug}/billing" => billing::save,
    post "/t/{slug}/billing/sync" => billing::sync_now,
    get "/t/{slug}/alerts" => alerts::page,
    post "/t/{slug}/alerts/thresholds" => alerts::save_thresholds,
    post "/t/{slug}/alerts/anomalies" => alerts::save_anomaly_response,
    post "/t/{slug}/alerts/{alert_id}/acknowledge" => alerts::acknowledge,
    get "/t/{slug}/incidents" => incidents::page,
    post "/t/{slug}/incidents/preview" => incidents::preview,
    post "/t/{slug}/incidents/contain" => incidents::contain,
    get "/t/{slug}/incidents/rotated/{ticket}" => incidents::rotated,
    post "/t/{slug}/incidents/release" => incidents::release,
    get "/t/{slug}/incidents/report" => incidents::report,
    post "/t/{slug}/incidents/notify" => incidents::notify,
    get "/t/{slug}/audit" => audit::list,
    post "/t/{slug}/audit/verify" => audit::verify,
}

/// Registers the console's routes on an actix `App`.
pub fn configure(state: Arc<ConsoleState>) -> impl Fn(&mut web::ServiceConfig) + Clone {
    let data = web::Data::from(state);
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(data.clone());
        register_routes(cfg);
        crate::api::configure(cfg);
        cfg.service(
            web::resource("/stripe/webhook")
                .app_data(web::PayloadConfig::new(
                    crate::api::stripe_webhook::MAX_EVENT_BYTES,
                ))
                .route(web::post().to(crate::api::stripe_webhook::receive)),
        )
        .route("/static/airlock.css", web::get().to(stylesheet))
        .route("/static/airlock.js", web::get().to(script))
        .route("/static/htmx.min.js", web::get().to(htmx))
        .route("/static/favicon.svg", web::get().to(favicon))
        .route("/favicon.ico", web::get().to(favicon))
        .route(
            "/healthz",
            web::get()
                .to(|| async { HttpResponse::Ok().json(serde_json::json!({"status": "ok"})) }),
        )
        .default_service(web::to(not_found));
    }
}

/// Gives each request an id and a span (request id, route, tenant), and logs a
/// failed request once, here, with its cause: handlers return errors and never
/// log them themselves.
pub async fn request_span(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = format!("req_{}", uuid::Uuid::now_v7().simple());
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let tenant = req.match_info().get("slug").unwrap_or("").to_owned();
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("console", request.id = %id, route = %route, tenant = %tenant);
    let mut res = next.call(req).instrument(span.clone()).await?;
    if let Some(error) = res.response().error()
        && let Some(console) = error.as_error::<ConsoleError>()
    {
        let _entered = span.enter();
        if res.status().is_server_error() {
            tracing::error!(code = console.code(), error = %console.chain(), "console request failed");
        } else {
            tracing::debug!(code = console.code(), "console request refused");
        }
    }
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&id) {
        res.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("x-request-id"),
            value,
        );
    }
    Ok(res)
}

/// Reads a request's body within `body_read_timeout` and `MAX_BODY_BYTES` before
/// any handler sees it: a client sending a byte every few seconds would
/// otherwise hold a connection (and a worker's attention) as long as it liked.
/// Too slow is a 408, too large a 413.
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let has_body = !matches!(
        *req.method(),
        actix_web::http::Method::GET
            | actix_web::http::Method::HEAD
            | actix_web::http::Method::OPTIONS
    );
    if has_body {
        let mut payload = req.take_payload();
        let read = async {
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|_| 400)?;
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(413);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(body.freeze())
        };
        let refused =
            |status: actix_web::http::StatusCode, code: &'static str, text: &'static str| {
                HttpResponse::build(status)
                    .insert_header(("x-airlock-error-code", code))
                    .insert_header(("connection", "close"))
                    .content_type("text/plain; charset=utf-8")
                    .body(text)
            };
        let deadline = req
            .app_data::<web::Data<ConsoleState>>()
            .map_or(Duration::from_secs(10), |state| {
                state.settings.body_read_timeout
            });
        match tokio::time::timeout(deadline, read).await {
            Ok(Ok(body)) => req.set_payload(Payload::from(body)),
            Ok(Err(413)) => {
                let res = refused(
                    actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                    "request_too_large",
                    "The request is too large.",
                );
                return Ok(req.into_response(res));
            }
            Ok(Err(_)) => {
                let res = refused(
                    actix_web::http::StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "The request body could not be read.",
                );
                return Ok(req.into_response(res));
            }
            Err(_) => {
                let res = refused(
                    actix_web::http::StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    "The request body was not received in time.",
                );
                return Ok(req.into_response(res));
            }
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Headers every console response carries: scripts only from the console's own
/// files (no inline script or style), no framing,
/// no MIME sniffing, no referrer leaking paths with ids; HSTS when the request
/// came over TLS (directly or as a proxy reports it).
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    use actix_web::http::header::{HeaderName, HeaderValue};
    let tls = req.connection_info().scheme() == "https";
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    for (name, value) in [
        (
            "content-security-policy",
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    if tls {
        headers.insert(
            HeaderName::from_static("strict-transport-security"),
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    Ok(res)
}

/// The console as an actix `App` factory's middleware stack plus routes.
pub fn app(
    state: Arc<ConsoleState>,
) -> actix_web::App<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    actix_web::App::new()
        .wrap(from_fn(errors::error_pages))
        .wrap(from_fn(session_middleware))
        .wrap(from_fn(body_deadline))
        .wrap(from_fn(security_headers))
        .wrap(from_fn(request_span))
        .configure(configure(state))
}
