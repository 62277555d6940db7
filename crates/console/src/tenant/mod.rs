//! The one service layer of the console: everything that reads or changes a
//! tenant's data, one file per domain noun. Pages, the management API and the
//! `airlock admin` CLI all call these functions and nothing else writes.
//!
//! Every public write has one shape,
//! `async fn verb(&Store, &TenantScope, &Actor, Input) -> Result<View, ConsoleError>`,
//! and runs in one transaction, in this order: permission (the scope), validation
//! (private functions in the same file), the write, the audit event, commit. A
//! change therefore never lands without its audit event, nor an event without
//! its change, whoever makes it. Each change bumps an `updated_at`, which is how
//! every relay learns of it within a second.

pub mod agreements;
pub mod alerts;
pub mod anomalies;
pub mod audit;
pub mod billing;
pub mod incidents;
pub mod keys;
pub mod limits;
pub mod members;
pub mod policies;
pub mod prices;
pub mod providers;
pub mod routing;
mod scope;
#[cfg(test)]
pub(crate) mod testing;
pub mod usage;

use airlock_core::key::Env;
use airlock_core::role::Role;
use airlock_schema::entities::{env_default, membership, tenant};
use airlock_schema::stored::Stored;
use chrono::Utc;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

pub use audit::AuditKey;
pub use scope::{Actor, Permission, TenantScope, allows};

use crate::error::ConsoleError;

/// What the tenant layer writes to: the database, and the key the audit chain is
/// signed with (so a change and its event are made by the same hand).
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    audit_key: AuditKey,
}

impl Store {
    pub fn new(db: DatabaseConnection, audit_key: AuditKey) -> Store {
        Store { db, audit_key }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub(crate) fn audit_key(&self) -> &AuditKey {
        &self.audit_key
    }
}

/// A change to one setting: leave it, clear it, or set it.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Change<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

/// `None` clears, `Some` sets: how a full replacement (a form, a PUT) reads.
impl<T> From<Option<T>> for Change<T> {
    fn from(value: Option<T>) -> Self {
        value.map_or(Change::Clear, Change::Set)
    }
}

impl<T> Change<T> {
    /// The value after the change, given the current one.
    pub fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Change::Keep => current,
            Change::Clear => None,
            Change::Set(v) => Some(v),
        }
    }
}

/// Environment defaults from DESIGN.md: (env, RPM, monthly budget in dollars).
const ENV_DEFAULTS: [(Env, i32, i64); 4] = [
    (Env::Dev, 10, 5),
    (Env::Stg, 100, 50),
    (Env::Prod, 600, 500),
    (Env::Ci, 50, 20),
];
/// A key's lifetime unless its environment says otherwise.
pub const DEFAULT_MAX_KEY_AGE_DAYS: i32 = 90;

/// A slug: 2-40 characters of a-z, 0-9 and `-`, not starting with `-`. Used for
/// tenants and provider names, which appear in URLs and model names.
pub(crate) fn valid_slug(slug: &str) -> bool {
    (2..=40).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
}

/// A tenant as its creator names it.
pub struct NewTenant {
    pub slug: String,
    pub name: String,
}

/// Creates a tenant with its environment defaults. `owner`, when given, becomes
/// its first owner (the operator may create a tenant for others to join). The
/// tenant, its defaults, the membership and the `tenant.create` event commit
/// together. Creating a tenant needs no scope: it is how a scope begins.
pub async fn create(
    store: &Store,
    actor: &Actor,
    owner: Option<Uuid>,
    new: NewTenant,
) -> Result<tenant::Model, ConsoleError> {
    let slug = new.slug.trim().to_lowercase();
    let name = new.name.trim().to_owned();
    if !valid_slug(&slug) {
        return Err(ConsoleError::Invalid(
            "a tenant's address is 2–40 characters of a-z, 0-9 and '-'".into(),
        ));
    }
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ConsoleError::Invalid(
            "a tenant needs a name of 1–100 characters".into(),
        ));
    }
    let txn = store.db.begin().await?;
    if find(&txn, &slug).await.is_ok() {
        return Err(ConsoleError::Invalid(format!(
            "the address `{slug}` is taken; pick another"
        )));
    }
    let now = Utc::now();
    let tenant = tenant::ActiveModel {
        id: Set(Uuid::now_v7()),
        slug: Set(slug),
        name: Set(name),
        default_provider: Set(None),
        monthly_budget_micros: Set(None),
        rpm_limit: Set(None),
        tpm_limit: Set(None),
        billing_suspended: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    for (env, rpm, dollars) in ENV_DEFAULTS {
        env_default::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(tenant.id),
            env: Set(Stored(env)),
            rpm_limit: Set(rpm),
            tpm_limit: Set(None),
            monthly_budget_micros: Set(dollars * 1_000_000),
            max_key_age_days: Set(DEFAULT_MAX_KEY_AGE_DAYS),
            enforce_max_age: Set(false),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
    }
    let scope = match owner {
        Some(user_id) => {
            let member = members::insert_membership(&txn, tenant.id, user_id, Role::Owner).await?;
            TenantScope::of_member(tenant.clone(), &member)?
        }
        None => TenantScope::operator(&txn, &tenant.slug).await?,
    };
    audit::commit_with(
        txn,
        store,
        &scope,
        actor,
        audit::Event {
            action: "tenant.create",
            target_type: "tenant",
            target_id: Some(tenant.id.to_string()),
            before: None,
            after: Some(json!({"slug": tenant.slug, "name": tenant.name, "owner": owner})),
        },
    )
    .await?;
    Ok(tenant)
}

