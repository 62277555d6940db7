//! The budget ledger: reserve a request's estimated cost before it goes upstream,
//! settle to the real cost afterwards, release on failure.
//!
//! Counters start from the database (the sum of settled usage records in the
//! period; the database stays the record) and then live in this process, or in
//! Redis when `REDIS_URL` is set so that every relay sees every reservation. A
//! reservation checks and charges every counter in one step (a mutex here, a Lua
//! script in Redis): concurrent requests cannot together pass a limit, so spend
//! exceeds a budget by at most what in-flight requests spend beyond their estimates.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use airlock_core::budget::{Limits, OverBudget, Period, Scope, check};
use airlock_core::key::Env;
use airlock_core::money::MicroDollars;
use chrono::NaiveDate;
use redis::aio::ConnectionManager;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::error::RelayError;

/// Whose budgets a request draws on, and on which day.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    pub tenant_id: Uuid,
    pub key_id: Uuid,
    pub env: Env,
    pub today: NaiveDate,
    pub limits: Limits,
}

/// Which counter: a budget scope, whose it is and its period. In memory it is the
/// map key as it is (no string is made per request); in Redis, [`CounterId::redis_key`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct CounterId {
    scope: Scope,
    /// The key for key budgets, the tenant for the others.
    owner: Uuid,
    /// The environment of an environment budget.
    env: Option<Env>,
    period_start: NaiveDate,
}

impl CounterId {
    fn redis_key(&self, period: &Period) -> String {
        let (owner, env) = (self.owner, self.env.map_or("", Env::as_str));
        match self.scope {
            Scope::KeyDaily => format!("airlock:budget:key:{owner}:day:{period}"),
            Scope::KeyMonthly => format!("airlock:budget:key:{owner}:month:{period}"),
            Scope::EnvMonthly => format!("airlock:budget:env:{owner}:{env}:month:{period}"),
            Scope::TenantMonthly => format!("airlock:budget:tenant:{owner}:month:{period}"),
        }
    }
}

/// One budget counter: which it is, its period and its limit.
#[derive(Clone, Debug)]
struct Counter {
    id: CounterId,
    period: Period,
    limit: MicroDollars,
}

impl Counter {
    fn scope(&self) -> Scope {
        self.id.scope
    }
}

fn counters(target: &Target) -> Vec<Counter> {
    Scope::ALL
        .into_iter()
        .filter_map(|scope| {
            let limit = target.limits.of(scope)?;
            let period = Period::of(scope, target.today);
            let (owner, env) = match scope {
                Scope::KeyDaily | Scope::KeyMonthly => (target.key_id, None),
                Scope::EnvMonthly => (target.tenant_id, Some(target.env)),
                Scope::TenantMonthly => (target.tenant_id, None),
            };
            Some(Counter {
                id: CounterId {
                    scope,
                    owner,
                    env,
                    period_start: period.start,
                },
                period,
                limit,
            })
        })
        .collect()
}

/// Settled spend in the counter's period, from the usage records.
async fn spent_in_db(
    db: &DatabaseConnection,
    target: &Target,
    counter: &Counter,
) -> Result<i64, RelayError> {
    let since = counter.period.start;
    let (key, env) = match counter.scope() {
        Scope::KeyDaily | Scope::KeyMonthly => (Some(target.key_id), None),
        Scope::EnvMonthly => (None, Some(target.env.as_str())),
        Scope::TenantMonthly => (None, None),
    };
    airlock_schema::queries::spent_since(db, target.tenant_id, key, env, since)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "reading spend for a budget failed");
            RelayError::PolicyUnavailable
        })
}

fn over_budget(error: OverBudget) -> RelayError {
    RelayError::BudgetExceeded(error.to_string())
}

/// Counters of one process.
#[derive(Default)]
pub struct LocalLedger {
    /// Counter name → (spent and reserved, first day after its period).
    counters: Mutex<HashMap<CounterId, (i64, NaiveDate)>>,
}

impl LocalLedger {
    /// A ledger whose counters for `target` are loaded, at zero (for the stage
    /// benchmark, which has no database).
    pub(crate) fn seeded(target: &Target) -> LocalLedger {
        let ledger = LocalLedger::default();
        if let Ok(mut map) = ledger.counters.lock() {
            for counter in counters(target) {
                map.insert(counter.id, (0, counter.period.end));
            }
        }
        ledger
    }

