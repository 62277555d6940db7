//! Relay keys by their keyed hash. The map is keyed by the HMAC of the whole key
//! (never by the display prefix), so a cached entry can only be reached with the
//! full secret. Unknown keys are remembered briefly so a flood of made-up keys
//! with valid checksums costs one database read per key per second at most.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use airlock_core::class::DataClass;
use airlock_core::key::{Env, KeyHash, KeyState};
use airlock_core::money::MicroDollars;
use airlock_core::netaddr::{IpNet, parse_cidrs};
use airlock_schema::entities::relay_key;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::RelayError;

/// What the hot path needs to know about a key.
#[derive(Clone, Debug)]
pub struct CachedKey {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub env: Env,
    pub display_prefix: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Set while an incident holds the key (refused with `key_suspended`).
    pub suspended_at: Option<DateTime<Utc>>,
    pub grace_until: Option<DateTime<Utc>>,
    pub allowed_models: Vec<String>,
    pub default_data_class: DataClass,
    pub max_data_class: DataClass,
    /// `None`: the environment's default applies.
    pub rpm_limit: Option<u32>,
    pub tpm_limit: Option<u32>,
    pub daily_budget: Option<MicroDollars>,
    pub monthly_budget: Option<MicroDollars>,
    pub per_request_cap: Option<MicroDollars>,
    pub ip_allowlist: IpAllowlist,
    pub max_tokens_ceiling: Option<u32>,
    pub reject_over_ceiling: bool,
}

/// A key's allowed client networks. An entry the relay cannot parse (the console
/// and CLI validate, so only a hand-edited row has one) closes the key to every
/// address rather than silently widening it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum IpAllowlist {
    #[default]
    Any,
    Only(Vec<IpNet>),
    Unreadable,
}

impl IpAllowlist {
    fn from_entries(entries: &[String]) -> IpAllowlist {
        if entries.is_empty() {
            return IpAllowlist::Any;
        }
        match parse_cidrs(entries.iter().map(String::as_str)) {
            Ok(nets) => IpAllowlist::Only(nets),
            Err(_) => IpAllowlist::Unreadable,
        }
    }

    pub fn allows(&self, ip: std::net::IpAddr) -> bool {
        match self {
            IpAllowlist::Any => true,
            IpAllowlist::Only(nets) => airlock_core::netaddr::allowed(nets, ip),
            IpAllowlist::Unreadable => false,
        }
    }
}

impl CachedKey {
    /// Builds the cached view. (Stored words were parsed when the row was read: an
    /// unreadable row fails its query rather than being guessed at here.)
    pub fn from_row(row: &relay_key::Model) -> Option<CachedKey> {
        let strings = airlock_schema::json_strings;
        Some(CachedKey {
            id: row.id,
            tenant_id: row.tenant_id,
            env: *row.env,
            display_prefix: row.display_prefix.clone(),
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            suspended_at: row.suspended_at,
            grace_until: row.grace_until,
            allowed_models: strings(&row.allowed_models),
            default_data_class: *row.default_data_class,
            max_data_class: *row.max_data_class,
            rpm_limit: row.rpm_limit.and_then(|v| u32::try_from(v).ok()),
            tpm_limit: row.tpm_limit.and_then(|v| u32::try_from(v).ok()),
            daily_budget: row.daily_budget_micros.map(MicroDollars::new),
            monthly_budget: row.monthly_budget_micros.map(MicroDollars::new),
            per_request_cap: row.per_request_cap_micros.map(MicroDollars::new),
            ip_allowlist: IpAllowlist::from_entries(&strings(&row.ip_allowlist)),
            max_tokens_ceiling: row.max_tokens_ceiling.and_then(|v| u32::try_from(v).ok()),
            reject_over_ceiling: row.reject_over_ceiling,
        })
    }

    /// Revoked, expired, suspended in an incident, or a rotated-out key past its
    /// grace period.
    pub fn check_state(&self, now: DateTime<Utc>) -> Result<(), RelayError> {
        match KeyState::at(
            now,
            self.revoked_at,
            self.suspended_at,
            self.expires_at,
            self.grace_until,
        ) {
            KeyState::Revoked => Err(RelayError::KeyRevoked),
            KeyState::Expired => Err(RelayError::KeyExpired),
            KeyState::Suspended => Err(RelayError::KeySuspended),
            KeyState::Active | KeyState::Grace => Ok(()),
        }
    }

