//! Reporting usage to Stripe. Per tenant with billing on, in two steps:
//!
//! 1. **Plan** (one transaction): for every day from the day billing was turned
//!    on, compare the day's cost in the rollups with the day's watermark (the
//!    newest `range_to_micros` reported) and write a report for the difference,
//!    identifier included. Writing the report is what advances the watermark.
//!    Two syncs planning the same range at once collide on the unique
//!    `(tenant, day, range_from)`: one transaction wins, the other plans nothing.
//! 2. **Send**: every unsent report, oldest first, as a Billing Meter Event with
//!    its identifier. A report is marked sent only after Stripe accepted it; if
//!    the process dies in between, the next sync sends the same identifier again
//!    and Stripe keeps one. A failure is retried with backoff (a few quick tries
//!    now, then on later syncs after a growing delay) and shown on the billing
//!    page; the report stays until it is sent.

use std::collections::BTreeMap;

use airlock_schema::entities::{billing_report, tenant, tenant_billing, usage_daily};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use super::{StripeApi, StripeFailure, event_timestamp, identifier, marked_up, short_message};
use crate::tenant::usage::sum_i64;

/// Quick retries of one meter event within a sync, before it waits for a later one.
const QUICK_TRIES: u32 = 3;

/// The longest a failed report waits before the next try.
const MAX_BACKOFF_SECS: i64 = 3_600;

/// What one tenant's sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TenantSync {
    pub tenant_id: Uuid,
    pub slug: String,
    /// Reports written this time.
    pub planned: usize,
    /// Reports Stripe accepted this time (new and retried).
    pub sent: usize,
    /// Reports still waiting to be sent.
    pub unsent: usize,
    /// Micro-dollars (after markup) Stripe accepted this time.
    pub sent_value_micros: i64,
    /// Why the sync did not finish, if it did not.
    pub error: Option<String>,
}

/// One day's cost of a tenant against what was reported of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DayPosition {
    cost: i64,
    reported_to: i64,
}

async fn day_costs(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    from: NaiveDate,
) -> Result<BTreeMap<NaiveDate, i64>, DbErr> {
    let rows: Vec<(NaiveDate, i64)> = usage_daily::Grain::Models
        .find()
        .select_only()
        .column(usage_daily::Column::Day)
        .column_as(sum_i64("cost_micros"), "cost")
        .filter(usage_daily::Column::TenantId.eq(tenant_id))
        .filter(usage_daily::Column::Day.gte(from))
        .group_by(usage_daily::Column::Day)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Each day's watermark: the newest `range_to_micros` reported.
pub(crate) async fn watermarks(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
    from: NaiveDate,
) -> Result<BTreeMap<NaiveDate, i64>, DbErr> {
    let rows: Vec<(NaiveDate, Option<i64>)> = billing_report::Entity::find()
        .select_only()
        .column(billing_report::Column::Day)
        .column_as(billing_report::Column::RangeToMicros.max(), "reported_to")
        .filter(billing_report::Column::TenantId.eq(tenant_id))
        .filter(billing_report::Column::Day.gte(from))
        .group_by(billing_report::Column::Day)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(day, to)| (day, to.unwrap_or(0)))
        .collect())
}

/// Step 1: writes a report for every day whose cost grew past its watermark.
/// Returns how many. A day whose cost is below its watermark (rollups rebuilt
/// lower than what was reported) is not reported again, and is logged;
/// `airlock billing reconcile` shows it.
pub async fn plan(
    db: &DatabaseConnection,
    billing: &tenant_billing::Model,
    now: DateTime<Utc>,
) -> Result<usize, DbErr> {
    let Some(customer) = billing.stripe_customer_id.clone() else {
        return Ok(0);
    };
    let from = billing.bill_from.unwrap_or_else(|| now.date_naive());
    let txn = db.begin().await?;
    let costs = day_costs(&txn, billing.tenant_id, from).await?;
    let marks = watermarks(&txn, billing.tenant_id, from).await?;
    let mut planned = 0;
    for (day, cost) in costs {
        let position = DayPosition {
            cost,
            reported_to: marks.get(&day).copied().unwrap_or(0),
        };
        if position.cost < position.reported_to {
            tracing::warn!(
                tenant.id = %billing.tenant_id,
                %day,
                cost = position.cost,
                reported = position.reported_to,
                "a day's cost is below what was reported to Stripe; run `airlock billing reconcile`"
            );
            continue;
        }
        if position.cost == position.reported_to {
            continue;
        }
        let value = marked_up(position.cost, billing.markup_basis_points)
            - marked_up(position.reported_to, billing.markup_basis_points);
        billing_report::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(billing.tenant_id),
            day: Set(day),
            range_from_micros: Set(position.reported_to),
            range_to_micros: Set(position.cost),
            value_micros: Set(value),
            identifier: Set(identifier(
                billing.tenant_id,
                day,
                position.reported_to,
                position.cost,
            )),
            customer_id: Set(customer.clone()),
            event_timestamp: Set(event_timestamp(day, now)),
            created_at: Set(now),
            sent_at: Set(None),
            attempts: Set(0),
            last_error: Set(None),
            next_attempt_at: Set(None),
        }
        .insert(&txn)
        .await?;
        planned += 1;
    }
    txn.commit().await?;
    Ok(planned)
}

/// How long a report waits after `attempts` failed tries: 30 s doubling, at most an hour.
fn backoff(attempts: i32) -> chrono::Duration {
    let exponent = u32::try_from(attempts.clamp(1, 12) - 1).unwrap_or(0);
    chrono::Duration::seconds((30_i64 << exponent).min(MAX_BACKOFF_SECS))
}

