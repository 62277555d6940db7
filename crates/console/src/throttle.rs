//! Sign-in throttling by failures, and a cap on concurrent password hashing.
//!
//! Only failed attempts count, in three windows:
//! - per (account, client network): a client that keeps guessing one account is
//!   stopped for it;
//! - per client network: a client spraying many accounts is stopped;
//! - per account: many networks guessing one account stop only those that have
//!   failed on it themselves, so the owner, signing in from a network that has
//!   not failed, is never locked out by someone else's guesses.
//!
//! Client networks are IPv4 addresses and IPv6 /64s (one subscriber holds a /64).
//! Counts live in this console process (several consoles each keep their own);
//! memory is bounded. Argon2 runs for every attempt, known account or not, so
//! [`SignInThrottle::hashing`] caps how many run at once: a flood of sign-ins
//! queues instead of taking every core.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use airlock_core::netaddr::client_network;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Failures of one client on one account before that pair is stopped.
const PER_ACCOUNT_CLIENT: u32 = 5;
/// Failures of one client network on any accounts before it is stopped.
const PER_CLIENT: u32 = 20;
/// Failures on one account, from anywhere, before clients that failed on it are
/// stopped for it.
const PER_ACCOUNT: u32 = 50;
/// How long failures are remembered.
const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Entries per map beyond which expired ones are swept, and beyond four times
/// which the oldest half is dropped (memory stays bounded whatever an attacker
/// sends; dropping only ever forgets failures).
const MAX_TRACKED: usize = 10_000;
/// Argon2 verifications at once.
const MAX_HASHING: usize = 4;

/// Failures in a window: count and when the window started.
#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
}

struct Counts<K> {
    map: HashMap<K, Failures>,
}

