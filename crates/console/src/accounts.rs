//! People who sign in to the console, apart from any tenant: creating an account,
//! proving its address by a mailed link, and resetting a password by one.
//!
//! The links carry 256 random bits; only their SHA-256 is stored, each works once,
//! and a new link of a kind replaces the old ones. Verification links last
//! [`VERIFY_HOURS`], reset links [`RESET_MINUTES`].

use airlock_schema::entities::{user, user_token};
use chrono::{Duration, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    TransactionTrait,
};
use secrecy::SecretString;
use uuid::Uuid;

use crate::error::ConsoleError;
use crate::password;

pub use crate::password::generate_password;

pub const VERIFY_HOURS: i64 = 48;
pub const RESET_MINUTES: i64 = 30;

/// An account as it is made.
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    pub password: SecretString,
    /// The address is known to be the person's (made by an operator, or proven).
    pub verified: bool,
}

/// A plausible email address: checked loosely (the mail server is the real test)
/// but never blindly.
pub fn valid_email(email: &str) -> bool {
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

/// Creates an account with an Argon2id password hash; the email is stored
/// lowercased. An address already taken is refused.
pub async fn create_user(
    db: &impl ConnectionTrait,
    new: NewUser,
) -> Result<user::Model, ConsoleError> {
    let email = new.email.trim().to_lowercase();
    if !valid_email(&email) {
        return Err(ConsoleError::Invalid(
            "enter an email address like name@example.com".into(),
        ));
    }
    let display_name = new.display_name.trim().to_owned();
    if display_name.chars().count() > 100 || display_name.chars().any(char::is_control) {
        return Err(ConsoleError::Invalid(
            "a display name is at most 100 printable characters".into(),
        ));
    }
    if find_by_email(db, &email).await?.is_some() {
        return Err(ConsoleError::Invalid(
            "an account with this address exists; sign in instead".into(),
        ));
    }
    let hash = password::hash_password(new.password)
        .await
        .map_err(password_error)?;
    let now = Utc::now();
    Ok(user::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(email),
        password_hash: Set(hash),
        display_name: Set(display_name),
        session_version: Set(0),
        disabled: Set(false),
        email_verified_at: Set(new.verified.then_some(now)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?)
}

fn password_error(e: password::PasswordError) -> ConsoleError {
    match e {
        password::PasswordError::TooShort { .. } => ConsoleError::Invalid(e.to_string()),
        password::PasswordError::Hashing => ConsoleError::internal(e),
    }
}

/// The account with this address, if any.
pub async fn find_by_email(
    db: &impl ConnectionTrait,
    email: &str,
) -> Result<Option<user::Model>, ConsoleError> {
    Ok(user::Entity::find()
        .filter(user::Column::Email.eq(email.trim().to_lowercase()))
        .one(db)
        .await?)
}

/// What a mailed link is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkPurpose {
    Verify,
    Reset,
}

impl LinkPurpose {
    fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Verify => "verify",
            LinkPurpose::Reset => "reset",
        }
    }

    fn lifetime(self) -> Duration {
        match self {
            LinkPurpose::Verify => Duration::hours(VERIFY_HOURS),
            LinkPurpose::Reset => Duration::minutes(RESET_MINUTES),
        }
    }
}

/// Issues a link token for the user (the earlier open ones of this purpose stop
/// working). Returns the token, which exists in clear only in the link.
pub async fn issue_link(
    db: &DatabaseConnection,
    user_id: Uuid,
    purpose: LinkPurpose,
) -> Result<String, ConsoleError> {
    let token = crate::secret_token::generate();
    let now = Utc::now();
    let txn = db.begin().await?;
    user_token::Entity::update_many()
        .col_expr(
            user_token::Column::UsedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(user_token::Column::UserId.eq(user_id))
        .filter(user_token::Column::Purpose.eq(purpose.as_str()))
        .filter(user_token::Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    user_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        purpose: Set(purpose.as_str().to_owned()),
        token_hash: Set(crate::secret_token::digest(&token)),
        created_at: Set(now),
        expires_at: Set(now + purpose.lifetime()),
        used_at: Set(None),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(token)
}

/// Uses a link token: its account, once. Unknown, used and expired tokens look
/// the same (not found), so a link cannot be probed.
async fn use_link(
    db: &impl ConnectionTrait,
    token: &str,
    purpose: LinkPurpose,
) -> Result<user::Model, ConsoleError> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ConsoleError::NotFound);
    }
    let (row, user) = user_token::Entity::find()
        .filter(user_token::Column::TokenHash.eq(crate::secret_token::digest(token)))
        .filter(user_token::Column::Purpose.eq(purpose.as_str()))
        .find_also_related(user::Entity)
        .one(db)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let user = user.ok_or(ConsoleError::NotFound)?;
    if row.used_at.is_some() || row.expires_at <= Utc::now() || user.disabled {
        return Err(ConsoleError::NotFound);
    }
    let mut used: user_token::ActiveModel = row.into();
    used.used_at = Set(Some(Utc::now()));
    used.update(db).await?;
    Ok(user)
}

/// Proves an account's address with the token of its verification link.
pub async fn verify_email(
    db: &DatabaseConnection,
    token: &str,
) -> Result<user::Model, ConsoleError> {
    let txn = db.begin().await?;
    let user = use_link(&txn, token, LinkPurpose::Verify).await?;
    let mut active: user::ActiveModel = user.into();
    active.email_verified_at = Set(Some(Utc::now()));
    active.updated_at = Set(Utc::now());
    let user = active.update(&txn).await?;
    txn.commit().await?;
    Ok(user)
}

