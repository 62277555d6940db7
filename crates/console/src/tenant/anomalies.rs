//! Anomaly detection on usage metadata (counts, cost, status codes, model names,
//! client addresses; never content), per key, over the last hour:
//!
//! - **spikes** of requests, cost or refusals (401/403/429 bursts that suggest
//!   probing): the hour against the same hour of each of the previous 14 days of
//!   that key ([`spike_threshold`]: median plus six robust deviations, with a
//!   floor, and a higher floor for keys with less than three days of history);
//! - **a model the key never used** in its previous 30 days, and **requests five
//!   times pricier** than the key's usual (a switch to a more expensive model);
//! - **a client network never seen** for the key in its previous 30 days (a /24
//!   for IPv4, a /48 for IPv6), and **more than 20 networks** in one hour.
//!
//! The new-model and new-network checks need history: a key's first days teach
//! the detector what is normal and raise nothing. Each anomaly is one alert per
//! key, kind and clock hour (the alerts' unique index), with its numbers. In the
//! environments the tenant chose, the key is also suspended at once (refused
//! with `key_suspended` within a second) until a person releases it on the
//! Incidents page.

use std::collections::{BTreeSet, HashMap};

use airlock_core::key::Env;
use airlock_schema::entities::{alert_setting, relay_key, tenant, usage_daily, usage_record};
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use super::alerts::{AlertRow, alert_row, insert_once};
use super::audit::{self, Event};
use super::usage::sum_i64;
use super::{Actor, Store, TenantScope};
use crate::error::ConsoleError;

/// Days of the same hour a key's current hour is compared with.
pub const BASELINE_DAYS: i64 = 14;
/// How far back "never used" and "never seen" look.
const HISTORY_DAYS: i64 = 30;
/// Robust deviations above the median that make a spike.
const DEVIATIONS: f64 = 6.0;
/// Distinct client networks in one hour that are too many for one key.
pub const MAX_NETWORKS_PER_HOUR: usize = 20;
/// How many times its usual cost per request makes a key's hour "pricier"
/// (a switch to a more expensive model), when the hour has at least
/// [`PRICIER_MIN_REQUESTS`] requests and costs at least [`PRICIER_MIN_MICROS`].
const PRICIER_FACTOR: f64 = 5.0;
const PRICIER_MIN_REQUESTS: i64 = 20;
const PRICIER_MIN_MICROS: i64 = 100_000;

/// What is measured, with its floors: (established key, key with < 3 days).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    Requests,
    Cost,
    Refusals,
}

impl Measure {
    fn floors(self) -> (f64, f64) {
        match self {
            Measure::Requests => (100.0, 1_000.0),
            Measure::Cost => (1_000_000.0, 10_000_000.0),
            Measure::Refusals => (30.0, 100.0),
        }
    }
}

/// The level above which `current` is a spike, given the same hour of earlier
/// days (`baseline`, possibly fewer than 14 for a young key): the median plus
/// [`DEVIATIONS`] times the median absolute deviation (scaled to a standard
/// deviation, and at least the square root of the median, the noise of a count),
/// and never below the measure's floor. `None` when `current` is not above it.
pub fn spike_threshold(measure: Measure, current: f64, baseline: &[f64]) -> Option<f64> {
    let (floor, young_floor) = measure.floors();
    let floor = if baseline.len() < 3 {
        young_floor
    } else {
        floor
    };
    let median = median(baseline);
    let deviations: Vec<f64> = baseline.iter().map(|x| (x - median).abs()).collect();
    let spread = (1.4826 * self::median(&deviations))
        .max(median.sqrt())
        .max(1.0);
    let threshold = (median + DEVIATIONS * spread).max(floor);
    (current > threshold).then_some(threshold)
}

fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

/// The network an address belongs to for "never seen": a /24 or a /48.
pub fn network_of(address: &str) -> Option<String> {
    match address.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            Some(format!("{a}.{b}.{c}.0/24"))
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            Some(format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2]))
        }
    }
}

/// One key's hour.
#[derive(Clone, Copy, Debug, Default)]
struct Hour {
    requests: i64,
    cost: i64,
    refusals: i64,
}

