//! The audit log: one keyed hash chain of events per tenant.
//!
//! Each event's `hash` is an HMAC-SHA-256, under a key derived from the server's
//! secrets, over the previous event's hash and every field of the event (JSON
//! with sorted keys, times in microseconds). Whoever can write to the database but
//! does not hold the key can neither edit an event nor recompute the chain after
//! one. Each append also rewrites the tenant's head (last seq and hash, with an
//! HMAC of its own) in the same transaction and logs it, so events cut off the
//! end of a chain are detected too. [`verify`] reports both.
//!
//! Appends take the next `seq` inside the change's transaction; the unique
//! (tenant, seq) index turns a concurrent append into a retry, never a fork.

use airlock_schema::entities::{audit_event, audit_head};
use chrono::{DateTime, SubsecRound, Utc};
use hmac::{Hmac, Mac};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionSession, TransactionTrait,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Actor, Permission, Store, TenantScope};
use crate::error::ConsoleError;

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const APPEND_ATTEMPTS: usize = 5;

/// The key the chain is signed with. Derived from a server secret, never stored.
#[derive(Clone)]
pub struct AuditKey(Hmac<Sha256>);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey([redacted])")
    }
}

impl AuditKey {
    /// The key of a deployment: HMAC-SHA-256 of a fixed label under the session
    /// secret (`AIRLOCK_JWT_SECRET`), so it exists wherever the console does and
    /// changes only with that secret.
    pub fn derive(secret: &[u8]) -> Result<AuditKey, hmac::digest::InvalidLength> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)?;
        mac.update(b"airlock audit chain v1");
        let key = mac.finalize().into_bytes();
        Ok(AuditKey(<Hmac<Sha256> as Mac>::new_from_slice(&key)?))
    }

    fn mac(&self) -> Hmac<Sha256> {
        self.0.clone()
    }
}

/// One change to record. `before`/`after` must already be free of secrets.
pub struct Event<'a> {
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

/// Every field of an event and the previous hash, unit-separated: what is hashed.
fn event_text(event: &audit_event::Model) -> String {
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
    text
}

