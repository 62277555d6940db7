//! Tenant scope and the permission matrix.
//!
//! [`TenantScope`] can only be made from the caller's membership row
//! ([`TenantScope::check`] reads it). Every query of tenant data in [`crate::scoped`] takes one,
//! so a handler that skipped the membership check has nothing to pass and does not
//! compile. A tenant you are not a member of answers 404, like one that does not
//! exist, so tenant slugs cannot be probed.

use airlock_core::key::Env;
use airlock_core::role::Role;
use airlock_schema::entities::{membership, tenant};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::error::ConsoleError;

/// What a member may do. The matrix is [`allows`]; the README prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// See the tenant's keys (prefixes, names, limits; never a key).
    ReadKeys,
    /// Create, rotate and revoke keys of an environment (developers: their own
    /// `dev_`/`stg_` keys only, checked with the key's owner).
    ManageKeys(Env),
    /// See providers (names, kinds, last 4 characters of a credential), agreements,
    /// policies, limits and environment defaults. Nothing on those pages is secret;
    /// finance has no use for them.
    ReadSettings,
    /// Budgets, limits and environment defaults.
    ManageBudgets,
    /// Provider credentials, agreements and data-classification policies.
    ManageProviders,
    /// Add, change and remove members.
    ManageMembers,
    /// Usage and billing.
    ReadUsage,
    /// The audit log.
    ReadAudit,
}

/// The permission matrix.
pub fn allows(role: Role, permission: Permission) -> bool {
    use Permission::*;
    match role {
        Role::Owner | Role::Admin => true,
        Role::Developer => matches!(
            permission,
            ReadKeys | ManageKeys(Env::Dev | Env::Stg) | ReadSettings | ReadUsage
        ),
        Role::Finance => matches!(permission, ReadKeys | ReadUsage),
        Role::Viewer => matches!(permission, ReadKeys | ReadSettings | ReadUsage | ReadAudit),
    }
}

/// Proof that the caller is a member of this tenant, with their role.
#[derive(Clone, Debug)]
pub struct TenantScope {
    tenant: tenant::Model,
    user_id: Uuid,
    role: Role,
}

impl TenantScope {
    /// The caller's membership in the tenant with this slug: the way a request
    /// gets a scope.
    pub async fn check(
        db: &impl ConnectionTrait,
        user: &CurrentUser,
        slug: &str,
    ) -> Result<TenantScope, ConsoleError> {
        TenantScope::check_user(db, &user.user, slug).await
    }

    /// The same check for a user authenticated another way (an API token).
    pub async fn check_user(
        db: &impl ConnectionTrait,
        user: &airlock_schema::entities::user::Model,
        slug: &str,
    ) -> Result<TenantScope, ConsoleError> {
        let tenant = crate::ops::find_tenant(db, slug).await?;
        let member = membership::Entity::find()
            .filter(membership::Column::TenantId.eq(tenant.id))
            .filter(membership::Column::UserId.eq(user.id))
            .one(db)
            .await?
            .ok_or(ConsoleError::NotFound)?;
        TenantScope::of_member(tenant, &member)
    }

    /// A scope from a membership row the caller already holds (as `add_member`
    /// returns it when a tenant is created). The row is the proof.
    pub fn of_member(
        tenant: tenant::Model,
        member: &membership::Model,
    ) -> Result<TenantScope, ConsoleError> {
        if member.tenant_id != tenant.id {
            return Err(ConsoleError::NotFound);
        }
        let role = member.role.parse().map_err(|_| ConsoleError::Internal)?;
        Ok(TenantScope {
            tenant,
            user_id: member.user_id,
            role,
        })
    }

    pub fn tenant_id(&self) -> Uuid {
        self.tenant.id
    }

    pub fn tenant(&self) -> &tenant::Model {
        &self.tenant
    }

    pub fn user_id(&self) -> Uuid {
        self.user_id
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn can(&self, permission: Permission) -> bool {
        allows(self.role, permission)
    }

    pub fn require(&self, permission: Permission) -> Result<(), ConsoleError> {
        if self.can(permission) {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden)
        }
    }

    /// Developers manage only keys they own; owners and admins any key.
    pub fn require_key(&self, env: Env, owner: Option<Uuid>) -> Result<(), ConsoleError> {
        self.require(Permission::ManageKeys(env))?;
        match self.role {
            Role::Owner | Role::Admin => Ok(()),
            _ if owner == Some(self.user_id) => Ok(()),
            _ => Err(ConsoleError::Forbidden),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_matches_the_readme() {
        use Permission::*;
        let table = [
            (ReadKeys, [true, true, true, true, true]),
            (ManageKeys(Env::Dev), [true, true, true, false, false]),
            (ManageKeys(Env::Stg), [true, true, true, false, false]),
            (ManageKeys(Env::Prod), [true, true, false, false, false]),
            (ManageKeys(Env::Ci), [true, true, false, false, false]),
            (ReadSettings, [true, true, true, false, true]),
            (ManageBudgets, [true, true, false, false, false]),
            (ManageProviders, [true, true, false, false, false]),
            (ManageMembers, [true, true, false, false, false]),
            (ReadUsage, [true, true, true, true, true]),
            (ReadAudit, [true, true, false, false, true]),
        ];
        for (permission, expected) in table {
            for (role, allowed) in Role::ALL.into_iter().zip(expected) {
                assert_eq!(allows(role, permission), allowed, "{role} {permission:?}");
            }
        }
    }
}
