//! Server-rendered pages. Each handler checks the session (extractor), the tenant
//! scope and the permission, then renders an askama template (auto-escaped).

pub mod account;
pub mod agreements;
pub mod audit;
pub mod auth;
pub mod form;
pub mod invitations;
pub mod keys;
pub mod limits;
pub mod policies;
pub mod providers;
pub mod tenants;
pub mod usage;

use actix_web::{HttpRequest, HttpResponse};
use airlock_schema::entities::{membership, tenant};
use askama::Template;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use crate::audit::Actor;
use crate::auth::CurrentUser;
use crate::error::ConsoleError;
use crate::scope::{Permission, TenantScope};

/// One entry of the tenant switcher.
pub struct TenantLink {
    pub slug: String,
    pub name: String,
    pub role: String,
}

/// What the shared layout needs: who is signed in, the CSRF token for forms, the
/// tenant switcher, and the current tenant's navigation.
pub struct Layout {
    pub email: String,
    pub csrf: String,
    pub tenants: Vec<TenantLink>,
    pub current: Option<TenantNav>,
}

pub struct TenantNav {
    pub slug: String,
    pub name: String,
    pub role: String,
    pub can_audit: bool,
    pub can_settings: bool,
    pub can_usage: bool,
}

impl Layout {
    pub async fn new(
        db: &DatabaseConnection,
        user: &CurrentUser,
        scope: Option<&TenantScope>,
    ) -> Result<Layout, ConsoleError> {
        let memberships = membership::Entity::find()
            .filter(membership::Column::UserId.eq(user.user.id))
            .find_also_related(tenant::Entity)
            .order_by_asc(membership::Column::CreatedAt)
            .all(db)
            .await?;
        Ok(Layout {
            email: user.user.email.clone(),
            csrf: user.csrf.clone(),
            tenants: memberships
                .into_iter()
                .filter_map(|(m, t)| {
                    let t = t?;
                    Some(TenantLink {
                        slug: t.slug,
                        name: t.name,
                        role: m.role,
                    })
                })
                .collect(),
            current: scope.map(|s| TenantNav {
                slug: s.tenant().slug.clone(),
                name: s.tenant().name.clone(),
                role: s.role().to_string(),
                can_audit: s.can(Permission::ReadAudit),
                can_settings: s.can(Permission::ReadSettings),
                can_usage: s.can(Permission::ReadUsage),
            }),
        })
    }
}

impl Layout {
    /// The current tenant's address, for links back into it.
    pub fn current_slug(&self) -> &str {
        self.current.as_ref().map_or("", |c| c.slug.as_str())
    }
}

pub fn render(page: &impl Template) -> Result<HttpResponse, ConsoleError> {
    let html = page.render().map_err(|e| {
        tracing::error!(error = %e, "rendering a console page failed");
        ConsoleError::Internal
    })?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html))
}

/// The validation message of one of a page's forms, if any.
#[derive(Default)]
pub struct FormError(Option<(&'static str, String)>);

impl FormError {
    pub fn none() -> FormError {
        FormError(None)
    }

    pub fn on_form(form: &'static str, message: String) -> FormError {
        FormError(Some((form, message)))
    }

    /// The message, when it belongs to `form`.
    pub fn on(&self, form: &str) -> Option<&str> {
        match &self.0 {
            Some((f, message)) if *f == form => Some(message),
            _ => None,
        }
    }
}

/// When a form's input was invalid, shows its page again (with what was typed
/// and the message next to the form) as a 400; other outcomes pass through.
pub async fn or_show_error<F, Fut>(
    result: Result<HttpResponse, ConsoleError>,
    show: F,
) -> Result<HttpResponse, ConsoleError>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Result<HttpResponse, ConsoleError>>,
{
    match result {
        Err(ConsoleError::Invalid(message)) => {
            let mut response = show(message).await?;
            *response.status_mut() = actix_web::http::StatusCode::BAD_REQUEST;
            response.headers_mut().insert(
                actix_web::http::header::HeaderName::from_static("x-airlock-error-code"),
                actix_web::http::header::HeaderValue::from_static("invalid_request"),
            );
            Ok(response)
        }
        other => other,
    }
}

/// A message for the top of a page after a change. Only these fixed texts are
/// shown, so a link cannot make the console say something it did not.
pub fn saved_notice(query: &std::collections::HashMap<String, String>) -> Option<&'static str> {
    match query.get("saved").map(String::as_str) {
        Some("1") => Some("Saved. Relays apply the change within a second."),
        _ => None,
    }
}

pub fn redirect(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("location", location))
        .finish()
}

/// The audit actor of a request: the user and the TCP peer.
pub fn actor(req: &HttpRequest, user: &CurrentUser) -> Actor {
    Actor {
        user_id: Some(user.user.id),
        label: user.user.email.clone(),
        ip: req.peer_addr().map(|a| a.ip().to_string()),
    }
}
