//! Incident response: contain (suspend or revoke every live key of the tenant,
//! of one environment, or of one person, in one audited step) and release (lift
//! the suspensions after review). Owners and admins only.
//!
//! A suspension sets `suspended_at` and bumps `updated_at`, so the relays pick it
//! up in their next sync (within a second) and refuse the keys with
//! `key_suspended`; revoking is final, as on the keys page. A person is found by
//! email among the accounts that own keys of the tenant, so the keys of someone
//! already removed from the tenant (which keep working until revoked) can be
//! contained too.

use airlock_core::key::Env;
use airlock_schema::entities::{relay_key, user};
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
    TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, Event};
use super::{Actor, Permission, Store, TenantScope};
use crate::error::ConsoleError;

/// The longest note kept with a containment or a release.
pub const MAX_NOTE_CHARS: usize = 500;

/// Whose keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Every key of the tenant.
    All,
    /// Every key of one environment.
    Env(Env),
    /// Every key one person owns in the tenant (by email).
    Member(String),
}

impl Target {
    /// How the target reads in the audit log and on pages.
    pub fn describe(&self) -> String {
        match self {
            Target::All => "every key of the tenant".to_owned(),
            Target::Env(env) => format!("every {env} key"),
            Target::Member(email) => format!("every key of {email}"),
        }
    }
}

/// What containment does to the keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Containment {
    /// Refused until released.
    Suspend,
    /// Refused for good.
    Revoke,
}

