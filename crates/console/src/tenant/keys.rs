//! Relay keys: list a tenant's keys per environment, create one (the full key
//! exists once, in the answer), revoke, rotate. Keys are stored only as their
//! keyed hash; the relays apply every change within a second.

use airlock_core::key::{Env, KeyHasher, KeyState, RelayKey};
use airlock_core::money::MicroDollars;
use airlock_schema::entities::{env_default, provider_credential, relay_key, usage_daily, user};
use airlock_schema::stored::Stored;
use chrono::{DateTime, Datelike, Duration, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::audit::{self, Event};
use super::{Actor, DEFAULT_MAX_KEY_AGE_DAYS, Permission, Store, TenantScope};
use crate::error::ConsoleError;

/// Keys per page of the keys table.
pub const KEYS_PER_PAGE: u64 = 50;
/// How long a rotated-out key keeps working unless the caller says otherwise.
pub const DEFAULT_GRACE_HOURS: i64 = 24;
/// The longest grace a rotation may give the old key.
pub const MAX_GRACE_HOURS: i64 = 24 * 30;
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
pub fn state_of(key: &relay_key::Model, now: DateTime<Utc>) -> KeyState {
    KeyState::at(
        now,
        key.revoked_at,
        key.suspended_at,
        key.expires_at,
        key.grace_until,
    )
}

/// What the audit log keeps of a key: never the hash.
/// How far a tenant is in its first steps: a provider, a key, a first call.
/// Counts only (no names), so every member may see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirstSteps {
    pub has_provider: bool,
    pub has_key: bool,
    pub has_call: bool,
}

impl FirstSteps {
    pub fn done(&self) -> bool {
        self.has_provider && self.has_key && self.has_call
    }
}

pub async fn first_steps(store: &Store, scope: &TenantScope) -> Result<FirstSteps, ConsoleError> {
    let tenant = scope.tenant_id();
    let keys = || relay_key::Entity::find().filter(relay_key::Column::TenantId.eq(tenant));
    Ok(FirstSteps {
        has_provider: provider_credential::Entity::find()
            .filter(provider_credential::Column::TenantId.eq(tenant))
            .count(store.db())
            .await?
            > 0,
        has_key: keys().count(store.db()).await? > 0,
        has_call: keys()
            .filter(relay_key::Column::LastUsedAt.is_not_null())
            .count(store.db())
            .await?
            > 0,
    })
}

/// Refuses an expiry past the environment's maximum key age when the
/// environment enforces it (`None`, no expiry, is past every limit).
pub(crate) async fn check_enforced_age(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    env: Env,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<(), ConsoleError> {
    let defaults = env_default::Entity::find()
        .filter(env_default::Column::TenantId.eq(tenant_id))
        .filter(env_default::Column::Env.eq(Stored(env)))
        .one(db)
        .await?;
    let Some(defaults) = defaults.filter(|d| d.enforce_max_age) else {
        return Ok(());
    };
    let limit = created_at + Duration::days(i64::from(defaults.max_key_age_days));
    if expires_at.is_none_or(|at| at > limit) {
        return Err(ConsoleError::InvalidParam(
            "expires_at",
            format!(
                "expiry: the {env} environment enforces a maximum key age of {} days, so this key must expire by {}",
                defaults.max_key_age_days,
                limit.format("%Y-%m-%d")
            ),
        ));
    }
    Ok(())
}

pub(crate) fn snapshot(key: &relay_key::Model) -> Value {
    json!({
        "display_prefix": key.display_prefix,
        "env": key.env.to_string(),
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
        "max_data_class": key.max_data_class.to_string(),
        "default_data_class": key.default_data_class.to_string(),
        "max_tokens_ceiling": key.max_tokens_ceiling,
    })
}

/// One page of a tenant's keys of one environment, newest first, and the total.
/// Which of an environment's keys a list shows, and in what order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyFilter {
    /// Part of the name, or the start of the display prefix; any case.
    pub search: Option<String>,
    pub status: StatusFilter,
    pub sort: KeySort,
}

impl KeyFilter {
    /// Every key, newest first (what the API lists).
    pub fn everything() -> KeyFilter {
        KeyFilter {
            status: StatusFilter::All,
            ..KeyFilter::default()
        }
    }
}

/// Revoked keys are hidden unless asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StatusFilter {
    /// Not revoked (active, in grace, expired).
    #[default]
    NotRevoked,
    Revoked,
    All,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeySort {
    /// Newest first.
    #[default]
    Created,
    /// Most recently used first; never used last.
    LastUsed,
}

