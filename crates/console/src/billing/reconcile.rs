//! A month of one tenant, three ways: what the rollups say it cost (after the
//! markup), what Airlock reported to Stripe, and what Stripe's meter event
//! summaries hold. Every day where they differ is a [`Difference`].

use std::collections::BTreeMap;

use airlock_schema::entities::{billing_report, tenant_billing, usage_daily};
use chrono::{Datelike, Days, Months, NaiveDate, NaiveTime};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use serde::Serialize;
use uuid::Uuid;

use super::{StripeApi, StripeFailure, marked_up};
use crate::tenant::usage::sum_i64;

/// One day of the month.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DayLine {
    pub day: NaiveDate,
    /// The day's provider cost in the rollups, with the markup: what should be billed.
    pub expected_micros: i64,
    /// Reports Stripe accepted.
    pub reported_micros: i64,
    /// Reports written and not yet accepted.
    pub unsent_micros: i64,
    /// Stripe's aggregate for the day (None: no meter to ask).
    pub stripe_micros: Option<i64>,
}

impl DayLine {
    /// What is wrong with the day, if anything.
    pub fn difference(&self) -> Option<String> {
        let mut problems = Vec::new();
        let accounted = self.reported_micros + self.unsent_micros;
        if accounted != self.expected_micros {
            problems.push(format!(
                "rollups say {} but {} was reported ({} sent, {} waiting)",
                self.expected_micros, accounted, self.reported_micros, self.unsent_micros
            ));
        }
        if let Some(stripe) = self.stripe_micros
            && stripe != self.reported_micros
        {
            problems.push(format!(
                "Stripe holds {stripe} but Airlock sent {}",
                self.reported_micros
            ));
        }
        (!problems.is_empty()).then(|| problems.join("; "))
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Reconciliation {
    pub tenant_id: Uuid,
    pub month_start: NaiveDate,
    pub customer: Option<String>,
    /// False when Stripe has no meter with Airlock's event name.
    pub meter_found: bool,
    pub days: Vec<DayLine>,
}

impl Reconciliation {
    pub fn differences(&self) -> Vec<(NaiveDate, String)> {
        self.days
            .iter()
            .filter_map(|d| d.difference().map(|text| (d.day, text)))
            .collect()
    }
}

/// The first day of a `YYYY-MM` month.
pub fn parse_month(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(&format!("{}-01", text.trim()), "%Y-%m-%d")
        .map_err(|_| format!("`{text}` is not a month like 2026-11"))
}

#[derive(Debug)]
pub enum ReconcileError {
    Db(sea_orm::DbErr),
    Stripe(StripeFailure),
}

impl From<sea_orm::DbErr> for ReconcileError {
    fn from(e: sea_orm::DbErr) -> Self {
        ReconcileError::Db(e)
    }
}

impl From<StripeFailure> for ReconcileError {
    fn from(e: StripeFailure) -> Self {
        ReconcileError::Stripe(e)
    }
}

pub async fn reconcile(
    db: &DatabaseConnection,
    api: &StripeApi,
    tenant_id: Uuid,
    month_start: NaiveDate,
) -> Result<Reconciliation, ReconcileError> {
    let month_end = month_start
        .checked_add_months(Months::new(1))
        .unwrap_or(month_start)
        - Days::new(1);
    let billing = tenant_billing::Entity::find_by_id(tenant_id)
        .one(db)
        .await?;
    let markup = billing.as_ref().map_or(0, |b| b.markup_basis_points);
    let bill_from = billing.as_ref().and_then(|b| b.bill_from);
    let customer = billing.as_ref().and_then(|b| b.stripe_customer_id.clone());
    let mut days: BTreeMap<NaiveDate, DayLine> = month_start
        .iter_days()
        .take_while(|d| *d <= month_end)
        .map(|day| {
            (
                day,
                DayLine {
                    day,
                    ..DayLine::default()
                },
            )
        })
        .collect();
    let costs: Vec<(NaiveDate, i64)> = usage_daily::Grain::Models
        .find()
        .select_only()
        .column(usage_daily::Column::Day)
        .column_as(sum_i64("cost_micros"), "cost")
        .filter(usage_daily::Column::TenantId.eq(tenant_id))
        .filter(usage_daily::Column::Day.gte(month_start))
        .filter(usage_daily::Column::Day.lte(month_end))
        .group_by(usage_daily::Column::Day)
        .into_tuple()
        .all(db)
        .await?;
    for (day, cost) in costs {
        // Days before billing was turned on are not billed.
        if bill_from.is_some_and(|from| day >= from)
            && let Some(line) = days.get_mut(&day)
        {
            line.expected_micros = marked_up(cost, markup);
        }
    }
    let reports = billing_report::Entity::find()
        .filter(billing_report::Column::TenantId.eq(tenant_id))
        .filter(billing_report::Column::Day.gte(month_start))
        .filter(billing_report::Column::Day.lte(month_end))
        .all(db)
        .await?;
    for report in reports {
        if let Some(line) = days.get_mut(&report.day) {
            if report.sent_at.is_some() {
                line.reported_micros += report.value_micros;
            } else {
                line.unsent_micros += report.value_micros;
            }
        }
    }
    let mut meter_found = false;
    if let Some(customer) = &customer
        && let Some(meter) = api.meter_id().await?
    {
        meter_found = true;
        let start = month_start.and_time(NaiveTime::MIN).and_utc();
        let end = (month_end + Days::new(1))
            .and_time(NaiveTime::MIN)
            .and_utc();
        for line in days.values_mut() {
            line.stripe_micros = Some(0);
        }
        for summary in api.daily_summaries(&meter, customer, start, end).await? {
            if let Some(line) = days.get_mut(&summary.start.date_naive()) {
                // Values are integers (micro-dollars); Stripe sums them as numbers.
                line.stripe_micros =
                    Some(line.stripe_micros.unwrap_or(0) + summary.value.round() as i64);
            }
        }
    }
    Ok(Reconciliation {
        tenant_id,
        month_start: month_start.with_day(1).unwrap_or(month_start),
        customer,
        meter_found,
        days: days.into_values().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_differs_when_any_two_accounts_disagree() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 3).unwrap_or_default();
        let fine = DayLine {
            day,
            expected_micros: 100,
            reported_micros: 60,
            unsent_micros: 40,
            stripe_micros: Some(60),
        };
        assert_eq!(fine.difference(), None);
        let lost = DayLine {
            reported_micros: 50,
            ..fine.clone()
        };
        assert!(lost.difference().is_some());
        let stripe_off = DayLine {
            stripe_micros: Some(61),
            ..fine.clone()
        };
        assert!(
            stripe_off
                .difference()
                .is_some_and(|d| d.contains("Stripe holds 61"))
        );
        assert_eq!(
            parse_month("2026-11").ok(),
            Some(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap_or_default())
        );
        assert!(parse_month("2026-13").is_err());
        assert!(parse_month("11/2026").is_err());
    }
}
