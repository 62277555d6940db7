//! The month so far, whatever the page's filters: spend to date, a month-end
//! forecast, and how much of each budget is used. From the rollups.

use airlock_core::key::Env;
use airlock_core::money::MicroDollars;
use airlock_schema::entities::usage_daily::Grain;
use airlock_schema::entities::{env_default, relay_key, usage_daily};
use chrono::{Datelike, Days, NaiveDate, Utc};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use serde::Serialize;
use uuid::Uuid;

use super::sum_i64;
use crate::error::ConsoleError;
use crate::tenant::{Permission, Store, TenantScope};

/// The alert thresholds a utilisation bar marks, in percent.
pub const THRESHOLDS: [u32; 3] = [50, 80, 100];

/// One budget and how much of it is used.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct BudgetUse {
    /// `tenant`, `env` or `key`.
    pub scope: &'static str,
    /// What it is: the tenant, `prod`, or a key's name and prefix.
    pub name: String,
    /// `month` or `day`.
    pub period: &'static str,
    pub limit_micros: i64,
    pub spent_micros: i64,
    /// Spent as a percentage of the limit (0 when the limit is 0).
    pub percent: u32,
    /// The highest of [`THRESHOLDS`] reached, if any.
    pub threshold_reached: Option<u32>,
    /// The key, for a key's budget (alerts name it; the API does not show ids here).
    #[serde(skip)]
    pub key_id: Option<Uuid>,
}

impl BudgetUse {
    fn new(
        scope: &'static str,
        name: String,
        period: &'static str,
        limit_micros: i64,
        spent_micros: i64,
    ) -> BudgetUse {
        let percent = if limit_micros > 0 {
            let p = i128::from(spent_micros.max(0)) * 100 / i128::from(limit_micros);
            u32::try_from(p).unwrap_or(u32::MAX)
        } else {
            0
        };
        BudgetUse {
            scope,
            name,
            period,
            limit_micros,
            spent_micros,
            percent,
            threshold_reached: THRESHOLDS.into_iter().filter(|t| percent >= *t).max(),
            key_id: None,
        }
    }

    fn of_key(mut self, key_id: Uuid) -> BudgetUse {
        self.key_id = Some(key_id);
        self
    }

    pub fn limit(&self) -> MicroDollars {
        MicroDollars::new(self.limit_micros)
    }

    pub fn spent(&self) -> MicroDollars {
        MicroDollars::new(self.spent_micros)
    }

    /// The bar's width, capped at 100 %.
    pub fn bar_percent(&self) -> u32 {
        self.percent.min(100)
    }
}

/// The month so far.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Overview {
    pub month_start: NaiveDate,
    pub today: NaiveDate,
    /// Spend from the first of the month to now.
    pub month_to_date_micros: i64,
    /// Average daily spend over the last seven complete days.
    pub daily_average_micros: i64,
    /// A forecast, not a bill: month to date plus the daily average for each day
    /// left in the month after today.
    pub forecast_micros: i64,
    pub days_left: u32,
    pub budgets: Vec<BudgetUse>,
}

impl Overview {
    pub fn month_to_date(&self) -> MicroDollars {
        MicroDollars::new(self.month_to_date_micros)
    }

    pub fn forecast(&self) -> MicroDollars {
        MicroDollars::new(self.forecast_micros)
    }

    pub fn daily_average(&self) -> MicroDollars {
        MicroDollars::new(self.daily_average_micros)
    }
}

/// Days after `today` until the end of its month.
fn days_left_in_month(today: NaiveDate) -> u32 {
    let next_month = today
        .with_day(1)
        .and_then(|d| d.checked_add_months(chrono::Months::new(1)))
        .unwrap_or(today);
    u32::try_from((next_month - today).num_days() - 1).unwrap_or(0)
}

/// Linear forecast: what is spent plus the recent daily rate for the days left.
pub fn forecast(month_to_date: i64, last_7_days: i64, days_left: u32) -> (i64, i64) {
    let average = last_7_days / 7;
    (
        month_to_date.saturating_add(average.saturating_mul(i64::from(days_left))),
        average,
    )
}

