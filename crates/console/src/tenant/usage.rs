//! Usage for finance: the tenant's usage records of a period, summed per
//! environment, provider and model. Built only from metadata (counts, tokens,
//! cost); usage records hold no prompt text.

use airlock_schema::entities::usage_record;
use chrono::{Datelike, NaiveDate, NaiveTime, Utc};
use sea_orm::{
    ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Expr,
};
use serde::Serialize;

use super::{Permission, Store, TenantScope};
use crate::error::ConsoleError;

/// The longest period one summary covers.
pub const MAX_DAYS: i64 = 366;

/// One line of the summary.
#[derive(Clone, Debug, Serialize, FromQueryResult, utoipa::ToSchema)]
pub struct UsageLine {
    pub env: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub requests: i64,
    /// Requests answered with a status of 400 or more.
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
}

/// A period's usage: `from` and `to` inclusive (UTC days).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct UsageSummary {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub lines: Vec<UsageLine>,
    pub requests: i64,
    pub cost_micros: i64,
}

/// `SUM(column)` as an i64 on both backends, 0 when no row matches. PostgreSQL
/// sums a bigint as numeric, which does not decode into an i64: cast it back.
pub(crate) fn sum_i64(column: &str) -> sea_orm::sea_query::SimpleExpr {
    Expr::cust(format!("CAST(COALESCE(SUM({column}), 0) AS BIGINT)"))
}

/// The period asked for, or this month so far.
pub fn period(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<(NaiveDate, NaiveDate), ConsoleError> {
    let today = Utc::now().date_naive();
    let to = to.unwrap_or(today);
    let from = from.unwrap_or_else(|| to.with_day(1).unwrap_or(to));
    if from > to {
        return Err(ConsoleError::Invalid(
            "the period starts after it ends".into(),
        ));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(ConsoleError::Invalid(format!(
            "a period is at most {MAX_DAYS} days"
        )));
    }
    Ok((from, to))
}

pub async fn summary(
    store: &Store,
    scope: &TenantScope,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<UsageSummary, ConsoleError> {
    scope.require(Permission::ReadUsage)?;
    let start = from.and_time(NaiveTime::MIN).and_utc();
    let end = (to + chrono::Days::new(1))
        .and_time(NaiveTime::MIN)
        .and_utc();
    let lines = usage_record::Entity::find()
        .select_only()
        .column(usage_record::Column::Env)
        .column(usage_record::Column::Provider)
        .column(usage_record::Column::Model)
        .column_as(Expr::cust("CAST(COUNT(*) AS BIGINT)"), "requests")
        .column_as(
            sum_i64("CASE WHEN status_code >= 400 THEN 1 ELSE 0 END"),
            "errors",
        )
        .column_as(sum_i64("input_tokens"), "input_tokens")
        .column_as(sum_i64("output_tokens"), "output_tokens")
        .column_as(sum_i64("cost_micros"), "cost_micros")
        .filter(usage_record::Column::TenantId.eq(scope.tenant_id()))
        .filter(usage_record::Column::CreatedAt.gte(start))
        .filter(usage_record::Column::CreatedAt.lt(end))
        .group_by(usage_record::Column::Env)
        .group_by(usage_record::Column::Provider)
        .group_by(usage_record::Column::Model)
        .order_by_asc(usage_record::Column::Env)
        .order_by_asc(usage_record::Column::Model)
        .into_model::<UsageLine>()
        .all(store.db())
        .await?;
    Ok(UsageSummary {
        from,
        to,
        requests: lines.iter().map(|l| l.requests).sum(),
        cost_micros: lines.iter().map(|l| l.cost_micros).sum(),
        lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
    }

    #[test]
    fn periods_default_to_this_month_and_stay_bounded() {
        let (from, to) = period(None, day("2026-11-23")).unwrap_or_default();
        assert_eq!(
            (from, to),
            (
                day("2026-11-01").unwrap_or_default(),
                day("2026-11-23").unwrap_or_default()
            )
        );
        assert!(period(day("2026-02-01"), day("2026-01-31")).is_err());
        // 366 days counted inclusively is the most.
        assert!(period(day("2025-01-01"), day("2026-01-01")).is_ok());
        assert!(period(day("2025-01-01"), day("2026-01-02")).is_err());
    }
}
