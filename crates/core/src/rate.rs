//! Rate arithmetic shared by the relay's limiters.
//!
//! Requests per minute are limited in-process with `governor` (GCRA). Tokens per
//! minute need two things `governor` does not do: charging an estimate first and
//! *correcting* it afterwards (a refund or an extra charge that must go through even
//! when it overdraws), so the tokens limiter uses [`Gcra`] below. The Redis limiter
//! runs the same arithmetic in a Lua script (`crates/relay/src/limits/redis.rs`),
//! so one process and many behave alike.
//!
//! GCRA keeps one number per limit, the *theoretical arrival time* (TAT): when the
//! bucket would be empty again if nothing more came. Taking `n` units moves it
//! `n × interval` into the future; a take is allowed while the TAT stays within one
//! window (60 s, so a full minute's allowance may burst) of now.

use std::time::Duration;

/// One minute, in nanoseconds: the window of every limit here.
pub const WINDOW_NANOS: i64 = 60_000_000_000;

/// The state of one limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gcra {
    /// Theoretical arrival time, in nanoseconds on the caller's clock.
    tat: i64,
}

/// What a successful take leaves, for the `x-ratelimit-*` headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Remaining {
    /// The limit per minute.
    pub limit: u64,
    /// Units that could still be taken right now.
    pub remaining: u64,
    /// Time until the limit is back to its full allowance.
    pub reset: Duration,
}

/// A refused take: when it could succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfter {
    /// How long to wait.
    pub wait: Duration,
    /// True when `n` is more than a whole minute's allowance: waiting will not help.
    pub never: bool,
}

/// The highest limit per minute (what the database column holds). Settings above
/// it are refused by the control plane; here they are treated as this.
pub const MAX_PER_MINUTE: u32 = i32::MAX as u32;

/// Nanoseconds between two units of a `per_minute` limit (at least 27).
pub fn interval_nanos(per_minute: u32) -> i64 {
    WINDOW_NANOS / i64::from(per_minute.clamp(1, MAX_PER_MINUTE))
}

impl Gcra {
    /// Takes `n` units at time `now` (ns), or says when that would be allowed.
    pub fn take(&mut self, now: i64, per_minute: u32, n: u64) -> Result<Remaining, RetryAfter> {
        let interval = interval_nanos(per_minute);
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        if n > i64::from(per_minute) {
            return Err(RetryAfter {
                wait: Duration::from_secs(60),
                never: true,
            });
        }
        let tat = self.tat.max(now);
        let new_tat = tat.saturating_add(n.saturating_mul(interval));
        let allow_at = new_tat - WINDOW_NANOS;
        if allow_at > now {
            return Err(RetryAfter {
                wait: nanos(allow_at - now),
                never: false,
            });
        }
        self.tat = new_tat;
        Ok(self.remaining(now, per_minute))
    }

    /// Charges (`n > 0`) or refunds (`n < 0`) units unconditionally: the correction
    /// of an estimate once the real count is known.
    pub fn adjust(&mut self, now: i64, per_minute: u32, n: i64) {
        let interval = interval_nanos(per_minute);
        let tat = self.tat.max(now);
        self.tat = tat.saturating_add(n.saturating_mul(interval)).max(now);
    }

    /// The headers' view at `now`.
    pub fn remaining(&self, now: i64, per_minute: u32) -> Remaining {
        let interval = interval_nanos(per_minute);
        let used = (self.tat - now).max(0);
        let free = (WINDOW_NANOS - used).max(0);
        Remaining {
            limit: u64::from(per_minute),
            remaining: u64::try_from(free / interval).unwrap_or(0),
            reset: nanos(used),
        }
    }
}

fn nanos(ns: i64) -> Duration {
    Duration::from_nanos(u64::try_from(ns).unwrap_or(0))
}

/// `x-ratelimit-reset-*` as OpenAI writes it: `20ms`, `1.5s`, `6m0s`.
pub fn format_reset(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        let s = d.as_secs_f64();
        let text = format!("{s:.3}");
        format!("{}s", text.trim_end_matches('0').trim_end_matches('.'))
    } else {
        format!("{}m{}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000_000;

    #[test]
    fn a_minute_allowance_can_burst_then_refills_steadily() {
        let mut g = Gcra::default();
        let now = 1_000 * SECOND;
        for i in 0..10 {
            let left = g.take(now, 10, 1).unwrap();
            assert_eq!(left.remaining, 9 - i);
        }
        let refused = g.take(now, 10, 1).unwrap_err();
        assert_eq!(refused.wait, Duration::from_secs(6));
        assert!(!refused.never);
        // One unit comes back every 6 s.
        assert!(g.take(now + 6 * SECOND, 10, 1).is_ok());
        assert!(g.take(now + 6 * SECOND, 10, 1).is_err());
    }

    #[test]
    fn more_than_a_minute_allowance_never_fits() {
        let mut g = Gcra::default();
        assert!(g.take(0, 100, 101).unwrap_err().never);
        assert!(g.take(0, 100, 100).is_ok());
    }

    #[test]
    fn adjustments_refund_and_overdraw() {
        let mut g = Gcra::default();
        let now = 50 * SECOND;
        g.take(now, 1000, 800).unwrap();
        g.adjust(now, 1000, -500);
        assert_eq!(g.remaining(now, 1000).remaining, 700);
        g.adjust(now, 1000, 2000);
        assert_eq!(g.remaining(now, 1000).remaining, 0);
        assert!(g.take(now, 1000, 1).is_err());
        // A refund never leaves credit beyond a full allowance.
        g.adjust(now, 1000, -100_000);
        assert_eq!(g.remaining(now, 1000).remaining, 1000);
    }

    #[test]
    fn huge_limits_are_capped_not_divided_by_zero() {
        let mut g = Gcra::default();
        assert_eq!(interval_nanos(u32::MAX), 27);
        let left = g.take(0, u32::MAX, 1_000).unwrap();
        assert!(left.remaining > 0);
    }

    #[test]
    fn resets_format_like_openai() {
        assert_eq!(format_reset(Duration::from_millis(20)), "20ms");
        assert_eq!(format_reset(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_reset(Duration::from_secs(6)), "6s");
        assert_eq!(format_reset(Duration::from_secs(360)), "6m0s");
    }
}