/// The longest search a key list takes.
pub const MAX_SEARCH_CHARS: usize = 100;

/// A search as a LIKE pattern's text: `%`, `_` and `\` match themselves.
fn like_escaped(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

pub async fn list(
    store: &Store,
    scope: &TenantScope,
    env: Env,
    filter: &KeyFilter,
    page: u64,
) -> Result<(Vec<KeyRow>, u64), ConsoleError> {
    use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
    scope.require(Permission::ReadKeys)?;
    let db = store.db();
    let mut query = relay_key::Entity::find()
        .filter(relay_key::Column::TenantId.eq(scope.tenant_id()))
        .filter(relay_key::Column::Env.eq(Stored(env)));
    query = match filter.status {
        StatusFilter::NotRevoked => query.filter(relay_key::Column::RevokedAt.is_null()),
        StatusFilter::Revoked => query.filter(relay_key::Column::RevokedAt.is_not_null()),
        StatusFilter::All => query,
    };
    if let Some(search) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let search: String = search
            .to_lowercase()
            .chars()
            .take(MAX_SEARCH_CHARS)
            .collect();
        let escaped = like_escaped(&search);
        let lower = |column: relay_key::Column| Func::lower(Expr::col((relay_key::Entity, column)));
        query = query.filter(
            Condition::any()
                .add(
                    lower(relay_key::Column::Name)
                        .like(LikeExpr::new(format!("%{escaped}%")).escape('\\')),
                )
                .add(
                    lower(relay_key::Column::DisplayPrefix)
                        .like(LikeExpr::new(format!("{escaped}%")).escape('\\')),
                ),
        );
    }
    let total = query.clone().count(db).await?;
    let query = match filter.sort {
        KeySort::Created => query,
        // Never used last on both backends: "is null" first, then the time.
        KeySort::LastUsed => query
            .order_by_asc(Expr::col((relay_key::Entity, relay_key::Column::LastUsedAt)).is_null())
            .order_by_desc(relay_key::Column::LastUsedAt),
    };
    let keys = query
        .order_by_desc(relay_key::Column::CreatedAt)
        .order_by_desc(relay_key::Column::Id)
        .offset(page.saturating_mul(KEYS_PER_PAGE))
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

/// Each key's cost since the start of the month, from the daily rollups (one
/// grouped query for the page's keys).
async fn spent_this_month(
    db: &impl ConnectionTrait,
    keys: &[relay_key::Model],
    now: DateTime<Utc>,
) -> Result<Vec<(Uuid, i64)>, ConsoleError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let month_start = now.date_naive().with_day(1).unwrap_or(now.date_naive());
    let mut tenants: Vec<Uuid> = keys.iter().map(|k| k.tenant_id).collect();
    tenants.sort_unstable();
    tenants.dedup();
    Ok(usage_daily::Grain::Keys
        .find()
        .select_only()
        .column(usage_daily::Column::KeyId)
        .column_as(super::usage::sum_i64("cost_micros"), "spent")
        // The tenant first: it leads the rollup's index.
        .filter(usage_daily::Column::TenantId.is_in(tenants))
        .filter(usage_daily::Column::KeyId.is_in(keys.iter().map(|k| k.id)))
        .filter(usage_daily::Column::Day.gte(month_start))
        .group_by(usage_daily::Column::KeyId)
        .into_tuple::<(Uuid, i64)>()
        .all(db)
        .await?)
}

/// A key of the scope's tenant by id (another tenant's key is not found).
pub async fn get(
    store: &Store,
    scope: &TenantScope,
    key_id: Uuid,
) -> Result<relay_key::Model, ConsoleError> {
    scope.require(Permission::ReadKeys)?;
    find(store.db(), scope, key_id).await
}

pub(crate) async fn find(
    db: &impl ConnectionTrait,
    scope: &TenantScope,
    key_id: Uuid,
) -> Result<relay_key::Model, ConsoleError> {
    relay_key::Entity::find_by_id(key_id)
        .filter(relay_key::Column::TenantId.eq(scope.tenant_id()))
        .one(db)
        .await?
        .ok_or(ConsoleError::NotFound)
}

