//! Members and invitations: who belongs to a tenant and with which role. A tenant
//! always keeps an owner, and only owners make or unmake owners. Invitations go
//! by email link: only the SHA-256 of the link's token is stored, it works once,
//! expires after [`INVITATION_DAYS`], and only the invited address accepts it.

use airlock_core::role::Role;
use airlock_schema::entities::{invitation, membership, tenant, user};
use airlock_schema::stored::Stored;
use chrono::{DateTime, Duration, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, TransactionTrait,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::audit::{self, Event};
use super::{Actor, Permission, Store, TenantScope};
use crate::error::ConsoleError;

pub const INVITATION_DAYS: i64 = 7;

/// A member as the members page shows them.
pub struct MemberRow {
    pub user_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub since: DateTime<Utc>,
}

impl MemberRow {
    pub fn has_role(&self, role: &str) -> bool {
        self.role.as_str() == role
    }
}

pub async fn list(store: &Store, scope: &TenantScope) -> Result<Vec<MemberRow>, ConsoleError> {
    scope.require(Permission::ReadKeys)?;
    let rows = membership::Entity::find()
        .filter(membership::Column::TenantId.eq(scope.tenant_id()))
        .find_also_related(user::Entity)
        .order_by_asc(membership::Column::CreatedAt)
        .all(store.db())
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(m, u)| {
            let u = u?;
            Some(MemberRow {
                user_id: u.id,
                email: u.email,
                display_name: u.display_name,
                role: *m.role,
                since: m.created_at,
            })
        })
        .collect())
}

pub(crate) async fn insert_membership(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    user_id: Uuid,
    role: Role,
) -> Result<membership::Model, ConsoleError> {
    Ok(membership::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant_id),
        user_id: Set(user_id),
        role: Set(Stored(role)),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await?)
}

fn snapshot(member: &membership::Model) -> Value {
    json!({ "user_id": member.user_id, "role": member.role.to_string() })
}

/// An existing account to make a member.
pub struct NewMember {
    pub user_id: Uuid,
    pub role: Role,
}

/// Makes an existing account a member (the operator's way; people join by
/// invitation).
pub async fn add(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    new: NewMember,
) -> Result<(), ConsoleError> {
    scope.require(Permission::ManageMembers)?;
    if new.role == Role::Owner && scope.role() != Role::Owner {
        return Err(ConsoleError::Forbidden);
    }
    let txn = store.db().begin().await?;
    user::Entity::find_by_id(new.user_id)
        .one(&txn)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    if find_membership(&txn, scope, new.user_id).await.is_ok() {
        return Err(ConsoleError::Invalid(
            "that account is already a member".into(),
        ));
    }
    let member = insert_membership(&txn, scope.tenant_id(), new.user_id, new.role).await?;
    audit::commit_with(
        txn,
        store,
        scope,
        actor,
        Event {
            action: "member.add",
            target_type: "member",
            target_id: Some(new.user_id.to_string()),
            before: None,
            after: Some(snapshot(&member)),
        },
    )
    .await?;
    Ok(())
}

/// The membership of `user_id` in the scope's tenant.
async fn find_membership(
    db: &impl ConnectionTrait,
    scope: &TenantScope,
    user_id: Uuid,
) -> Result<membership::Model, ConsoleError> {
    membership::Entity::find()
        .filter(membership::Column::TenantId.eq(scope.tenant_id()))
        .filter(membership::Column::UserId.eq(user_id))
        .one(db)
        .await?
        .ok_or(ConsoleError::NotFound)
}

/// Refuses a change that would leave the tenant without an owner, and lets only
/// owners make or unmake owners (an admin cannot take over the tenant).
async fn check_owner_change(
    db: &impl ConnectionTrait,
    scope: &TenantScope,
    member: &membership::Model,
    new_role: Option<Role>,
) -> Result<(), ConsoleError> {
    let was_owner = *member.role == Role::Owner;
    let becomes_owner = new_role == Some(Role::Owner);
    if (was_owner || becomes_owner) && scope.role() != Role::Owner {
        return Err(ConsoleError::Forbidden);
    }
    if was_owner && !becomes_owner {
        let owners = membership::Entity::find()
            .filter(membership::Column::TenantId.eq(scope.tenant_id()))
            .filter(membership::Column::Role.eq(Stored(Role::Owner)))
            .count(db)
            .await?;
        if owners <= 1 {
            return Err(ConsoleError::Invalid(
                "a tenant keeps at least one owner; make someone else owner first".into(),
            ));
        }
    }
    Ok(())
}

/// A new role for a member.
pub struct RoleChange {
    pub user_id: Uuid,
    pub role: Role,
}

