//! Rate limits: requests and tokens per minute, per key and per tenant.
//!
//! On the embedded default the state lives in this process: requests per minute in
//! `governor` limiters (GCRA), tokens per minute in [`Gcra`] cells, which also take
//! the after-the-fact corrections `governor` cannot (refunds and overdrafts). With
//! `REDIS_URL` set, both live in Redis and one Lua script per call does the same
//! arithmetic atomically against Redis's clock, so every relay shares one limit
//! with no read-then-write race.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airlock_core::rate::{Gcra, Remaining, format_reset};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use redis::aio::ConnectionManager;
use uuid::Uuid;

use crate::error::RelayError;

/// The limits on one request, resolved from the key, its environment's defaults
/// and the tenant. `None` is no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimits {
    pub key_rpm: Option<u32>,
    pub key_tpm: Option<u32>,
    pub tenant_rpm: Option<u32>,
    pub tenant_tpm: Option<u32>,
}

/// Whose limits: a key and its tenant.
#[derive(Clone, Copy, Debug)]
pub struct Subject {
    pub key_id: Uuid,
    pub tenant_id: Uuid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Unit {
    Requests,
    Tokens,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Owner {
    Key,
    Tenant,
}

impl Owner {
    fn describe(self) -> &'static str {
        match self {
            Owner::Key => "the key's",
            Owner::Tenant => "the tenant's",
        }
    }
}

/// What the `x-ratelimit-*` headers report: the tighter of key and tenant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateHeaders {
    pub requests: Option<Remaining>,
    pub tokens: Option<Remaining>,
}

impl RateHeaders {
    /// `(name, value)` pairs in OpenAI's names.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(r) = self.requests {
            out.push(("x-ratelimit-limit-requests", r.limit.to_string()));
            out.push(("x-ratelimit-remaining-requests", r.remaining.to_string()));
            out.push(("x-ratelimit-reset-requests", format_reset(r.reset)));
        }
        if let Some(t) = self.tokens {
            out.push(("x-ratelimit-limit-tokens", t.limit.to_string()));
            out.push(("x-ratelimit-remaining-tokens", t.remaining.to_string()));
            out.push(("x-ratelimit-reset-tokens", format_reset(t.reset)));
        }
        out
    }
}

fn tighter(a: Option<Remaining>, b: Option<Remaining>) -> Option<Remaining> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.remaining < a.remaining { b } else { a }),
        (a, b) => a.or(b),
    }
}

fn refused(owner: Owner, unit: Unit, limit: u32, wait: Duration, never: bool) -> RelayError {
    let what = match unit {
        Unit::Requests => "requests",
        Unit::Tokens => "tokens",
    };
    let retry_after_secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let message = if never {
        format!(
            "rate limit exceeded: this request needs more {what} than {} limit of {limit} {what} per minute allows at once",
            owner.describe()
        )
    } else {
        format!(
            "rate limit exceeded: {} limit of {limit} {what} per minute; retry in {}",
            owner.describe(),
            format_reset(wait)
        )
    };
    RelayError::RateLimited {
        message,
        retry_after_secs: retry_after_secs.max(1),
    }
}

type Governor = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;
/// Per key or tenant: the limit it was built for, and its limiter.
type Governors = HashMap<(Owner, Uuid), (u32, Arc<Governor>)>;

/// One process's limits.
pub struct LocalLimiter {
    requests: Mutex<Governors>,
    tokens: Mutex<HashMap<(Owner, Uuid), (u32, Gcra)>>,
    clock: DefaultClock,
    epoch: Instant,
}

impl Default for LocalLimiter {
    fn default() -> Self {
        Self {
            requests: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            clock: DefaultClock::default(),
            epoch: Instant::now(),
        }
    }
}

impl LocalLimiter {
    fn governor(&self, owner: Owner, id: Uuid, limit: NonZeroU32) -> Option<Arc<Governor>> {
        let mut map = self.requests.lock().ok()?;
        let entry = map.entry((owner, id)).or_insert_with(|| {
            (
                limit.get(),
                Arc::new(RateLimiter::direct(Quota::per_minute(limit)).with_middleware()),
            )
        });
        // A changed limit starts a fresh limiter (the poller brought a new setting).
        if entry.0 != limit.get() {
            *entry = (
                limit.get(),
                Arc::new(RateLimiter::direct(Quota::per_minute(limit)).with_middleware()),
            );
        }
        Some(entry.1.clone())
    }

