//! Budget alerts: when a budget (the tenant's, an environment's, a key's monthly
//! or daily) crosses one of the tenant's thresholds, one alert, shown in the
//! console and mailed to the people who act on it.
//!
//! Rotation reminders ([`evaluate_rotations`]) tell a key's owner and the
//! admins that a key reaches its expiry (or its environment's maximum age, for a
//! key without one) in 14 days, in 3, and when it has.
//!
//! The alert job ([`evaluate_budgets`]) reads the same budget figures the usage
//! page shows (the rollups, near real time) and fires the highest threshold
//! crossed that has not fired yet in the period. The unique index on (tenant,
//! kind, scope, period, threshold) makes firing idempotent: two job runners, or a
//! runner and `airlock jobs run-once`, cannot fire one alert twice. The mail job
//! ([`send_pending_mail`]) claims each pending alert with a conditional UPDATE
//! before sending, retries failures with backoff, and records the last error on
//! the alert, where the console shows it.

use std::collections::HashMap;

use airlock_core::money::MicroDollars;
use airlock_core::role::Role;
use airlock_schema::entities::{
    alert, alert_setting, env_default, membership, relay_key, tenant, user,
};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, Event};
use super::usage::overview::{self, BudgetUse};
use super::{Actor, Permission, Store, TenantScope};
use crate::error::ConsoleError;
use crate::mail::Mailer;

/// The thresholds of a tenant that set none, in percent.
pub const DEFAULT_THRESHOLDS: [u32; 3] = [50, 80, 100];
/// At most this many thresholds per tenant.
const MAX_THRESHOLDS: usize = 5;
/// How often a failed mail is tried before the alert says it gave up.
pub const MAIL_ATTEMPTS: i32 = 8;
/// How long a runner may hold an alert's mail while sending it.
const SENDING_CLAIM: Duration = Duration::minutes(2);

/// A tenant's thresholds from what an admin typed: whole percentages from 1 to
/// 100, separated by commas or spaces, at most five; stored ascending, once each.
pub fn parse_thresholds(text: &str) -> Result<Vec<u32>, ConsoleError> {
    let invalid = |why: &str| {
        ConsoleError::InvalidParam(
            "budget_thresholds",
            format!(
                "alert thresholds: {why}; write whole percentages from 1 to 100, like 50, 80, 100"
            ),
        )
    };
    let mut out = Vec::new();
    for part in text
        .split([',', ' '])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let part = part.trim_end_matches('%');
        let value: u32 = part
            .parse()
            .map_err(|_| invalid(&format!("`{part}` is not a whole number")))?;
        if !(1..=100).contains(&value) {
            return Err(invalid(&format!("{value} is outside 1–100")));
        }
        out.push(value);
    }
    out.sort_unstable();
    out.dedup();
    if out.is_empty() {
        return Err(invalid("none given"));
    }
    if out.len() > MAX_THRESHOLDS {
        return Err(invalid(&format!("at most {MAX_THRESHOLDS}")));
    }
    Ok(out)
}