/// Whether a reset token is still good (the reset form is shown only then).
pub async fn reset_link_is_open(
    db: &DatabaseConnection,
    token: &str,
) -> Result<bool, ConsoleError> {
    let txn = db.begin().await?;
    let open = use_link(&txn, token, LinkPurpose::Reset).await.is_ok();
    // Only a look: the token is used when the new password is set.
    txn.rollback().await?;
    Ok(open)
}

/// Sets a new password with the token of a reset link. Every session of the
/// account ends (its session version moves), and the address counts as proven.
pub async fn reset_password(
    db: &DatabaseConnection,
    token: &str,
    new_password: SecretString,
) -> Result<user::Model, ConsoleError> {
    // Hash first: a too-short password must not use up the link.
    let hash = password::hash_password(new_password)
        .await
        .map_err(password_error)?;
    let txn = db.begin().await?;
    let user = use_link(&txn, token, LinkPurpose::Reset).await?;
    let now = Utc::now();
    let version = user.session_version.saturating_add(1);
    let verified = user.email_verified_at.unwrap_or(now);
    let mut active: user::ActiveModel = user.into();
    active.password_hash = Set(hash);
    active.session_version = Set(version);
    active.email_verified_at = Set(Some(verified));
    active.updated_at = Set(now);
    let user = active.update(&txn).await?;
    txn.commit().await?;
    Ok(user)
}

/// Sets a user's password (the operator's `reset-password`): every session of
/// the account ends.
pub async fn set_password(
    db: &DatabaseConnection,
    user_id: Uuid,
    password: SecretString,
) -> Result<user::Model, ConsoleError> {
    let hash = password::hash_password(password)
        .await
        .map_err(password_error)?;
    let user = user::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let version = user.session_version.saturating_add(1);
    let mut active: user::ActiveModel = user.into();
    active.password_hash = Set(hash);
    active.session_version = Set(version);
    active.updated_at = Set(Utc::now());
    Ok(active.update(db).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::testing::TestStore;

    #[test]
    fn email_addresses_are_checked_loosely_but_not_blindly() {
        for ok in ["a@b.co", "first.last+tag@example.com"] {
            assert!(valid_email(ok), "{ok}");
        }
        for bad in ["", "a", "a@b", "@b.co", "a@.co", "a b@c.de", "a@b.co\n"] {
            assert!(!valid_email(bad), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn a_verification_link_works_once_and_a_newer_one_replaces_it() {
        let store = TestStore::new().await;
        let user = create_user(
            store.db(),
            NewUser {
                email: "New@Example.com".into(),
                display_name: String::new(),
                password: SecretString::from("long enough password"),
                verified: false,
            },
        )
        .await
        .unwrap();
        assert_eq!(user.email, "new@example.com");
        assert!(user.email_verified_at.is_none());
        let first = issue_link(store.db(), user.id, LinkPurpose::Verify)
            .await
            .unwrap();
        let second = issue_link(store.db(), user.id, LinkPurpose::Verify)
            .await
            .unwrap();
        assert!(matches!(
            verify_email(store.db(), &first).await,
            Err(ConsoleError::NotFound)
        ));
        assert!(
            verify_email(store.db(), &second)
                .await
                .unwrap()
                .email_verified_at
                .is_some()
        );
        assert!(matches!(
            verify_email(store.db(), &second).await,
            Err(ConsoleError::NotFound)
        ));
        // A reset token is no verification token.
        let reset = issue_link(store.db(), user.id, LinkPurpose::Reset)
            .await
            .unwrap();
        assert!(matches!(
            verify_email(store.db(), &reset).await,
            Err(ConsoleError::NotFound)
        ));
    }

    #[tokio::test]
    async fn a_reset_sets_the_password_ends_sessions_and_is_single_use() {
        let store = TestStore::new().await;
        let user = store.user("ada@example.com").await;
        let token = issue_link(store.db(), user.id, LinkPurpose::Reset)
            .await
            .unwrap();
        assert!(reset_link_is_open(store.db(), &token).await.unwrap());
        let short = reset_password(store.db(), &token, SecretString::from("short")).await;
        assert!(matches!(short, Err(ConsoleError::Invalid(_))));
        let after = reset_password(
            store.db(),
            &token,
            SecretString::from("a brand new passphrase"),
        )
        .await
        .unwrap();
        assert_eq!(after.session_version, user.session_version + 1);
        assert!(
            password::verify_password(
                SecretString::from("a brand new passphrase"),
                after.password_hash
            )
            .await
        );
        assert!(!reset_link_is_open(store.db(), &token).await.unwrap());
    }

    #[tokio::test]
    async fn an_expired_link_is_refused() {
        let store = TestStore::new().await;
        let user = store.user("old@example.com").await;
        let token = issue_link(store.db(), user.id, LinkPurpose::Reset)
            .await
            .unwrap();
        user_token::Entity::update_many()
            .col_expr(
                user_token::Column::ExpiresAt,
                sea_orm::sea_query::Expr::value(Utc::now() - Duration::minutes(1)),
            )
            .exec(store.db())
            .await
            .unwrap();
        assert!(!reset_link_is_open(store.db(), &token).await.unwrap());
    }
}
