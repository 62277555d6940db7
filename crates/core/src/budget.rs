//! Budgets: which spending counters a request touches, and whether a reservation
//! fits under every limit.
//!
//! A request reserves its estimated cost on four counters before it goes upstream,
//! and settles to the real cost afterwards (or releases the reservation if it
//! failed):
//!
//! | scope | period | limit |
//! |---|---|---|
//! | key | UTC day | the key's daily budget |
//! | key | UTC month | the key's monthly budget |
//! | environment of the tenant | UTC month | the environment's monthly budget |
//! | tenant | UTC month | the tenant's monthly budget |
//!
//! The reservation is all-or-nothing and atomic (a mutex in one process, a Lua
//! script in Redis), so concurrent requests cannot together pass a limit: a
//! budget is exceeded by at most what the requests already in flight spend beyond
//! their estimates.

use std::fmt;

use chrono::{Datelike, NaiveDate};

use crate::money::MicroDollars;

/// Which budget a counter belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The key's daily budget.
    KeyDaily,
    /// The key's monthly budget.
    KeyMonthly,
    /// The monthly budget of the key's environment, across the tenant's keys.
    EnvMonthly,
    /// The tenant's monthly budget.
    TenantMonthly,
}

impl Scope {
    /// Every scope, in the order they are checked.
    pub const ALL: [Scope; 4] = [
        Scope::KeyDaily,
        Scope::KeyMonthly,
        Scope::EnvMonthly,
        Scope::TenantMonthly,
    ];

    /// How the scope reads in an error message.
    pub fn describe(self) -> &'static str {
        match self {
            Scope::KeyDaily => "the key's daily budget",
            Scope::KeyMonthly => "the key's monthly budget",
            Scope::EnvMonthly => "the environment's monthly budget",
            Scope::TenantMonthly => "the tenant's monthly budget",
        }
    }
}

/// The UTC day or month a counter covers, as it appears in counter names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Period {
    /// First day of the period.
    pub start: NaiveDate,
    /// First day after the period.
    pub end: NaiveDate,
}

impl Period {
    /// The UTC day of `today`.
    pub fn day(today: NaiveDate) -> Period {
        Period {
            start: today,
            end: today.succ_opt().unwrap_or(today),
        }
    }

    /// The UTC month of `today`.
    pub fn month(today: NaiveDate) -> Period {
        let start = today.with_day(1).unwrap_or(today);
        let end = if start.month() == 12 {
            NaiveDate::from_ymd_opt(start.year() + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(start.year(), start.month() + 1, 1)
        }
        .unwrap_or(start);
        Period { start, end }
    }

    /// The period of `scope` that contains `today`.
    pub fn of(scope: Scope, today: NaiveDate) -> Period {
        match scope {
            Scope::KeyDaily => Period::day(today),
            _ => Period::month(today),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.start.format("%Y%m%d"))
    }
}

/// The limits that apply to one request; `None` is no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Most one request may cost.
    pub per_request: Option<MicroDollars>,
    /// Per scope, in [`Scope::ALL`] order.
    pub scopes: [Option<MicroDollars>; 4],
}

impl Limits {
    /// The limit of one scope.
    pub fn of(&self, scope: Scope) -> Option<MicroDollars> {
        self.scopes[scope as usize]
    }

    /// True when no budget applies at all (nothing to reserve).
    pub fn is_unlimited(&self) -> bool {
        self.per_request.is_none() && self.scopes.iter().all(Option::is_none)
    }
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OverBudget {
    /// The estimate alone is over the per-request cap.
    #[error("the estimated cost {estimate} is over the key's per-request cap of {cap}")]
    PerRequest {
        /// The request's estimated cost.
        estimate: MicroDollars,
        /// The cap.
        cap: MicroDollars,
    },
    /// Spent plus reserved plus the estimate would pass a budget.
    #[error("the estimated cost {estimate} would take {} over its limit of {limit} ({spent} spent or reserved)", .scope.describe())]
    Budget {
        /// The budget.
        scope: Scope,
        /// The request's estimated cost.
        estimate: MicroDollars,
        /// Its limit.
        limit: MicroDollars,
        /// Spent and reserved so far in the period.
        spent: MicroDollars,
    },
}

/// Checks a reservation of `estimate` against `limits`, given what each scope has
/// spent or reserved so far (in [`Scope::ALL`] order). Pure: the ledgers call it
/// under their lock, or mirror it in their script.
pub fn check(limits: &Limits, spent: [i64; 4], estimate: MicroDollars) -> Result<(), OverBudget> {
    if let Some(cap) = limits.per_request
        && estimate > cap
    {
        return Err(OverBudget::PerRequest { estimate, cap });
    }
    for scope in Scope::ALL {
        if let Some(limit) = limits.of(scope) {
            let so_far = spent[scope as usize];
            if so_far.saturating_add(estimate.as_micros()) > limit.as_micros() {
                return Err(OverBudget::Budget {
                    scope,
                    estimate,
                    limit,
                    spent: MicroDollars::new(so_far),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(d: i64) -> MicroDollars {
        MicroDollars::new(d * 1_000_000)
    }

    #[test]
    fn periods_are_utc_days_and_months() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
        assert_eq!(Period::day(d).to_string(), "20261231");
        assert_eq!(
            Period::day(d).end,
            NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()
        );
        let m = Period::month(d);
        assert_eq!(m.to_string(), "20261201");
        assert_eq!(m.end, NaiveDate::from_ymd_opt(2027, 1, 1).unwrap());
        assert_eq!(Period::of(Scope::KeyDaily, d), Period::day(d));
        assert_eq!(Period::of(Scope::TenantMonthly, d), m);
    }

    #[test]
    fn a_reservation_must_fit_every_scope() {
        let limits = Limits {
            per_request: Some(usd(1)),
            scopes: [Some(usd(5)), None, Some(usd(50)), None],
        };
        assert_eq!(check(&limits, [0; 4], usd(1)), Ok(()));
        assert!(matches!(
            check(&limits, [0; 4], MicroDollars::new(1_000_001)),
            Err(OverBudget::PerRequest { .. })
        ));
        // Exactly reaching the limit is allowed; one micro-dollar more is not.
        assert_eq!(check(&limits, [4_000_000, 0, 0, 0], usd(1)), Ok(()));
        let err = check(&limits, [4_000_001, 0, 0, 0], usd(1)).unwrap_err();
        assert!(matches!(
            err,
            OverBudget::Budget {
                scope: Scope::KeyDaily,
                ..
            }
        ));
        assert!(err.to_string().contains("the key's daily budget"), "{err}");
        assert!(matches!(
            check(&limits, [0, 0, 49_500_000, 0], usd(1)),
            Err(OverBudget::Budget {
                scope: Scope::EnvMonthly,
                ..
            })
        ));
        assert!(Limits::default().is_unlimited());
    }
}