    fn admit(&self, subject: Subject, limits: RateLimits) -> Result<Option<Remaining>, RelayError> {
        let mut report = None;
        for (owner, id, limit) in [
            (Owner::Key, subject.key_id, limits.key_rpm),
            (Owner::Tenant, subject.tenant_id, limits.tenant_rpm),
        ] {
            let Some(limit) = limit.and_then(NonZeroU32::new) else {
                continue;
            };
            let governor = self
                .governor(owner, id, limit)
                .ok_or(RelayError::PolicyUnavailable)?;
            match governor.check() {
                Ok(snapshot) => {
                    let remaining = snapshot.remaining_burst_capacity();
                    let interval = Duration::from_secs(60) / limit.get();
                    report = tighter(
                        report,
                        Some(Remaining {
                            limit: u64::from(limit.get()),
                            remaining: u64::from(remaining),
                            reset: interval * (limit.get() - remaining.min(limit.get())),
                        }),
                    );
                }
                Err(not_until) => {
                    let wait = not_until.wait_time_from(self.clock.now());
                    return Err(refused(owner, Unit::Requests, limit.get(), wait, false));
                }
            }
        }
        Ok(report)
    }

    fn now_nanos(&self) -> i64 {
        i64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(i64::MAX)
    }

    fn take_tokens(
        &self,
        subject: Subject,
        limits: RateLimits,
        n: u64,
    ) -> Result<Option<Remaining>, RelayError> {
        let now = self.now_nanos();
        let mut map = self
            .tokens
            .lock()
            .map_err(|_| RelayError::PolicyUnavailable)?;
        let cells = token_cells(subject, limits);
        // All or nothing: check every cell on a copy, then commit.
        let mut updated = Vec::with_capacity(cells.len());
        let mut report = None;
        for (owner, id, limit) in cells {
            let entry = map.get(&(owner, id)).filter(|(l, _)| *l == limit);
            let mut cell = entry.map(|(_, g)| *g).unwrap_or_default();
            match cell.take(now, limit, n) {
                Ok(left) => report = tighter(report, Some(left)),
                Err(retry) => {
                    return Err(refused(owner, Unit::Tokens, limit, retry.wait, retry.never));
                }
            }
            updated.push(((owner, id), (limit, cell)));
        }
        map.extend(updated);
        Ok(report)
    }

    fn correct_tokens(&self, subject: Subject, limits: RateLimits, delta: i64) {
        let now = self.now_nanos();
        if let Ok(mut map) = self.tokens.lock() {
            for (owner, id, limit) in token_cells(subject, limits) {
                if let Some((l, cell)) = map.get_mut(&(owner, id))
                    && *l == limit
                {
                    cell.adjust(now, limit, delta);
                }
            }
        }
    }
}

fn token_cells(subject: Subject, limits: RateLimits) -> Vec<(Owner, Uuid, u32)> {
    [
        (Owner::Key, subject.key_id, limits.key_tpm),
        (Owner::Tenant, subject.tenant_id, limits.tenant_tpm),
    ]
    .into_iter()
    .filter_map(|(o, id, l)| l.filter(|l| *l > 0).map(|l| (o, id, l)))
    .collect()
}

/// GCRA over several cells at once, against Redis's clock. `take` refuses (and
/// changes nothing) when any cell would overflow; `adjust` always applies.
/// Returns `{0, remaining_1, reset_us_1, …}` or `{-1, cell_index, wait_us, never}`.
const GCRA_SCRIPT: &str = r"
local t = redis.call('TIME')
-- Microseconds since 2026-01-01, as a float: small enough that a fraction of a
-- microsecond (the interval of a limit of billions per minute) is still exact.
local now = (tonumber(t[1]) - 1767225600) * 1000000 + tonumber(t[2])
local n = tonumber(ARGV[1])
local mode = ARGV[2]
local window = 60000000
local tats = {}
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 + i])
  local interval = window / limit
  local tat = now
  local stored = redis.call('GET', key)
  if stored then tat = math.max(tonumber(stored), now) end
  local new_tat = tat + n * interval
  if mode == 'take' then
    if n > limit then return {-1, i, window, 1} end
    if new_tat - window > now then return {-1, i, math.ceil(new_tat - window - now), 0} end
  elseif new_tat < now then
    new_tat = now
  end
  tats[i] = new_tat