fn thresholds_text(thresholds: &[u32]) -> String {
    thresholds
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The tenant's thresholds (the defaults when it set none).
pub async fn thresholds(
    db: &impl ConnectionTrait,
    tenant_id: Uuid,
) -> Result<Vec<u32>, ConsoleError> {
    let row = alert_setting::Entity::find_by_id(tenant_id).one(db).await?;
    Ok(row
        .and_then(|r| parse_thresholds(&r.budget_thresholds).ok())
        .unwrap_or_else(|| DEFAULT_THRESHOLDS.to_vec()))
}

/// Sets the tenant's thresholds (owners and admins), audited.
pub async fn save_thresholds(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    new: Vec<u32>,
) -> Result<(), ConsoleError> {
    scope.require(Permission::ManageBudgets)?;
    let txn = sea_orm::TransactionTrait::begin(store.db()).await?;
    let before = thresholds(&txn, scope.tenant_id()).await?;
    let row = alert_setting::ActiveModel {
        tenant_id: Set(scope.tenant_id()),
        budget_thresholds: Set(thresholds_text(&new)),
        suspend_on_anomaly: Set(String::new()),
        updated_at: Set(Utc::now()),
    };
    alert_setting::Entity::insert(row)
        .on_conflict(
            OnConflict::column(alert_setting::Column::TenantId)
                .update_columns([
                    alert_setting::Column::BudgetThresholds,
                    alert_setting::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(&txn)
        .await?;
    audit::commit_with(
        txn,
        store,
        scope,
        actor,
        Event {
            action: "alerts.thresholds",
            target_type: "tenant",
            target_id: Some(scope.tenant_id().to_string()),
            before: Some(json!({ "budget_thresholds": before })),
            after: Some(json!({ "budget_thresholds": new })),
        },
    )
    .await
}

/// The tenant's alerts, newest first.
pub async fn list(
    store: &Store,
    scope: &TenantScope,
    limit: u64,
) -> Result<Vec<alert::Model>, ConsoleError> {
    scope.require(Permission::ReadBudgets)?;
    Ok(alert::Entity::find()
        .filter(alert::Column::TenantId.eq(scope.tenant_id()))
        .order_by_desc(alert::Column::CreatedAt)
        .order_by_desc(alert::Column::Threshold)
        .limit(limit)
        .all(store.db())
        .await?)
}

/// How many alerts nobody has acknowledged yet (the bell's number).
pub async fn unacknowledged(db: &DatabaseConnection, tenant_id: Uuid) -> Result<u64, ConsoleError> {
    Ok(alert::Entity::find()
        .filter(alert::Column::TenantId.eq(tenant_id))
        .filter(alert::Column::AcknowledgedAt.is_null())
        .count(db)
        .await?)
}

/// Marks an alert seen (owners, admins, finance), audited. Another tenant's
/// alert is not found; one already acknowledged stays as it was.
pub async fn acknowledge(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    alert_id: Uuid,
) -> Result<(), ConsoleError> {
    scope.require(Permission::ReadBilling)?;
    let txn = sea_orm::TransactionTrait::begin(store.db()).await?;
    let row = alert::Entity::find_by_id(alert_id)
        .filter(alert::Column::TenantId.eq(scope.tenant_id()))
        .one(&txn)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    if row.acknowledged_at.is_some() {
        return Ok(());
    }
    let subject = row.subject.clone();
    let mut active: alert::ActiveModel = row.into();
    active.acknowledged_at = Set(Some(Utc::now()));
    active.acknowledged_by = Set(actor.user_id);
    active.update(&txn).await?;
    audit::commit_with(
        txn,
        store,
        scope,
        actor,
        Event {
            action: "alert.acknowledge",
            target_type: "alert",
            target_id: Some(alert_id.to_string()),
            before: None,
            after: Some(json!({ "subject": subject })),
        },
    )
    .await
}

/// What a new alert says and is about.
pub(super) struct AlertRow {
    pub(super) tenant_id: Uuid,
    pub(super) kind: &'static str,
    pub(super) severity: &'static str,
    pub(super) scope: String,
    pub(super) period: String,
    pub(super) threshold: i32,
    pub(super) subject: String,
    pub(super) body: String,
    pub(super) key_id: Option<Uuid>,
    pub(super) now: DateTime<Utc>,
    /// Mail will go out (else the alert says there is no mail server).
    pub(super) mail: bool,
}

pub(super) fn alert_row(new: AlertRow) -> alert::ActiveModel {
    alert::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(new.tenant_id),
        kind: Set(new.kind.to_owned()),
        severity: Set(new.severity.to_owned()),
        scope: Set(new.scope),
        period: Set(new.period),
        threshold: Set(new.threshold),
        subject: Set(new.subject),
        body: Set(new.body),
        key_id: Set(new.key_id),
        created_at: Set(new.now),
        acknowledged_at: Set(None),
        acknowledged_by: Set(None),
        mail_state: Set(if new.mail { "pending" } else { "none" }.to_owned()),
        mail_attempts: Set(0),
        mail_error: Set(None),
        next_mail_at: Set(None),
        emailed_at: Set(None),
    }
}

/// Inserts an alert unless it fired already (another runner may have fired it
/// a moment ago: then nothing happens). 1 when inserted.
pub(super) async fn insert_once(
    db: &DatabaseConnection,
    row: alert::ActiveModel,
) -> Result<usize, ConsoleError> {
    let inserted = alert::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                alert::Column::TenantId,
                alert::Column::Kind,
                alert::Column::Scope,
                alert::Column::Period,
                alert::Column::Threshold,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(usize::try_from(inserted).unwrap_or(0))
}

/// What one run of the alert job did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Evaluated {
    pub tenants: usize,
    pub fired: usize,
}

/// The scope and period an alert about `budget` counts in.
fn scope_and_period(budget: &BudgetUse, today: NaiveDate) -> (String, String) {
    let scope = match (budget.scope, budget.key_id) {
        ("key", Some(id)) => format!("key:{id}"),
        ("env", _) => format!("env:{}", budget.name),
        (other, _) => other.to_owned(),
    };
    let period = match budget.period {
        "day" => today.format("%Y-%m-%d").to_string(),
        _ => today.format("%Y-%m").to_string(),
    };
    (scope, period)
}

/// The sentence an alert says, from numbers and names only.
fn words(
    tenant: &tenant::Model,
    budget: &BudgetUse,
    threshold: u32,
) -> (String, String, &'static str) {
    let what = match budget.scope {
        "tenant" => "the tenant's budget".to_owned(),
        "env" => format!("the {} budget", budget.name),
        // "name (dev_Ab12Cd34)": plain ASCII keeps the subject line readable in
        // every mail client.
        _ => format!("the budget of the key {}", budget.name.replace('…', "")),
    };
    let period = if budget.period == "day" {
        "today"
    } else {
        "this month"
    };
    let (spent, limit) = (
        MicroDollars::new(budget.spent_micros).readable(),
        MicroDollars::new(budget.limit_micros).readable(),
    );
    let subject = format!(
        "[Airlock] {}: {what} at {} % ({spent} of {limit})",
        tenant.slug, budget.percent
    );
    let consequence = if threshold >= 100 {
        "The relay now refuses requests that this budget covers (budget_exceeded) until the period ends or the budget is raised."
    } else {
        "Nothing is refused yet; at 100 % the relay refuses requests that this budget covers (budget_exceeded)."
    };
    let mut chars = what.chars();
    let what_capitalised: String = chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    let body = format!(
        "{what_capitalised} of {} has reached {} % {period}: {spent} spent of {limit} (the {threshold} % alert).\n{consequence}",
        tenant.name, budget.percent
    );
    let severity = match threshold {
        100.. => "critical",
        80..=99 => "warning",
        _ => "info",
    };
    (subject, body, severity)
}

/// The alert job: for every tenant, each budget past a threshold that has not
/// fired this period fires its highest one. `mail` says whether mail will go
/// out (without a mail server, alerts are marked so, for the console to say).
pub async fn evaluate_budgets(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    mail: bool,
) -> Result<Evaluated, ConsoleError> {
    let today = now.date_naive();
    let tenants = tenant::Entity::find().all(db).await?;
    let mut done = Evaluated::default();
    for tenant in tenants {
        done.tenants += 1;
        let scope = TenantScope::operator_of(tenant.clone());
        let budgets = overview::budget_uses(db, &scope, today).await?;
        let thresholds = thresholds(db, tenant.id).await?;
        // What already fired this period, per scope: the highest threshold.
        let fired: Vec<(String, String, i32)> = alert::Entity::find()
            .select_only()
            .column(alert::Column::Scope)
            .column(alert::Column::Period)
            .column(alert::Column::Threshold)
            .filter(alert::Column::TenantId.eq(tenant.id))
            .filter(alert::Column::Kind.eq("budget"))
            .filter(alert::Column::Period.is_in([
                today.format("%Y-%m").to_string(),
                today.format("%Y-%m-%d").to_string(),
            ]))
            .into_tuple()
            .all(db)
            .await?;
        let mut highest: HashMap<(String, String), i32> = HashMap::new();
        for (scope, period, threshold) in fired {
            let entry = highest.entry((scope, period)).or_insert(threshold);
            *entry = (*entry).max(threshold);
        }
        for budget in budgets.iter().filter(|b| b.limit_micros > 0) {
            let Some(threshold) = thresholds
                .iter()
                .copied()
                .filter(|t| budget.percent >= *t)
                .max()
            else {
                continue;
            };
            let (scope_key, period) = scope_and_period(budget, today);
            let already = highest.get(&(scope_key.clone(), period.clone())).copied();
            if already.is_some_and(|t| i64::from(t) >= i64::from(threshold)) {
                continue;
            }
            let (subject, body, severity) = words(&tenant, budget, threshold);
            let row = alert_row(AlertRow {
                tenant_id: tenant.id,
                kind: "budget",
                severity,
                scope: scope_key,
                period,
                threshold: i32::try_from(threshold).unwrap_or(100),
                subject,
                body,
                key_id: budget.key_id,
                now,
                mail,
            });
            done.fired += insert_once(db, row).await?;
        }
    }
    Ok(done)
}

/// Days before a key's deadline when its owner is reminded; 0 is the day itself.
pub const ROTATION_REMINDER_DAYS: [i64; 3] = [14, 3, 0];

/// A key's deadline: its expiry, or for a key without one the end of its
/// environment's maximum age.
fn deadline(key: &relay_key::Model, max_age_days: i32) -> DateTime<Utc> {
    key.expires_at
        .unwrap_or(key.created_at + Duration::days(i64::from(max_age_days)))
}

/// The reminder due for a deadline `days_left` away: the nearest stage reached.
fn reminder_stage(days_left: i64) -> Option<i64> {
    ROTATION_REMINDER_DAYS
        .into_iter()
        .filter(|stage| days_left <= *stage)
        .min()
}

/// What one run of the rotation job did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reminded {
    pub keys: usize,
    pub fired: usize,
}

/// The rotation job: each live key (not revoked, not already rotated away)
/// whose deadline is 14 or 3 days off, or reached, gets that reminder once per
/// deadline (a key given a later expiry is reminded again before that one).
pub async fn evaluate_rotations(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    mail: bool,
) -> Result<Reminded, ConsoleError> {
    let soonest = now + Duration::days(ROTATION_REMINDER_DAYS[0] + 1);
    let keys = relay_key::Entity::find()
        .filter(relay_key::Column::RevokedAt.is_null())
        .filter(relay_key::Column::GraceUntil.is_null())
        .filter(
            sea_orm::Condition::any()
                .add(relay_key::Column::ExpiresAt.is_null())
                .add(relay_key::Column::ExpiresAt.lte(soonest)),
        )
        .all(db)
        .await?;
    let mut done = Reminded::default();
    let mut max_ages: HashMap<(Uuid, String), i32> = HashMap::new();
    for key in keys {
        let max_age = match max_ages.get(&(key.tenant_id, key.env.to_string())) {
            Some(days) => *days,
            None => {
                let days = env_default::Entity::find()
                    .filter(env_default::Column::TenantId.eq(key.tenant_id))
                    .filter(env_default::Column::Env.eq(key.env))
                    .one(db)
                    .await?
                    .map_or(super::DEFAULT_MAX_KEY_AGE_DAYS, |d| d.max_key_age_days);
                max_ages.insert((key.tenant_id, key.env.to_string()), days);
                days
            }
        };
        let due = deadline(&key, max_age);
        // Whole days, rounded up: a deadline 2.5 days off is "in 3 days".
        let days_left = (due - now).num_hours().div_euclid(24)
            + i64::from((due - now).num_hours().rem_euclid(24) > 0);
        // Keys that expired before reminders existed (or long ago) stay quiet: the
        // reminder is for the day itself, not for history.
        if days_left < -1 {
            continue;
        }
        let Some(stage) = reminder_stage(days_left) else {
            continue;
        };
        done.keys += 1;
        let Some(tenant) = tenant::Entity::find_by_id(key.tenant_id).one(db).await? else {
            continue;
        };
        let name = format!("{} ({})", key.name, key.display_prefix);
        let what = if key.expires_at.is_some() {
            "expires"
        } else {
            "reaches its environment's maximum age"
        };
        let day = due.format("%Y-%m-%d");
        let (subject, when, severity) = match stage {
            0 => (
                format!(
                    "[Airlock] {}: the key {name} {} ({day})",
                    tenant.slug,
                    if key.expires_at.is_some() {
                        "has expired"
                    } else {
                        "is past its maximum age"
                    }
                ),
                format!("The key {name} {what} on {day}: apps using it are refused from then on"),
                "critical",
            ),
            _ => (
                format!(
                    "[Airlock] {}: rotate the key {name}: it {what} in {days_left} days ({day})",
                    tenant.slug
                ),
                format!("The key {name} {what} in {days_left} days, on {day}"),
                if stage <= 3 { "warning" } else { "info" },
            ),
        };
        let body = format!(
            "{when}. Before then, make a new key for its apps and move them over (a rotation keeps this expiry: the rotated key ends on the same day), or give this key a later expiry on its own page if the environment allows.",
        );
        let row = alert_row(AlertRow {
            tenant_id: tenant.id,
            kind: "rotation",
            severity,
            scope: format!("key:{}", key.id),
            period: due.format("%Y-%m-%d").to_string(),
            threshold: i32::try_from(stage).unwrap_or(0),
            subject,
            body,
            key_id: Some(key.id),
            now,
            mail,
        });
        done.fired += insert_once(db, row).await?;
    }
    Ok(done)
}

/// Who an alert goes to: the tenant's owners and admins; finance too for the
/// tenant's and the environments' budgets; and a key's owner for its key.
pub async fn recipients(
    db: &DatabaseConnection,
    alert: &alert::Model,
) -> Result<Vec<String>, ConsoleError> {
    let members: Vec<(Uuid, airlock_schema::stored::Stored<Role>)> = membership::Entity::find()
        .select_only()
        .column(membership::Column::UserId)
        .column(membership::Column::Role)
        .filter(membership::Column::TenantId.eq(alert.tenant_id))
        .into_tuple()
        .all(db)
        .await?;
    let key_owner = match alert.key_id {
        Some(key_id) => relay_key::Entity::find_by_id(key_id)
            .one(db)
            .await?
            .and_then(|k| k.owner_user_id),
        None => None,
    };
    let finance_too = !alert.scope.starts_with("key:");
    let mut ids: Vec<Uuid> = members
        .iter()
        .filter(|(user_id, role)| {
            matches!(role.0, Role::Owner | Role::Admin)
                || (finance_too && role.0 == Role::Finance)
                || Some(*user_id) == key_owner
        })
        .map(|(user_id, _)| *user_id)
        .collect();
    ids.sort();
    ids.dedup();
    if let Some(kind) = crate::notifications::Kind::of_alert(&alert.kind) {
        ids = crate::notifications::who_wants(db, ids, kind).await?;
    }
    let mut emails: Vec<String> = user::Entity::find()
        .select_only()
        .column(user::Column::Email)
        .filter(user::Column::Id.is_in(ids))
        .filter(user::Column::Disabled.eq(false))
        .into_tuple()
        .all(db)
        .await?;
    emails.sort();
    Ok(emails)
}

/// What one run of the mail job did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Mailed {
    pub sent: usize,
    pub failed: usize,
}

