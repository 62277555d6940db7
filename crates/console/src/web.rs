//! The console's HTTP surface: routes, static files and the headers every
//! response carries.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpResponse, web};

use crate::auth::session_middleware;
use crate::pages::{audit, auth, keys, tenants};
use crate::state::ConsoleState;

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("cache-control", "public, max-age=3600"))
        .body(include_str!("../../../static/airlock.css"))
}

async fn not_found() -> Result<HttpResponse, crate::error::ConsoleError> {
    Err(crate::error::ConsoleError::NotFound)
}

/// Every console route. Tests enumerate this list for the tenant-isolation sweep,
/// so a route added here without a sweep entry fails them.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/signin"),
    ("POST", "/signin"),
    ("GET", "/signup"),
    ("POST", "/signup"),
    ("POST", "/signout"),
    ("GET", "/tenants"),
    ("POST", "/tenants"),
    ("GET", "/t/{slug}"),
    ("GET", "/t/{slug}/keys"),
    ("POST", "/t/{slug}/keys"),
    ("POST", "/t/{slug}/keys/{key_id}/revoke"),
    ("POST", "/t/{slug}/keys/{key_id}/rotate"),
    ("GET", "/t/{slug}/members"),
    ("GET", "/t/{slug}/audit"),
    ("POST", "/t/{slug}/audit/verify"),
];

/// Registers the console's routes on an actix `App`.
pub fn configure(state: Arc<ConsoleState>) -> impl Fn(&mut web::ServiceConfig) + Clone {
    let data = web::Data::from(state);
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(data.clone())
            .route("/", web::get().to(auth::home))
            .route("/signin", web::get().to(auth::signin_page))
            .route("/signin", web::post().to(auth::signin))
            .route("/signup", web::get().to(auth::signup_page))
            .route("/signup", web::post().to(auth::signup))
            .route("/signout", web::post().to(auth::signout))
            .route("/tenants", web::get().to(tenants::list))
            .route("/tenants", web::post().to(tenants::create))
            .route("/t/{slug}", web::get().to(tenants::open))
            .route("/t/{slug}/keys", web::get().to(keys::list))
            .route("/t/{slug}/keys", web::post().to(keys::create))
            .route(
                "/t/{slug}/keys/{key_id}/revoke",
                web::post().to(keys::revoke),
            )
            .route(
                "/t/{slug}/keys/{key_id}/rotate",
                web::post().to(keys::rotate),
            )
            .route("/t/{slug}/members", web::get().to(tenants::members))
            .route("/t/{slug}/audit", web::get().to(audit::list))
            .route("/t/{slug}/audit/verify", web::post().to(audit::verify))
            .route("/static/airlock.css", web::get().to(stylesheet))
            .route(
                "/healthz",
                web::get()
                    .to(|| async { HttpResponse::Ok().json(serde_json::json!({"status": "ok"})) }),
            )
            .default_service(web::to(not_found));
    }
}

/// Headers every console response carries: no inline script or style, no framing,
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
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
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
        .wrap(from_fn(session_middleware))
        .wrap(from_fn(security_headers))
        .configure(configure(state))
}
