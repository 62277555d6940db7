//! Relay keys by their keyed hash. The map is keyed by the HMAC of the whole key
//! (never by the display prefix), so a cached entry can only be reached with the
//! full secret. Unknown keys are remembered briefly so a flood of made-up keys
//! with valid checksums costs one database read per key per second at most.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use airlock_core::class::DataClass;
use airlock_core::key::{Env, KeyHash};
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
    pub grace_until: Option<DateTime<Utc>>,
    pub allowed_models: Vec<String>,
    pub default_data_class: DataClass,
    pub max_data_class: DataClass,
}

impl CachedKey {
    /// Builds the cached view; a row the relay cannot interpret (unknown env) is
    /// treated as unusable rather than guessed at.
    pub fn from_row(row: &relay_key::Model) -> Option<CachedKey> {
        let env: Env = row.env.parse().ok()?;
        let strings = |value: &serde_json::Value| -> Vec<String> {
            value
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        Some(CachedKey {
            id: row.id,
            tenant_id: row.tenant_id,
            env,
            display_prefix: row.display_prefix.clone(),
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            grace_until: row.grace_until,
            allowed_models: strings(&row.allowed_models),
            default_data_class: row
                .default_data_class
                .parse()
                .unwrap_or(DataClass::Internal),
            max_data_class: row.max_data_class.parse().unwrap_or(DataClass::Internal),
        })
    }

    /// Revoked, expired, or a rotated-out key past its grace period.
    pub fn check_state(&self, now: DateTime<Utc>) -> Result<(), RelayError> {
        if self.revoked_at.is_some_and(|t| t <= now) {
            return Err(RelayError::KeyRevoked);
        }
        if self.expires_at.is_some_and(|t| t <= now) || self.grace_until.is_some_and(|t| t <= now) {
            return Err(RelayError::KeyExpired);
        }
        Ok(())
    }

    pub fn allows_model(&self, model: &str) -> bool {
        self.allowed_models.is_empty() || self.allowed_models.iter().any(|m| m == model)
    }
}

/// Unknown-key entries beyond this are dropped wholesale (they are only an optimisation).
const MAX_UNKNOWN: usize = 100_000;

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
            grace_until: None,
            allowed_models: vec![],
            default_data_class: DataClass::Internal,
            max_data_class: DataClass::Internal,
        }
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
