//! The audit log: one hash-chained sequence of events per tenant.
//!
//! Each event's `hash` is SHA-256 over the previous event's hash and every field
//! of the event (JSON with its keys sorted, times in microseconds), so editing,
//! deleting or reordering a stored event breaks the chain at that point, and
//! [`verify`] says where. Appends take the next `seq` inside a transaction; the
//! unique (tenant, seq) index turns a concurrent append into a retry, never a fork.

use airlock_schema::entities::audit_event;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionSession, TransactionTrait,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::scope::TenantScope;

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const APPEND_ATTEMPTS: usize = 5;

/// Who did something, and from where.
#[derive(Clone, Debug)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    pub label: String,
    pub ip: Option<String>,
}

/// One change to record. `before`/`after` must already be free of secrets.
pub struct Change<'a> {
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// JSON with object keys sorted at every level, so the hash does not depend on
/// how a database hands the document back.
fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical_json(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The hash of an event: every field and the previous hash, unit-separated.
pub fn event_hash(event: &audit_event::Model) -> String {
    let mut text = String::new();
    let optional_json = |v: &Option<Value>, out: &mut String| match v {
        Some(v) => canonical_json(v, out),
        None => out.push_str("null"),
    };
    for field in [
        event.prev_hash.clone(),
        event.seq.to_string(),
        event.tenant_id.map(|t| t.to_string()).unwrap_or_default(),
        event.id.to_string(),
        event
            .actor_user_id
            .map(|u| u.to_string())
            .unwrap_or_default(),
        event.actor_label.clone(),
        event.action.clone(),
        event.target_type.clone(),
        event.target_id.clone().unwrap_or_default(),
        event.ip.clone().unwrap_or_default(),
        event.created_at.timestamp_micros().to_string(),
    ] {
        text.push_str(&field);
        text.push('\u{1f}');
    }
    optional_json(&event.before, &mut text);
    text.push('\u{1f}');
    optional_json(&event.after, &mut text);
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Appends an event to the tenant's chain. Pass the transaction that makes the
/// change, so the change and its event commit together (the append then runs in
/// a savepoint, which is what a retry rolls back).
pub async fn record<C: TransactionTrait>(
    db: &C,
    scope: &TenantScope,
    actor: &Actor,
    change: Change<'_>,
) -> Result<(), DbErr> {
    let mut last_error = None;
    for _ in 0..APPEND_ATTEMPTS {
        let txn = db.begin().await?;
        let previous = audit_event::Entity::find()
            .filter(audit_event::Column::TenantId.eq(scope.tenant_id()))
            .order_by_desc(audit_event::Column::Seq)
            .limit(1)
            .one(&txn)
            .await?;
        let mut event = audit_event::Model {
            id: Uuid::now_v7(),
            tenant_id: Some(scope.tenant_id()),
            seq: previous.as_ref().map_or(1, |p| p.seq + 1),
            actor_user_id: actor.user_id,
            actor_label: actor.label.clone(),
            action: change.action.to_owned(),
            target_type: change.target_type.to_owned(),
            target_id: change.target_id.clone(),
            ip: actor.ip.clone(),
            before: change.before.clone(),
            after: change.after.clone(),
            // Microseconds: what PostgreSQL keeps, so the hash survives the round trip.
            created_at: Utc::now().trunc_subsecs(6),
            prev_hash: previous.map_or_else(|| GENESIS_HASH.to_owned(), |p| p.hash),
            hash: String::new(),
        };
        event.hash = event_hash(&event);
        let active: audit_event::ActiveModel = event.into();
        match active.insert(&txn).await {
            Ok(_) => return txn.commit().await,
            Err(e) => {
                // Most likely another append took this seq; try again on top of it.
                let _ = txn.rollback().await;
                last_error = Some(e);
            }
        }
    }
    Err(last_error.unwrap_or_else(|| DbErr::Custom("audit append failed".into())))
}

/// What a walk of the chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainStatus {
    Intact {
        events: u64,
    },
    /// The first event that does not follow from the one before it.
    Broken {
        seq: i64,
        reason: &'static str,
    },
}

/// Walks the tenant's chain from the start, a page at a time.
pub async fn verify(db: &impl ConnectionTrait, scope: &TenantScope) -> Result<ChainStatus, DbErr> {
    const PAGE: u64 = 500;
    let mut expected_seq = 1;
    let mut prev_hash = GENESIS_HASH.to_owned();
    let mut pages = audit_event::Entity::find()
        .filter(audit_event::Column::TenantId.eq(scope.tenant_id()))
        .order_by_asc(audit_event::Column::Seq)
        .paginate(db, PAGE);
    while let Some(events) = pages.fetch_and_next().await? {
        for event in events {
            if event.seq != expected_seq {
                return Ok(ChainStatus::Broken {
                    seq: expected_seq,
                    reason: "an event is missing",
                });
            }
            if event.prev_hash != prev_hash {
                return Ok(ChainStatus::Broken {
                    seq: event.seq,
                    reason: "it does not link to the event before it",
                });
            }
            if event_hash(&event) != event.hash {
                return Ok(ChainStatus::Broken {
                    seq: event.seq,
                    reason: "its contents were changed after it was written",
                });
            }
            prev_hash = event.hash;
            expected_seq += 1;
        }
    }
    Ok(ChainStatus::Intact {
        events: u64::try_from(expected_seq - 1).unwrap_or(0),
    })
}

/// Filters of the audit page.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct AuditFilter {
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    /// `YYYY-MM-DD`, inclusive.
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub page: Option<u64>,
}

