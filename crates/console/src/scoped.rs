//! Tenant data as the console reads and changes it. Every function takes a
//! [`TenantScope`] and filters by its tenant, so ids from another tenant find
//! nothing; changes check the caller's permission and write an audit event.

use airlock_core::key::{Env, KeyState, RelayKey};
use airlock_core::money::MicroDollars;
use airlock_core::role::Role;
use airlock_schema::entities::{membership, relay_key, usage_record, user};
use chrono::{DateTime, Datelike, Duration, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
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
    pub status: KeyState,
    pub age_days: i64,
    /// Expires within [`EXPIRY_WARNING_DAYS`] (and is still usable).
    pub near_expiry: bool,
    /// The caller may rotate or revoke this key.
    pub can_manage: bool,
    pub monthly_budget: Option<MicroDollars>,
    /// What the key has cost since the start of this month (UTC).
    pub spent_this_month: MicroDollars,
}

/// A key row's state now, by the rule the relay enforces.
pub(crate) fn state_of(key: &relay_key::Model, now: DateTime<Utc>) -> KeyState {
    KeyState::at(now, key.revoked_at, key.expires_at, key.grace_until)
}

/// What the audit log keeps of a key: never the hash.
pub(crate) fn key_snapshot(key: &relay_key::Model) -> Value {
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
        "tpm_limit": key.tpm_limit,
        "daily_budget_micros": key.daily_budget_micros,
        "monthly_budget_micros": key.monthly_budget_micros,
        "per_request_cap_micros": key.per_request_cap_micros,
        "allowed_models": key.allowed_models,
        "ip_allowlist": key.ip_allowlist,
        "max_data_class": key.max_data_class,
        "default_data_class": key.default_data_class,
        "max_tokens_ceiling": key.max_tokens_ceiling,
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
    let spent = spent_this_month(db, &keys, now).await?;
    let rows = keys
        .into_iter()
        .map(|key| {
            let status = state_of(&key, now);
            let usable = status.works();
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
                monthly_budget: key.monthly_budget_micros.map(MicroDollars::new),
                spent_this_month: MicroDollars::new(
                    spent
                        .iter()
                        .find(|(id, _)| *id == key.id)
                        .map_or(0, |(_, micros)| *micros),
                ),
                key,
            }
        })
        .collect();
    Ok((rows, total))
}

/// Each key's cost since the start of the month, from the usage records (one
/// grouped query for the page's keys, on the (key, created_at) index).
async fn spent_this_month(
    db: &DatabaseConnection,
    keys: &[relay_key::Model],
    now: DateTime<Utc>,
) -> Result<Vec<(Uuid, i64)>, ConsoleError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let month_start = now
        .date_naive()
        .with_day(1)
        .unwrap_or(now.date_naive())
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    Ok(usage_record::Entity::find()
        .select_only()
        .column(usage_record::Column::KeyId)
        .column_as(crate::usage::sum_i64("cost_micros"), "spent")
        .filter(usage_record::Column::KeyId.is_in(keys.iter().map(|k| k.id)))
        .filter(usage_record::Column::CreatedAt.gte(month_start))
        .group_by(usage_record::Column::KeyId)
        .into_tuple::<(Uuid, i64)>()
        .all(db)
        .await?)
}

pub(crate) async fn find_key(
    db: &impl sea_orm::ConnectionTrait,
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
    let txn = state.db.begin().await?;
    let (row, key) = ops::create_key(
        &txn,
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
        &txn,
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
    txn.commit().await?;
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
    let txn = state.db.begin().await?;
    let revoked = ops::revoke(&txn, key).await?;
    audit::record(
        &txn,
        scope,
        actor,
        Change {
            action: "key.revoke",
            target_type: "key",
            target_id: Some(revoked.id.to_string()),
            before: Some(before),
            after: Some(key_snapshot(&revoked)),
        },
    )
    .await?;
    txn.commit().await?;
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
    if state_of(&old, now) != KeyState::Active {
        return Err(ConsoleError::Invalid(
            "only an active key can be rotated".into(),
        ));
    }
    let fresh = RelayKey::generate(env, &mut rand::rngs::OsRng);
    let txn = state.db.begin().await?;
    // The successor keeps every setting of the old key; a new key gets a full
    // lifetime.
    let new_row = relay_key::Model {
        id: Uuid::now_v7(),
        display_prefix: fresh.display_prefix(),
        key_hash: state.hasher.hash(&fresh).to_hex(),
        created_at: now,
        updated_at: now,
        expires_at: old
            .expires_at
            .map(|t| now + (t - old.created_at).max(Duration::days(1))),
        revoked_at: None,
        last_used_at: None,
        rotated_from_id: Some(old.id),
        grace_until: None,
        ..old.clone()
    }
    .into_active_model()
    .insert(&txn)
    .await?;
    let before = key_snapshot(&old);
    let mut retiring: relay_key::ActiveModel = old.into();
    // A grace of 0 still needs a moment in the future to read as "grace"; the key
    // then expires at once.
    retiring.grace_until = Set(Some(now + Duration::hours(grace_hours)));
    retiring.updated_at = Set(now);
    let retired = retiring.update(&txn).await?;
    audit::record(
        &txn,
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
    txn.commit().await?;
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
    pub user_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub since: DateTime<Utc>,
}

impl MemberRow {
    pub fn has_role(&self, role: &str) -> bool {
        self.role == role
    }
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
                user_id: u.id,
                email: u.email,
                display_name: u.display_name,
                role: m.role,
                since: m.created_at,
            })
        })
        .collect())
}

