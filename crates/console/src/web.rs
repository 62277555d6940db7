//! The console's HTTP surface. A placeholder page until the console issue lands;
//! it already goes through askama with auto-escaping and sends the security
//! headers every console page will carry.

use actix_web::{HttpResponse, web};
use askama::Template;

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage<'a> {
    version: &'a str,
}

async fn index() -> HttpResponse {
    let page = IndexPage {
        version: env!("CARGO_PKG_VERSION"),
    };
    match page.render() {
        Ok(html) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(e) => {
            tracing::error!(error = %e, "rendering the index page failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("cache-control", "public, max-age=3600"))
        .body(include_str!("../../../static/airlock.css"))
}

/// Registers the console's routes on an actix `App`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/static/airlock.css", web::get().to(stylesheet))
        .route(
            "/healthz",
            web::get()
                .to(|| async { HttpResponse::Ok().json(serde_json::json!({"status": "ok"})) }),
        );
}

/// Headers every console response carries: no inline script or style, no framing,
/// no MIME sniffing, no referrer leaking paths with ids.
pub fn security_headers() -> actix_web::middleware::DefaultHeaders {
    actix_web::middleware::DefaultHeaders::new()
        .add((
            "content-security-policy",
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .add(("x-content-type-options", "nosniff"))
        .add(("x-frame-options", "DENY"))
        .add(("referrer-policy", "no-referrer"))
}
