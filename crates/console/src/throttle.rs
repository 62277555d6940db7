//! Sign-in throttling with `governor`: per account and per client address, so
//! neither guessing one account's password from many addresses nor spraying many
//! accounts from one address gets far. In-process: each console instance keeps
//! its own counts (documented).

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Attempts per account per minute (a burst of this many, then one per 12 s).
const PER_ACCOUNT_PER_MINUTE: u32 = 5;
/// Attempts per client address per minute.
const PER_ADDRESS_PER_MINUTE: u32 = 20;
/// Beyond this many tracked accounts or addresses, entries whose limit has fully
/// refilled are dropped, so random emails cannot grow memory without bound.
const MAX_TRACKED: usize = 10_000;

pub struct SignInThrottle {
    accounts: DefaultKeyedRateLimiter<String>,
    addresses: DefaultKeyedRateLimiter<IpAddr>,
}

impl Default for SignInThrottle {
    fn default() -> Self {
        Self {
            accounts: RateLimiter::keyed(Quota::per_minute(nonzero(PER_ACCOUNT_PER_MINUTE))),
            addresses: RateLimiter::keyed(Quota::per_minute(nonzero(PER_ADDRESS_PER_MINUTE))),
        }
    }
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl SignInThrottle {
    /// True when this attempt may go ahead. Both counters are charged, so a
    /// refused attempt still counts (a client hammering keeps being refused).
    pub fn allow(&self, email: &str, address: Option<IpAddr>) -> bool {
        if self.accounts.len() > MAX_TRACKED {
            self.accounts.retain_recent();
        }
        if self.addresses.len() > MAX_TRACKED {
            self.addresses.retain_recent();
        }
        let account_ok = self.accounts.check_key(&email.to_owned()).is_ok();
        let address_ok = address.is_none_or(|ip| self.addresses.check_key(&ip).is_ok());
        account_ok && address_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_throttled_after_its_burst_and_others_are_not() {
        let throttle = SignInThrottle::default();
        let ip: IpAddr = [127, 0, 0, 1].into();
        for _ in 0..PER_ACCOUNT_PER_MINUTE {
            assert!(throttle.allow("a@example.com", Some(ip)));
        }
        assert!(!throttle.allow("a@example.com", Some(ip)));
        assert!(throttle.allow("b@example.com", Some(ip)));
    }
}