/// Every key of the tenant as (id, name, display prefix), revoked ones too (their
/// usage still shows), newest first: what the usage filters offer.
pub async fn all_names(
    store: &Store,
    scope: &TenantScope,
) -> Result<Vec<(Uuid, String, String)>, ConsoleError> {
    scope.require(Permission::ReadKeys)?;
    Ok(relay_key::Entity::find()
        .select_only()
        .column(relay_key::Column::Id)
        .column(relay_key::Column::Name)
        .column(relay_key::Column::DisplayPrefix)
        .filter(relay_key::Column::TenantId.eq(scope.tenant_id()))
        .order_by_desc(relay_key::Column::CreatedAt)
        .into_tuple()
        .all(store.db())
        .await?)
}

/// A key of the scope's tenant by its display prefix (how the CLI names keys).
pub async fn by_prefix(
    store: &Store,
    scope: &TenantScope,
    display_prefix: &str,
) -> Result<relay_key::Model, ConsoleError> {
    scope.require(Permission::ReadKeys)?;
    relay_key::Entity::find()
        .filter(relay_key::Column::TenantId.eq(scope.tenant_id()))
        .filter(relay_key::Column::DisplayPrefix.eq(display_prefix))
        .one(store.db())
        .await?
        .ok_or(ConsoleError::NotFound)
}

/// A key to make. The caller becomes its owner (the operator makes keys with
/// none).
pub struct NewKey<'a> {
    /// Hashes the key with the pepper the relays look it up by.
    pub hasher: &'a KeyHasher,
    pub env: Env,
    pub name: String,
    /// Empty: every model.
    pub allowed_models: Vec<String>,
    /// Defaults to now plus the environment's maximum key age.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key just made: its row, and the key itself, which exists only here.
pub struct Created {
    pub row: relay_key::Model,
    pub key: RelayKey,
}

fn check_name(name: &str) -> Result<String, ConsoleError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ConsoleError::Invalid(
            "a key needs a name of 1–100 printable characters".into(),
        ));
    }
    Ok(name.to_owned())
}

fn check_models(models: Vec<String>) -> Result<Vec<String>, ConsoleError> {
    let models: Vec<String> = models
        .into_iter()
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .collect();
    if models.len() > 200
        || models
            .iter()
            .any(|m| m.len() > 200 || m.chars().any(char::is_control))
    {
        return Err(ConsoleError::Invalid(
            "allowed models are at most 200 names of at most 200 printable characters".into(),
        ));
    }
    Ok(models)
}

/// Creates a key with its environment's default limits.
pub async fn create(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    new: NewKey<'_>,
) -> Result<Created, ConsoleError> {
    scope.require(Permission::ManageKeys(new.env))?;
    let name = check_name(&new.name)?;
    let allowed_models = check_models(new.allowed_models)?;
    let now = Utc::now();
    if new.expires_at.is_some_and(|t| t <= now) {
        return Err(ConsoleError::Invalid(
            "the expiry must be in the future".into(),
        ));
    }
    let txn = store.db().begin().await?;
    let defaults = env_default::Entity::find()
        .filter(env_default::Column::TenantId.eq(scope.tenant_id()))
        .filter(env_default::Column::Env.eq(Stored(new.env)))
        .one(&txn)
        .await?;
    let key = RelayKey::generate(new.env, &mut rand::rngs::OsRng);
    let max_age = defaults
        .as_ref()
        .map_or(DEFAULT_MAX_KEY_AGE_DAYS, |d| d.max_key_age_days);
    let expires_at = new
        .expires_at
        .unwrap_or(now + Duration::days(i64::from(max_age)));
    check_enforced_age(&txn, scope.tenant_id(), new.env, now, Some(expires_at)).await?;
    let row = relay_key::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id()),
        env: Set(Stored(new.env)),
        name: Set(name),
        display_prefix: Set(key.display_prefix()),
        key_hash: Set(new.hasher.hash(&key).to_hex()),
        owner_user_id: Set(scope.user_id()),
        created_at: Set(now),
        updated_at: Set(now),
        expires_at: Set(Some(expires_at)),
        revoked_at: Set(None),
        suspended_at: Set(None),
        last_used_at: Set(None),
        rotated_from_id: Set(None),
        grace_until: Set(None),
        rpm_limit: Set(defaults.as_ref().map(|d| d.rpm_limit)),
        tpm_limit: Set(defaults.as_ref().and_then(|d| d.tpm_limit)),
        daily_budget_micros: Set(None),
        monthly_budget_micros: Set(defaults.as_ref().map(|d| d.monthly_budget_micros)),
        per_request_cap_micros: Set(None),
        allowed_models: Set(json!(allowed_models)),
        ip_allowlist: Set(json!([])),
        max_data_class: Set(Stored(airlock_core::class::DataClass::Internal)),
        default_data_class: Set(Stored(airlock_core::class::DataClass::Internal)),
        max_tokens_ceiling: Set(None),
        reject_over_ceiling: Set(false),
    }
    .insert(&txn)
    .await?;
    audit::commit_with(
        txn,
        store,
        scope,
        actor,
        Event {
            action: "key.create",
            target_type: "key",
            target_id: Some(row.id.to_string()),
            before: None,
            after: Some(snapshot(&row)),
        },
    )
    .await?;
    Ok(Created { row, key })
}

