//! Secrets shown once, by post-redirect-get: the form that makes a secret (a
//! relay key, an API token, an invitation link) holds what its page shows and
//! redirects to `…/{ticket}`; that page takes it, once.
//!
//! What is held is sealed with the master key and bound to its ticket (the
//! ticket's digest is the associated data); the database keeps only the digest of
//! the ticket, never the ticket or the secret in clear. A hold answers only the
//! session that made it (the digest of the session's CSRF token, which lives as
//! long as the sign-in), for [`HOLD_MINUTES`] at most, and is deleted as it is
//! shown. A reload, the back button, a second tab, another session or a late
//! visit get [`None`]: the page says "already shown" and makes nothing new.

use chrono::{Duration, Utc};
use rand::rngs::OsRng;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde::{Serialize, de::DeserializeOwned};
use uuid::Uuid;

use airlock_core::envelope::Sealed;
use airlock_schema::entities::shown_once;

use crate::auth::CurrentUser;
use crate::error::ConsoleError;
use crate::secret_token;
use crate::state::ConsoleState;

/// How long a held secret waits for its page.
pub const HOLD_MINUTES: i64 = 10;

fn session_of(user: &CurrentUser) -> String {
    secret_token::digest(&user.csrf)
}

/// Holds `shown` for the page that shows it; returns the ticket for its address.
pub async fn hold<T: Serialize>(
    state: &ConsoleState,
    user: &CurrentUser,
    shown: &T,
) -> Result<String, ConsoleError> {
    let ticket = secret_token::generate();
    let ticket_hash = secret_token::digest(&ticket);
    let plaintext = serde_json::to_vec(shown).map_err(ConsoleError::internal)?;
    let sealed = state
        .master_keys
        .seal(ticket_hash.as_bytes(), &plaintext, &mut OsRng);
    let now = Utc::now();
    // Expired holds go as new ones come: none outlives its ten minutes for long.
    shown_once::Entity::delete_many()
        .filter(shown_once::Column::ExpiresAt.lte(now))
        .exec(state.db())
        .await?;
    shown_once::ActiveModel {
        id: Set(Uuid::now_v7()),
        ticket_hash: Set(ticket_hash),
        session_hash: Set(session_of(user)),
        user_id: Set(user.user.id),
        key_version: Set(i32::try_from(sealed.key_version).map_err(ConsoleError::internal)?),
        nonce: Set(sealed.nonce),
        ciphertext: Set(sealed.ciphertext),
        created_at: Set(now),
        expires_at: Set(now + Duration::minutes(HOLD_MINUTES)),
    }
    .insert(state.db())
    .await?;
    Ok(ticket)
}

/// What `ticket` holds, once. `None` for an unknown or malformed ticket, one
/// already shown (or being shown in another tab), one older than
/// [`HOLD_MINUTES`], and one made by another session; another session's hold is
/// left for its own session.
pub async fn take<T: DeserializeOwned>(
    state: &ConsoleState,
    user: &CurrentUser,
    ticket: &str,
) -> Result<Option<T>, ConsoleError> {
    if ticket.len() != 64 || !ticket.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let ticket_hash = secret_token::digest(ticket);
    let Some(row) = shown_once::Entity::find()
        .filter(shown_once::Column::TicketHash.eq(ticket_hash.as_str()))
        .one(state.db())
        .await?
    else {
        return Ok(None);
    };
    if row.user_id != user.user.id
        || row.session_hash != session_of(user)
        || row.expires_at <= Utc::now()
    {
        return Ok(None);
    }
    // Whoever deletes the row shows it: of two tabs, exactly one.
    let deleted = shown_once::Entity::delete_many()
        .filter(shown_once::Column::Id.eq(row.id))
        .exec(state.db())
        .await?
        .rows_affected;
    if deleted != 1 {
        return Ok(None);
    }
    let sealed = Sealed {
        key_version: u32::try_from(row.key_version).map_err(ConsoleError::internal)?,
        nonce: row.nonce,
        ciphertext: row.ciphertext,
    };
    let plaintext = state
        .master_keys
        .open(ticket_hash.as_bytes(), &sealed)
        .map_err(ConsoleError::internal)?;
    serde_json::from_slice(&plaintext)
        .map(Some)
        .map_err(ConsoleError::internal)
}
