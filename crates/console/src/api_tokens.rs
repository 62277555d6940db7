//! Personal API tokens: `alk_` and 64 hex characters (256 random bits). A token
//! acts as the user who made it, with that user's role in each tenant, and dies
//! with revocation, its expiry, or the user being disabled. Only a SHA-256 of the
//! token is stored; the token is shown once.

use airlock_schema::entities::{api_token, user};
use chrono::{Duration, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder,
};
use uuid::Uuid;

use crate::error::ConsoleError;

pub const TOKEN_PREFIX: &str = "alk_";
/// Characters of the token kept in clear to tell tokens apart.
const DISPLAY_CHARS: usize = 12;
/// A user's tokens at most; each is a standing credential.
const MAX_TOKENS_PER_USER: usize = 20;
/// `last_used_at` is written at most this often per token.
const LAST_USED_GRANULARITY_SECS: i64 = 60;

/// The user's tokens, newest first (never the token).
pub async fn list(
    db: &DatabaseConnection,
    user_id: Uuid,
) -> Result<Vec<api_token::Model>, ConsoleError> {
    Ok(api_token::Entity::find()
        .filter(api_token::Column::UserId.eq(user_id))
        .order_by_desc(api_token::Column::CreatedAt)
        .all(db)
        .await?)
}

/// Makes a token for the user; the token is returned once, here.
pub async fn create(
    db: &DatabaseConnection,
    user_id: Uuid,
    name: &str,
    days: Option<u32>,
) -> Result<(api_token::Model, String), ConsoleError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ConsoleError::Invalid(
            "a token name is 1–100 printable characters".into(),
        ));
    }
    if days.is_some_and(|d| d == 0 || d > 366) {
        return Err(ConsoleError::Invalid(
            "a token lasts 1 to 366 days, or leave it blank for no expiry".into(),
        ));
    }
    let live = list(db, user_id)
        .await?
        .into_iter()
        .filter(|t| t.revoked_at.is_none())
        .count();
    if live >= MAX_TOKENS_PER_USER {
        return Err(ConsoleError::Invalid(format!(
            "you have {MAX_TOKENS_PER_USER} tokens; revoke one you no longer use first"
        )));
    }
    let token = format!("{TOKEN_PREFIX}{}", crate::secret_token::generate());
    let now = Utc::now();
    let row = api_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        name: Set(name.to_owned()),
        display_prefix: Set(token[..DISPLAY_CHARS].to_owned()),
        token_hash: Set(crate::secret_token::digest(&token)),
        created_at: Set(now),
        last_used_at: Set(None),
        expires_at: Set(days.map(|d| now + Duration::days(i64::from(d)))),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok((row, token))
}

/// Revokes one of the user's tokens (another user's token is not found).
pub async fn revoke(
    db: &DatabaseConnection,
    user_id: Uuid,
    token_id: Uuid,
) -> Result<api_token::Model, ConsoleError> {
    let row = api_token::Entity::find_by_id(token_id)
        .filter(api_token::Column::UserId.eq(user_id))
        .one(db)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    if row.revoked_at.is_some() {
        return Ok(row);
    }
    let mut active: api_token::ActiveModel = row.into();
    active.revoked_at = Set(Some(Utc::now()));
    Ok(active.update(db).await?)
}

/// The user a presented token acts as, or `SignedOut` for anything else: a
/// malformed, unknown, revoked or expired token, or a disabled user.
pub async fn authenticate(
    db: &impl ConnectionTrait,
    presented: &str,
) -> Result<(user::Model, api_token::Model), ConsoleError> {
    let well_formed = presented.len() == TOKEN_PREFIX.len() + 64
        && presented.starts_with(TOKEN_PREFIX)
        && presented[TOKEN_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit());
    if !well_formed {
        return Err(ConsoleError::SignedOut);
    }
    let (token, user) = api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(crate::secret_token::digest(presented)))
        .find_also_related(user::Entity)
        .one(db)
        .await?
        .ok_or(ConsoleError::SignedOut)?;
    let user = user.ok_or(ConsoleError::SignedOut)?;
    let now = Utc::now();
    if token.revoked_at.is_some() || token.expires_at.is_some_and(|t| t <= now) || user.disabled {
        return Err(ConsoleError::SignedOut);
    }
    let stale = token
        .last_used_at
        .is_none_or(|t| (now - t).num_seconds() >= LAST_USED_GRANULARITY_SECS);
    let token = if stale {
        let mut active: api_token::ActiveModel = token.into();
        active.last_used_at = Set(Some(now));
        active.update(db).await?
    } else {
        token
    };
    Ok((user, token))
}