/// The keyed hash of an event.
pub fn event_hash(key: &AuditKey, event: &audit_event::Model) -> String {
    let mut mac = key.mac();
    mac.update(event_text(event).as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The hash events had before chains were keyed (plain SHA-256), to re-key them.
fn legacy_hash(event: &audit_event::Model) -> String {
    hex::encode(Sha256::digest(event_text(event).as_bytes()))
}

fn head_mac(key: &AuditKey, tenant_id: Uuid, seq: i64, hash: &str) -> String {
    let mut mac = key.mac();
    mac.update(format!("head\u{1f}{tenant_id}\u{1f}{seq}\u{1f}{hash}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The last step of every write: its audit event, then the commit, so the change
/// and its event land together or not at all.
pub(crate) async fn commit_with(
    txn: DatabaseTransaction,
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    event: Event<'_>,
) -> Result<(), ConsoleError> {
    record(&txn, store.audit_key(), scope, actor, event).await?;
    txn.commit().await?;
    Ok(())
}

/// Appends an event to the tenant's chain and moves its head. Pass the
/// transaction that makes the change, so the change and its event commit
/// together (the append runs in a savepoint, which is what a retry rolls back).
pub(crate) async fn record<C: TransactionTrait>(
    db: &C,
    key: &AuditKey,
    scope: &TenantScope,
    actor: &Actor,
    event: Event<'_>,
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
        let mut row = audit_event::Model {
            id: Uuid::now_v7(),
            tenant_id: Some(scope.tenant_id()),
            seq: previous.as_ref().map_or(1, |p| p.seq + 1),
            actor_user_id: actor.user_id,
            actor_label: actor.label.clone(),
            action: event.action.to_owned(),
            target_type: event.target_type.to_owned(),
            target_id: event.target_id.clone(),
            ip: actor.ip.clone(),
            before: event.before.clone(),
            after: event.after.clone(),
            // Microseconds: what PostgreSQL keeps, so the hash survives the round trip.
            created_at: Utc::now().trunc_subsecs(6),
            prev_hash: previous.map_or_else(|| GENESIS_HASH.to_owned(), |p| p.hash),
            hash: String::new(),
            keyed: true,
        };
        row.hash = event_hash(key, &row);
        let (seq, hash) = (row.seq, row.hash.clone());
        let active: audit_event::ActiveModel = row.into();
        let appended = match active.insert(&txn).await {
            Ok(_) => write_head(&txn, key, scope.tenant_id(), seq, &hash).await,
            Err(e) => Err(e),
        };
        match appended {
            Ok(()) => {
                txn.commit().await?;
                // The head also goes to the log: a copy outside the database, for
                // when someone cuts events and the head alike.
                tracing::info!(tenant.id = %scope.tenant_id(), audit.seq = seq, audit.hash = %hash, "audit head");
                return Ok(());
            }
            Err(e) => {
                // Most likely another append took this seq; try again on top of it.
                let _ = txn.rollback().await;
                last_error = Some(e);
            }
        }
    }
    Err(last_error.unwrap_or_else(|| DbErr::Custom("audit append failed".into())))
}

async fn write_head(
    db: &impl ConnectionTrait,
    key: &AuditKey,
    tenant_id: Uuid,
    seq: i64,
    hash: &str,
) -> Result<(), DbErr> {
    let mac = head_mac(key, tenant_id, seq, hash);
    let now = Utc::now();
    match audit_head::Entity::find_by_id(tenant_id).one(db).await? {
        Some(head) => {
            let mut active: audit_head::ActiveModel = head.into();
            active.seq = Set(seq);
            active.hash = Set(hash.to_owned());
            active.mac = Set(mac);
            active.updated_at = Set(now);
            active.update(db).await?;
        }
        None => {
            audit_head::ActiveModel {
                tenant_id: Set(tenant_id),
                seq: Set(seq),
                hash: Set(hash.to_owned()),
                mac: Set(mac),
                updated_at: Set(now),
            }
            .insert(db)
            .await?;
        }
    }
    Ok(())
}

/// What a walk of the chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainStatus {
    Intact {
        events: u64,
    },
    /// The first event that does not follow from the one before it, or where
    /// events end before the head says they do.
    Broken {
        seq: i64,
        reason: &'static str,
    },
}

/// Walks the tenant's chain from the start, a page at a time, then checks that it
/// ends where its head says.
pub async fn verify(store: &Store, scope: &TenantScope) -> Result<ChainStatus, ConsoleError> {
    scope.require(Permission::ReadAudit)?;
    Ok(walk(store.db(), store.audit_key(), scope.tenant_id()).await?)
}

async fn walk(
    db: &impl ConnectionTrait,
    key: &AuditKey,
    tenant_id: Uuid,
) -> Result<ChainStatus, DbErr> {
    const PAGE: u64 = 500;
    let mut expected_seq = 1;
    let mut prev_hash = GENESIS_HASH.to_owned();
    let mut pages = audit_event::Entity::find()
        .filter(audit_event::Column::TenantId.eq(tenant_id))
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
            if !event.keyed || event_hash(key, &event) != event.hash {
                return Ok(ChainStatus::Broken {
                    seq: event.seq,
                    reason: "its contents were changed after it was written",
                });
            }
            prev_hash = event.hash;
            expected_seq += 1;
        }
    }
    let last = expected_seq - 1;
    let head = audit_head::Entity::find_by_id(tenant_id).one(db).await?;
    let broken = |seq, reason| Ok(ChainStatus::Broken { seq, reason });
    match head {
        None if last == 0 => {}
        None => return broken(last, "the chain's head record is missing"),
        Some(head) if head.mac != head_mac(key, tenant_id, head.seq, &head.hash) => {
            return broken(head.seq, "the chain's head record was changed");
        }
        Some(head) if head.seq > last => {
            return broken(last + 1, "events were removed from the end of the chain");
        }
        Some(head) if head.seq < last || head.hash != prev_hash => {
            return broken(head.seq, "the chain goes on past its head record");
        }
        Some(_) => {}
    }
    Ok(ChainStatus::Intact {
        events: u64::try_from(last).unwrap_or(0),
    })
}

/// Re-keys chains written before chains were keyed: each tenant chain of unkeyed
/// events that verifies with the old plain hash is rewritten with the keyed hash
/// (and gets its head), in one transaction per tenant. A chain that does not
/// verify is left as it is, so `verify` keeps reporting where it broke. Run once
/// at startup; cheap when there is nothing to do.
pub async fn rekey_legacy_chains(store: &Store) -> Result<usize, DbErr> {
    let tenants: Vec<Option<Uuid>> = audit_event::Entity::find()
        .select_only()
        .column(audit_event::Column::TenantId)
        .filter(audit_event::Column::Keyed.eq(false))
        .distinct()
        .into_tuple()
        .all(store.db())
        .await?;
    let mut rekeyed = 0;
    for tenant_id in tenants.into_iter().flatten() {
        let txn = store.db().begin().await?;
        let events = audit_event::Entity::find()
            .filter(audit_event::Column::TenantId.eq(tenant_id))
            .order_by_asc(audit_event::Column::Seq)
            .all(&txn)
            .await?;
        let mut prev = GENESIS_HASH.to_owned();
        let intact = events.iter().enumerate().all(|(i, e)| {
            let ok = !e.keyed
                && e.seq == i64::try_from(i + 1).unwrap_or(-1)
                && e.prev_hash == prev
                && legacy_hash(e) == e.hash;
            prev = e.hash.clone();
            ok
        });
        if !intact {
            tracing::error!(tenant.id = %tenant_id, "an audit chain written before keyed chains does not verify; left as it is");
            txn.rollback().await?;
            continue;
        }
        let mut prev = GENESIS_HASH.to_owned();
        let mut last = (0, String::new());
        for event in events {
            let mut row = event.clone();
            row.prev_hash = prev.clone();
            row.keyed = true;
            row.hash = event_hash(store.audit_key(), &row);
            prev = row.hash.clone();
            last = (row.seq, row.hash.clone());
            let mut active: audit_event::ActiveModel = event.into();
            active.prev_hash = Set(row.prev_hash);
            active.hash = Set(row.hash);
            active.keyed = Set(true);
            active.update(&txn).await?;
        }
        write_head(&txn, store.audit_key(), tenant_id, last.0, &last.1).await?;
        txn.commit().await?;
        rekeyed += 1;
    }
    Ok(rekeyed)
}

/// Filters of the audit page.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct Filter {
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
    store: &Store,
    scope: &TenantScope,
    filter: &Filter,
    per_page: u64,
) -> Result<(Vec<audit_event::Model>, bool), ConsoleError> {
    scope.require(Permission::ReadAudit)?;
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
        .all(store.db())
        .await?;
    let more = rows.len() as u64 > per_page;
    rows.truncate(usize::try_from(per_page).unwrap_or(usize::MAX));
    Ok((rows, more))
}