/// Step 2: sends the tenant's unsent reports that are due. Stops at the first
/// report Stripe still refuses after the quick retries (later ones wait: a
/// failure is usually Stripe or the network, and order keeps reports readable).
pub async fn send_pending(
    db: &DatabaseConnection,
    api: &StripeApi,
    tenant_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(usize, i64), SendError> {
    let due = billing_report::Entity::find()
        .filter(billing_report::Column::TenantId.eq(tenant_id))
        .filter(billing_report::Column::SentAt.is_null())
        .order_by_asc(billing_report::Column::Day)
        .order_by_asc(billing_report::Column::RangeFromMicros)
        .all(db)
        .await?;
    let mut sent = 0;
    let mut value = 0;
    for report in due {
        if report.next_attempt_at.is_some_and(|at| at > now) {
            continue;
        }
        let mut outcome = api.send_meter_event(&report).await;
        let mut tries = 1;
        while let Err(failure) = &outcome {
            if !failure.retryable || tries >= QUICK_TRIES {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200 << tries)).await;
            outcome = api.send_meter_event(&report).await;
            tries += 1;
        }
        match outcome {
            Ok(()) => {
                let mut row: billing_report::ActiveModel = report.clone().into();
                row.sent_at = Set(Some(Utc::now()));
                row.attempts = Set(report.attempts.saturating_add(1));
                row.last_error = Set(None);
                row.next_attempt_at = Set(None);
                row.update(db).await?;
                sent += 1;
                value += report.value_micros;
            }
            Err(failure) => {
                let attempts = report.attempts.saturating_add(1);
                let mut row: billing_report::ActiveModel = report.into();
                row.attempts = Set(attempts);
                row.last_error = Set(Some(short_message(&failure.message)));
                row.next_attempt_at = Set(Some(now + backoff(attempts)));
                row.update(db).await?;
                return Err(SendError::Stripe(failure, sent, value));
            }
        }
    }
    Ok((sent, value))
}

#[derive(Debug)]
pub enum SendError {
    Db(DbErr),
    /// Stripe refused or was unreachable, after `.1` reports (worth `.2`) were sent.
    Stripe(StripeFailure, usize, i64),
}

impl From<DbErr> for SendError {
    fn from(e: DbErr) -> Self {
        SendError::Db(e)
    }
}

async fn unsent(db: &impl ConnectionTrait, tenant_id: Uuid) -> Result<usize, DbErr> {
    use sea_orm::PaginatorTrait;
    let count = billing_report::Entity::find()
        .filter(billing_report::Column::TenantId.eq(tenant_id))
        .filter(billing_report::Column::SentAt.is_null())
        .count(db)
        .await?;
    Ok(usize::try_from(count).unwrap_or(usize::MAX))
}

/// Plans and sends one tenant's usage, and records the outcome on its billing row.
pub async fn sync_tenant(
    db: &DatabaseConnection,
    api: &StripeApi,
    billing: &tenant_billing::Model,
    slug: &str,
    now: DateTime<Utc>,
) -> TenantSync {
    let mut result = TenantSync {
        tenant_id: billing.tenant_id,
        slug: slug.to_owned(),
        ..TenantSync::default()
    };
    match plan(db, billing, now).await {
        Ok(planned) => result.planned = planned,
        Err(e) if is_unique_violation(&e) => {
            // Another sync planned the same range a moment ago: send what is there.
            tracing::info!(tenant = slug, "another billing sync planned these reports");
        }
        Err(e) => {
            tracing::error!(tenant = slug, error = %e, "planning billing reports failed");
            result.error = Some(
                "the database could not be read; usage is kept and sent on the next sync".into(),
            );
        }
    }
    if result.error.is_none() {
        match send_pending(db, api, billing.tenant_id, now).await {
            Ok((sent, value)) => {
                result.sent = sent;
                result.sent_value_micros = value;
            }
            Err(SendError::Stripe(failure, sent, value)) => {
                result.sent = sent;
                result.sent_value_micros = value;
                result.error = Some(format!(
                    "Stripe: {} (unsent usage is kept and retried)",
                    short_message(&failure.message)
                ));
            }
            Err(SendError::Db(e)) => {
                tracing::error!(tenant = slug, error = %e, "recording billing reports failed");
                result.error = Some(
                    "the database could not be written; reports are resent on the next sync".into(),
                );
            }
        }
    }
    result.unsent = unsent(db, billing.tenant_id).await.unwrap_or(usize::MAX);
    let mut row: tenant_billing::ActiveModel = billing.clone().into();
    row.last_sync_at = Set(Some(Utc::now()));
    row.last_sync_error = Set(result.error.clone());
    row.updated_at = Set(Utc::now());
    if let Err(e) = row.update(db).await {
        tracing::warn!(tenant = slug, error = %e, "recording the sync outcome failed");
    }
    result
}

fn is_unique_violation(e: &DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// Syncs every tenant with billing on and a customer.
pub async fn sync_all(db: &DatabaseConnection, api: &StripeApi) -> Result<Vec<TenantSync>, DbErr> {
    let rows = tenant_billing::Entity::find()
        .filter(tenant_billing::Column::Enabled.eq(true))
        .filter(tenant_billing::Column::StripeCustomerId.is_not_null())
        .find_also_related(tenant::Entity)
        .all(db)
        .await?;
    let mut results = Vec::with_capacity(rows.len());
    for (billing, tenant) in rows {
        let slug = tenant.map(|t| t.slug).unwrap_or_default();
        results.push(sync_tenant(db, api, &billing, &slug, Utc::now()).await);
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(1).num_seconds(), 30);
        assert_eq!(backoff(2).num_seconds(), 60);
        assert_eq!(backoff(7).num_seconds(), 1_920);
        assert_eq!(backoff(8).num_seconds(), 3_600);
        assert_eq!(backoff(i32::MAX).num_seconds(), 3_600);
    }
}