fn day_start(text: Option<&str>) -> Option<DateTime<Utc>> {
    let day = chrono::NaiveDate::parse_from_str(text?.trim(), "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc())
}

/// A page of the tenant's events, newest first, and whether there are more.
pub async fn list(
    db: &impl ConnectionTrait,
    scope: &TenantScope,
    filter: &AuditFilter,
    per_page: u64,
) -> Result<(Vec<audit_event::Model>, bool), DbErr> {
    let mut query = audit_event::Entity::find()
        .filter(audit_event::Column::TenantId.eq(scope.tenant_id()))
        .order_by_desc(audit_event::Column::Seq);
    if let Some(actor) = filter
        .actor
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        query = query.filter(audit_event::Column::ActorLabel.contains(actor));
    }
    if let Some(action) = filter
        .action
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        query = query.filter(audit_event::Column::Action.starts_with(action));
    }
    if let Some(from) = day_start(filter.from.as_deref()) {
        query = query.filter(audit_event::Column::CreatedAt.gte(from));
    }
    if let Some(to) = day_start(filter.to.as_deref()) {
        query = query.filter(audit_event::Column::CreatedAt.lt(to + chrono::Duration::days(1)));
    }
    let page = filter.page.unwrap_or(0);
    let mut rows = query
        .offset(page * per_page)
        .limit(per_page + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > per_page;
    rows.truncate(usize::try_from(per_page).unwrap_or(usize::MAX));
    Ok((rows, more))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> audit_event::Model {
        audit_event::Model {
            id: Uuid::nil(),
            tenant_id: Some(Uuid::nil()),
            seq: 1,
            actor_user_id: None,
            actor_label: "a@example.com".into(),
            action: "key.create".into(),
            target_type: "key".into(),
            target_id: Some("k".into()),
            ip: Some("127.0.0.1".into()),
            before: None,
            after: Some(serde_json::json!({"b": 1, "a": [1, {"d": 2, "c": 3}]})),
            created_at: DateTime::from_timestamp_micros(1_700_000_000_000_001).unwrap_or_default(),
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
        }
    }

    #[test]
    fn the_hash_ignores_key_order_and_covers_every_field() {
        let base = event_hash(&event());
        let mut reordered = event();
        reordered.after = Some(serde_json::json!({"a": [1, {"c": 3, "d": 2}], "b": 1}));
        assert_eq!(event_hash(&reordered), base);
        let edits: [fn(&mut audit_event::Model); 6] = [
            |e| e.actor_label.push('x'),
            |e| e.action = "key.revoke".into(),
            |e| e.seq = 2,
            |e| e.after = None,
            |e| e.ip = None,
            |e| e.prev_hash = "1".repeat(64),
        ];
        for edit in edits {
            let mut changed = event();
            edit(&mut changed);
            assert_ne!(event_hash(&changed), base);
        }
    }
}