/// Gives a member another role.
pub async fn change_role(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    change: RoleChange,
) -> Result<(), ConsoleError> {
    scope.require(Permission::ManageMembers)?;
    let txn = store.db().begin().await?;
    let member = find_membership(&txn, scope, change.user_id).await?;
    check_owner_change(&txn, scope, &member, Some(change.role)).await?;
    let before = snapshot(&member);
    let mut active: membership::ActiveModel = member.into();
    active.role = Set(Stored(change.role));
    let after = active.update(&txn).await?;
    audit::commit_with(
        txn,
        store,
        scope,
        actor,
        Event {
            action: "member.role",
            target_type: "member",
            target_id: Some(change.user_id.to_string()),
            before: Some(before),
            after: Some(snapshot(&after)),
        },
    )
    .await?;
    Ok(())
}

/// Removes a member from the tenant. Their keys stay (and keep working) until
/// an admin revokes them: removing a person must not take an app down.
pub async fn remove(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    user_id: Uuid,
) -> Result<(), ConsoleError> {
    scope.require(Permission::ManageMembers)?;
    let txn = store.db().begin().await?;
    let member = find_membership(&txn, scope, user_id).await?;
    check_owner_change(&txn, scope, &member, None).await?;
    let before = snapshot(&member);
    membership::Entity::delete_by_id(member.id)
        .exec(&txn)
        .await?;
    audit::commit_with(
        txn,
        store,
        scope,
        actor,
        Event {
            action: "member.remove",
            target_type: "member",
            target_id: Some(user_id.to_string()),
            before: Some(before),
            after: None,
        },
    )
    .await?;
    Ok(())
}

/// An invitation to send.
pub struct Invitation<'a> {
    pub email: String,
    pub role: Role,
    /// The console's address as the recipient will open it.
    pub link_base: &'a str,
    /// Where to send it; without one, the inviter is shown the link to pass on.
    pub mailer: Option<&'a crate::mail::Mailer>,
}

/// What an invitation produced: the link, and whether it went out by mail.
pub struct Invited {
    pub link: String,
    pub emailed: bool,
}