end
local out = {0}
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 + i])
  local interval = window / limit
  local used = tats[i] - now
  redis.call('SET', key, string.format('%.4f', tats[i]), 'PX', math.floor(used / 1000) + 1000)
  out[#out + 1] = math.floor(math.max(window - used, 0) / interval)
  out[#out + 1] = math.floor(used)
end
return out
";

/// Limits shared by every relay through Redis.
#[derive(Clone)]
pub struct RedisLimiter {
    conn: ConnectionManager,
    script: redis::Script,
}

impl RedisLimiter {
    pub fn new(conn: ConnectionManager) -> Self {
        Self {
            conn,
            script: redis::Script::new(GCRA_SCRIPT),
        }
    }

    async fn run(
        &self,
        unit: Unit,
        cells: &[(Owner, Uuid, u32)],
        n: i64,
        mode: &str,
    ) -> Result<Option<Remaining>, RelayError> {
        if cells.is_empty() {
            return Ok(None);
        }
        let mut invocation = self.script.prepare_invoke();
        for (owner, id, _) in cells {
            invocation.key(redis_key(unit, *owner, *id));
        }
        invocation.arg(n).arg(mode);
        for (_, _, limit) in cells {
            invocation.arg(*limit);
        }
        let mut conn = self.conn.clone();
        let reply: Vec<i64> = invocation.invoke_async(&mut conn).await.map_err(|e| {
            tracing::error!(error = %e, "rate limit script failed");
            RelayError::PolicyUnavailable
        })?;
        match reply.as_slice() {
            [-1, index, wait_us, never, ..] => {
                let (owner, _, limit) = usize::try_from(*index - 1)
                    .ok()
                    .and_then(|i| cells.get(i))
                    .copied()
                    .ok_or(RelayError::PolicyUnavailable)?;
                let wait = Duration::from_micros(u64::try_from(*wait_us).unwrap_or(0));
                Err(refused(owner, unit, limit, wait, *never == 1))
            }
            [0, rest @ ..] => Ok(cells
                .iter()
                .zip(rest.chunks(2))
                .map(|((_, _, limit), pair)| Remaining {
                    limit: u64::from(*limit),
                    remaining: u64::try_from(pair.first().copied().unwrap_or(0)).unwrap_or(0),
                    reset: Duration::from_micros(
                        u64::try_from(pair.get(1).copied().unwrap_or(0)).unwrap_or(0),
                    ),
                })
                .fold(None, |acc, r| tighter(acc, Some(r)))),
            _ => Err(RelayError::PolicyUnavailable),
        }
    }
}

fn redis_key(unit: Unit, owner: Owner, id: Uuid) -> String {
    let unit = match unit {
        Unit::Requests => "rpm",
        Unit::Tokens => "tpm",
    };
    let owner = match owner {
        Owner::Key => "key",
        Owner::Tenant => "tenant",
    };
    format!("airlock:rate:{unit}:{owner}:{id}")
}

/// The relay's limiter: one process, or every relay through Redis.
pub enum Limiter {
    Local(LocalLimiter),
    Redis(RedisLimiter),
}

impl Limiter {
    /// Counts one request against the requests-per-minute limits.
    pub async fn admit(
        &self,
        subject: Subject,
        limits: RateLimits,
    ) -> Result<Option<Remaining>, RelayError> {
        match self {
            Limiter::Local(local) => local.admit(subject, limits),
            Limiter::Redis(redis) => {
                let cells: Vec<_> = [
                    (Owner::Key, subject.key_id, limits.key_rpm),
                    (Owner::Tenant, subject.tenant_id, limits.tenant_rpm),
                ]
                .into_iter()
                .filter_map(|(o, id, l)| l.filter(|l| *l > 0).map(|l| (o, id, l)))
                .collect();
                redis.run(Unit::Requests, &cells, 1, "take").await
            }
        }
    }

    /// Takes an estimate of `n` tokens against the tokens-per-minute limits.
    pub async fn take_tokens(
        &self,
        subject: Subject,
        limits: RateLimits,
        n: u64,
    ) -> Result<Option<Remaining>, RelayError> {
        match self {
            Limiter::Local(local) => local.take_tokens(subject, limits, n),
            Limiter::Redis(redis) => {
                let n = i64::try_from(n).unwrap_or(i64::MAX);
                redis
                    .run(Unit::Tokens, &token_cells(subject, limits), n, "take")
                    .await
            }
        }
    }

    /// Corrects an estimate once the real count is known (`delta` = real − estimate).
    /// Corrects a token estimate by `delta`. In process it is applied at once;
    /// through Redis the returned call is for the caller to run off the response
    /// path.
    pub fn correct_tokens(
        &self,
        subject: Subject,
        limits: RateLimits,
        delta: i64,
    ) -> Option<impl Future<Output = ()> + Send + 'static> {
        if delta == 0 {
            return None;
        }
        match self {
            Limiter::Local(local) => {
                local.correct_tokens(subject, limits, delta);
                None
            }
            Limiter::Redis(redis) => {
                let redis = redis.clone();
                Some(async move {
                    let cells = token_cells(subject, limits);
                    if let Err(e) = redis.run(Unit::Tokens, &cells, delta, "adjust").await {
                        tracing::warn!(error = %e, "token count correction failed");
                    }
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> Subject {
        Subject {
            key_id: Uuid::now_v7(),
            tenant_id: Uuid::now_v7(),
        }
    }

    #[test]
    fn requests_per_minute_refuse_with_a_retry_time() {
        let limiter = LocalLimiter::default();
        let s = subject();
        let limits = RateLimits {
            key_rpm: Some(3),
            ..RateLimits::default()
        };
        for left in [2, 1, 0] {
            assert_eq!(limiter.admit(s, limits).unwrap().unwrap().remaining, left);
        }
        let err = limiter.admit(s, limits).unwrap_err();
        let RelayError::RateLimited {
            message,
            retry_after_secs,
        } = err
        else {
            panic!("{err:?}")
        };
        assert!(
            message.contains("the key's limit of 3 requests per minute"),
            "{message}"
        );
        assert!((1..=20).contains(&retry_after_secs));
        // Another key of the same tenant is not affected.
        assert!(limiter.admit(subject(), limits).is_ok());
    }

    #[test]
    fn the_tenant_limit_spans_its_keys() {
        let limiter = LocalLimiter::default();
        let tenant_id = Uuid::now_v7();
        let limits = RateLimits {
            tenant_rpm: Some(2),
            ..RateLimits::default()
        };
        let key = |_| Subject {
            key_id: Uuid::now_v7(),
            tenant_id,
        };
        assert!(limiter.admit(key(1), limits).is_ok());
        assert!(limiter.admit(key(2), limits).is_ok());
        let err = limiter.admit(key(3), limits).unwrap_err();
        assert!(err.to_string().contains("the tenant's limit"), "{err}");
    }

    #[test]
    fn tokens_are_all_or_nothing_and_corrected_afterwards() {
        let limiter = LocalLimiter::default();
        let s = subject();
        let limits = RateLimits {
            key_tpm: Some(1000),
            tenant_tpm: Some(500),
            ..RateLimits::default()
        };
        assert_eq!(
            limiter
                .take_tokens(s, limits, 400)
                .unwrap()
                .unwrap()
                .remaining,
            100
        );
        // The tenant cell refuses, so the key cell must not have been charged either.
        assert!(limiter.take_tokens(s, limits, 200).is_err());
        // The call used 100 tokens, not 400: refund 300.
        limiter.correct_tokens(s, limits, -300);
        assert_eq!(
            limiter
                .take_tokens(s, limits, 350)
                .unwrap()
                .unwrap()
                .remaining,
            50
        );
        let err = limiter.take_tokens(s, limits, 5000).unwrap_err();
        assert!(err.to_string().contains("at once"), "{err}");
    }

    #[test]
    fn headers_use_openai_names() {
        let headers = RateHeaders {
            requests: Some(Remaining {
                limit: 10,
                remaining: 9,
                reset: Duration::from_secs(6),
            }),
            tokens: None,
        };
        assert_eq!(
            headers.pairs(),
            vec![
                ("x-ratelimit-limit-requests", "10".to_owned()),
                ("x-ratelimit-remaining-requests", "9".to_owned()),
                ("x-ratelimit-reset-requests", "6s".to_owned()),
            ]
        );
    }
}