/// How long to wait before trying a failed mail again: 1, 2, 4 … minutes, at
/// most an hour.
fn backoff(attempts: i32) -> Duration {
    let exponent = u32::try_from(attempts.clamp(1, 7) - 1).unwrap_or(0);
    Duration::minutes((1_i64 << exponent).min(60))
}

/// The mail job: sends every pending alert whose time has come, each claimed
/// first so two runners never send one twice. `console_url` makes the link to
/// the alerts page.
pub async fn send_pending_mail(
    db: &DatabaseConnection,
    mailer: &Mailer,
    console_url: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Mailed, ConsoleError> {
    use sea_orm::sea_query::Expr;
    let due = alert::Entity::find()
        .filter(alert::Column::MailState.is_in(["pending", "sending"]))
        .filter(
            sea_orm::Condition::any()
                .add(alert::Column::NextMailAt.is_null())
                .add(alert::Column::NextMailAt.lte(now)),
        )
        .order_by_asc(alert::Column::CreatedAt)
        .limit(200)
        .all(db)
        .await?;
    let mut done = Mailed::default();
    for alert in due {
        // Claim it: only the runner whose UPDATE matched sends it.
        let claimed = alert::Entity::update_many()
            .col_expr(alert::Column::MailState, Expr::value("sending"))
            .col_expr(alert::Column::NextMailAt, Expr::value(now + SENDING_CLAIM))
            .filter(alert::Column::Id.eq(alert.id))
            .filter(alert::Column::MailState.eq(alert.mail_state.clone()))
            .filter(
                sea_orm::Condition::any()
                    .add(alert::Column::NextMailAt.is_null())
                    .add(alert::Column::NextMailAt.lte(now)),
            )
            .exec(db)
            .await?;
        if claimed.rows_affected != 1 {
            continue;
        }
        let to = recipients(db, &alert).await?;
        let slug = tenant::Entity::find_by_id(alert.tenant_id)
            .one(db)
            .await?
            .map(|t| t.slug)
            .unwrap_or_default();
        let link = console_url.map_or_else(
            || format!("Open the console's Alerts page of the tenant {slug}."),
            |url| format!("{}/t/{slug}/alerts", url.trim_end_matches('/')),
        );
        let body = format!(
            "{}\n\n{link}\n\nYou get this mail as an owner, admin, finance member or key owner of the tenant.\n",
            alert.body
        );
        let attempts = alert.mail_attempts + 1;
        let outcome = if to.is_empty() {
            Err("the tenant has no one to mail this to".to_owned())
        } else {
            mailer
                .send_to_all(&to, &alert.subject, body)
                .await
                .map_err(|e| e.to_string())
        };
        let mut active: alert::ActiveModel = alert.into();
        active.mail_attempts = Set(attempts);
        match outcome {
            Ok(()) => {
                done.sent += 1;
                active.mail_state = Set("sent".to_owned());
                active.mail_error = Set(None);
                active.next_mail_at = Set(None);
                active.emailed_at = Set(Some(now));
            }
            Err(error) => {
                done.failed += 1;
                tracing::warn!(attempts, error = %error, "an alert's mail was not sent");
                let gave_up = attempts >= MAIL_ATTEMPTS;
                active.mail_state = Set(if gave_up { "failed" } else { "pending" }.to_owned());
                active.mail_error = Set(Some(error.chars().take(300).collect()));
                active.next_mail_at = Set((!gave_up).then(|| now + backoff(attempts)));
            }
        }
        active.update(db).await?;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_whole_percentages_from_one_to_a_hundred() {
        assert_eq!(parse_thresholds("80, 50,100").ok(), Some(vec![50, 80, 100]));
        assert_eq!(parse_thresholds("90% 90").ok(), Some(vec![90]));
        for bad in ["", "0", "101", "fifty", "1,2,3,4,5,6", "-5"] {
            let Err(ConsoleError::InvalidParam(field, message)) = parse_thresholds(bad) else {
                panic!("{bad:?} should be refused");
            };
            assert_eq!(field, "budget_thresholds");
            assert!(message.starts_with("alert thresholds"), "{message}");
        }
    }

    #[test]
    fn a_deadline_is_reminded_at_14_days_3_days_and_on_the_day() {
        assert_eq!(reminder_stage(30), None);
        assert_eq!(reminder_stage(15), None);
        assert_eq!(reminder_stage(14), Some(14));
        assert_eq!(reminder_stage(4), Some(14));
        assert_eq!(reminder_stage(3), Some(3));
        assert_eq!(reminder_stage(1), Some(3));
        assert_eq!(reminder_stage(0), Some(0));
        assert_eq!(reminder_stage(-5), Some(0));
    }

    #[test]
    fn failed_mail_waits_longer_each_time_up_to_an_hour() {
        assert_eq!(backoff(1), Duration::minutes(1));
        assert_eq!(backoff(2), Duration::minutes(2));
        assert_eq!(backoff(4), Duration::minutes(8));
        assert_eq!(backoff(7), Duration::minutes(60));
        assert_eq!(backoff(30), Duration::minutes(60));
    }
}
