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
    /// Replaced: each key gets a successor (shown once) and stops at once.
    Rotate,
}

impl Containment {
    pub fn parse(text: &str) -> Result<Containment, ConsoleError> {
        match text {
            "suspend" => Ok(Containment::Suspend),
            "revoke" => Ok(Containment::Revoke),
            "rotate" => Ok(Containment::Rotate),
            _ => Err(ConsoleError::InvalidParam(
                "action",
                "action: choose suspend (until released), revoke (for good) or rotate (new keys, the old ones stop now)".into(),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Containment::Suspend => "suspend",
            Containment::Revoke => "revoke",
            Containment::Rotate => "rotate",
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
    Ok(named_by(db, scope, target)
        .await?
        .filter(relay_key::Column::RevokedAt.is_null()))
}

/// The tenant's keys the target names, revoked ones too.
async fn named_by(
    db: &impl ConnectionTrait,
    scope: &TenantScope,
    target: &Target,
) -> Result<Select<relay_key::Entity>, ConsoleError> {
    let keys = relay_key::Entity::find().filter(relay_key::Column::TenantId.eq(scope.tenant_id()));
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
    let (txn, prefixes) = stop(store.db(), scope, target, action).await?;
    record(
        txn,
        store,
        scope,
        actor,
        "incident.contain",
        json!({
            "scope": target.describe(),
            "containment": action.as_str(),
            "keys": prefixes.len(),
            "prefixes": prefixes,
            "note": note,
        }),
    )
    .await?;
    Ok(prefixes.len())
}

/// The same without an audit event, for the operator's CLI when it cannot sign
/// the audit log (no `AIRLOCK_JWT_SECRET`); the CLI says so.
pub async fn contain_unaudited(
    db: &sea_orm::DatabaseConnection,
    scope: &TenantScope,
    target: &Target,
    action: Containment,
) -> Result<usize, ConsoleError> {
    let (txn, prefixes) = stop(db, scope, target, action).await?;
    txn.commit().await?;
    Ok(prefixes.len())
}

/// Suspends or revokes the target's keys in a transaction the caller commits.
async fn stop(
    db: &sea_orm::DatabaseConnection,
    scope: &TenantScope,
    target: &Target,
    action: Containment,
) -> Result<(sea_orm::DatabaseTransaction, Vec<String>), ConsoleError> {
    scope.require(Permission::RespondToIncidents)?;
    if action == Containment::Rotate {
        return Err(ConsoleError::Invalid(
            "rotating keys makes new ones: use rotate_all".into(),
        ));
    }
    // Who the target is, read before the transaction: inside it the first
    // statement is the write, so SQLite takes the write lock at once (a read
    // first would make a concurrent writer, the usage writer, fail this one).
    let named = named_by(db, scope, target).await?;
    let mut keys = named.clone().filter(relay_key::Column::RevokedAt.is_null());
    if action == Containment::Suspend {
        keys = keys.filter(relay_key::Column::SuspendedAt.is_null());
    }
    let column = match action {
        Containment::Suspend => relay_key::Column::SuspendedAt,
        Containment::Revoke | Containment::Rotate => relay_key::Column::RevokedAt,
    };
    write_then_read(db, keys, named, column, Some(Utc::now())).await
}

/// Sets `column` to `value` on the keys of `keys` in a new transaction, as its
/// first statement, and reads back which of the target's keys (`named`, before
/// any state filter) it changed, marked by the same `updated_at`. The caller
/// commits.
async fn write_then_read(
    db: &sea_orm::DatabaseConnection,
    keys: Select<relay_key::Entity>,
    named: Select<relay_key::Entity>,
    column: relay_key::Column,
    value: Option<chrono::DateTime<Utc>>,
) -> Result<(sea_orm::DatabaseTransaction, Vec<String>), ConsoleError> {
    use chrono::SubsecRound;
    use sea_orm::QueryTrait;
    // Microseconds: what both databases keep, so the mark reads back equal.
    let now = Utc::now().trunc_subsecs(6);
    let ids = keys
        .select_only()
        .column(relay_key::Column::Id)
        .into_query();
    let txn = db.begin().await?;
    relay_key::Entity::update_many()
        .col_expr(column, Expr::value(value.map(|_| now)))
        .col_expr(relay_key::Column::UpdatedAt, Expr::value(now))
        .filter(relay_key::Column::Id.in_subquery(ids))
        .exec(&txn)
        .await?;
    let prefixes: Vec<String> = named
        .select_only()
        .column(relay_key::Column::DisplayPrefix)
        .filter(relay_key::Column::UpdatedAt.eq(now))
        .order_by_asc(relay_key::Column::DisplayPrefix)
        .into_tuple()
        .all(&txn)
        .await?;
    Ok((txn, prefixes))
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
    let (txn, prefixes) = lift(store.db(), scope, target).await?;
    record(
        txn,
        store,
        scope,
        actor,
        "incident.release",
        json!({
            "scope": target.describe(),
            "keys": prefixes.len(),
            "prefixes": prefixes,
            "note": note,
        }),
    )
    .await?;
    Ok(prefixes.len())
}

/// [`release`] without an audit event, for the CLI without the audit key.
pub async fn release_unaudited(
    db: &sea_orm::DatabaseConnection,
    scope: &TenantScope,
    target: &Target,
) -> Result<usize, ConsoleError> {
    let (txn, prefixes) = lift(db, scope, target).await?;
    txn.commit().await?;
    Ok(prefixes.len())
}

/// Clears the target's suspensions in a transaction the caller commits.
async fn lift(
    db: &sea_orm::DatabaseConnection,
    scope: &TenantScope,
    target: &Target,
) -> Result<(sea_orm::DatabaseTransaction, Vec<String>), ConsoleError> {
    scope.require(Permission::RespondToIncidents)?;
    let named = named_by(db, scope, target).await?;
    let keys = named
        .clone()
        .filter(relay_key::Column::RevokedAt.is_null())
        .filter(relay_key::Column::SuspendedAt.is_not_null());
    write_then_read(db, keys, named, relay_key::Column::SuspendedAt, None).await
}

/// One incident step in the tenant's audit log, committed with its change.
async fn record(
    txn: sea_orm::DatabaseTransaction,
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    action: &'static str,
    after: serde_json::Value,
) -> Result<(), ConsoleError> {
    audit::commit_with(
        txn,
        store,
        scope,
        actor,
        Event {
            action,
            target_type: "tenant",
            target_id: Some(scope.tenant_id().to_string()),
            before: None,
            after: Some(after),
        },
    )
    .await
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

/// The longest window an assessment covers.
pub const MAX_WINDOW_DAYS: i64 = 90;

/// One key's activity in an incident's window (metadata only).
#[derive(Clone, Debug, serde::Serialize)]
pub struct KeyActivity {
    pub display_prefix: String,
    pub name: String,
    pub env: String,
    /// active, grace, expired, revoked or suspended, now.
    pub state: String,
    pub requests: i64,
    /// Requests refused with 401, 403 or 429.
    pub refusals: i64,
    pub cost_micros: i64,
    pub models: Vec<String>,
    /// Client networks (/24, /48) the requests came from.
    pub networks: Vec<String>,
    pub first_request: Option<chrono::DateTime<Utc>>,
    pub last_request: Option<chrono::DateTime<Utc>>,
}

/// An audit event of the window, as the report lists it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EventLine {
    pub seq: i64,
    pub at: chrono::DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: String,
}

/// What happened to the target's keys in a window: their activity, and the
/// tenant's audit events of the window.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Assessment {
    pub scope: String,
    pub from: chrono::DateTime<Utc>,
    pub to: chrono::DateTime<Utc>,
    pub keys: Vec<KeyActivity>,
    pub events: Vec<EventLine>,
}

impl Assessment {
    pub fn requests(&self) -> i64 {
        self.keys.iter().map(|k| k.requests).sum()
    }

    pub fn refusals(&self) -> i64 {
        self.keys.iter().map(|k| k.refusals).sum()
    }

    pub fn cost(&self) -> airlock_core::money::MicroDollars {
        airlock_core::money::MicroDollars::new(self.keys.iter().map(|k| k.cost_micros).sum())
    }

    /// The keys as CSV (metadata only), fields made safe for spreadsheets.
    pub fn csv(&self) -> String {
        use super::usage::export::{dollars6, field};
        let mut out = String::from(
            "key_prefix,name,env,state,requests,refusals,cost_usd,models,networks,first_request,last_request\n",
        );
        let time = |t: &Option<chrono::DateTime<Utc>>| {
            t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default()
        };
        for k in &self.keys {
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{}\n",
                field(&k.display_prefix),
                field(&k.name),
                k.env,
                k.state,
                k.requests,
                k.refusals,
                dollars6(k.cost_micros),
                field(&k.models.join(" ")),
                field(&k.networks.join(" ")),
                time(&k.first_request),
                time(&k.last_request),
            ));
        }
        out
    }
}

/// A window as people give it: `from` before `to`, at most
/// [`MAX_WINDOW_DAYS`] long.
pub fn check_window(
    from: chrono::DateTime<Utc>,
    to: chrono::DateTime<Utc>,
) -> Result<(), ConsoleError> {
    if to <= from {
        return Err(ConsoleError::InvalidParam(
            "to",
            "to: the window must end after it starts".into(),
        ));
    }
    if to - from > chrono::Duration::days(MAX_WINDOW_DAYS) {
        return Err(ConsoleError::InvalidParam(
            "from",
            format!("from: a window covers at most {MAX_WINDOW_DAYS} days"),
        ));
    }
    Ok(())
}

/// One key's totals in a window: key, requests, refusals, cost, first and last.
type KeyTotals = (
    Option<Uuid>,
    i64,
    i64,
    i64,
    Option<chrono::DateTime<Utc>>,
    Option<chrono::DateTime<Utc>>,
);

/// The report of an incident's window (owners and admins).
pub async fn assess(
    store: &Store,
    scope: &TenantScope,
    target: &Target,
    from: chrono::DateTime<Utc>,
    to: chrono::DateTime<Utc>,
) -> Result<Assessment, ConsoleError> {
    use airlock_schema::entities::{audit_event, usage_record};
    scope.require(Permission::RespondToIncidents)?;
    check_window(from, to)?;
    let db = store.db();
    // Every key of the target, revoked ones too: they are part of what happened.
    let keys = named_by(db, scope, target).await?;
    let keys = keys.all(db).await?;
    let ids: Vec<Uuid> = keys.iter().map(|k| k.id).collect();
    let totals: Vec<KeyTotals> =
        usage_record::Entity::find()
            .select_only()
            .column(usage_record::Column::KeyId)
            .column_as(Expr::cust("CAST(COUNT(*) AS BIGINT)"), "requests")
            .column_as(
                Expr::cust("CAST(COALESCE(SUM(CASE WHEN status_code IN (401, 403, 429) THEN 1 ELSE 0 END), 0) AS BIGINT)"),
                "refusals",
            )
            .column_as(super::usage::sum_i64("cost_micros"), "cost")
            .column_as(usage_record::Column::CreatedAt.min(), "first")
            .column_as(usage_record::Column::CreatedAt.max(), "last")
            .filter(usage_record::Column::TenantId.eq(scope.tenant_id()))
            .filter(usage_record::Column::KeyId.is_in(ids.clone()))
            .filter(usage_record::Column::CreatedAt.gte(from))
            .filter(usage_record::Column::CreatedAt.lt(to))
            .group_by(usage_record::Column::KeyId)
            .into_tuple()
            .all(db)
            .await?;
    let models = super::anomalies::distinct_of(
        db,
        scope.tenant_id(),
        &ids,
        usage_record::Column::Model,
        from,
        to,
    )
    .await?;
    let ips = super::anomalies::distinct_of(
        db,
        scope.tenant_id(),
        &ids,
        usage_record::Column::ClientIp,
        from,
        to,
    )
    .await?;
    let now = Utc::now();
    let mut report: Vec<KeyActivity> = keys
        .iter()
        .map(|key| {
            let row = totals.iter().find(|t| t.0 == Some(key.id));
            let mut networks: Vec<String> = ips
                .iter()
                .filter(|(k, _)| *k == key.id)
                .filter_map(|(_, ip)| super::anomalies::network_of(ip))
                .collect();
            networks.sort();
            networks.dedup();
            KeyActivity {
                display_prefix: key.display_prefix.clone(),
                name: key.name.clone(),
                env: key.env.to_string(),
                state: super::keys::state_of(key, now).as_str().to_owned(),
                requests: row.map_or(0, |r| r.1),
                refusals: row.map_or(0, |r| r.2),
                cost_micros: row.map_or(0, |r| r.3),
                models: models
                    .iter()
                    .filter(|(k, _)| *k == key.id)
                    .map(|(_, m)| m.clone())
                    .collect(),
                networks,
                first_request: row.and_then(|r| r.4),
                last_request: row.and_then(|r| r.5),
            }
        })
        .filter(|k| k.requests > 0 || k.state != "active")
        .collect();
    report.sort_by(|a, b| {
        b.cost_micros
            .cmp(&a.cost_micros)
            .then(b.requests.cmp(&a.requests))
    });
    let events = audit_event::Entity::find()
        .filter(audit_event::Column::TenantId.eq(scope.tenant_id()))
        .filter(audit_event::Column::CreatedAt.gte(from))
        .filter(audit_event::Column::CreatedAt.lt(to))
        .order_by_asc(audit_event::Column::Seq)
        .limit(1_000)
        .all(db)
        .await?
        .into_iter()
        .map(|e| EventLine {
            seq: e.seq,
            at: e.created_at,
            actor: e.actor_label,
            action: e.action,
            target: e.target_type,
        })
        .collect();
    Ok(Assessment {
        scope: target.describe(),
        from,
        to,
        keys: report,
        events,
    })
}

/// Mails the summary of an assessment to the tenant's owners, admins and
/// finance (one message to all; numbers, names and prefixes only), audited.
pub async fn notify(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    mailer: &crate::mail::Mailer,
    report: &Assessment,
    link: &str,
) -> Result<usize, ConsoleError> {
    use airlock_core::role::Role;
    use airlock_schema::entities::membership;
    scope.require(Permission::RespondToIncidents)?;
    let members: Vec<Uuid> =
        membership::Entity::find()
            .select_only()
            .column(membership::Column::UserId)
            .filter(membership::Column::TenantId.eq(scope.tenant_id()))
            .filter(membership::Column::Role.is_in(
                [Role::Owner, Role::Admin, Role::Finance].map(airlock_schema::stored::Stored),
            ))
            .into_tuple()
            .all(store.db())
            .await?;
    let members =
        crate::notifications::who_wants(store.db(), members, crate::notifications::Kind::Incident)
            .await?;
    let mut to: Vec<String> = user::Entity::find()
        .select_only()
        .column(user::Column::Email)
        .filter(user::Column::Id.is_in(members))
        .filter(user::Column::Disabled.eq(false))
        .into_tuple()
        .all(store.db())
        .await?;
    to.sort();
    let window = format!(
        "{} to {} UTC",
        report.from.format("%Y-%m-%d %H:%M"),
        report.to.format("%Y-%m-%d %H:%M")
    );
    let mut body = format!(
        "Incident report for {} ({}), {}, {window}:\n\n{} keys with activity or stopped; {} requests, {} refused (401/403/429), {} spent.\n\n",
        scope.tenant().name,
        scope.slug(),
        report.scope,
        report.keys.len(),
        report.requests(),
        report.refusals(),
        report.cost().readable(),
    );
    for key in report.keys.iter().take(10) {
        body.push_str(&format!(
            "- {}… \"{}\" ({}, {}): {} requests, {} refused, {}; models {}; networks {}\n",
            key.display_prefix,
            key.name,
            key.env,
            key.state,
            key.requests,
            key.refusals,
            airlock_core::money::MicroDollars::new(key.cost_micros).readable(),
            if key.models.is_empty() {
                "none".to_owned()
            } else {
                key.models.join(", ")
            },
            if key.networks.is_empty() {
                "none".to_owned()
            } else {
                key.networks.join(", ")
            },
        ));
    }
    if report.keys.len() > 10 {
        body.push_str(&format!("- and {} more keys\n", report.keys.len() - 10));
    }
    body.push_str(&format!(
        "\n{} audit events in the window. The whole report (CSV and JSON too): {link}\n",
        report.events.len()
    ));
    let subject = format!(
        "[Airlock] {}: incident report, {}",
        scope.slug(),
        report.scope
    );
    mailer
        .send_to_all(&to, &subject, body)
        .await
        .map_err(|e| ConsoleError::Invalid(format!("the report was not sent: {e}")))?;
    let txn = store.db().begin().await?;
    record(
        txn,
        store,
        scope,
        actor,
        "incident.notify",
        json!({
            "scope": report.scope,
            "window": window,
            "recipients": to.len(),
        }),
    )
    .await?;
    Ok(to.len())
}

/// One key replaced in an incident: the old prefix and name, and the new key,
/// to be shown once.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Replacement {
    pub old_prefix: String,
    pub name: String,
    pub env: String,
    pub new_key: String,
}

