//! Server-rendered pages. Each handler checks the session (extractor), the tenant
//! scope and the permission, then renders an askama template (auto-escaped).

pub mod audit;
pub mod auth;
pub mod keys;
pub mod tenants;

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
            }),
        })
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