/// Invites an address to the tenant with a role.
pub async fn invite(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    invitation: Invitation<'_>,
) -> Result<Invited, ConsoleError> {
    scope.require(Permission::ManageMembers)?;
    if invitation.role == Role::Owner && scope.role() != Role::Owner {
        return Err(ConsoleError::Forbidden);
    }
    let email = invitation.email.trim().to_lowercase();
    if !crate::accounts::valid_email(&email) {
        return Err(ConsoleError::Invalid(
            "enter an email address like name@example.com".into(),
        ));
    }
    let token = crate::secret_token::generate();
    let now = Utc::now();
    let txn = store.db().begin().await?;
    let row = invitation::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id()),
        email: Set(email.clone()),
        role: Set(Stored(invitation.role)),
        token_hash: Set(crate::secret_token::digest(&token)),
        invited_by: Set(scope.user_id()),
        created_at: Set(now),
        expires_at: Set(now + Duration::days(INVITATION_DAYS)),
        accepted_at: Set(None),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        store.audit_key(),
        scope,
        actor,
        Event {
            action: "member.invite",
            target_type: "invitation",
            target_id: Some(row.id.to_string()),
            before: None,
            after: Some(json!({ "email": email, "role": row.role.to_string(), "expires_at": row.expires_at })),
        },
    )
    .await?;
    let link = format!(
        "{}/invite/{token}",
        invitation.link_base.trim_end_matches('/')
    );
    let emailed = match invitation.mailer {
        Some(mailer) => {
            // Sent before the commit: if the mail server refuses, no invitation
            // exists that nobody received.
            mailer
                .send_invitation(&email, &scope.tenant().name, &actor.label, invitation.role.as_str(), &link)
                .await
                .map_err(|e| {
                    tracing::warn!(error = %e, tenant.id = %scope.tenant_id(), "sending an invitation failed");
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
    store: &Store,
    scope: &TenantScope,
) -> Result<Vec<invitation::Model>, ConsoleError> {
    scope.require(Permission::ManageMembers)?;
    Ok(invitation::Entity::find()
        .filter(invitation::Column::TenantId.eq(scope.tenant_id()))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::ExpiresAt.gt(Utc::now()))
        .order_by_desc(invitation::Column::CreatedAt)
        .all(store.db())
        .await?)
}

/// Cancels a pending invitation: its link stops working at once. Another
/// tenant's invitation, an accepted one or an expired one is not found.
pub async fn cancel_invitation(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    invitation_id: Uuid,
) -> Result<(), ConsoleError> {
    scope.require(Permission::ManageMembers)?;
    let txn = store.db().begin().await?;
    let row = invitation::Entity::find_by_id(invitation_id)
        .filter(invitation::Column::TenantId.eq(scope.tenant_id()))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::ExpiresAt.gt(Utc::now()))
        .one(&txn)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    if row.role.0 == Role::Owner && scope.role() != Role::Owner {
        return Err(ConsoleError::Forbidden);
    }
    invitation::Entity::delete_by_id(row.id).exec(&txn).await?;
    audit::commit_with(
        txn,
        store,
        scope,
        actor,
        Event {
            action: "member.invite_cancel",
            target_type: "invitation",
            target_id: Some(row.id.to_string()),
            before: Some(json!({ "email": row.email, "role": row.role.to_string(), "expires_at": row.expires_at })),
            after: None,
        },
    )
    .await?;
    Ok(())
}

/// An open invitation by its link's token, with its tenant. Unknown, used and
/// expired tokens look the same: not found.
pub async fn open_invitation(
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

/// Accepts an invitation as `user`, whose address must be the one invited.
/// Returns the tenant's address. (The invitation is the proof here, so this is
/// the one write that makes its own scope: from the membership it creates.)
pub async fn accept(
    store: &Store,
    user: &user::Model,
    token: &str,
    ip: Option<String>,
) -> Result<String, ConsoleError> {
    let txn = store.db().begin().await?;
    let (row, tenant) = open_invitation(&txn, token).await?;
    if !row.email.eq_ignore_ascii_case(&user.email) {
        return Err(ConsoleError::Invalid(format!(
            "this invitation is for {}; sign in with that address to accept it",
            row.email
        )));
    }
    let existing = membership::Entity::find()
        .filter(membership::Column::TenantId.eq(tenant.id))
        .filter(membership::Column::UserId.eq(user.id))
        .one(&txn)
        .await?;
    // Already a member: the invitation is used up, the role stays as it is.
    let member = match existing {
        Some(member) => member,
        None => insert_membership(&txn, tenant.id, user.id, *row.role).await?,
    };
    let slug = tenant.slug.clone();
    let mut used: invitation::ActiveModel = row.clone().into();
    used.accepted_at = Set(Some(Utc::now()));
    used.update(&txn).await?;
    let scope = TenantScope::of_member(tenant, &member)?;
    audit::commit_with(
        txn,
        store,
        &scope,
        &Actor::user(user, ip),
        Event {
            action: "member.join",
            target_type: "member",
            target_id: Some(user.id.to_string()),
            before: None,
            after: Some(
                json!({ "user_id": user.id, "role": row.role.to_string(), "invitation": row.id }),
            ),
        },
    )
    .await?;
    Ok(slug)
}

#[cfg(test)]
mod tests {
    use super::super::testing::TestStore;
    use super::*;

    #[tokio::test]
    async fn a_tenant_keeps_an_owner_and_only_owners_make_owners() {
        let store = TestStore::new().await;
        let scope = store.tenant("acme").await;
        let (owner, owner_scope) = store.member(&scope, Role::Owner).await;
        let (admin, admin_scope) = store.member(&scope, Role::Admin).await;
        let err = change_role(
            &store,
            &owner_scope,
            &Actor::cli(),
            RoleChange {
                user_id: owner.id,
                role: Role::Viewer,
            },
        )
        .await
        .err()
        .unwrap();
        assert!(err.to_string().contains("at least one owner"), "{err}");
        assert!(matches!(
            change_role(
                &store,
                &admin_scope,
                &Actor::cli(),
                RoleChange {
                    user_id: admin.id,
                    role: Role::Owner
                }
            )
            .await,
            Err(ConsoleError::Forbidden)
        ));
        assert!(matches!(
            remove(&store, &admin_scope, &Actor::cli(), owner.id).await,
            Err(ConsoleError::Forbidden)
        ));
    }

    #[tokio::test]
    async fn invitations_need_an_address_and_owners_invite_owners() {
        let store = TestStore::new().await;
        let scope = store.tenant("acme").await;
        let (_, admin) = store.member(&scope, Role::Admin).await;
        let invitation = |email: &str, role| Invitation {
            email: email.into(),
            role,
            link_base: "http://console",
            mailer: None,
        };
        let err = invite(
            &store,
            &admin,
            &Actor::cli(),
            invitation("nobody", Role::Viewer),
        )
        .await
        .err()
        .unwrap();
        assert!(err.to_string().contains("name@example.com"));
        assert!(matches!(
            invite(
                &store,
                &admin,
                &Actor::cli(),
                invitation("x@example.com", Role::Owner)
            )
            .await,
            Err(ConsoleError::Forbidden)
        ));
        let invited = invite(
            &store,
            &admin,
            &Actor::cli(),
            invitation("x@example.com", Role::Viewer),
        )
        .await
        .unwrap();
        assert!(!invited.emailed && invited.link.starts_with("http://console/invite/"));
        let token = invited.link.rsplit('/').next().unwrap();
        let stranger = store.user("y@example.com").await;
        assert!(
            accept(&store, &stranger, token, None).await.is_err(),
            "only the invited address"
        );
        let invitee = store.user("x@example.com").await;
        assert_eq!(accept(&store, &invitee, token, None).await.unwrap(), "acme");
        assert!(matches!(
            accept(&store, &invitee, token, None).await,
            Err(ConsoleError::NotFound)
        ));
    }
}
