//! The job runner: the one place for periodic work (budget alerts, rotation
//! reminders, anomaly detection, their mail, and the Stripe billing sync). A server runs every job each `jobs.interval_secs`; `airlock jobs
//! run-once` runs them now, for operators and tests.
//!
//! Several servers may share one database. Before a scheduled run an instance
//! takes the job's lease ([`try_lease`]: one conditional UPDATE of its
//! `job_leases` row, effective only where the lease has run out), held for most
//! of an interval; so per tick exactly one instance runs each job, on PostgreSQL
//! and SQLite alike. The jobs are idempotent besides (an alert fires once by a
//! unique index; a mail is claimed before it is sent), so a run-once beside a
//! server, or a lease lost to a slow tick, cannot double anything.

use std::time::Duration;

use airlock_schema::entities::job_lease;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::error::ConsoleError;
use crate::mail::Mailer;
use crate::tenant::alerts;

/// A periodic job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Job {
    /// Fires budget alerts at the tenants' thresholds.
    BudgetAlerts,
    /// Reminds keys' owners to rotate keys near their expiry.
    RotationReminders,
    /// Looks for unusual use of each key in the last hour.
    AnomalyDetection,
    /// Sends alerts' mail, retrying failures.
    AlertMail,
    /// Reports usage to Stripe (when billing is on), every
    /// `billing.sync_interval_secs` rather than every tick.
    BillingSync,
}

impl Job {
    /// In the order one tick runs them: alerts fired in a tick are mailed in it.
    pub const ALL: [Job; 5] = [
        Job::BudgetAlerts,
        Job::RotationReminders,
        Job::AnomalyDetection,
        Job::AlertMail,
        Job::BillingSync,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Job::BudgetAlerts => "budget-alerts",
            Job::RotationReminders => "rotation-reminders",
            Job::AnomalyDetection => "anomaly-detection",
            Job::AlertMail => "alert-mail",
            Job::BillingSync => "billing-sync",
        }
    }

    pub fn parse(name: &str) -> Option<Job> {
        Job::ALL.into_iter().find(|job| job.name() == name)
    }
}

/// What the jobs need: the database, the mail server (none: alerts are shown in
/// the console and say no mail went out) and the console's address for links.
pub struct Jobs {
    pub db: DatabaseConnection,
    pub mailer: Option<Mailer>,
    pub console_url: Option<String>,
    /// This instance, in the leases it holds.
    pub holder: String,
    /// The tenant layer with the audit key, when the runner has it: automatic
    /// suspensions are then in the audit log (else in the alert only).
    pub store: Option<crate::tenant::Store>,
    /// Stripe billing, when it is on, and how often to report to it (zero: only
    /// on demand).
    pub billing: Option<(std::sync::Arc<crate::billing::Billing>, Duration)>,
}

impl Jobs {
    pub fn new(
        db: DatabaseConnection,
        mailer: Option<Mailer>,
        console_url: Option<String>,
    ) -> Jobs {
        Jobs {
            db,
            mailer,
            console_url,
            holder: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            store: None,
            billing: None,
        }
    }

    /// Reports usage to Stripe every `interval` (zero: only on demand).
    pub fn with_billing(
        mut self,
        billing: Option<std::sync::Arc<crate::billing::Billing>>,
        interval: Duration,
    ) -> Jobs {
        self.billing = billing.map(|b| (b, interval));
        self
    }

    /// Records what the jobs change (automatic suspensions) in the audit log.
    pub fn with_store(mut self, store: crate::tenant::Store) -> Jobs {
        self.store = Some(store);
        self
    }

