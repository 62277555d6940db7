//! The tenants a user belongs to (list, create, switch), and a tenant's members
//! and invitations.

use actix_web::{HttpRequest, HttpResponse, web};
use airlock_core::role::Role;
use airlock_schema::entities::invitation;
use askama::Template;
use serde::{Deserialize, Serialize};

use super::{
    Layout, TenantForm, TenantPage, actor, invalid_status, redirect, render, saved_notice,
};
use crate::auth::{Checked, CurrentUser};
use crate::error::ConsoleError;
use crate::state::ConsoleState;
use crate::tenant::members::{self, Invitation, Invited, MemberRow, RoleChange};
use crate::tenant::{self, NewTenant, Permission};

#[derive(Template)]
#[template(path = "console/tenants.html")]
struct TenantsPage<'a> {
    layout: Layout,
    error: Option<&'a str>,
    slug: &'a str,
    name: &'a str,
    /// The account's address is not proven yet: it may not create tenants.
    unverified: bool,
}

pub async fn list(
    state: web::Data<ConsoleState>,
    user: CurrentUser,
) -> Result<HttpResponse, ConsoleError> {
    render(&TenantsPage {
        layout: Layout::new(&state, &user, None).await?,
        error: None,
        slug: "",
        name: "",
        unverified: user.user.email_verified_at.is_none(),
    })
}

#[derive(Deserialize)]
pub struct NewTenantForm {
    slug: String,
    name: String,
}

/// Creates a tenant; its creator is its owner. An account must have proven its
/// address first (sign-up sends the link).
pub async fn create(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    checked: Checked<NewTenantForm>,
) -> Result<HttpResponse, ConsoleError> {
    let Checked { user, form } = checked;
    let created = if user.user.email_verified_at.is_none() {
        Err(ConsoleError::Invalid(
            "confirm your email address first: open the link we sent when you signed up".into(),
        ))
    } else {
        tenant::create(
            &state.store,
            &actor(&req, &user),
            Some(user.user.id),
            NewTenant {
                slug: form.slug.clone(),
                name: form.name.clone(),
            },
        )
        .await
    };
    match created {
        Ok(tenant) => Ok(redirect(&format!(
            "/t/{}/keys?done=tenant-created",
            tenant.slug
        ))),
        Err(ConsoleError::Invalid(message)) => {
            let mut response = render(&TenantsPage {
                layout: Layout::new(&state, &user, None).await?,
                error: Some(&message),
                slug: form.slug.trim(),
                name: form.name.trim(),
                unverified: user.user.email_verified_at.is_none(),
            })?;
            invalid_status(&mut response);
            Ok(response)
        }
        Err(other) => Err(other),
    }
}

/// `/t/{slug}`: the tenant's first page.
pub async fn open(page: TenantPage) -> Result<HttpResponse, ConsoleError> {
    Ok(redirect(&format!("/t/{}/keys", page.slug())))
}

#[derive(Template)]
#[template(path = "console/members.html")]
struct MembersPage {
    layout: Layout,
    members: Vec<MemberRow>,
    roles: [&'static str; 5],
    can_manage: bool,
    /// The signed-in user, whose own row says "you".
    me: uuid::Uuid,
    notice: Option<&'static str>,
    error: Option<String>,
    pending: Vec<invitation::Model>,
    /// Just sent: to whom, and the link when it was not mailed.
    invited: Option<(String, Invited)>,
    /// What was typed into the invitation form, after an error there.
    typed: InviteForm,
    /// That error, shown by the invitation form.
    invite_error: Option<String>,
}

impl MembersPage {
    /// The role the invitation form offers: the one typed, else developer.
    fn invite_role_is(&self, role: &str) -> bool {
        self.typed.role.as_deref().unwrap_or("developer") == role
    }
}

pub async fn members(
    state: web::Data<ConsoleState>,
    page: TenantPage,
    query: web::Query<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    show_members(&state, &page, saved_notice(&query), None, None).await
}

/// The members page; `error` is shown by its form.
async fn show_members(
    state: &ConsoleState,
    page: &TenantPage,
    notice: Option<&'static str>,
    error: Option<String>,
    invited: Option<(String, Invited)>,
) -> Result<HttpResponse, ConsoleError> {
    show_members_typed(state, page, notice, error, invited, None).await
}

async fn show_members_typed(
    state: &ConsoleState,
    page: &TenantPage,
    notice: Option<&'static str>,
    error: Option<String>,
    invited: Option<(String, Invited)>,
    typed: Option<InviteForm>,
) -> Result<HttpResponse, ConsoleError> {
    let scope = &page.scope;
    let failed = error.is_some();
    let (error, invite_error) = match typed {
        Some(_) => (None, error),
        None => (error, None),
    };
    let typed = typed.unwrap_or_default();
    let can_manage = scope.can(Permission::ManageMembers);
    let pending = if can_manage {
        members::pending(&state.store, scope).await?
    } else {
        Vec::new()
    };
    let mut response = render(&MembersPage {
        typed,
        invite_error,
        pending,
        invited,
        layout: page.layout(state).await?,
        members: members::list(&state.store, scope).await?,
        roles: Role::ALL.map(Role::as_str),
        can_manage,
        me: page.user.user.id,
        notice,
        error,
    })?;
    if failed {
        invalid_status(&mut response);
    }
    Ok(response)
}

/// The roles, as a validation message lists them.
const ROLE_CHOICES: &str = "owner, admin, developer, finance or viewer";

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: Option<String>,
}

