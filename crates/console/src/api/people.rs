//! Tenants, members and invitations over the API.

use actix_web::{HttpRequest, HttpResponse, web};
use airlock_core::role::Role;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ApiCaller, ApiError, ErrorBody, ok};
use crate::error::ConsoleError;
use crate::state::ConsoleState;
use crate::tenant::members::{self, Invitation, RoleChange};

#[derive(Serialize, utoipa::ToSchema)]
pub struct TenantView {
    pub slug: String,
    pub name: String,
    /// The token holder's role in it.
    pub role: String,
}

/// The tenants the token's holder belongs to.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants",
    responses((status = 200, body = Vec<TenantView>), (status = 401, body = ErrorBody)))]
pub async fn tenants(
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
) -> Result<HttpResponse, ApiError> {
    let views: Vec<TenantView> = crate::tenant::of_user(&state.store, caller.user.id)
        .await?
        .into_iter()
        .map(|(t, role)| TenantView {
            slug: t.slug,
            name: t.name,
            role: role.to_string(),
        })
        .collect();
    ok(&views)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MemberView {
    pub user_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub since: DateTime<Utc>,
}

/// The tenant's members and their roles.
#[utoipa::path(get, path = "/api/v1/tenants/{slug}/members", tag = "members",
    params(("slug" = String, Path)),
    responses((status = 200, body = Vec<MemberView>), (status = 404, body = ErrorBody)))]
pub async fn members(
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.scope(&state, &slug).await?;
    let views: Vec<MemberView> = members::list(&state.store, &scope)
        .await?
        .into_iter()
        .map(|m| MemberView {
            user_id: m.user_id,
            email: m.email,
            display_name: m.display_name,
            role: m.role.to_string(),
            since: m.since,
        })
        .collect();
    ok(&views)
}

fn role(text: &str) -> Result<Role, ApiError> {
    text.parse().map_err(|_| {
        ApiError(ConsoleError::Invalid(
            "role is owner, admin, developer, finance or viewer".into(),
        ))
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RoleBody {
    /// owner, admin, developer, finance or viewer.
    pub role: String,
}

/// Gives a member another role (a tenant keeps an owner; only owners make owners).
#[utoipa::path(put, path = "/api/v1/tenants/{slug}/members/{user_id}", tag = "members",
    params(("slug" = String, Path), ("user_id" = Uuid, Path)), request_body = RoleBody,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_role(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    path: web::Path<(String, Uuid)>,
    body: web::Json<RoleBody>,
) -> Result<HttpResponse, ApiError> {
    let (slug, user_id) = path.into_inner();
    let scope = caller.scope(&state, &slug).await?;
    let role = role(&body.role)?;
    members::change_role(
        &state.store,
        &scope,
        &caller.actor(&req),
        RoleChange { user_id, role },
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes a member; their keys keep working until revoked.
#[utoipa::path(delete, path = "/api/v1/tenants/{slug}/members/{user_id}", tag = "members",
    params(("slug" = String, Path), ("user_id" = Uuid, Path)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, user_id) = path.into_inner();
    let scope = caller.scope(&state, &slug).await?;
    members::remove(&state.store, &scope, &caller.actor(&req), user_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct InviteBody {
    pub email: String,
    /// owner, admin, developer, finance or viewer.
    pub role: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct InviteView {
    /// The link went out by mail.
    pub emailed: bool,
    /// The link to pass on, only when no mail server is configured.
    pub link: Option<String>,
}

/// Invites an email address; the link is mailed (or returned when no mail server is set).
#[utoipa::path(post, path = "/api/v1/tenants/{slug}/invitations", tag = "members",
    params(("slug" = String, Path)), request_body = InviteBody,
    responses((status = 201, body = InviteView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn invite(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    slug: web::Path<String>,
    body: web::Json<InviteBody>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.scope(&state, &slug).await?;
    let role = role(&body.role)?;
    let base = state.link_base(&req);
    let invitation = Invitation {
        email: body.email.clone(),
        role,
        link_base: &base,
        mailer: state.mailer.as_ref(),
    };
    let invited = members::invite(&state.store, &scope, &caller.actor(&req), invitation).await?;
    Ok(HttpResponse::Created().json(InviteView {
        emailed: invited.emailed,
        link: (!invited.emailed).then_some(invited.link),
    }))
}
