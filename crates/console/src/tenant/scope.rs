//! The capability every tenant function takes: a [`TenantScope`], proof that the
//! caller may act in one tenant and with which role, and the [`Actor`] the audit
//! log names.
//!
//! A scope is made in exactly two ways. [`TenantScope::check`] reads the caller's
//! membership (a tenant you are not a member of answers 404, like one that does
//! not exist, so slugs cannot be probed); [`TenantScope::operator`] is the
//! operator's, for the `airlock admin` CLI, which holds the database and answers
//! to nobody in the console: its name says so in review. No function of the
//! tenant layer takes a bare tenant id.

use airlock_core::key::Env;
use airlock_core::role::Role;
use airlock_schema::entities::{membership, tenant, user};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

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
    /// policies, limits and environment defaults. Nothing on those pages is secret.
    ReadSettings,
    /// See budgets and limits (finance reads them; they do not change them).
    ReadBudgets,
    /// Budgets, limits and environment defaults.
    ManageBudgets,
    /// Provider credentials, agreements and data-classification policies.
    ManageProviders,
    /// Model prices (the tenant's own; list prices are the operator's).
    ManagePrices,
    /// Add, change and remove members.
    ManageMembers,
    /// Usage (every role).
    ReadUsage,
    /// Billing status, settings and invoices (owners, admins, finance).
    ReadBilling,
    /// Turn billing on or off, link the Stripe customer, set the markup and the
    /// billing email (owners only: it decides what the organisation pays).
    ManageBilling,
    /// The audit log.
    ReadAudit,
    /// Contain an incident (suspend or revoke many keys at once) and release it.
    RespondToIncidents,
}

/// The permission matrix.
pub fn allows(role: Role, permission: Permission) -> bool {
    use Permission::*;
    match role {
        Role::Owner => true,
        Role::Admin => !matches!(permission, ManageBilling),
        Role::Developer => matches!(
            permission,
            ReadKeys | ManageKeys(Env::Dev | Env::Stg) | ReadSettings | ReadBudgets | ReadUsage
        ),
        Role::Finance => matches!(
            permission,
            ReadKeys | ReadBudgets | ManagePrices | ReadUsage | ReadBilling
        ),
        Role::Viewer => matches!(
            permission,
            ReadKeys | ReadSettings | ReadBudgets | ReadUsage | ReadAudit
        ),
    }
}

/// Who the caller is within the tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    Member {
        user_id: Uuid,
        role: Role,
    },
    /// The operator, through the CLI: every permission, no user.
    Operator,
}

/// Proof that the caller may act in this tenant, with their role.
#[derive(Clone, Debug)]
pub struct TenantScope {
    tenant: tenant::Model,
    caller: Caller,
}

impl TenantScope {
    /// The user's membership in the tenant with this slug: how a request gets a scope.
    pub async fn check(
        db: &impl ConnectionTrait,
        user: &user::Model,
        slug: &str,
    ) -> Result<TenantScope, ConsoleError> {
        let tenant = super::find(db, slug).await?;
        let member = membership::Entity::find()
            .filter(membership::Column::TenantId.eq(tenant.id))
            .filter(membership::Column::UserId.eq(user.id))
            .one(db)
            .await?
            .ok_or(ConsoleError::NotFound)?;
        TenantScope::of_member(tenant, &member)
    }

    /// The operator's scope over a tenant, for the `airlock admin` CLI (whoever
    /// runs it holds the database already). Never reachable from a request.
    pub async fn operator(
        db: &impl ConnectionTrait,
        slug: &str,
    ) -> Result<TenantScope, ConsoleError> {
        Ok(TenantScope {
            tenant: super::find(db, slug).await?,
            caller: Caller::Operator,
        })
    }

    /// The operator's scope of a tenant already read (the job runner's).
    pub(crate) fn operator_of(tenant: tenant::Model) -> TenantScope {
        TenantScope {
            tenant,
            caller: Caller::Operator,
        }
    }