/// The membership of `user_id` in the scope's tenant.
async fn find_membership(
    db: &impl sea_orm::ConnectionTrait,
    scope: &TenantScope,
    user_id: Uuid,
) -> Result<membership::Model, ConsoleError> {
    membership::Entity::find()
        .filter(membership::Column::TenantId.eq(scope.tenant_id()))
        .filter(membership::Column::UserId.eq(user_id))
        .one(db)
        .await?
        .ok_or(ConsoleError::NotFound)
}

/// Refuses a change that would leave the tenant without an owner, and lets only
/// owners make or unmake owners (an admin cannot take over the tenant).
async fn check_owner_change(
    db: &impl sea_orm::ConnectionTrait,
    scope: &TenantScope,
    member: &membership::Model,
    new_role: Option<Role>,
) -> Result<(), ConsoleError> {
    let was_owner = member.role == Role::Owner.as_str();
    let becomes_owner = new_role == Some(Role::Owner);
    if (was_owner || becomes_owner) && scope.role() != Role::Owner {
        return Err(ConsoleError::Forbidden);
    }
    if was_owner && !becomes_owner {
        let owners = membership::Entity::find()
            .filter(membership::Column::TenantId.eq(scope.tenant_id()))
            .filter(membership::Column::Role.eq(Role::Owner.as_str()))
            .count(db)
            .await?;
        if owners <= 1 {
            return Err(ConsoleError::Invalid(
                "a tenant keeps at least one owner; make someone else owner first".into(),
            ));
        }
    }
    Ok(())
}

fn member_snapshot(member: &membership::Model) -> Value {
    json!({ "user_id": member.user_id, "role": member.role })
}

/// Gives a member another role.
pub async fn change_role(
    state: &ConsoleState,
    scope: &TenantScope,
    actor: &Actor,
    user_id: Uuid,
    role: Role,
) -> Result<(), ConsoleError> {
    scope.require(Permission::ManageMembers)?;
    let txn = state.db.begin().await?;
    let member = find_membership(&txn, scope, user_id).await?;
    check_owner_change(&txn, scope, &member, Some(role)).await?;
    let before = member_snapshot(&member);
    let mut active: membership::ActiveModel = member.into();
    active.role = Set(role.as_str().to_owned());
    let after = active.update(&txn).await?;
    audit::record(
        &txn,
        scope,
        actor,
        Change {
            action: "member.role",
            target_type: "member",
            target_id: Some(user_id.to_string()),
            before: Some(before),
            after: Some(member_snapshot(&after)),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Removes a member from the tenant. Their keys stay (and keep working) until
/// an admin revokes them: removing a person must not take an app down.
pub async fn remove_member(
    state: &ConsoleState,
    scope: &TenantScope,
    actor: &Actor,
    user_id: Uuid,
) -> Result<(), ConsoleError> {
    scope.require(Permission::ManageMembers)?;
    let txn = state.db.begin().await?;
    let member = find_membership(&txn, scope, user_id).await?;
    check_owner_change(&txn, scope, &member, None).await?;
    let before = member_snapshot(&member);
    membership::Entity::delete_by_id(member.id)
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        scope,
        actor,
        Change {
            action: "member.remove",
            target_type: "member",
            target_id: Some(user_id.to_string()),
            before: Some(before),
            after: None,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}