    /// Runs `job` now; returns a line that says what it did.
    pub async fn run(&self, job: Job, now: DateTime<Utc>) -> Result<String, ConsoleError> {
        match job {
            Job::BudgetAlerts => {
                let done = alerts::evaluate_budgets(&self.db, now, self.mailer.is_some()).await?;
                Ok(format!(
                    "{}: {} tenants checked, {} alerts fired",
                    job.name(),
                    done.tenants,
                    done.fired
                ))
            }
            Job::RotationReminders => {
                let done = alerts::evaluate_rotations(&self.db, now, self.mailer.is_some()).await?;
                Ok(format!(
                    "{}: {} keys near their deadline, {} reminders fired",
                    job.name(),
                    done.keys,
                    done.fired
                ))
            }
            Job::AnomalyDetection => {
                let done = crate::tenant::anomalies::evaluate(
                    &self.db,
                    self.store.as_ref(),
                    now,
                    self.mailer.is_some(),
                )
                .await?;
                Ok(format!(
                    "{}: {} keys checked, {} anomalies, {} keys suspended",
                    job.name(),
                    done.keys_checked,
                    done.fired,
                    done.suspended
                ))
            }
            Job::BillingSync => match &self.billing {
                Some((billing, _)) => {
                    let results = crate::billing::sync::sync_all(&self.db, &billing.api).await?;
                    let sent: usize = results.iter().map(|r| r.sent).sum();
                    let failed = results.iter().filter(|r| r.error.is_some()).count();
                    for r in results.iter().filter(|r| r.error.is_some() || r.sent > 0) {
                        tracing::info!(tenant = %r.slug, sent = r.sent, unsent = r.unsent, failed = r.error.is_some(), "billing sync");
                    }
                    Ok(format!(
                        "{}: {} tenants, {sent} reports sent, {failed} failed (retried next time)",
                        job.name(),
                        results.len()
                    ))
                }
                None => Ok(format!("{}: billing is off (no Stripe key)", job.name())),
            },
            Job::AlertMail => match &self.mailer {
                Some(mailer) => {
                    let done = alerts::send_pending_mail(
                        &self.db,
                        mailer,
                        self.console_url.as_deref(),
                        now,
                    )
                    .await?;
                    Ok(format!(
                        "{}: {} mails sent, {} failed (retried later)",
                        job.name(),
                        done.sent,
                        done.failed
                    ))
                }
                None => Ok(format!(
                    "{}: no mail server configured (smtp_url)",
                    job.name()
                )),
            },
        }
    }

    /// One scheduled tick: each job whose lease this instance gets.
    pub async fn tick(&self, interval: Duration) {
        for job in Job::ALL {
            let now = Utc::now();
            // Billing reports on its own, longer interval (or only on demand).
            let every = match job {
                Job::BillingSync => match &self.billing {
                    Some((_, every)) if !every.is_zero() => *every,
                    _ => continue,
                },
                _ => interval,
            };
            // Held for 90 % of the interval: the next tick, here or elsewhere, finds
            // it free again even if clocks or ticks drift a little.
            let hold = chrono::Duration::from_std(every.mul_f64(0.9))
                .unwrap_or(chrono::Duration::seconds(1));
            match try_lease(&self.db, job.name(), &self.holder, now, now + hold).await {
                Ok(true) => match self.run(job, now).await {
                    Ok(summary) => tracing::debug!(job = job.name(), %summary, "job ran"),
                    Err(e) => {
                        tracing::warn!(job = job.name(), error = %e, "job failed; it runs again next tick")
                    }
                },
                Ok(false) => {
                    tracing::debug!(job = job.name(), "another instance holds the job this tick")
                }
                Err(e) => {
                    tracing::warn!(job = job.name(), error = %e, "could not take the job's lease")
                }
            }
        }
    }
}

/// Takes the lease of `name` until `until` if it has run out (or was never
/// taken). True when this caller holds it now.
pub async fn try_lease(
    db: &DatabaseConnection,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, ConsoleError> {
    // The row exists from the first try on; inserting it expired changes nothing
    // for whoever may hold it.
    job_lease::Entity::insert(job_lease::ActiveModel {
        name: Set(name.to_owned()),
        holder: Set(String::new()),
        leased_until: Set(DateTime::<Utc>::UNIX_EPOCH),
    })
    .on_conflict(
        OnConflict::column(job_lease::Column::Name)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let taken = job_lease::Entity::update_many()
        .col_expr(job_lease::Column::Holder, Expr::value(holder))
        .col_expr(job_lease::Column::LeasedUntil, Expr::value(until))
        .filter(job_lease::Column::Name.eq(name))
        .filter(job_lease::Column::LeasedUntil.lte(now))
        .exec(db)
        .await?;
    Ok(taken.rows_affected == 1)
}

/// Runs the jobs every `interval` while the server runs (0: never; run them with
/// `airlock jobs run-once`).
pub fn spawn(jobs: Jobs, interval: Duration) {
    if interval.is_zero() {
        return;
    }
    actix_web::rt::spawn(async move {
        // The first run one interval after start: a server just started (and an
        // operator's CLI working beside it) has the database to itself first.
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            jobs.tick(interval).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_named_and_found_by_name() {
        for job in Job::ALL {
            assert_eq!(Job::parse(job.name()), Some(job));
        }
        assert_eq!(Job::parse("nope"), None);
    }
}