#[cfg(test)]
mod tests {
    use super::super::testing::TestStore;
    use super::*;
    use airlock_core::role::Role;
    use sea_orm::IntoActiveModel;

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
            keyed: true,
        }
    }

    #[test]
    fn the_hash_is_keyed_ignores_key_order_and_covers_every_field() {
        let key = AuditKey::derive(b"a server secret of enough length!").unwrap();
        let base = event_hash(&key, &event());
        assert_ne!(
            base,
            event_hash(
                &AuditKey::derive(b"another secret, another chain!!").unwrap(),
                &event()
            )
        );
        assert_ne!(
            base,
            legacy_hash(&event()),
            "without the key the hash cannot be made"
        );
        let mut reordered = event();
        reordered.after = Some(serde_json::json!({"a": [1, {"c": 3, "d": 2}], "b": 1}));
        assert_eq!(event_hash(&key, &reordered), base);
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
            assert_ne!(event_hash(&key, &changed), base);
        }
    }

    /// A tenant with three events in its chain.
    async fn chain() -> (TestStore, TenantScope) {
        let store = TestStore::new().await;
        let scope = store.tenant("acme").await;
        for action in ["a.one", "a.two"] {
            record(
                store.db(),
                store.audit_key(),
                &scope,
                &Actor::cli(),
                Event {
                    action,
                    target_type: "test",
                    target_id: None,
                    before: None,
                    after: None,
                },
            )
            .await
            .unwrap();
        }
        (store, scope)
    }

    async fn events(store: &TestStore) -> Vec<audit_event::Model> {
        audit_event::Entity::find()
            .order_by_asc(audit_event::Column::Seq)
            .all(store.db())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn an_intact_chain_verifies() {
        let (store, scope) = chain().await;
        assert_eq!(
            verify(&store, &scope).await.unwrap(),
            ChainStatus::Intact { events: 3 }
        );
    }

    #[tokio::test]
    async fn an_edited_row_breaks_the_chain_at_that_row() {
        let (store, scope) = chain().await;
        let second = events(&store).await.remove(1);
        let mut active = second.into_active_model();
        active.actor_label = Set("someone else".into());
        active.update(store.db()).await.unwrap();
        assert!(matches!(
            verify(&store, &scope).await.unwrap(),
            ChainStatus::Broken { seq: 2, .. }
        ));
    }

    #[tokio::test]
    async fn a_chain_recomputed_without_the_key_does_not_verify() {
        let (store, scope) = chain().await;
        // An attacker with the database edits the second event and recomputes every
        // hash after it, as they could when the hash was unkeyed.
        let mut prev = GENESIS_HASH.to_owned();
        for event in events(&store).await {
            let mut row = event.clone();
            if row.seq == 2 {
                row.actor_label = "someone else".into();
            }
            row.prev_hash = prev.clone();
            row.hash = legacy_hash(&row);
            prev = row.hash.clone();
            let mut active = event.into_active_model();
            active.actor_label = Set(row.actor_label);
            active.prev_hash = Set(row.prev_hash);
            active.hash = Set(row.hash);
            active.update(store.db()).await.unwrap();
        }
        assert!(matches!(
            verify(&store, &scope).await.unwrap(),
            ChainStatus::Broken { seq: 1, .. }
        ));
    }

    #[tokio::test]
    async fn a_cut_tail_is_detected_by_the_head() {
        let (store, scope) = chain().await;
        let last = events(&store).await.pop().unwrap();
        audit_event::Entity::delete_by_id(last.id)
            .exec(store.db())
            .await
            .unwrap();
        assert_eq!(
            verify(&store, &scope).await.unwrap(),
            ChainStatus::Broken {
                seq: 3,
                reason: "events were removed from the end of the chain"
            }
        );
        // Moving the head back along with it needs the key.
        let head = audit_head::Entity::find_by_id(scope.tenant_id())
            .one(store.db())
            .await
            .unwrap()
            .unwrap();
        let mut active = head.into_active_model();
        active.seq = Set(2);
        active.update(store.db()).await.unwrap();
        assert!(matches!(
            verify(&store, &scope).await.unwrap(),
            ChainStatus::Broken {
                reason: "the chain's head record was changed",
                ..
            }
        ));
    }

    #[tokio::test]
    async fn legacy_chains_are_rekeyed_when_they_verify() {
        let store = TestStore::new().await;
        let scope = store.tenant("acme").await;
        // Rewrite the tenant's one event as a legacy (unkeyed) event, and drop its head.
        let event = events(&store).await.remove(0);
        let mut legacy = event.clone();
        legacy.keyed = false;
        legacy.hash = legacy_hash(&legacy);
        let mut active = event.into_active_model();
        active.keyed = Set(false);
        active.hash = Set(legacy.hash);
        active.update(store.db()).await.unwrap();
        audit_head::Entity::delete_many()
            .exec(store.db())
            .await
            .unwrap();
        assert!(matches!(
            verify(&store, &scope).await.unwrap(),
            ChainStatus::Broken { .. }
        ));
        assert_eq!(rekey_legacy_chains(&store).await.unwrap(), 1);
        assert_eq!(
            verify(&store, &scope).await.unwrap(),
            ChainStatus::Intact { events: 1 }
        );
        let _ = Role::Owner;
    }
}
