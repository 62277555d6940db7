//! Invitations: an owner or admin invites an email address with a role; the link
//! in the mail makes the account with that address a member. Only the SHA-256 of
//! the link's token is stored, the link works once, and it expires after
//! [`INVITATION_DAYS`].

use airlock_core::role::Role;
use airlock_schema::entities::{invitation, membership, tenant};
use chrono::{Duration, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Actor, Change};
use crate::auth::CurrentUser;
use crate::error::ConsoleError;
use crate::scope::{Permission, TenantScope};
use crate::state::ConsoleState;

pub const INVITATION_DAYS: i64 = 7;

/// What an invitation produced: the link, and whether it went out by mail (when
/// no mail server is configured, the inviter is shown the link to pass on).
pub struct Invited {
    pub link: String,
    pub emailed: bool,
}

fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Invites `email` to the scope's tenant as `role`. `base_url` is the console's
/// address as the recipient will open it.
pub async fn invite(
    state: &ConsoleState,
    scope: &TenantScope,
    actor: &Actor,
    email: &str,
    role: Role,
    base_url: &str,
) -> Result<Invited, ConsoleError> {
    scope.require(Permission::ManageMembers)?;
    if role == Role::Owner && scope.role() != Role::Owner {
        return Err(ConsoleError::Forbidden);
    }
    let email = email.trim().to_lowercase();
    if !valid_email(&email) {
        return Err(ConsoleError::Invalid(
            "enter an email address like name@example.com".into(),
        ));
    }
    let token = crate::secret_token::generate();
    let now = Utc::now();
    let txn = state.db.begin().await?;
    let row = invitation::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id()),
        email: Set(email.clone()),
        role: Set(role.as_str().to_owned()),
        token_hash: Set(crate::secret_token::digest(&token)),
        invited_by: Set(Some(scope.user_id())),
        created_at: Set(now),
        expires_at: Set(now + Duration::days(INVITATION_DAYS)),
        accepted_at: Set(None),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        scope,
        actor,
        Change {
            action: "member.invite",
            target_type: "invitation",
            target_id: Some(row.id.to_string()),
            before: None,
            after: Some(json!({ "email": email, "role": row.role, "expires_at": row.expires_at })),
        },
    )
    .await?;
    let link = format!("{}/invite/{token}", base_url.trim_end_matches('/'));
    let emailed = match &state.mailer {
        Some(mailer) => {
            // Sent before the commit: if the mail server refuses, no invitation
            // exists that nobody received.
            mailer
                .send_invitation(&email, &scope.tenant().name, &actor.label, role.as_str(), &link)
                .await
                .map_err(|e| {
                    tracing::warn!(error = %e, tenant_id = %scope.tenant_id(), "sending an invitation failed");
                    ConsoleError::Invalid(format!("the invitation could not be sent: {e}"))
                })?;
            true
        }
        None => false,
    };
    txn.commit().await?;
    Ok(Invited { link, emailed })
}

/// Invitations not yet accepted, newest first (for the members page).
pub async fn pending(
    db: &DatabaseConnection,
    scope: &TenantScope,
) -> Result<Vec<invitation::Model>, ConsoleError> {
    scope.require(Permission::ManageMembers)?;
    Ok(invitation::Entity::find()
        .filter(invitation::Column::TenantId.eq(scope.tenant_id()))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::ExpiresAt.gt(Utc::now()))
        .order_by_desc(invitation::Column::CreatedAt)
        .all(db)
        .await?)
}

/// An open invitation by its link's token, with its tenant. Unknown, used and
/// expired tokens look the same: not found.
pub async fn open(
    db: &impl ConnectionTrait,
    token: &str,
) -> Result<(invitation::Model, tenant::Model), ConsoleError> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ConsoleError::NotFound);
    }
    let (row, tenant) = invitation::Entity::find()
        .filter(invitation::Column::TokenHash.eq(crate::secret_token::digest(token)))
        .find_also_related(tenant::Entity)
        .one(db)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let tenant = tenant.ok_or(ConsoleError::NotFound)?;
    if row.accepted_at.is_some() || row.expires_at <= Utc::now() {
        return Err(ConsoleError::NotFound);
    }
    Ok((row, tenant))
}

/// Accepts an invitation as the signed-in user, whose address must be the one
/// invited. Returns the tenant's address.
pub async fn accept(
    state: &ConsoleState,
    user: &CurrentUser,
    token: &str,
    ip: Option<String>,
) -> Result<String, ConsoleError> {
    let txn = state.db.begin().await?;
    let (row, tenant) = open(&txn, token).await?;
    if !row.email.eq_ignore_ascii_case(&user.user.email) {
        return Err(ConsoleError::Invalid(format!(
            "this invitation is for {}; sign in with that address to accept it",
            row.email
        )));
    }
    let role: Role = row.role.parse().map_err(|_| ConsoleError::Internal)?;
    let existing = membership::Entity::find()
        .filter(membership::Column::TenantId.eq(tenant.id))
        .filter(membership::Column::UserId.eq(user.user.id))
        .one(&txn)
        .await?;
    // Already a member: the invitation is used up, the role stays as it is.
    let member = match existing {
        Some(member) => member,
        None => crate::ops::add_member(&txn, tenant.id, user.user.id, role).await?,
    };
    let slug = tenant.slug.clone();
    let mut used: invitation::ActiveModel = row.clone().into();
    used.accepted_at = Set(Some(Utc::now()));
    used.update(&txn).await?;
    let scope = TenantScope::of_member(tenant, &member)?;
    audit::record(
        &txn,
        &scope,
        &Actor {
            user_id: Some(user.user.id),
            label: user.user.email.clone(),
            ip,
        },
        Change {
            action: "member.join",
            target_type: "member",
            target_id: Some(user.user.id.to_string()),
            before: None,
            after: Some(json!({ "user_id": user.user.id, "role": row.role, "invitation": row.id })),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(slug)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses_are_checked_loosely_but_not_blindly() {
        for ok in ["a@b.co", "first.last+tag@example.com"] {
            assert!(valid_email(ok), "{ok}");
        }
        for bad in ["", "a", "a@b", "@b.co", "a@.co", "a b@c.de", "a@b.co\n"] {
            assert!(!valid_email(bad), "{bad:?}");
        }
    }
}