async fn spent(
    db: &DatabaseConnection,
    scope: &TenantScope,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<i64, ConsoleError> {
    let spent: Option<i64> = Grain::Models
        .find()
        .select_only()
        .column_as(sum_i64("cost_micros"), "spent")
        .filter(usage_daily::Column::TenantId.eq(scope.tenant_id()))
        .filter(usage_daily::Column::Day.gte(from))
        .filter(usage_daily::Column::Day.lte(to))
        .into_tuple()
        .one(db)
        .await?;
    Ok(spent.unwrap_or(0))
}

pub async fn overview(store: &Store, scope: &TenantScope) -> Result<Overview, ConsoleError> {
    scope.require(Permission::ReadUsage)?;
    let today = Utc::now().date_naive();
    let month_start = today.with_day(1).unwrap_or(today);
    let month_to_date = spent(store.db(), scope, month_start, today).await?;
    let last_7 = spent(
        store.db(),
        scope,
        today - Days::new(7),
        today - Days::new(1),
    )
    .await?;
    let days_left = days_left_in_month(today);
    let (forecast_micros, average) = forecast(month_to_date, last_7, days_left);
    let budgets = if scope.can(Permission::ReadBudgets) {
        budgets(store.db(), scope, month_start, today, month_to_date).await?
    } else {
        Vec::new()
    };
    Ok(Overview {
        month_start,
        today,
        month_to_date_micros: month_to_date,
        daily_average_micros: average,
        forecast_micros,
        days_left,
        budgets,
    })
}

/// Every budget of the tenant that is set, and how much of it is used today (for
/// the alert job).
pub async fn budget_uses(
    db: &DatabaseConnection,
    scope: &TenantScope,
    today: NaiveDate,
) -> Result<Vec<BudgetUse>, ConsoleError> {
    scope.require(Permission::ReadBudgets)?;
    let month_start = today.with_day(1).unwrap_or(today);
    let month_to_date = spent(db, scope, month_start, today).await?;
    budgets(db, scope, month_start, today, month_to_date).await
}

/// Every budget that is set: the tenant's, each environment's, each live key's
/// (monthly and daily), the most used first within each scope.
async fn budgets(
    db: &DatabaseConnection,
    scope: &TenantScope,
    month_start: NaiveDate,
    today: NaiveDate,
    month_to_date: i64,
) -> Result<Vec<BudgetUse>, ConsoleError> {
    let mut out = Vec::new();
    if let Some(limit) = scope.tenant().monthly_budget_micros {
        out.push(BudgetUse::new(
            "tenant",
            scope.tenant().name.clone(),
            "month",
            limit,
            month_to_date,
        ));
    }
    let by_env: Vec<(String, i64)> = Grain::Models
        .find()
        .select_only()
        .column(usage_daily::Column::Env)
        .column_as(sum_i64("cost_micros"), "spent")
        .filter(usage_daily::Column::TenantId.eq(scope.tenant_id()))
        .filter(usage_daily::Column::Day.gte(month_start))
        .group_by(usage_daily::Column::Env)
        .into_tuple()
        .all(db)
        .await?;
    let mut envs = env_default::Entity::find()
        .filter(env_default::Column::TenantId.eq(scope.tenant_id()))
        .all(db)
        .await?;
    envs.sort_by_key(|r| Env::ALL.iter().position(|e| *e == *r.env));
    for env in envs {
        let spent = by_env
            .iter()
            .find(|(name, _)| name == env.env.as_str())
            .map_or(0, |(_, s)| *s);
        out.push(BudgetUse::new(
            "env",
            env.env.to_string(),
            "month",
            env.monthly_budget_micros,
            spent,
        ));
    }
    let keys = relay_key::Entity::find()
        .filter(relay_key::Column::TenantId.eq(scope.tenant_id()))
        .filter(relay_key::Column::RevokedAt.is_null())
        .filter(
            Condition::any()
                .add(relay_key::Column::MonthlyBudgetMicros.is_not_null())
                .add(relay_key::Column::DailyBudgetMicros.is_not_null()),
        )
        .all(db)
        .await?;
    if !keys.is_empty() {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.id).collect();
        let month: Vec<(Uuid, i64)> = key_spend(db, scope.tenant_id(), &ids, month_start).await?;
        let day: Vec<(Uuid, i64)> = key_spend(db, scope.tenant_id(), &ids, today).await?;
        let find = |rows: &[(Uuid, i64)], id: Uuid| {
            rows.iter().find(|(k, _)| *k == id).map_or(0, |(_, s)| *s)
        };
        let mut key_uses = Vec::new();
        for key in &keys {
            let name = format!("{} ({}…)", key.name, key.display_prefix);
            if let Some(limit) = key.monthly_budget_micros {
                key_uses.push(
                    BudgetUse::new("key", name.clone(), "month", limit, find(&month, key.id))
                        .of_key(key.id),
                );
            }
            if let Some(limit) = key.daily_budget_micros {
                key_uses.push(
                    BudgetUse::new("key", name, "day", limit, find(&day, key.id)).of_key(key.id),
                );
            }
        }
        key_uses.sort_by(|a, b| b.percent.cmp(&a.percent).then(a.name.cmp(&b.name)));
        out.extend(key_uses);
    }
    Ok(out)
}

async fn key_spend(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    ids: &[Uuid],
    since: NaiveDate,
) -> Result<Vec<(Uuid, i64)>, ConsoleError> {
    Ok(Grain::Keys
        .find()
        .select_only()
        .column(usage_daily::Column::KeyId)
        .column_as(sum_i64("cost_micros"), "spent")
        .filter(usage_daily::Column::TenantId.eq(tenant_id))
        .filter(usage_daily::Column::KeyId.is_in(ids.iter().copied()))
        .filter(usage_daily::Column::Day.gte(since))
        .group_by(usage_daily::Column::KeyId)
        .into_tuple()
        .all(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[test]
    fn the_forecast_is_linear_on_the_last_seven_days() {
        assert_eq!(days_left_in_month(day(2026, 3, 31)), 0);
        assert_eq!(days_left_in_month(day(2026, 3, 1)), 30);
        assert_eq!(days_left_in_month(day(2026, 2, 20)), 8);
        // $7 over seven days is $1 a day; ten days left.
        assert_eq!(forecast(5_000_000, 7_000_000, 10), (15_000_000, 1_000_000));
        assert_eq!(forecast(0, 0, 30), (0, 0));
    }

    #[test]
    fn utilisation_marks_the_highest_threshold_reached() {
        let b = BudgetUse::new("key", "k".into(), "month", 1_000_000, 810_000);
        assert_eq!((b.percent, b.threshold_reached), (81, Some(80)));
        let b = BudgetUse::new("key", "k".into(), "month", 1_000_000, 2_500_000);
        assert_eq!(
            (b.percent, b.bar_percent(), b.threshold_reached),
            (250, 100, Some(100))
        );
        let b = BudgetUse::new("env", "dev".into(), "month", 0, 5);
        assert_eq!((b.percent, b.threshold_reached), (0, None));
    }
}
