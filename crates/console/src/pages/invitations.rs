//! Opening and accepting an invitation link.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::{Layout, redirect, render};
use crate::auth::{Checked, CurrentUser};
use crate::error::ConsoleError;
use crate::state::ConsoleState;

#[derive(Template)]
#[template(path = "console/invitation.html")]
struct InvitationPage<'a> {
    layout: Layout,
    token: &'a str,
    tenant_name: &'a str,
    role: &'a str,
    invited_email: &'a str,
    /// The signed-in account is the invited address.
    matches: bool,
}

/// The invitation, for a signed-in user (others are sent to sign in first, and
/// come back to the link).
pub async fn open(
    state: web::Data<ConsoleState>,
    user: CurrentUser,
    token: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let (invitation, tenant) = crate::invitations::open(&state.db, &token).await?;
    render(&InvitationPage {
        layout: Layout::new(&state.db, &user, None).await?,
        token: &token,
        tenant_name: &tenant.name,
        role: &invitation.role,
        invited_email: &invitation.email,
        matches: invitation.email.eq_ignore_ascii_case(&user.user.email),
    })
}

pub async fn accept(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    token: web::Path<String>,
    checked: Checked<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let user = checked.user;
    let ip = req.peer_addr().map(|a| a.ip().to_string());
    let slug = crate::invitations::accept(&state, &user, &token, ip).await?;
    Ok(redirect(&format!("/t/{slug}/keys")))
}