impl Containment {
    pub fn parse(text: &str) -> Result<Containment, ConsoleError> {
        match text {
            "suspend" => Ok(Containment::Suspend),
            "revoke" => Ok(Containment::Revoke),
            _ => Err(ConsoleError::InvalidParam(
                "action",
                "action: choose suspend (until released) or revoke (for good)".into(),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Containment::Suspend => "suspend",
            Containment::Revoke => "revoke",
        }
    }
}

/// A note as kept: trimmed, at most [`MAX_NOTE_CHARS`], no control characters
/// but line breaks.
pub fn check_note(note: &str) -> Result<Option<String>, ConsoleError> {
    let note = note.trim();
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(ConsoleError::InvalidParam(
            "note",
            format!("note: at most {MAX_NOTE_CHARS} characters"),
        ));
    }
    if note
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r')
    {
        return Err(ConsoleError::InvalidParam(
            "note",
            "note: control characters are not allowed".into(),
        ));
    }
    Ok((!note.is_empty()).then(|| note.to_owned()))
}

/// The tenant's keys the target names, not revoked.
async fn targeted(
    db: &impl ConnectionTrait,
    scope: &TenantScope,
    target: &Target,
) -> Result<Select<relay_key::Entity>, ConsoleError> {
    let keys = relay_key::Entity::find()
        .filter(relay_key::Column::TenantId.eq(scope.tenant_id()))
        .filter(relay_key::Column::RevokedAt.is_null());
    Ok(match target {
        Target::All => keys,
        Target::Env(env) => {
            keys.filter(relay_key::Column::Env.eq(airlock_schema::stored::Stored(*env)))
        }
        Target::Member(email) => {
            let email = email.trim().to_lowercase();
            if !crate::accounts::valid_email(&email) {
                return Err(ConsoleError::InvalidParam(
                    "member",
                    "member: enter the email address of the person whose keys to stop".into(),
                ));
            }
            // An address with no account matches no key, like one with no keys
            // here: the answer does not tell which (no account probing).
            let owner = user::Entity::find()
                .filter(user::Column::Email.eq(email))
                .one(db)
                .await?
                .map_or(Uuid::nil(), |u| u.id);
            keys.filter(relay_key::Column::OwnerUserId.eq(owner))
        }
    })
}

/// How many keys containment would stop now (those still working or in grace).
pub async fn preview(
    store: &Store,
    scope: &TenantScope,
    target: &Target,
) -> Result<Vec<String>, ConsoleError> {
    scope.require(Permission::RespondToIncidents)?;
    let prefixes: Vec<String> = targeted(store.db(), scope, target)
        .await?
        .filter(relay_key::Column::SuspendedAt.is_null())
        .select_only()
        .column(relay_key::Column::DisplayPrefix)
        .order_by_asc(relay_key::Column::DisplayPrefix)
        .into_tuple()
        .all(store.db())
        .await?;
    Ok(prefixes)
}

/// Suspends or revokes every key of `target` in one transaction, audited with
/// the keys' prefixes and the note. Returns how many keys it stopped.
pub async fn contain(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    target: &Target,
    action: Containment,
    note: Option<String>,
) -> Result<usize, ConsoleError> {
    scope.require(Permission::RespondToIncidents)?;
    let txn = store.db().begin().await?;
    let mut keys = targeted(&txn, scope, target).await?;
    if action == Containment::Suspend {
        keys = keys.filter(relay_key::Column::SuspendedAt.is_null());
    }
    let rows = keys.all(&txn).await?;
    let ids: Vec<Uuid> = rows.iter().map(|k| k.id).collect();
    let now = Utc::now();
    let column = match action {
        Containment::Suspend => relay_key::Column::SuspendedAt,
        Containment::Revoke => relay_key::Column::RevokedAt,
    };
    relay_key::Entity::update_many()
        .col_expr(column, Expr::value(now))
        .col_expr(relay_key::Column::UpdatedAt, Expr::value(now))
        .filter(relay_key::Column::Id.is_in(ids.clone()))
        .exec(&txn)
        .await?;
    let prefixes: Vec<&str> = rows.iter().map(|k| k.display_prefix.as_str()).collect();
    audit::commit_with(
        txn,
        store,
        scope,
        actor,
        Event {
            action: "incident.contain",
            target_type: "tenant",
            target_id: Some(scope.tenant_id().to_string()),
            before: None,
            after: Some(json!({
                "scope": target.describe(),
                "containment": action.as_str(),
                "keys": ids.len(),
                "prefixes": prefixes,
                "note": note,
            })),
        },
    )
    .await?;
    Ok(ids.len())
}

/// Lifts the suspensions of `target` (revoked keys stay revoked), audited with
/// the note. Returns how many keys work again.
pub async fn release(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    target: &Target,
    note: Option<String>,
) -> Result<usize, ConsoleError> {
    scope.require(Permission::RespondToIncidents)?;
    let txn = store.db().begin().await?;
    let rows = targeted(&txn, scope, target)
        .await?
        .filter(relay_key::Column::SuspendedAt.is_not_null())
        .all(&txn)
        .await?;
    let ids: Vec<Uuid> = rows.iter().map(|k| k.id).collect();
    relay_key::Entity::update_many()
        .col_expr(
            relay_key::Column::SuspendedAt,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .col_expr(relay_key::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(relay_key::Column::Id.is_in(ids.clone()))
        .exec(&txn)
        .await?;
    let prefixes: Vec<&str> = rows.iter().map(|k| k.display_prefix.as_str()).collect();
    audit::commit_with(
        txn,
        store,
        scope,
        actor,
        Event {
            action: "incident.release",
            target_type: "tenant",
            target_id: Some(scope.tenant_id().to_string()),
            before: None,
            after: Some(json!({
                "scope": target.describe(),
                "keys": ids.len(),
                "prefixes": prefixes,
                "note": note,
            })),
        },
    )
    .await?;
    Ok(ids.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_bounded_and_plain() {
        assert_eq!(check_note("  ").ok(), Some(None));
        assert_eq!(
            check_note(" leaked in a CI log \n").ok(),
            Some(Some("leaked in a CI log".into()))
        );
        assert!(check_note(&"x".repeat(501)).is_err());
        assert!(check_note("bell\u{7}").is_err());
        assert_eq!(Containment::parse("revoke").ok(), Some(Containment::Revoke));
        assert!(matches!(
            Containment::parse("delete"),
            Err(ConsoleError::InvalidParam("action", _))
        ));
    }
}
