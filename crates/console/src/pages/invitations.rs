//! Opening and accepting an invitation link.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::{Layout, redirect, render};
use crate::auth::{Checked, CurrentUser};
use crate::error::ConsoleError;
use crate::state::ConsoleState;
use crate::tenant::members;

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

#[derive(Template)]
#[template(path = "console/invitation_signed_out.html")]
struct SignedOutInvitation<'a> {
    token: &'a str,
    tenant_name: &'a str,
    role: &'a str,
    invited_email: &'a str,
}

/// The invitation. A signed-in user may accept it (if it is theirs); anyone else
/// is asked to sign in, or to make an account for the invited address (open to
/// the invitation even where self-service sign-up is off).
pub async fn open(
    state: web::Data<ConsoleState>,
    user: Result<CurrentUser, ConsoleError>,
    token: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let (invitation, tenant) = members::open_invitation(state.db(), &token).await?;
    let role = invitation.role.to_string();
    match user {
        Ok(user) => render(&InvitationPage {
            layout: Layout::new(&state, &user, None).await?,
            token: &token,
            tenant_name: &tenant.name,
            role: &role,
            invited_email: &invitation.email,
            matches: invitation.email.eq_ignore_ascii_case(&user.user.email),
        }),
        Err(_) => render(&SignedOutInvitation {
            token: &token,
            tenant_name: &tenant.name,
            role: &role,
            invited_email: &invitation.email,
        }),
    }
}

pub async fn accept(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    token: web::Path<String>,
    checked: Checked<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let user = checked.user;
    let ip = req.peer_addr().map(|a| a.ip().to_string());
    let slug = members::accept(&state.store, &user.user, &token, ip).await?;
    Ok(redirect(&format!("/t/{slug}/keys?done=joined")))
}