    pub fn allows_model(&self, model: &str) -> bool {
        self.allowed_models.is_empty() || self.allowed_models.iter().any(|m| m == model)
    }
}

/// Unknown-key entries beyond this are dropped wholesale (they are only an optimisation).
const MAX_UNKNOWN: usize = 100_000;

/// Database lookups of uncached keys a client network may cause per minute.
const UNKNOWN_LOOKUPS_PER_MINUTE: u32 = 60;
/// Tracked client networks beyond which fully refilled entries are dropped; beyond
/// four times as many, all are (memory stays bounded whatever the attacker spreads).
const MAX_TRACKED_NETWORKS: usize = 10_000;

/// Limits how many database lookups of keys the relay does not know one client
/// network can cause. Keys with a valid checksum cost nothing to make up; without
/// this each one would be a database read.
pub struct UnknownKeyThrottle {
    limiter: RwLock<Arc<governor::DefaultKeyedRateLimiter<std::net::IpAddr>>>,
}

fn unknown_key_limiter() -> Arc<governor::DefaultKeyedRateLimiter<std::net::IpAddr>> {
    let per_minute =
        std::num::NonZeroU32::new(UNKNOWN_LOOKUPS_PER_MINUTE).unwrap_or(std::num::NonZeroU32::MIN);
    Arc::new(governor::RateLimiter::keyed(governor::Quota::per_minute(
        per_minute,
    )))
}

impl Default for UnknownKeyThrottle {
    fn default() -> Self {
        Self {
            limiter: RwLock::new(unknown_key_limiter()),
        }
    }
}

impl UnknownKeyThrottle {
    /// `Ok` when this client may look up one more unknown key now, else the
    /// whole seconds to wait.
    pub fn admit(&self, client: Option<std::net::IpAddr>) -> Result<(), u64> {
        let Some(client) = client else { return Ok(()) };
        let limiter = match self.limiter.read() {
            Ok(limiter) => limiter.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        if limiter.len() > MAX_TRACKED_NETWORKS {
            limiter.retain_recent();
            // Still too many networks in one window: start over rather than grow.
            if limiter.len() > 4 * MAX_TRACKED_NETWORKS
                && let Ok(mut slot) = self.limiter.write()
            {
                *slot = unknown_key_limiter();
            }
        }
        let network = airlock_core::netaddr::client_network(client);
        limiter.check_key(&network).map_err(|not_until| {
            use governor::clock::Clock;
            let now = governor::clock::DefaultClock::default().now();
            not_until.wait_time_from(now).as_secs().max(1)
        })
    }
}

pub struct KeyCache {
    known: RwLock<HashMap<KeyHash, Arc<CachedKey>>>,
    unknown: RwLock<HashMap<KeyHash, Instant>>,
    unknown_ttl: Duration,
}

pub enum Lookup {
    Known(Arc<CachedKey>),
    /// Recently looked up and not found.
    Unknown,
    /// Not in memory: ask the database.
    Miss,
}

impl KeyCache {
    pub fn new(unknown_ttl: Duration) -> Self {
        Self {
            known: RwLock::new(HashMap::new()),
            unknown: RwLock::new(HashMap::new()),
            unknown_ttl,
        }
    }

    pub fn lookup(&self, hash: &KeyHash) -> Lookup {
        if let Ok(known) = self.known.read()
            && let Some(key) = known.get(hash)
        {
            return Lookup::Known(key.clone());
        }
        if let Ok(unknown) = self.unknown.read()
            && unknown
                .get(hash)
                .is_some_and(|until| *until > Instant::now())
        {
            return Lookup::Unknown;
        }
        Lookup::Miss
    }

    /// Stores what the database said about a hash: the row, or that there is none.
    pub fn remember(
        &self,
        hash: KeyHash,
        row: Option<&relay_key::Model>,
    ) -> Option<Arc<CachedKey>> {
        match row.and_then(CachedKey::from_row) {
            Some(key) => {
                let key = Arc::new(key);
                self.insert(hash, key.clone());
                Some(key)
            }
            None => {
                if let Ok(mut unknown) = self.unknown.write() {
                    if unknown.len() >= MAX_UNKNOWN {
                        unknown.clear();
                    }
                    unknown.insert(hash, Instant::now() + self.unknown_ttl);
                }
                None
            }
        }
    }