/// The tenant with this slug (not found is [`ConsoleError::NotFound`]).
pub(crate) async fn find(
    db: &impl ConnectionTrait,
    slug: &str,
) -> Result<tenant::Model, ConsoleError> {
    tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(slug))
        .one(db)
        .await?
        .ok_or(ConsoleError::NotFound)
}

/// The tenant row as of now (the scope's copy may be older than this request's
/// own changes).
pub(crate) async fn current(
    db: &impl ConnectionTrait,
    scope: &TenantScope,
) -> Result<tenant::Model, ConsoleError> {
    tenant::Entity::find_by_id(scope.tenant_id())
        .one(db)
        .await?
        .ok_or(ConsoleError::NotFound)
}

/// Tells the relays that something of the tenant changed that leaves no row of
/// its own behind (a deleted route, price or agreement): they poll `updated_at`.
pub(crate) async fn touch(
    db: &impl ConnectionTrait,
    scope: &TenantScope,
) -> Result<(), ConsoleError> {
    let mut tenant: tenant::ActiveModel = current(db, scope).await?.into();
    tenant.updated_at = Set(Utc::now());
    tenant.update(db).await?;
    Ok(())
}

/// A user's tenants with their role there, oldest membership first.
pub async fn of_user(
    store: &Store,
    user_id: Uuid,
) -> Result<Vec<(tenant::Model, Role)>, ConsoleError> {
    use sea_orm::QueryOrder;
    let rows = membership::Entity::find()
        .filter(membership::Column::UserId.eq(user_id))
        .find_also_related(tenant::Entity)
        .order_by_asc(membership::Column::CreatedAt)
        .all(store.db())
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(m, t)| Some((t?, *m.role)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::testing::TestStore;
    use super::*;

    #[tokio::test]
    async fn a_new_tenant_has_its_owner_defaults_and_its_first_event() {
        let store = TestStore::new().await;
        let owner = store.user("owner@example.com").await;
        let tenant = create(
            &store,
            &Actor::cli(),
            Some(owner.id),
            NewTenant {
                slug: "Acme".into(),
                name: " Acme ".into(),
            },
        )
        .await
        .unwrap();
        assert_eq!(
            (tenant.slug.as_str(), tenant.name.as_str()),
            ("acme", "Acme")
        );
        let scope = TenantScope::check(store.db(), &owner, "acme")
            .await
            .unwrap();
        assert_eq!(scope.role(), Role::Owner);
        let defaults = limits::env_defaults(&store, &scope).await.unwrap();
        assert_eq!(defaults.len(), 4);
        let (events, _) = audit::list(&store, &scope, &audit::Filter::default(), 10)
            .await
            .unwrap();
        assert_eq!(events[0].action, "tenant.create");
    }

    #[tokio::test]
    async fn slugs_names_and_taken_addresses_are_refused_with_reasons() {
        let store = TestStore::new().await;
        let new = |slug: &str, name: &str| NewTenant {
            slug: slug.into(),
            name: name.into(),
        };
        for (slug, name, expected) in [
            ("a", "A", "2–40 characters"),
            ("-acme", "A", "2–40 characters"),
            ("acme co", "A", "2–40 characters"),
            ("acme", "", "a name of 1–100"),
        ] {
            let err = create(&store, &Actor::cli(), None, new(slug, name))
                .await
                .unwrap_err();
            assert!(err.to_string().contains(expected), "{slug}: {err}");
        }
        create(&store, &Actor::cli(), None, new("acme", "Acme"))
            .await
            .unwrap();
        let err = create(&store, &Actor::cli(), None, new("acme", "Other"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("taken"), "{err}");
    }
}
