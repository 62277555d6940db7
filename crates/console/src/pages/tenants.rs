//! The tenants a user belongs to: list, create, switch.

use actix_web::{HttpRequest, HttpResponse, web};
use airlock_core::role::Role;
use askama::Template;
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

/// Creates a tenant; its creator is its owner.
pub async fn create(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    checked: Checked<NewTenantForm>,
) -> Result<HttpResponse, ConsoleError> {
    let Checked { user, form } = checked;
    let slug = form.slug.trim().to_lowercase();
    let name = form.name.trim();
    let problem = if name.is_empty() || name.len() > 100 {
        Some("A tenant needs a name of 1–100 characters.".to_owned())
    } else if ops::find_tenant(&state.db, &slug).await.is_ok() {
        Some(format!("The address `{slug}` is taken; pick another."))
    } else {
        None
    };
    let created = match problem {
        Some(message) => Err(message),
        None => match ops::create_tenant(&state.db, &slug, name).await {
            Ok(tenant) => Ok(tenant),
            Err(ops::OpsError::Invalid(message)) => Err(message),
            Err(e) => return Err(e.into()),
        },
    };
    let tenant = match created {
        Ok(tenant) => tenant,
        Err(message) => {
            let mut response = render(&TenantsPage {
                layout: Layout::new(&state.db, &user, None).await?,
                error: Some(&message),
                slug: &slug,
                name,
            })?;
            *response.status_mut() = actix_web::http::StatusCode::BAD_REQUEST;
            return Ok(response);
        }
    };
    ops::add_member(&state.db, tenant.id, user.user.id, Role::Owner).await?;
    let scope = TenantScope::check(&state.db, &user, &tenant.slug).await?;
    audit::record(
        &state.db,
        &scope,
        &actor(&req, &user),
        Change {
            action: "tenant.create",
            target_type: "tenant",
            target_id: Some(tenant.id.to_string()),
            before: None,
            after: Some(serde_json::json!({"slug": tenant.slug, "name": tenant.name})),
        },
    )
    .await?;
    Ok(redirect(&format!("/t/{}/keys", tenant.slug)))
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
}

pub async fn members(
    state: web::Data<ConsoleState>,
    user: CurrentUser,
    slug: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let scope = TenantScope::check(&state.db, &user, &slug).await?;
    let members = crate::scoped::list_members(&state.db, &scope).await?;
    render(&MembersPage {
        layout: Layout::new(&state.db, &user, Some(&scope)).await?,
        members,
    })
}
