//! The tenants a user belongs to: list, create, switch.

use actix_web::{HttpRequest, HttpResponse, web};
use airlock_core::role::Role;
use askama::Template;
use sea_orm::TransactionTrait;
use serde::Deserialize;

use super::{Layout, actor, redirect, render};
use crate::audit::{self, Change};
use crate::auth::{Checked, CurrentUser};
use crate::error::ConsoleError;
use crate::ops;
use crate::scope::TenantScope;
use crate::state::ConsoleState;

#[derive(Template)]
#[template(path = "console/tenants.html")]
struct TenantsPage<'a> {
    layout: Layout,
    error: Option<&'a str>,
    slug: &'a str,
    name: &'a str,
}

pub async fn list(
    state: web::Data<ConsoleState>,
    user: CurrentUser,
) -> Result<HttpResponse, ConsoleError> {
    render(&TenantsPage {
        layout: Layout::new(&state.db, &user, None).await?,
        error: None,
        slug: "",
        name: "",
    })
}

#[derive(Deserialize)]
pub struct NewTenantForm {
    slug: String,
    name: String,
}

/// Creates a tenant; its creator is its owner. The tenant, the membership and the
/// audit event commit together.
pub async fn create(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    checked: Checked<NewTenantForm>,
) -> Result<HttpResponse, ConsoleError> {
    let Checked { user, form } = checked;
    let slug = form.slug.trim().to_lowercase();
    let name = form.name.trim();
    let (db, shown_user, shown_slug) = (&state.db, &user, &slug);
    let again = move |message: String| async move {
        let mut response = render(&TenantsPage {
            layout: Layout::new(db, shown_user, None).await?,
            error: Some(&message),
            slug: shown_slug,
            name,
        })?;
        *response.status_mut() = actix_web::http::StatusCode::BAD_REQUEST;
        Ok(response)
    };
    if name.is_empty() || name.len() > 100 {
        return again("A tenant needs a name of 1–100 characters.".into()).await;
    }
    if ops::find_tenant(&state.db, &slug).await.is_ok() {
        return again(format!("The address `{slug}` is taken; pick another.")).await;
    }
    let txn = state.db.begin().await?;
    let tenant = match ops::create_tenant(&txn, &slug, name).await {
        Ok(tenant) => tenant,
        Err(ops::OpsError::Invalid(message)) => return again(message).await,
        Err(e) => return Err(e.into()),
    };
    let member = ops::add_member(&txn, tenant.id, user.user.id, Role::Owner).await?;
    let after = serde_json::json!({"slug": tenant.slug, "name": tenant.name});
    let scope = TenantScope::of_member(tenant, &member)?;
    audit::record(
        &txn,
        &scope,
        &actor(&req, &user),
        Change {
            action: "tenant.create",
            target_type: "tenant",
            target_id: Some(scope.tenant_id().to_string()),
            before: None,
            after: Some(after),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(redirect(&format!("/t/{}/keys", scope.tenant().slug)))
}

/// `/t/{slug}`: the tenant's first page.
pub async fn open(
    state: web::Data<ConsoleState>,
    user: CurrentUser,
    slug: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let scope = TenantScope::check(&state.db, &user, &slug).await?;
    Ok(redirect(&format!("/t/{}/keys", scope.tenant().slug)))
}

#[derive(Template)]
#[template(path = "console/members.html")]
struct MembersPage {
    layout: Layout,
    members: Vec<crate::scoped::MemberRow>,
    roles: [&'static str; 5],
    can_manage: bool,
    /// The signed-in user, whose own row says "you".
    me: uuid::Uuid,
    notice: Option<&'static str>,
    error: Option<String>,
    pending: Vec<airlock_schema::entities::invitation::Model>,
    /// Just sent: to whom, and the link when it was not mailed.
    invited: Option<(String, crate::invitations::Invited)>,
}

pub async fn members(
    state: web::Data<ConsoleState>,
    user: CurrentUser,
    slug: web::Path<String>,
    query: web::Query<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let scope = TenantScope::check(&state.db, &user, &slug).await?;
    show_members(
        &state,
        &user,
        &scope,
        super::saved_notice(&query),
        None,
        None,
    )
    .await
}

async fn show_members(
    state: &ConsoleState,
    user: &CurrentUser,
    scope: &TenantScope,
    notice: Option<&'static str>,
    error: Option<String>,
    invited: Option<(String, crate::invitations::Invited)>,
) -> Result<HttpResponse, ConsoleError> {
    let members = crate::scoped::list_members(&state.db, scope).await?;
    let can_manage = scope.can(crate::scope::Permission::ManageMembers);
    let pending = if can_manage {
        crate::invitations::pending(&state.db, scope).await?
    } else {
        Vec::new()
    };
    render(&MembersPage {
        pending,
        invited,
        layout: Layout::new(&state.db, user, Some(scope)).await?,
        members,
        roles: Role::ALL.map(Role::as_str),
        can_manage,
        me: user.user.id,
        notice,
        error,
    })
}

/// The roles, as a validation message lists them.
const ROLE_CHOICES: &str = "owner, admin, developer, finance or viewer";

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: Option<String>,
}

pub async fn change_role(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    path: web::Path<(String, uuid::Uuid)>,
    checked: Checked<RoleForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (slug, user_id) = path.into_inner();
    let Checked { user, form } = checked;
    let scope = TenantScope::check(&state.db, &user, &slug).await?;
    let result = async {
        let role: Role = super::form::choice(&form.role, "The role", ROLE_CHOICES)?;
        crate::scoped::change_role(&state, &scope, &actor(&req, &user), user_id, role).await?;
        Ok(redirect(&format!(
            "/t/{}/members?saved=1",
            scope.tenant().slug
        )))
    }
    .await;
    super::or_show_error(result, |message| {
        show_members(&state, &user, &scope, None, Some(message), None)
    })
    .await
}

pub async fn remove_member(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    path: web::Path<(String, uuid::Uuid)>,
    checked: Checked<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let (slug, user_id) = path.into_inner();
    let user = checked.user;
    let scope = TenantScope::check(&state.db, &user, &slug).await?;
    let result = crate::scoped::remove_member(&state, &scope, &actor(&req, &user), user_id)
        .await
        .map(|()| {
            if user_id == user.user.id {
                // You left the tenant: nothing of it is yours to see any more.
                redirect("/tenants")
            } else {
                redirect(&format!("/t/{}/members?saved=1", scope.tenant().slug))
            }
        });
    super::or_show_error(result, |message| {
        show_members(&state, &user, &scope, None, Some(message), None)
    })
    .await
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    role: Option<String>,
}

pub async fn invite(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    slug: web::Path<String>,
    checked: Checked<InviteForm>,
) -> Result<HttpResponse, ConsoleError> {
    let Checked { user, form } = checked;
    let scope = TenantScope::check(&state.db, &user, &slug).await?;
    let email = super::form::text(&form.email)
        .unwrap_or_default()
        .to_owned();
    let result = async {
        let role: Role = super::form::choice(&form.role, "The role", ROLE_CHOICES)?;
        let invited = crate::invitations::invite(
            &state,
            &scope,
            &actor(&req, &user),
            &email,
            role,
            &state.link_base(&req),
        )
        .await?;
        show_members(
            &state,
            &user,
            &scope,
            None,
            None,
            Some((email.clone(), invited)),
        )
        .await
    }
    .await;
    super::or_show_error(result, |message| {
        show_members(&state, &user, &scope, None, Some(message), None)
    })
    .await
}