/// A members form's outcome: back to the page, or the page with the message.
async fn after(
    state: &ConsoleState,
    page: &TenantPage,
    saved: Result<HttpResponse, ConsoleError>,
) -> Result<HttpResponse, ConsoleError> {
    match saved {
        Err(ConsoleError::Invalid(message)) => {
            show_members(state, page, None, Some(message), None).await
        }
        other => other,
    }
}

pub async fn change_role(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    path: web::Path<(String, uuid::Uuid)>,
    post: TenantForm<RoleForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (_, user_id) = path.into_inner();
    let TenantForm { page, form } = post;
    let saved = async {
        let role: Role = super::form::choice(&form.role, "The role", ROLE_CHOICES)?;
        members::change_role(
            &state.store,
            &page.scope,
            &page.actor(&req),
            RoleChange { user_id, role },
        )
        .await?;
        Ok(redirect(&format!(
            "/t/{}/members?done=role-changed",
            page.slug()
        )))
    }
    .await;
    after(&state, &page, saved).await
}

pub async fn remove_member(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    path: web::Path<(String, uuid::Uuid)>,
    post: TenantForm<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let (_, user_id) = path.into_inner();
    let page = post.page;
    let saved = members::remove(&state.store, &page.scope, &page.actor(&req), user_id)
        .await
        .map(|()| {
            if user_id == page.user.user.id {
                // You left the tenant: nothing of it is yours to see any more.
                redirect("/tenants")
            } else {
                redirect(&format!("/t/{}/members?done=member-removed", page.slug()))
            }
        });
    after(&state, &page, saved).await
}

pub async fn cancel_invitation(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    path: web::Path<(String, uuid::Uuid)>,
    post: TenantForm<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let (_, invitation_id) = path.into_inner();
    let page = post.page;
    members::cancel_invitation(&state.store, &page.scope, &page.actor(&req), invitation_id).await?;
    Ok(redirect(&format!(
        "/t/{}/members?done=invitation-cancelled",
        page.slug()
    )))
}

#[derive(Deserialize, Default)]
pub struct InviteForm {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    role: Option<String>,
}

/// What the page after an invitation shows, held once between the two.
#[derive(Serialize, Deserialize)]
struct InviteShown {
    tenant_id: uuid::Uuid,
    email: String,
    link: String,
    emailed: bool,
}

const INVITATION_ALREADY_SHOWN: &str = "This invitation was already shown. It stays pending below; if its link was lost, cancel it and invite again.";

/// The invitation just sent (and its link when there is no mail), once.
pub async fn invited(
    state: web::Data<ConsoleState>,
    page: TenantPage,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let (_, ticket) = path.into_inner();
    let shown = crate::shown_once::take::<InviteShown>(&state, &page.user, &ticket)
        .await?
        .filter(|shown| shown.tenant_id == page.scope.tenant_id());
    match shown {
        Some(shown) => {
            let invited = Invited {
                link: shown.link,
                emailed: shown.emailed,
            };
            show_members(&state, &page, None, None, Some((shown.email, invited))).await
        }
        None => show_members(&state, &page, Some(INVITATION_ALREADY_SHOWN), None, None).await,
    }
}

pub async fn invite(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    post: TenantForm<InviteForm>,
) -> Result<HttpResponse, ConsoleError> {
    let TenantForm { page, form } = post;
    let email = super::form::text(&form.email)
        .unwrap_or_default()
        .to_owned();
    let saved = async {
        let role: Role = super::form::choice(&form.role, "The role", ROLE_CHOICES)?;
        let link_base = state.link_base(&req);
        let invitation = Invitation {
            email: email.clone(),
            role,
            link_base: &link_base,
            mailer: state.mailer.as_ref(),
        };
        let invited =
            members::invite(&state.store, &page.scope, &page.actor(&req), invitation).await?;
        // Post-redirect-get: a reload of the next page cannot invite again, and
        // the link (a secret) is shown once.
        let shown = InviteShown {
            tenant_id: page.scope.tenant_id(),
            email: email.clone(),
            link: invited.link,
            emailed: invited.emailed,
        };
        let ticket = crate::shown_once::hold(&state, &page.user, &shown).await?;
        Ok(redirect(&format!(
            "/t/{}/members/invited/{ticket}",
            page.slug()
        )))
    }
    .await;
    match saved {
        // The message by the form, with what was typed.
        Err(ConsoleError::Invalid(message)) => {
            show_members_typed(&state, &page, None, Some(message), None, Some(form)).await
        }
        other => other,
    }
}