async fn hours(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    keys: Option<&[Uuid]>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<HashMap<Uuid, Hour>, ConsoleError> {
    let mut query = usage_record::Entity::find()
        .select_only()
        .column(usage_record::Column::KeyId)
        .column_as(Expr::cust("CAST(COUNT(*) AS BIGINT)"), "requests")
        .column_as(sum_i64("cost_micros"), "cost")
        .column_as(
            Expr::cust(
                "CAST(COALESCE(SUM(CASE WHEN status_code IN (401, 403, 429) THEN 1 ELSE 0 END), 0) AS BIGINT)",
            ),
            "refusals",
        )
        .filter(usage_record::Column::TenantId.eq(tenant_id))
        .filter(usage_record::Column::KeyId.is_not_null())
        .filter(usage_record::Column::CreatedAt.gte(from))
        .filter(usage_record::Column::CreatedAt.lt(to));
    if let Some(keys) = keys {
        query = query.filter(usage_record::Column::KeyId.is_in(keys.iter().copied()));
    }
    let rows: Vec<(Option<Uuid>, i64, i64, i64)> = query
        .group_by(usage_record::Column::KeyId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(key, requests, cost, refusals)| {
            Some((
                key?,
                Hour {
                    requests,
                    cost,
                    refusals,
                },
            ))
        })
        .collect())
}

/// (key, value) pairs of a column over a time range, distinct.
pub(crate) async fn distinct_of(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    keys: &[Uuid],
    column: usage_record::Column,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(Uuid, String)>, ConsoleError> {
    let rows: Vec<(Option<Uuid>, Option<String>)> = usage_record::Entity::find()
        .select_only()
        .column(usage_record::Column::KeyId)
        .column(column)
        .distinct()
        .filter(usage_record::Column::TenantId.eq(tenant_id))
        .filter(usage_record::Column::KeyId.is_in(keys.iter().copied()))
        .filter(column.is_not_null())
        .filter(usage_record::Column::CreatedAt.gte(from))
        .filter(usage_record::Column::CreatedAt.lt(to))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(key, value)| Some((key?, value?)))
        .collect())
}

/// One anomaly found.
#[derive(Clone, Debug, PartialEq)]
pub struct Anomaly {
    /// Stable code (`request_spike`, `cost_spike`, `refusal_spike`, `new_model`,
    /// `new_network`, `many_networks`), in the alert as its threshold number.
    pub code: &'static str,
    /// The evidence, in words and numbers.
    pub evidence: String,
}

impl Anomaly {
    fn number(&self) -> i32 {
        match self.code {
            "request_spike" => 1,
            "cost_spike" => 2,
            "refusal_spike" => 3,
            "new_model" => 4,
            "new_network" => 5,
            "pricier_requests" => 7,
            _ => 6,
        }
    }
}

/// What one run found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Detected {
    pub keys_checked: usize,
    pub fired: usize,
    pub suspended: usize,
}

