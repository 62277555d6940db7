//! Tenant data as the console reads and changes it. Every function takes a
//! [`TenantScope`] and filters by its tenant, so ids from another tenant find
//! nothing; changes check the caller's permission and write an audit event.

use airlock_core::key::{Env, RelayKey};
use airlock_schema::entities::{membership, relay_key, user};
use chrono::{DateTime, Duration, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::audit::{self, Actor, Change};
use crate::error::ConsoleError;
use crate::ops;
use crate::scope::{Permission, TenantScope};
use crate::state::ConsoleState;

/// Keys per page of the keys table.
pub const KEYS_PER_PAGE: u64 = 50;
/// How long a rotated-out key keeps working unless the form says otherwise.
pub const DEFAULT_GRACE_HOURS: i64 = 24;
/// Keys this close to their expiry are flagged in the list.
pub const EXPIRY_WARNING_DAYS: i64 = 14;

/// A key as the list shows it.
pub struct KeyRow {
    pub key: relay_key::Model,
    pub owner_email: Option<String>,
    pub status: KeyStatus,
    pub age_days: i64,
    /// Expires within [`EXPIRY_WARNING_DAYS`] (and is still usable).
    pub near_expiry: bool,
    /// The caller may rotate or revoke this key.
    pub can_manage: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    /// Rotated out; works until `grace_until`.
    Grace,
    Expired,
    Revoked,
}

impl KeyStatus {
    pub fn of(key: &relay_key::Model, now: DateTime<Utc>) -> KeyStatus {
        if key.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if key.expires_at.is_some_and(|t| t <= now)
            || key.grace_until.is_some_and(|t| t <= now)
        {
            KeyStatus::Expired
        } else if key.grace_until.is_some() {
            KeyStatus::Grace
        } else {
            KeyStatus::Active
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Grace => "grace",
            KeyStatus::Expired => "expired",
            KeyStatus::Revoked => "revoked",
        }
    }
}

/// What the audit log keeps of a key: never the hash.
fn key_snapshot(key: &relay_key::Model) -> Value {
    json!({
        "display_prefix": key.display_prefix,
        "env": key.env,
        "name": key.name,
        "owner_user_id": key.owner_user_id,
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
        "grace_until": key.grace_until,
        "rotated_from_id": key.rotated_from_id,
        "rpm_limit": key.rpm_limit,
        "monthly_budget_micros": key.monthly_budget_micros,
    })
}

/// One page of a tenant's keys of one environment, newest first, and the total.
pub async fn list_keys(
    db: &DatabaseConnection,
    scope: &TenantScope,
    env: Env,
    page: u64,
) -> Result<(Vec<KeyRow>, u64), ConsoleError> {
    scope.require(Permission::ReadKeys)?;
    let query = relay_key::Entity::find()
        .filter(relay_key::Column::TenantId.eq(scope.tenant_id()))
        .filter(relay_key::Column::Env.eq(env.as_str()));
    let total = query.clone().count(db).await?;
    let keys = query
        .order_by_desc(relay_key::Column::CreatedAt)
        .order_by_desc(relay_key::Column::Id)
        .offset(page * KEYS_PER_PAGE)
        .limit(KEYS_PER_PAGE)
        .all(db)
        .await?;
    let owner_ids: Vec<Uuid> = keys.iter().filter_map(|k| k.owner_user_id).collect();
    let owners = if owner_ids.is_empty() {
        Vec::new()
    } else {
        user::Entity::find()
            .filter(user::Column::Id.is_in(owner_ids))
            .all(db)
            .await?
    };
    let now = Utc::now();
    let rows = keys
        .into_iter()
        .map(|key| {
            let status = KeyStatus::of(&key, now);
            let usable = matches!(status, KeyStatus::Active | KeyStatus::Grace);
            KeyRow {
                owner_email: key
                    .owner_user_id
                    .and_then(|id| owners.iter().find(|u| u.id == id))
                    .map(|u| u.email.clone()),
                age_days: (now - key.created_at).num_days(),
                near_expiry: usable
                    && key
                        .expires_at
                        .is_some_and(|t| t - now < Duration::days(EXPIRY_WARNING_DAYS)),
                status,
                can_manage: scope.require_key(env, key.owner_user_id).is_ok(),
                key,
            }
        })
        .collect();
    Ok((rows, total))
}

async fn find_key(
    db: &DatabaseConnection,
    scope: &TenantScope,
    key_id: Uuid,
) -> Result<relay_key::Model, ConsoleError> {
    relay_key::Entity::find_by_id(key_id)
        .filter(relay_key::Column::TenantId.eq(scope.tenant_id()))
        .one(db)
        .await?
        .ok_or(ConsoleError::NotFound)
}

/// Creates a key owned by the caller; the full key is returned once, here.
pub async fn create_key(
    state: &ConsoleState,
    scope: &TenantScope,
    actor: &Actor,
    env: Env,
    name: &str,
) -> Result<(relay_key::Model, RelayKey), ConsoleError> {
    scope.require(Permission::ManageKeys(env))?;
    let (row, key) = ops::create_key(
        &state.db,
        &state.hasher,
        ops::NewKey {
            tenant_id: scope.tenant_id(),
            env,
            name: name.to_owned(),
            owner_user_id: Some(scope.user_id()),
            allowed_models: Vec::new(),
            expires_at: None,
        },
    )
    .await?;
    audit::record(
        &state.db,
        scope,
        actor,
        Change {
            action: "key.create",
            target_type: "key",
            target_id: Some(row.id.to_string()),
            before: None,
            after: Some(key_snapshot(&row)),
        },
    )
    .await?;
    Ok((row, key))
}

/// Revokes a key; the relays refuse it within their poll interval.
pub async fn revoke_key(
    state: &ConsoleState,
    scope: &TenantScope,
    actor: &Actor,
    key_id: Uuid,
) -> Result<relay_key::Model, ConsoleError> {
    let key = find_key(&state.db, scope, key_id).await?;
    let env: Env = key.env.parse().map_err(|_| ConsoleError::Internal)?;
    scope.require_key(env, key.owner_user_id)?;
    if key.revoked_at.is_some() {
        return Err(ConsoleError::Invalid("this key is already revoked".into()));
    }
    let before = key_snapshot(&key);
    let revoked = ops::revoke_key(&state.db, scope.tenant_id(), &key.display_prefix).await?;
    audit::record(
        &state.db,
        scope,
        actor,
        Change {
            action: "key.revoke",
            target_type: "key",
            target_id: Some(key.id.to_string()),
            before: Some(before),
            after: Some(key_snapshot(&revoked)),
        },
    )
    .await?;
    Ok(revoked)
}

/// Rotates a key: a new key with the same settings, and the old one kept working
/// for `grace_hours` (0 ends it now). Both show in the list until the grace ends.
pub async fn rotate_key(
    state: &ConsoleState,
    scope: &TenantScope,
    actor: &Actor,
    key_id: Uuid,
    grace_hours: i64,
) -> Result<Rotated, ConsoleError> {
    if !(0..=24 * 30).contains(&grace_hours) {
        return Err(ConsoleError::Invalid(
            "the grace period is 0 to 720 hours".into(),
        ));
    }
    let old = find_key(&state.db, scope, key_id).await?;
    let env: Env = old.env.parse().map_err(|_| ConsoleError::Internal)?;
    scope.require_key(env, old.owner_user_id)?;
    let now = Utc::now();
    if !matches!(KeyStatus::of(&old, now), KeyStatus::Active) {
        return Err(ConsoleError::Invalid(
            "only an active key can be rotated".into(),
        ));
    }
    let fresh = RelayKey::generate(env, &mut rand::rngs::OsRng);
    let txn = state.db.begin().await?;
    let new_row = relay_key::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(old.tenant_id),
        env: Set(old.env.clone()),
        name: Set(old.name.clone()),
        display_prefix: Set(fresh.display_prefix()),
        key_hash: Set(state.hasher.hash(&fresh).to_hex()),
        owner_user_id: Set(old.owner_user_id),
        created_at: Set(now),
        updated_at: Set(now),
        // A new key gets a full lifetime.
        expires_at: Set(old
            .expires_at
            .map(|t| now + (t - old.created_at).max(Duration::days(1)))),
        revoked_at: Set(None),
        last_used_at: Set(None),
        rotated_from_id: Set(Some(old.id)),
        grace_until: Set(None),
        rpm_limit: Set(old.rpm_limit),
        tpm_limit: Set(old.tpm_limit),
        daily_budget_micros: Set(old.daily_budget_micros),
        monthly_budget_micros: Set(old.monthly_budget_micros),
        per_request_cap_micros: Set(old.per_request_cap_micros),
        allowed_models: Set(old.allowed_models.clone()),
        ip_allowlist: Set(old.ip_allowlist.clone()),
        max_data_class: Set(old.max_data_class.clone()),
        default_data_class: Set(old.default_data_class.clone()),
        max_tokens_ceiling: Set(old.max_tokens_ceiling),
        reject_over_ceiling: Set(old.reject_over_ceiling),
    }
    .insert(&txn)
    .await?;
    let before = key_snapshot(&old);
    let mut retiring: relay_key::ActiveModel = old.into();
    // A grace of 0 still needs a moment in the future to read as "grace"; the key
    // then expires at once.
    retiring.grace_until = Set(Some(now + Duration::hours(grace_hours)));
    retiring.updated_at = Set(now);
    let retired = retiring.update(&txn).await?;
    txn.commit().await?;
    audit::record(
        &state.db,
        scope,
        actor,
        Change {
            action: "key.rotate",
            target_type: "key",
            target_id: Some(retired.id.to_string()),
            before: Some(before),
            after: Some(json!({"old": key_snapshot(&retired), "new": key_snapshot(&new_row)})),
        },
    )
    .await?;
    Ok(Rotated {
        old: retired,
        new: new_row,
        key: fresh,
    })
}

/// A rotation's outcome: the retiring key (with its `grace_until`), the new row and
/// the new key, shown once.
pub struct Rotated {
    pub old: relay_key::Model,
    pub new: relay_key::Model,
    pub key: RelayKey,
}

/// A member as the members page shows them.
pub struct MemberRow {
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub since: DateTime<Utc>,
}

pub async fn list_members(
    db: &DatabaseConnection,
    scope: &TenantScope,
) -> Result<Vec<MemberRow>, ConsoleError> {
    let rows = membership::Entity::find()
        .filter(membership::Column::TenantId.eq(scope.tenant_id()))
        .find_also_related(user::Entity)
        .order_by_asc(membership::Column::CreatedAt)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(m, u)| {
            let u = u?;
            Some(MemberRow {
                email: u.email,
                display_name: u.display_name,
                role: m.role,
                since: m.created_at,
            })
        })
        .collect())
}
