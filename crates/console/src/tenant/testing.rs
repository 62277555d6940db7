//! A store for the tenant layer's in-file tests: a fresh SQLite database per
//! test, migrated, with helpers that make the tenants, users and members a rule
//! needs. (The integration tests in `crates/airlock/tests` cover PostgreSQL.)

use airlock_core::role::Role;
use airlock_migrations::{Migrator, MigratorTrait};
use airlock_schema::entities::user;
use secrecy::SecretString;

use super::{Actor, AuditKey, NewTenant, Store, TenantScope};

pub struct TestStore {
    store: Store,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for TestStore {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

impl TestStore {
    pub async fn new() -> TestStore {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = airlock_schema::db::connect(&url).await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        TestStore {
            store: Store::new(db, AuditKey::derive(&[7; 32]).unwrap()),
            _dir: dir,
        }
    }

    /// A user with a known password (`correct horse battery staple`).
    pub async fn user(&self, email: &str) -> user::Model {
        crate::accounts::create_user(
            self.db(),
            crate::accounts::NewUser {
                email: email.into(),
                display_name: String::new(),
                password: SecretString::from("correct horse battery staple"),
                verified: true,
            },
        )
        .await
        .unwrap()
    }

    /// A tenant, and the operator's scope over it.
    pub async fn tenant(&self, slug: &str) -> TenantScope {
        super::create(
            self,
            &Actor::cli(),
            None,
            NewTenant {
                slug: slug.into(),
                name: slug.into(),
            },
        )
        .await
        .unwrap();
        TenantScope::operator(self.db(), slug).await.unwrap()
    }

    /// A new member of the scope's tenant with `role`, and their own scope.
    pub async fn member(&self, scope: &TenantScope, role: Role) -> (user::Model, TenantScope) {
        let email = format!("{}-{}@example.com", role, uuid::Uuid::new_v4().simple());
        let user = self.user(&email).await;
        super::members::add(
            self,
            scope,
            &Actor::cli(),
            super::members::NewMember {
                user_id: user.id,
                role,
            },
        )
        .await
        .unwrap();
        let own = TenantScope::check(self.db(), &user, scope.slug())
            .await
            .unwrap();
        (user, own)
    }
}
