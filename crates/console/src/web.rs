//! The console's HTTP surface: routes, static files and the headers every
//! response carries.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpResponse, web};

use crate::auth::session_middleware;
use crate::pages::{
    account, agreements, audit, auth, invitations, keys, limits, policies, providers, tenants,
    usage,
};
use crate::state::ConsoleState;

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

async fn not_found() -> Result<HttpResponse, crate::error::ConsoleError> {
    Err(crate::error::ConsoleError::NotFound)
}

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
    get "/tenants" => tenants::list,
    post "/tenants" => tenants::create,
    get "/t/{slug}" => tenants::open,
    get "/t/{slug}/keys" => keys::list,
    post "/t/{slug}/keys" => keys::create,
    post "/t/{slug}/keys/{key_id}/revoke" => keys::revoke,
    post "/t/{slug}/keys/{key_id}/rotate" => keys::rotate,
    get "/t/{slug}/keys/{key_id}" => limits::key_page,
    post "/t/{slug}/keys/{key_id}/limits" => limits::save_key,
    get "/t/{slug}/limits" => limits::page,
    post "/t/{slug}/limits/env/{env}" => limits::save_env,
    post "/t/{slug}/limits/tenant" => limits::save_tenant,
    get "/t/{slug}/providers" => providers::list,
    post "/t/{slug}/providers" => providers::save,
    post "/t/{slug}/providers/default" => providers::set_default,
    post "/t/{slug}/routes" => providers::save_route,
    post "/t/{slug}/routes/{route_id}/remove" => providers::remove_route,
    get "/t/{slug}/agreements" => agreements::list,
    post "/t/{slug}/agreements" => agreements::save,
    get "/t/{slug}/policies" => policies::list,
    post "/t/{slug}/policies/{class}" => policies::save,
    get "/t/{slug}/members" => tenants::members,
    post "/t/{slug}/members/{user_id}/role" => tenants::change_role,
    post "/t/{slug}/members/{user_id}/remove" => tenants::remove_member,
    post "/t/{slug}/invitations" => tenants::invite,
    get "/account/tokens" => account::tokens,
    post "/account/tokens" => account::create,
    post "/account/tokens/{token_id}/revoke" => account::revoke,
    get "/invite/{token}" => invitations::open,
    post "/invite/{token}/accept" => invitations::accept,
    get "/t/{slug}/usage" => usage::page,
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
        cfg.route("/static/airlock.css", web::get().to(stylesheet))
            .route("/static/airlock.js", web::get().to(script))
            .route("/static/htmx.min.js", web::get().to(htmx))
            .route(
                "/healthz",
                web::get()
                    .to(|| async { HttpResponse::Ok().json(serde_json::json!({"status": "ok"})) }),
            )
            .default_service(web::to(not_found));
    }
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
        .wrap(from_fn(session_middleware))
        .wrap(from_fn(security_headers))
        .configure(configure(state))
}