/// Rotates every working key of `target` with no grace (each old key stops at
/// once; its successor has the same settings and expiry). Each rotation is its
/// own `key.rotate` event, and the containment one `incident.contain` event.
/// The new keys are returned to be shown once, never stored in clear.
pub async fn rotate_all(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    hasher: &airlock_core::key::KeyHasher,
    target: &Target,
    note: Option<String>,
) -> Result<Vec<Replacement>, ConsoleError> {
    scope.require(Permission::RespondToIncidents)?;
    let now = Utc::now();
    let keys: Vec<relay_key::Model> = targeted(store.db(), scope, target)
        .await?
        .filter(relay_key::Column::SuspendedAt.is_null())
        .filter(relay_key::Column::GraceUntil.is_null())
        .all(store.db())
        .await?
        .into_iter()
        .filter(|k| super::keys::state_of(k, now).works())
        .collect();
    let mut replaced = Vec::new();
    for key in keys {
        let rotated = super::keys::rotate(
            store,
            scope,
            actor,
            super::keys::Rotation {
                hasher,
                key_id: key.id,
                grace_hours: 0,
            },
        )
        .await?;
        replaced.push(Replacement {
            old_prefix: key.display_prefix.clone(),
            name: key.name.clone(),
            env: key.env.to_string(),
            new_key: rotated.key.expose().to_owned(),
        });
    }
    let txn = store.db().begin().await?;
    let prefixes: Vec<&str> = replaced.iter().map(|r| r.old_prefix.as_str()).collect();
    record(
        txn,
        store,
        scope,
        actor,
        "incident.contain",
        json!({
            "scope": target.describe(),
            "containment": "rotate",
            "keys": replaced.len(),
            "prefixes": prefixes,
            "note": note,
        }),
    )
    .await?;
    Ok(replaced)
}