    /// Ids of every cached key (for the periodic full reload).
    pub fn cached_ids(&self) -> Vec<Uuid> {
        self.known
            .read()
            .map(|known| known.values().map(|k| k.id).collect())
            .unwrap_or_default()
    }

    /// Drops cached keys whose rows are gone from the database.
    pub fn forget_missing(
        &self,
        checked: &std::collections::HashSet<Uuid>,
        present: &std::collections::HashSet<Uuid>,
    ) {
        if let Ok(mut known) = self.known.write() {
            known.retain(|_, key| !checked.contains(&key.id) || present.contains(&key.id));
        }
    }

    /// Applies a changed row from the database (the poller calls this).
    pub fn apply_change(&self, row: &relay_key::Model) {
        let Some(hash) = KeyHash::from_hex(&row.key_hash) else {
            return;
        };
        match CachedKey::from_row(row) {
            Some(key) => self.insert(hash, Arc::new(key)),
            None => {
                if let Ok(mut known) = self.known.write() {
                    known.remove(&hash);
                }
            }
        }
    }

    fn insert(&self, hash: KeyHash, key: Arc<CachedKey>) {
        if let Ok(mut unknown) = self.unknown.write() {
            unknown.remove(&hash);
        }
        if let Ok(mut known) = self.known.write() {
            known.insert(hash, key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration as ChronoDuration;

    fn key() -> CachedKey {
        CachedKey {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            env: Env::Dev,
            display_prefix: "dev_x".into(),
            expires_at: None,
            revoked_at: None,
            suspended_at: None,
            grace_until: None,
            allowed_models: vec![],
            default_data_class: DataClass::Internal,
            max_data_class: DataClass::Internal,
            rpm_limit: None,
            tpm_limit: None,
            daily_budget: None,
            monthly_budget: None,
            per_request_cap: None,
            ip_allowlist: IpAllowlist::Any,
            max_tokens_ceiling: None,
            reject_over_ceiling: false,
        }
    }

    #[test]
    fn ip_allowlists_parse_and_fail_closed() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert!(IpAllowlist::from_entries(&[]).allows(ip("192.0.2.1")));
        let only = IpAllowlist::from_entries(&["192.0.2.0/24".into(), "2001:db8::/32".into()]);
        assert!(only.allows(ip("192.0.2.9")) && only.allows(ip("2001:db8::5")));
        assert!(!only.allows(ip("198.51.100.1")));
        let broken = IpAllowlist::from_entries(&["192.0.2.0/24".into(), "nonsense".into()]);
        assert_eq!(broken, IpAllowlist::Unreadable);
        assert!(!broken.allows(ip("192.0.2.9")));
    }

    #[test]
    fn state_checks_follow_revocation_expiry_and_grace() {
        let now = Utc::now();
        assert!(key().check_state(now).is_ok());
        let revoked = CachedKey {
            revoked_at: Some(now),
            ..key()
        };
        assert_eq!(revoked.check_state(now), Err(RelayError::KeyRevoked));
        let expired = CachedKey {
            expires_at: Some(now - ChronoDuration::seconds(1)),
            ..key()
        };
        assert_eq!(expired.check_state(now), Err(RelayError::KeyExpired));
        let in_grace = CachedKey {
            grace_until: Some(now + ChronoDuration::hours(1)),
            ..key()
        };
        assert!(in_grace.check_state(now).is_ok());
        let after_grace = CachedKey {
            grace_until: Some(now - ChronoDuration::seconds(1)),
            ..key()
        };
        assert_eq!(after_grace.check_state(now), Err(RelayError::KeyExpired));
        let suspended = CachedKey {
            suspended_at: Some(now),
            ..key()
        };
        assert_eq!(suspended.check_state(now), Err(RelayError::KeySuspended));
        // A suspended key that also expired says so: expiry is final.
        let both = CachedKey {
            suspended_at: Some(now),
            expires_at: Some(now - ChronoDuration::seconds(1)),
            ..key()
        };
        assert_eq!(both.check_state(now), Err(RelayError::KeyExpired));
    }

    #[test]
    fn an_empty_allow_list_allows_every_model() {
        assert!(key().allows_model("gpt-4o"));
        let limited = CachedKey {
            allowed_models: vec!["gpt-4o-mini".into()],
            ..key()
        };
        assert!(limited.allows_model("gpt-4o-mini"));
        assert!(!limited.allows_model("gpt-4o"));
    }
}