/// Revokes a key; the relays refuse it within their poll interval.
pub async fn revoke(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    key_id: Uuid,
) -> Result<relay_key::Model, ConsoleError> {
    let txn = store.db().begin().await?;
    let key = find(&txn, scope, key_id).await?;
    scope.require_key(*key.env, key.owner_user_id)?;
    if key.revoked_at.is_some() {
        return Err(ConsoleError::Invalid("this key is already revoked".into()));
    }
    let before = snapshot(&key);
    let now = Utc::now();
    let mut active: relay_key::ActiveModel = key.into();
    active.revoked_at = Set(Some(now));
    active.updated_at = Set(now);
    let revoked = active.update(&txn).await?;
    audit::commit_with(
        txn,
        store,
        scope,
        actor,
        Event {
            action: "key.revoke",
            target_type: "key",
            target_id: Some(revoked.id.to_string()),
            before: Some(before),
            after: Some(snapshot(&revoked)),
        },
    )
    .await?;
    Ok(revoked)
}

/// A rotation as asked for.
pub struct Rotation<'a> {
    pub hasher: &'a KeyHasher,
    pub key_id: Uuid,
    /// How long the old key keeps working: 0 (ends now) to [`MAX_GRACE_HOURS`].
    pub grace_hours: i64,
}

/// A rotation's outcome: the retiring key (with its `grace_until`), the new row
/// and the new key, shown once.
pub struct Rotated {
    pub old: relay_key::Model,
    pub new: relay_key::Model,
    pub key: RelayKey,
}