    async fn reserve(
        &self,
        db: &DatabaseConnection,
        target: &Target,
        counters: &[Counter],
        amount: i64,
    ) -> Result<(), RelayError> {
        let missing: Vec<&Counter> = {
            let map = self
                .counters
                .lock()
                .map_err(|_| RelayError::PolicyUnavailable)?;
            counters
                .iter()
                .filter(|c| !map.contains_key(&c.id))
                .collect()
        };
        let mut loaded = Vec::with_capacity(missing.len());
        for counter in missing {
            loaded.push((counter, spent_in_db(db, target, counter).await?));
        }
        let mut map = self
            .counters
            .lock()
            .map_err(|_| RelayError::PolicyUnavailable)?;
        if !loaded.is_empty() {
            // Periods that have ended are dropped when new ones are loaded.
            map.retain(|_, (_, end)| *end > target.today);
            for (counter, spent) in loaded {
                map.entry(counter.id).or_insert((spent, counter.period.end));
            }
        }
        let mut spent = [0i64; 4];
        for c in counters {
            spent[c.scope() as usize] = map.get(&c.id).map_or(0, |(v, _)| *v);
        }
        // The per-request cap was checked before any counter was touched.
        let scopes_only = Limits {
            per_request: None,
            ..target.limits
        };
        check(&scopes_only, spent, MicroDollars::new(amount)).map_err(over_budget)?;
        for c in counters {
            if let Some((v, _)) = map.get_mut(&c.id) {
                *v = v.saturating_add(amount);
            }
        }
        Ok(())
    }

    fn adjust(&self, counters: &[Counter], delta: i64) {
        if let Ok(mut map) = self.counters.lock() {
            for counter in counters {
                if let Some((v, _)) = map.get_mut(&counter.id) {
                    // Spend never goes below zero: a release can only undo what
                    // was charged, even if the counter was reloaded in between.
                    *v = v.saturating_add(delta).max(0);
                }
            }
        }
    }
}

/// Checks and charges every counter, or none. ARGV: amount, then per counter its
/// starting value (-1: unknown, ask the caller), limit and TTL in seconds.
/// Returns `{0}`, `{-1, index, spent}` when over a limit, `{-2}` when a counter
/// needs its starting value from the database.
const RESERVE_SCRIPT: &str = r"
local amount = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 0 then
    local start = tonumber(ARGV[3 * i - 1])
    if start < 0 then return {-2} end
    redis.call('SET', key, start, 'EX', tonumber(ARGV[3 * i + 1]))
  end
end
for i, key in ipairs(KEYS) do
  local spent = tonumber(redis.call('GET', key))
  if spent + amount > tonumber(ARGV[3 * i]) then return {-1, i, spent} end
end
for i, key in ipairs(KEYS) do redis.call('INCRBY', key, amount) end
return {0}
";

/// Adds ARGV[1] to every counter that still exists (one that expired is not
/// recreated from a delta: it will be reloaded from the database).
const ADJUST_SCRIPT: &str = r"
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('INCRBY', key, ARGV[1]) end
end
return 0
";

/// Counters shared by every relay through Redis.
pub struct RedisLedger {
    conn: ConnectionManager,
    reserve: redis::Script,
    adjust: redis::Script,
}

impl RedisLedger {
    pub fn new(conn: ConnectionManager) -> Self {
        Self {
            conn,
            reserve: redis::Script::new(RESERVE_SCRIPT),
            adjust: redis::Script::new(ADJUST_SCRIPT),
        }
    }

    async fn reserve(
        &self,
        db: &DatabaseConnection,
        target: &Target,
        counters: &[Counter],
        amount: i64,
    ) -> Result<(), RelayError> {
        let mut starts: Option<Vec<i64>> = None;
        // Twice at most: once hoping the counters exist, once with their values.
        for _ in 0..2 {
            let mut call = self.reserve.prepare_invoke();
            call.arg(amount);
            for (i, c) in counters.iter().enumerate() {
                let ttl = (c.period.end - target.today).num_seconds() + 86_400;
                call.key(c.id.redis_key(&c.period))
                    .arg(starts.as_ref().map_or(-1, |s| s[i]))
                    .arg(c.limit.as_micros())
                    .arg(ttl);
            }
            let mut conn = self.conn.clone();
            let reply: Vec<i64> = call.invoke_async(&mut conn).await.map_err(|e| {
                tracing::error!(error = %e, "budget reserve script failed");
                RelayError::PolicyUnavailable
            })?;
            match reply.as_slice() {
                [0, ..] => return Ok(()),
                [-1, index, spent, ..] => {
                    let counter = usize::try_from(*index - 1)
                        .ok()
                        .and_then(|i| counters.get(i))
                        .ok_or(RelayError::PolicyUnavailable)?;
                    return Err(over_budget(OverBudget::Budget {
                        scope: counter.scope(),
                        estimate: MicroDollars::new(amount),
                        limit: counter.limit,
                        spent: MicroDollars::new(*spent),
                    }));
                }
                [-2, ..] if starts.is_none() => {
                    let mut values = Vec::with_capacity(counters.len());
                    for c in counters {
                        values.push(spent_in_db(db, target, c).await?);
                    }
                    starts = Some(values);
                }
                _ => break,
            }
        }
        Err(RelayError::PolicyUnavailable)
    }

    async fn adjust(&self, counters: &[Counter], delta: i64) {
        let mut call = self.adjust.prepare_invoke();
        for counter in counters {
            call.key(counter.id.redis_key(&counter.period));
        }
        call.arg(delta);
        let mut conn = self.conn.clone();
        if let Err(e) = call.invoke_async::<i64>(&mut conn).await {
            tracing::warn!(error = %e, "budget settlement failed");
        }
    }
}

pub enum Ledger {
    Local(LocalLedger),
    Redis(RedisLedger),
}

