// Hand-maintained to match migrations/ (there is no codegen). When a column changes,
// change the migration and this file together; airlock_migrations' tests compare the
// two on SQLite and PostgreSQL.

//! `users`: a person who signs in to the console. Users are global; what they may do in
//! a tenant comes from `memberships`.

use sea_orm::entity::prelude::*;

/// `Debug` is written by hand so the password hash never reaches a log.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Stored lowercased; the unique index relies on callers lowercasing before insert and
    /// lookup (the database does not, because SQL `lower()` and Rust disagree outside ASCII).
    #[sea_orm(unique)]
    pub email: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub display_name: String,
    /// Copied into every session token; bumping it (sign-out everywhere, password change,
    /// disable) invalidates the tokens already issued.
    pub session_version: i32,
    pub disabled: bool,
    /// When the address was proven by a mailed link; `None` until then (such an
    /// account may sign in but not create tenants).
    pub email_verified_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("user::Model")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("password_hash", &"[redacted]")
            .field("display_name", &self.display_name)
            .field("session_version", &self.session_version)
            .field("disabled", &self.disabled)
            .field("email_verified_at", &self.email_verified_at)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::membership::Entity")]
    Membership,
    #[sea_orm(has_many = "super::relay_key::Entity")]
    RelayKey,
}

impl Related<super::membership::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Membership.def()
    }
}

/// Keys this user owns.
impl Related<super::relay_key::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::RelayKey.def()
    }
}

/// Tenants this user is a member of, through `memberships`.
impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        super::membership::Relation::Tenant.def()
    }

    fn via() -> Option<RelationDef> {
        Some(super::membership::Relation::User.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn debug_output_hides_the_password_hash() {
        let at = chrono::Utc.timestamp_opt(0, 0).single().unwrap_or_default();
        let user = Model {
            id: Uuid::nil(),
            email: "ada@example.com".to_owned(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
            display_name: "Ada".to_owned(),
            session_version: 0,
            disabled: false,
            email_verified_at: None,
            created_at: at,
            updated_at: at,
        };
        let shown = format!("{user:?}");
        assert!(shown.contains("ada@example.com"));
        assert!(shown.contains("[redacted]"));
        assert!(!shown.contains("argon2id"), "{shown}");
    }
}