impl<K> Default for Counts<K> {
    fn default() -> Self {
        Counts {
            map: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone> Counts<K> {
    fn get(&self, key: &K, now: Instant) -> u32 {
        self.map
            .get(key)
            .filter(|f| now.duration_since(f.since) < WINDOW)
            .map_or(0, |f| f.count)
    }

    fn add(&mut self, key: K, now: Instant) {
        if self.map.len() >= MAX_TRACKED {
            self.map.retain(|_, f| now.duration_since(f.since) < WINDOW);
            if self.map.len() >= 4 * MAX_TRACKED {
                let mut ages: Vec<Instant> = self.map.values().map(|f| f.since).collect();
                ages.sort_unstable();
                let cut = ages[ages.len() / 2];
                self.map.retain(|_, f| f.since > cut);
            }
        }
        let entry = self.map.entry(key).or_insert(Failures {
            count: 0,
            since: now,
        });
        if now.duration_since(entry.since) >= WINDOW {
            *entry = Failures {
                count: 0,
                since: now,
            };
        }
        entry.count = entry.count.saturating_add(1);
    }

    fn clear(&mut self, key: &K) {
        self.map.remove(key);
    }
}

#[derive(Default)]
struct State {
    pairs: Counts<(String, IpAddr)>,
    clients: Counts<IpAddr>,
    accounts: Counts<String>,
}

pub struct SignInThrottle {
    state: Mutex<State>,
    hashing: Semaphore,
}

impl Default for SignInThrottle {
    fn default() -> Self {
        Self {
            state: Mutex::new(State::default()),
            hashing: Semaphore::new(MAX_HASHING),
        }
    }
}

impl SignInThrottle {
    /// May this client try to sign in to this account now?
    pub fn allows(&self, account: &str, client: Option<IpAddr>) -> bool {
        self.allows_at(account, client, Instant::now())
    }

    fn allows_at(&self, account: &str, client: Option<IpAddr>, now: Instant) -> bool {
        let Ok(state) = self.state.lock() else {
            return true;
        };
        let account = account.to_owned();
        let Some(client) = client.map(client_network) else {
            return state.accounts.get(&account, now) < PER_ACCOUNT;
        };
        let pair = state.pairs.get(&(account.clone(), client), now);
        if pair >= PER_ACCOUNT_CLIENT || state.clients.get(&client, now) >= PER_CLIENT {
            return false;
        }
        // An account under attack stops the attackers (clients that failed on it),
        // not the owner.
        !(pair > 0 && state.accounts.get(&account, now) >= PER_ACCOUNT)
    }

    /// Counts a failed attempt.
    pub fn failed(&self, account: &str, client: Option<IpAddr>) {
        self.failed_at(account, client, Instant::now());
    }

    fn failed_at(&self, account: &str, client: Option<IpAddr>, now: Instant) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.accounts.add(account.to_owned(), now);
        if let Some(client) = client.map(client_network) {
            state.pairs.add((account.to_owned(), client), now);
            state.clients.add(client, now);
        }
    }

    /// A success clears that client's failures on that account.
    pub fn succeeded(&self, account: &str, client: Option<IpAddr>) {
        if let (Ok(mut state), Some(client)) = (self.state.lock(), client) {
            state
                .pairs
                .clear(&(account.to_owned(), client_network(client)));
        }
    }

    /// A turn at password hashing (waits while [`MAX_HASHING`] are running).
    pub async fn hashing(&self) -> Option<SemaphorePermit<'_>> {
        self.hashing.acquire().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn only_failures_count_and_a_success_forgives_the_client() {
        let throttle = SignInThrottle::default();
        let me = ip("192.0.2.1");
        for _ in 0..100 {
            assert!(
                throttle.allows("a@example.com", me),
                "successes never lock out"
            );
        }
        for _ in 0..PER_ACCOUNT_CLIENT {
            assert!(throttle.allows("a@example.com", me));
            throttle.failed("a@example.com", me);
        }
        assert!(!throttle.allows("a@example.com", me));
        assert!(
            throttle.allows("b@example.com", me),
            "other accounts are fine"
        );
        throttle.succeeded("a@example.com", me);
        assert!(throttle.allows("a@example.com", me));
    }

    #[test]
    fn a_distributed_attack_does_not_lock_the_owner_out() {
        let throttle = SignInThrottle::default();
        for i in 0..PER_ACCOUNT + 10 {
            let attacker = ip(&format!("198.51.{}.{}", i / 200, i % 200 + 1));
            throttle.failed("victim@example.com", attacker);
        }
        // Attackers who failed are stopped for this account...
        assert!(!throttle.allows("victim@example.com", ip("198.51.0.1")));
        // ...the owner, from a network that never failed, is not.
        assert!(throttle.allows("victim@example.com", ip("203.0.113.7")));
    }

    #[test]
    fn a_spraying_client_is_stopped_and_ipv6_counts_by_its_64() {
        let throttle = SignInThrottle::default();
        for i in 0..PER_CLIENT {
            let address = ip(&format!("2001:db8:1:1::{:x}", i + 1));
            throttle.failed(&format!("user{i}@example.com"), address);
        }
        assert!(!throttle.allows("fresh@example.com", ip("2001:db8:1:1::ffff")));
        assert!(throttle.allows("fresh@example.com", ip("2001:db8:1:2::1")));
    }

    #[test]
    fn failures_are_forgotten_after_the_window() {
        let throttle = SignInThrottle::default();
        let me = ip("192.0.2.9");
        let start = Instant::now();
        for _ in 0..PER_ACCOUNT_CLIENT {
            throttle.failed_at("a@example.com", me, start);
        }
        assert!(!throttle.allows_at("a@example.com", me, start));
        assert!(throttle.allows_at("a@example.com", me, start + WINDOW));
    }

    #[test]
    fn memory_stays_bounded_under_random_accounts() {
        let throttle = SignInThrottle::default();
        let now = Instant::now();
        for i in 0..(5 * MAX_TRACKED) {
            throttle.failed_at(&format!("r{i}@example.com"), None, now);
        }
        let size = throttle.state.lock().unwrap().accounts.map.len();
        assert!(size <= 4 * MAX_TRACKED, "{size}");
    }
}