/// Rotates a key: a successor with the same settings and the same expiry (a
/// rotation never extends a key's life), and the old key kept working for the
/// grace period. Both show in the list until the grace ends.
pub async fn rotate(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    rotation: Rotation<'_>,
) -> Result<Rotated, ConsoleError> {
    if !(0..=MAX_GRACE_HOURS).contains(&rotation.grace_hours) {
        return Err(ConsoleError::Invalid(format!(
            "the grace period is 0 to {MAX_GRACE_HOURS} hours"
        )));
    }
    let txn = store.db().begin().await?;
    let old = find(&txn, scope, rotation.key_id).await?;
    scope.require_key(*old.env, old.owner_user_id)?;
    let now = Utc::now();
    if state_of(&old, now) != KeyState::Active {
        return Err(ConsoleError::Invalid(
            "only an active key can be rotated".into(),
        ));
    }
    let fresh = RelayKey::generate(*old.env, &mut rand::rngs::OsRng);
    let new_row = relay_key::Model {
        id: Uuid::now_v7(),
        display_prefix: fresh.display_prefix(),
        key_hash: rotation.hasher.hash(&fresh).to_hex(),
        created_at: now,
        updated_at: now,
        expires_at: old.expires_at,
        revoked_at: None,
        last_used_at: None,
        rotated_from_id: Some(old.id),
        grace_until: None,
        ..old.clone()
    }
    .into_active_model()
    .insert(&txn)
    .await?;
    let before = snapshot(&old);
    // The old key may not outlive its own expiry through the grace either.
    let mut grace_until = now + Duration::hours(rotation.grace_hours);
    if let Some(expires) = old.expires_at {
        grace_until = grace_until.min(expires);
    }
    let mut retiring: relay_key::ActiveModel = old.into();
    retiring.grace_until = Set(Some(grace_until));
    retiring.updated_at = Set(now);
    let retired = retiring.update(&txn).await?;
    audit::commit_with(
        txn,
        store,
        scope,
        actor,
        Event {
            action: "key.rotate",
            target_type: "key",
            target_id: Some(retired.id.to_string()),
            before: Some(before),
            after: Some(json!({"old": snapshot(&retired), "new": snapshot(&new_row)})),
        },
    )
    .await?;
    Ok(Rotated {
        old: retired,
        new: new_row,
        key: fresh,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::TestStore;
    use super::*;
    use airlock_core::role::Role;

    fn hasher() -> KeyHasher {
        KeyHasher::new(&[5; 32]).unwrap()
    }

    fn new_key(hasher: &KeyHasher, env: Env) -> NewKey<'_> {
        NewKey {
            hasher,
            env,
            name: "app".into(),
            allowed_models: vec![],
            expires_at: None,
        }
    }

    #[tokio::test]
    async fn developers_make_dev_keys_but_not_prod_keys() {
        let store = TestStore::new().await;
        let scope = store.tenant("acme").await;
        let (_, dev) = store.member(&scope, Role::Developer).await;
        let hasher = hasher();
        let created = create(&store, &dev, &Actor::cli(), new_key(&hasher, Env::Dev))
            .await
            .unwrap();
        assert_eq!(created.row.owner_user_id, dev.user_id());
        assert!(matches!(
            create(&store, &dev, &Actor::cli(), new_key(&hasher, Env::Prod)).await,
            Err(ConsoleError::Forbidden)
        ));
    }

    #[tokio::test]
    async fn names_models_and_expiries_are_validated() {
        let store = TestStore::new().await;
        let scope = store.tenant("acme").await;
        let hasher = hasher();
        for (change, expected) in [
            (
                NewKey {
                    name: " ".into(),
                    ..new_key(&hasher, Env::Dev)
                },
                "1–100",
            ),
            (
                NewKey {
                    name: "x\u{7}".into(),
                    ..new_key(&hasher, Env::Dev)
                },
                "printable",
            ),
            (
                NewKey {
                    allowed_models: vec!["m\u{7}".into()],
                    ..new_key(&hasher, Env::Dev)
                },
                "allowed models",
            ),
            (
                NewKey {
                    expires_at: Some(Utc::now() - Duration::days(1)),
                    ..new_key(&hasher, Env::Dev)
                },
                "future",
            ),
        ] {
            let err = create(&store, &scope, &Actor::cli(), change)
                .await
                .err()
                .unwrap();
            assert!(err.to_string().contains(expected), "{err}");
        }
    }

    #[tokio::test]
    async fn rotation_keeps_the_old_expiry_and_bounds_the_grace() {
        let store = TestStore::new().await;
        let scope = store.tenant("acme").await;
        let hasher = hasher();
        let expires = Utc::now() + Duration::hours(5);
        let created = create(
            &store,
            &scope,
            &Actor::cli(),
            NewKey {
                expires_at: Some(expires),
                ..new_key(&hasher, Env::Dev)
            },
        )
        .await
        .unwrap();
        let rotated = rotate(
            &store,
            &scope,
            &Actor::cli(),
            Rotation {
                hasher: &hasher,
                key_id: created.row.id,
                grace_hours: 24,
            },
        )
        .await
        .unwrap();
        assert_eq!(
            rotated.new.expires_at, created.row.expires_at,
            "never extended"
        );
        assert!(rotated.old.grace_until.unwrap() <= created.row.expires_at.unwrap());
        let err = rotate(
            &store,
            &scope,
            &Actor::cli(),
            Rotation {
                hasher: &hasher,
                key_id: rotated.new.id,
                grace_hours: MAX_GRACE_HOURS + 1,
            },
        )
        .await
        .err()
        .unwrap();
        assert!(err.to_string().contains("grace period"));
    }

    #[tokio::test]
    async fn another_tenants_key_is_not_found() {
        let store = TestStore::new().await;
        let acme = store.tenant("acme").await;
        let other = store.tenant("other").await;
        let hasher = hasher();
        let created = create(&store, &acme, &Actor::cli(), new_key(&hasher, Env::Dev))
            .await
            .unwrap();
        assert!(matches!(
            revoke(&store, &other, &Actor::cli(), created.row.id).await,
            Err(ConsoleError::NotFound)
        ));
        revoke(&store, &acme, &Actor::cli(), created.row.id)
            .await
            .unwrap();
        assert!(matches!(
            revoke(&store, &acme, &Actor::cli(), created.row.id).await,
            Err(ConsoleError::Invalid(_))
        ));
    }
}