    /// A scope from a membership row the tenant layer holds (made with the tenant,
    /// or by accepting an invitation). The row is the proof.
    pub(crate) fn of_member(
        tenant: tenant::Model,
        member: &membership::Model,
    ) -> Result<TenantScope, ConsoleError> {
        if member.tenant_id != tenant.id {
            return Err(ConsoleError::NotFound);
        }
        Ok(TenantScope {
            tenant,
            caller: Caller::Member {
                user_id: member.user_id,
                role: *member.role,
            },
        })
    }

    pub fn tenant_id(&self) -> Uuid {
        self.tenant.id
    }

    pub fn tenant(&self) -> &tenant::Model {
        &self.tenant
    }

    pub fn slug(&self) -> &str {
        &self.tenant.slug
    }

    /// The member acting, if a member is (the operator is none).
    pub fn user_id(&self) -> Option<Uuid> {
        match self.caller {
            Caller::Member { user_id, .. } => Some(user_id),
            Caller::Operator => None,
        }
    }

    /// The caller's role; the operator acts as an owner.
    pub fn role(&self) -> Role {
        match self.caller {
            Caller::Member { role, .. } => role,
            Caller::Operator => Role::Owner,
        }
    }

    pub fn can(&self, permission: Permission) -> bool {
        allows(self.role(), permission)
    }

    pub fn require(&self, permission: Permission) -> Result<(), ConsoleError> {
        if self.can(permission) {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden)
        }
    }

    /// Developers manage only keys they own; owners, admins and the operator any key.
    pub fn require_key(&self, env: Env, owner: Option<Uuid>) -> Result<(), ConsoleError> {
        self.require(Permission::ManageKeys(env))?;
        match (self.role(), self.user_id()) {
            (Role::Owner | Role::Admin, _) => Ok(()),
            (_, Some(me)) if owner == Some(me) => Ok(()),
            _ => Err(ConsoleError::Forbidden),
        }
    }
}

/// Who did something, and from where: what the audit log names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    pub label: String,
    pub ip: Option<String>,
}

impl Actor {
    /// A signed-in user, from their address.
    pub fn user(user: &user::Model, ip: Option<String>) -> Actor {
        Actor {
            user_id: Some(user.id),
            label: user.email.clone(),
            ip,
        }
    }

    /// A user through one of their API tokens.
    pub fn api(user: &user::Model, token_prefix: &str, ip: Option<String>) -> Actor {
        Actor {
            user_id: Some(user.id),
            label: format!("{} (API token {token_prefix}…)", user.email),
            ip,
        }
    }

    /// The operator at a shell: `cli:<os user>`.
    pub fn cli() -> Actor {
        let who = ["USER", "LOGNAME", "USERNAME"]
            .iter()
            .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
            .unwrap_or_else(|| "unknown".to_owned());
        Actor {
            user_id: None,
            label: format!("cli:{who}"),
            ip: None,
        }
    }

    /// Airlock itself, acting on a rule the tenant set (`airlock:<what>`).
    pub fn system(what: &str) -> Actor {
        Actor {
            user_id: None,
            label: format!("airlock:{what}"),
            ip: None,
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
            (ReadBudgets, [true, true, true, true, true]),
            (ManageBudgets, [true, true, false, false, false]),
            (ManageProviders, [true, true, false, false, false]),
            (ManagePrices, [true, true, false, true, false]),
            (ManageMembers, [true, true, false, false, false]),
            (ReadUsage, [true, true, true, true, true]),
            (ReadBilling, [true, true, false, true, false]),
            (ManageBilling, [true, false, false, false, false]),
            (ReadAudit, [true, true, false, false, true]),
            (RespondToIncidents, [true, true, false, false, false]),
        ];
        for (permission, expected) in table {
            for (role, allowed) in Role::ALL.into_iter().zip(expected) {
                assert_eq!(allows(role, permission), allowed, "{role} {permission:?}");
            }
        }
    }

    #[test]
    fn the_cli_actor_names_the_os_user() {
        assert!(Actor::cli().label.starts_with("cli:"));
        assert_eq!(Actor::cli().user_id, None);
    }
}