impl Ledger {
    /// Reserves `estimate` on every budget of `target`, or refuses with
    /// `budget_exceeded`. The per-request cap is checked first, with no counter.
    pub async fn reserve(
        self: &Arc<Self>,
        db: &DatabaseConnection,
        target: &Target,
        estimate: MicroDollars,
    ) -> Result<Reservation, RelayError> {
        check(
            &Limits {
                scopes: [None; 4],
                ..target.limits
            },
            [0; 4],
            estimate,
        )
        .map_err(over_budget)?;
        let counters = counters(target);
        if !counters.is_empty() {
            match self.as_ref() {
                Ledger::Local(local) => {
                    local
                        .reserve(db, target, &counters, estimate.as_micros())
                        .await?
                }
                Ledger::Redis(redis) => {
                    redis
                        .reserve(db, target, &counters, estimate.as_micros())
                        .await?
                }
            }
        }
        Ok(Reservation {
            ledger: self.clone(),
            counters,
            amount: estimate.as_micros(),
            settled: false,
        })
    }

    fn adjust(self: &Arc<Self>, counters: Vec<Counter>, delta: i64) {
        if delta == 0 || counters.is_empty() {
            return;
        }
        match self.as_ref() {
            Ledger::Local(local) => local.adjust(&counters, delta),
            Ledger::Redis(_) => {
                let ledger = self.clone();
                // Settlement is off the response path; the runtime is actix's tokio.
                tokio::spawn(async move {
                    if let Ledger::Redis(redis) = ledger.as_ref() {
                        redis.adjust(&counters, delta).await;
                    }
                });
            }
        }
    }
}

/// A held reservation. Settle it with the real cost; dropping it unsettled
/// releases it (the request failed before it cost anything).
pub struct Reservation {
    ledger: Arc<Ledger>,
    counters: Vec<Counter>,
    amount: i64,
    settled: bool,
}

impl Reservation {
    /// Replaces the estimate with the real cost.
    pub fn settle(mut self, actual: MicroDollars) {
        self.settled = true;
        let counters = std::mem::take(&mut self.counters);
        self.ledger
            .adjust(counters, actual.as_micros().saturating_sub(self.amount));
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.settled {
            let counters = std::mem::take(&mut self.counters);
            self.ledger.adjust(counters, -self.amount);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(n: u128) -> Counter {
        let day = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        let period = Period::of(Scope::KeyDaily, day);
        Counter {
            id: CounterId {
                scope: Scope::KeyDaily,
                owner: Uuid::from_u128(n),
                env: None,
                period_start: period.start,
            },
            period,
            limit: MicroDollars::new(1_000_000),
        }
    }

    fn ledger_with(counter: &Counter, spent: i64) -> LocalLedger {
        let ledger = LocalLedger::default();
        let end = NaiveDate::from_ymd_opt(2100, 1, 1).unwrap();
        ledger
            .counters
            .lock()
            .unwrap()
            .insert(counter.id, (spent, end));
        ledger
    }

    fn spent(ledger: &LocalLedger, counter: &Counter) -> i64 {
        ledger.counters.lock().unwrap()[&counter.id].0
    }

    #[test]
    fn a_release_never_takes_spend_below_zero() {
        let k = counter(1);
        let ledger = ledger_with(&k, 100);
        ledger.adjust(std::slice::from_ref(&k), -250);
        assert_eq!(spent(&ledger, &k), 0);
    }

    #[test]
    fn a_charge_saturates_instead_of_wrapping() {
        let k = counter(1);
        let ledger = ledger_with(&k, i64::MAX - 10);
        ledger.adjust(std::slice::from_ref(&k), 1_000);
        assert_eq!(spent(&ledger, &k), i64::MAX);
    }

    #[test]
    fn unknown_counters_are_left_alone() {
        let (k, other) = (counter(1), counter(2));
        let ledger = ledger_with(&k, 7);
        ledger.adjust(std::slice::from_ref(&other), 5);
        assert_eq!(spent(&ledger, &k), 7);
        assert!(!ledger.counters.lock().unwrap().contains_key(&other.id));
    }

    #[test]
    fn redis_keys_keep_their_names() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        let target = Target {
            tenant_id: Uuid::from_u128(7),
            key_id: Uuid::from_u128(9),
            env: Env::Prod,
            today: day,
            limits: Limits {
                per_request: None,
                scopes: [Some(MicroDollars::new(1)); 4],
            },
        };
        let keys: Vec<String> = counters(&target)
            .iter()
            .map(|c| c.id.redis_key(&c.period))
            .collect();
        let (t, k) = (target.tenant_id, target.key_id);
        let month = Period::of(Scope::KeyMonthly, day);
        let today = Period::of(Scope::KeyDaily, day);
        assert_eq!(
            keys,
            [
                format!("airlock:budget:key:{k}:day:{today}"),
                format!("airlock:budget:key:{k}:month:{month}"),
                format!("airlock:budget:env:{t}:prod:month:{month}"),
                format!("airlock:budget:tenant:{t}:month:{month}"),
            ]
        );
    }
}