/// The environments where an anomaly suspends the key at once.
pub async fn suspend_envs(
    db: &impl sea_orm::ConnectionTrait,
    tenant_id: Uuid,
) -> Result<Vec<Env>, ConsoleError> {
    let row = alert_setting::Entity::find_by_id(tenant_id).one(db).await?;
    Ok(row
        .map(|r| {
            r.suspend_on_anomaly
                .split(',')
                .filter_map(|e| e.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default())
}

/// Chooses the environments where an anomaly suspends the key (owners, admins),
/// audited.
pub async fn save_suspend_envs(
    store: &Store,
    scope: &TenantScope,
    actor: &Actor,
    envs: Vec<Env>,
) -> Result<(), ConsoleError> {
    use sea_orm::ActiveValue::Set;
    use sea_orm::sea_query::OnConflict;
    scope.require(super::Permission::RespondToIncidents)?;
    let txn = store.db().begin().await?;
    let before = suspend_envs(&txn, scope.tenant_id()).await?;
    let text = Env::ALL
        .into_iter()
        .filter(|e| envs.contains(e))
        .map(Env::as_str)
        .collect::<Vec<_>>()
        .join(",");
    let thresholds = super::alerts::thresholds(&txn, scope.tenant_id()).await?;
    alert_setting::Entity::insert(alert_setting::ActiveModel {
        tenant_id: Set(scope.tenant_id()),
        budget_thresholds: Set(thresholds
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",")),
        suspend_on_anomaly: Set(text.clone()),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(alert_setting::Column::TenantId)
            .update_columns([
                alert_setting::Column::SuspendOnAnomaly,
                alert_setting::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec(&txn)
    .await?;
    let names = |envs: &[Env]| envs.iter().map(|e| e.as_str()).collect::<Vec<_>>();
    audit::commit_with(
        txn,
        store,
        scope,
        actor,
        Event {
            action: "alerts.anomaly_suspend",
            target_type: "tenant",
            target_id: Some(scope.tenant_id().to_string()),
            before: Some(json!({ "suspend_on_anomaly_in": names(&before) })),
            after: Some(json!({ "suspend_on_anomaly_in": text.split(',').filter(|e| !e.is_empty()).collect::<Vec<_>>() })),
        },
    )
    .await
}

/// The anomalies of one key's hour, from its numbers.
fn spikes(current: Hour, baseline: &[Hour]) -> Vec<Anomaly> {
    let mut found = Vec::new();
    let series = |f: fn(&Hour) -> i64| baseline.iter().map(|h| f(h) as f64).collect::<Vec<_>>();
    let checks: [(Measure, &'static str, i64, Vec<f64>); 3] = [
        (
            Measure::Requests,
            "request_spike",
            current.requests,
            series(|h| h.requests),
        ),
        (
            Measure::Cost,
            "cost_spike",
            current.cost,
            series(|h| h.cost),
        ),
        (
            Measure::Refusals,
            "refusal_spike",
            current.refusals,
            series(|h| h.refusals),
        ),
    ];
    // A switch to a pricier model shows as the cost of a request: this hour's
    // against the median of the days the key made requests.
    let usual_per_request: Vec<f64> = baseline
        .iter()
        .filter(|h| h.requests > 0)
        .map(|h| h.cost as f64 / h.requests as f64)
        .collect();
    if current.requests >= PRICIER_MIN_REQUESTS
        && current.cost >= PRICIER_MIN_MICROS
        && usual_per_request.len() >= 3
    {
        let usual = median(&usual_per_request);
        let now = current.cost as f64 / current.requests as f64;
        if usual > 0.0 && now >= PRICIER_FACTOR * usual {
            found.push(Anomaly {
                code: "pricier_requests",
                evidence: format!(
                    "paid {} a request in the last hour, {:.0} times its usual {} (a switch to a pricier model?)",
                    money(now.round() as i64),
                    now / usual,
                    money(usual.round() as i64)
                ),
            });
        }
    }
    for (measure, code, now, history) in checks {
        if let Some(threshold) = spike_threshold(measure, now as f64, &history) {
            let usual = median(&history);
            let evidence = match measure {
                Measure::Cost => format!(
                    "spent {} in the last hour; the same hour usually costs {} (median of {} days); the alert level was {}",
                    money(now),
                    money(usual as i64),
                    history.len(),
                    money(threshold as i64)
                ),
                Measure::Requests => format!(
                    "made {now} requests in the last hour; usually {usual:.0} (median of the same hour on {} days); the alert level was {threshold:.0}",
                    history.len()
                ),
                Measure::Refusals => format!(
                    "had {now} requests refused with 401, 403 or 429 in the last hour; usually {usual:.0}; the alert level was {threshold:.0}"
                ),
            };
            found.push(Anomaly { code, evidence });
        }
    }
    found
}

fn money(micros: i64) -> String {
    airlock_core::money::MicroDollars::new(micros)
        .readable()
        .to_string()
}

/// The anomaly job: every key that made requests in the last hour, against its
/// own history. `store` (with the audit key) records automatic suspensions in
/// the audit log; without it they are recorded in the alert only.
pub async fn evaluate(
    db: &DatabaseConnection,
    store: Option<&Store>,
    now: DateTime<Utc>,
    mail: bool,
) -> Result<Detected, ConsoleError> {
    let window = (now - Duration::hours(1), now);
    let period = now.format("%Y-%m-%dT%H").to_string();
    let mut done = Detected::default();
    for tenant in tenant::Entity::find().all(db).await? {
        let current = hours(db, tenant.id, None, window.0, window.1).await?;
        if current.is_empty() {
            continue;
        }
        let ids: Vec<Uuid> = current.keys().copied().collect();
        let keys: HashMap<Uuid, relay_key::Model> = relay_key::Entity::find()
            .filter(relay_key::Column::Id.is_in(ids.clone()))
            .all(db)
            .await?
            .into_iter()
            .map(|k| (k.id, k))
            .collect();
        // The same hour of each earlier day, for these keys.
        let mut baseline: HashMap<Uuid, Vec<Hour>> = HashMap::new();
        for days in 1..=BASELINE_DAYS {
            let shift = Duration::days(days);
            let earlier = hours(
                db,
                tenant.id,
                Some(&ids),
                window.0 - shift,
                window.1 - shift,
            )
            .await?;
            for id in &ids {
                // Only days the key existed count; a young key has fewer.
                let existed = keys
                    .get(id)
                    .is_some_and(|k| k.created_at <= window.0 - shift);
                if existed {
                    baseline
                        .entry(*id)
                        .or_default()
                        .push(earlier.get(id).copied().unwrap_or_default());
                }
            }
        }
        // Models and networks: this hour's, and what the key used before.
        let history_start = window.0 - Duration::days(HISTORY_DAYS);
        let models_now = distinct_of(
            db,
            tenant.id,
            &ids,
            usage_record::Column::Model,
            window.0,
            window.1,
        )
        .await?;
        let mut models_before: HashMap<Uuid, BTreeSet<String>> = HashMap::new();
        let daily: Vec<(Option<Uuid>, String)> = usage_daily::Entity::find()
            .select_only()
            .column(usage_daily::Column::KeyId)
            .column(usage_daily::Column::Model)
            .distinct()
            .filter(usage_daily::Column::TenantId.eq(tenant.id))
            .filter(usage_daily::Column::KeyId.is_in(ids.clone()))
            .filter(usage_daily::Column::Day.gte(history_start.date_naive()))
            .filter(usage_daily::Column::Day.lt(window.0.date_naive()))
            .into_tuple()
            .all(db)
            .await?;
        let day_start = window
            .0
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .map(|d| d.and_utc())
            .unwrap_or(window.0);
        let today = distinct_of(
            db,
            tenant.id,
            &ids,
            usage_record::Column::Model,
            day_start,
            window.0,
        )
        .await?;
        for (key, model) in daily
            .into_iter()
            .filter_map(|(k, m)| Some((k?, m)))
            .chain(today)
        {
            models_before.entry(key).or_default().insert(model);
        }
        let ips_now = distinct_of(
            db,
            tenant.id,
            &ids,
            usage_record::Column::ClientIp,
            window.0,
            window.1,
        )
        .await?;
        let ips_before = distinct_of(
            db,
            tenant.id,
            &ids,
            usage_record::Column::ClientIp,
            history_start,
            window.0,
        )
        .await?;
        let networks = |rows: &[(Uuid, String)]| {
            let mut by_key: HashMap<Uuid, BTreeSet<String>> = HashMap::new();
            for (key, ip) in rows {
                if let Some(net) = network_of(ip) {
                    by_key.entry(*key).or_default().insert(net);
                }
            }
            by_key
        };
        let (networks_now, networks_before) = (networks(&ips_now), networks(&ips_before));
        let suspend_in = suspend_envs(db, tenant.id).await?;

        for (id, hour) in &current {
            let Some(key) = keys.get(id) else { continue };
            done.keys_checked += 1;
            let mut found = spikes(*hour, baseline.get(id).map_or(&[][..], Vec::as_slice));
            if let Some(known) = models_before.get(id).filter(|m| !m.is_empty()) {
                let new: Vec<&str> = models_now
                    .iter()
                    .filter(|(k, m)| k == id && !known.contains(m))
                    .map(|(_, m)| m.as_str())
                    .collect();
                if !new.is_empty() {
                    found.push(Anomaly {
                        code: "new_model",
                        evidence: format!(
                            "called {} for the first time in {HISTORY_DAYS} days (it used {} before)",
                            new.join(", "),
                            known.iter().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    });
                }
            }
            let seen_now = networks_now.get(id);
            if let (Some(now_nets), Some(before)) =
                (seen_now, networks_before.get(id).filter(|n| !n.is_empty()))
            {
                let new: Vec<&str> = now_nets.difference(before).map(String::as_str).collect();
                if !new.is_empty() {
                    found.push(Anomaly {
                        code: "new_network",
                        evidence: format!(
                            "called from {} for the first time in {HISTORY_DAYS} days",
                            new.iter().take(5).copied().collect::<Vec<_>>().join(", ")
                        ),
                    });
                }
            }
            if let Some(now_nets) = seen_now.filter(|n| n.len() > MAX_NETWORKS_PER_HOUR) {
                found.push(Anomaly {
                    code: "many_networks",
                    evidence: format!(
                        "called from {} different networks in the last hour (more than {MAX_NETWORKS_PER_HOUR})",
                        now_nets.len()
                    ),
                });
            }
            if found.is_empty() {
                continue;
            }
            let suspend = suspend_in.contains(&key.env)
                && key.suspended_at.is_none()
                && key.revoked_at.is_none();
            let mut fired_here = 0;
            for anomaly in &found {
                let name = format!("{} ({})", key.name, key.display_prefix);
                let subject = format!(
                    "[Airlock] {}: unusual use of the key {name}: {}",
                    tenant.slug,
                    anomaly.code.replace('_', " ")
                );
                let action = if suspend {
                    "Airlock suspended the key at once (this environment is set to); release it on the Incidents page after review."
                } else {
                    "Nothing was stopped. If this is not expected, contain it on the Incidents page."
                };
                let body = format!("The key {name} {}.\n{action}", anomaly.evidence);
                fired_here += insert_once(
                    db,
                    alert_row(AlertRow {
                        tenant_id: tenant.id,
                        kind: "anomaly",
                        severity: if suspend { "critical" } else { "warning" },
                        scope: format!("key:{id}"),
                        period: period.clone(),
                        threshold: anomaly.number(),
                        subject,
                        body,
                        key_id: Some(*id),
                        now,
                        mail,
                    }),
                )
                .await?;
            }
            done.fired += fired_here;
            if suspend && fired_here > 0 {
                suspend_key(db, store, &tenant, key, &found, now).await?;
                done.suspended += 1;
            }
        }
    }
    Ok(done)
}

/// Suspends a key for its anomalies; in the audit log when the runner holds the
/// audit key.
async fn suspend_key(
    db: &DatabaseConnection,
    store: Option<&Store>,
    tenant: &tenant::Model,
    key: &relay_key::Model,
    found: &[Anomaly],
    now: DateTime<Utc>,
) -> Result<(), ConsoleError> {
    let update = relay_key::Entity::update_many()
        .col_expr(relay_key::Column::SuspendedAt, Expr::value(now))
        .col_expr(relay_key::Column::UpdatedAt, Expr::value(now))
        .filter(relay_key::Column::Id.eq(key.id))
        .filter(relay_key::Column::SuspendedAt.is_null());
    match store {
        Some(store) => {
            let txn = store.db().begin().await?;
            update.exec(&txn).await?;
            let scope = TenantScope::operator_of(tenant.clone());
            audit::commit_with(
                txn,
                store,
                &scope,
                &Actor::system("anomaly-detection"),
                Event {
                    action: "anomaly.suspend",
                    target_type: "key",
                    target_id: Some(key.id.to_string()),
                    before: None,
                    after: Some(json!({
                        "display_prefix": key.display_prefix,
                        "name": key.name,
                        "anomalies": found.iter().map(|a| a.code).collect::<Vec<_>>(),
                    })),
                },
            )
            .await
        }
        None => {
            update.exec(db).await?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn a_spike_is_far_above_the_keys_own_hour_and_above_the_floor() {
        let steady = [40.0, 42.0, 38.0, 45.0, 41.0, 39.0, 44.0];
        assert_eq!(
            spike_threshold(Measure::Requests, 60.0, &steady),
            None,
            "below the floor"
        );
        assert!(spike_threshold(Measure::Requests, 400.0, &steady).is_some());
        let busy = [5_000.0, 5_200.0, 4_800.0, 5_100.0, 4_900.0];
        assert_eq!(
            spike_threshold(Measure::Requests, 5_500.0, &busy),
            None,
            "normal noise"
        );
        assert!(spike_threshold(Measure::Requests, 9_000.0, &busy).is_some());
        // A key with no history: only the young floor.
        assert_eq!(spike_threshold(Measure::Requests, 900.0, &[]), None);
        assert!(spike_threshold(Measure::Requests, 1_200.0, &[]).is_some());
    }

    #[test]
    fn networks_are_a_24_or_a_48() {
        assert_eq!(
            network_of("203.0.113.77").as_deref(),
            Some("203.0.113.0/24")
        );
        assert_eq!(
            network_of("2001:db8:abcd:12::1").as_deref(),
            Some("2001:db8:abcd::/48")
        );
        assert_eq!(network_of("not an address"), None);
    }

    /// A Poisson draw (Knuth for small means, a normal approximation above).
    fn poisson(rng: &mut StdRng, mean: f64) -> f64 {
        if mean > 50.0 {
            let (u1, u2): (f64, f64) = (rng.r#gen::<f64>().max(1e-12), rng.r#gen());
            let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            return (mean + normal * mean.sqrt()).round().max(0.0);
        }
        let limit = (-mean).exp();
        let (mut k, mut p) = (0.0, 1.0);
        loop {
            p *= rng.r#gen::<f64>();
            if p <= limit {
                return k;
            }
            k += 1.0;
        }
    }

    /// The detector's false-alarm rate on a synthetic month of normal traffic:
    /// 200 keys, each with its own rate (1 to 3,000 requests an hour), a daily
    /// rhythm, weekends at 40 %, and day-to-day drift of ±20 %. Every hour of
    /// the last 16 days is checked against the 14 days before. Printed for the
    /// record (`cargo test -p airlock_console false_alarm -- --nocapture`).
    #[test]
    fn false_alarm_rate_on_a_synthetic_month_of_normal_traffic() {
        let mut rng = StdRng::seed_from_u64(20261202);
        let (keys, days) = (200, 30);
        let (mut checks, mut alarms) = (0u64, 0u64);
        for _ in 0..keys {
            let base: f64 = (rng.r#gen::<f64>() * 8.0).exp().clamp(1.0, 3_000.0);
            let cost_per_request: f64 = 50.0 + rng.r#gen::<f64>() * 2_000.0;
            let mut series = vec![[0.0f64; 24]; days];
            let mut costs = vec![[0.0f64; 24]; days];
            for (day, hours) in series.iter_mut().enumerate() {
                let weekend = if day % 7 >= 5 { 0.4 } else { 1.0 };
                let drift = 0.8 + rng.r#gen::<f64>() * 0.4;
                for (hour, value) in hours.iter_mut().enumerate() {
                    let rhythm =
                        0.3 + 0.7 * (std::f64::consts::PI * hour as f64 / 24.0).sin().powi(2);
                    *value = poisson(&mut rng, base * weekend * drift * rhythm);
                    costs[day][hour] = *value * cost_per_request * (0.9 + rng.r#gen::<f64>() * 0.2);
                }
            }
            for day in 14..days {
                for hour in 0..24 {
                    let history: Vec<f64> = (1..=14).map(|d| series[day - d][hour]).collect();
                    let cost_history: Vec<f64> = (1..=14).map(|d| costs[day - d][hour]).collect();
                    checks += 1;
                    let alarm = spike_threshold(Measure::Requests, series[day][hour], &history)
                        .is_some()
                        || spike_threshold(Measure::Cost, costs[day][hour], &cost_history)
                            .is_some();
                    alarms += u64::from(alarm);
                }
            }
        }
        let rate = alarms as f64 / checks as f64;
        eprintln!(
            "false alarms: {alarms} of {checks} key-hours ({:.4} %)",
            rate * 100.0
        );
        assert!(rate < 0.001, "{alarms} false alarms in {checks} key-hours");
    }
}
