//! Stripe metered billing: usage rollups → Billing Meter Events → invoices.
//!
//! - [`sync`] reports every tenant's unreported cost as meter events. A report is
//!   written (with its identifier) before it is sent, in the same transaction
//!   that advances the day's watermark; an unsent report is resent with the same
//!   identifier, which Stripe deduplicates. So a crash or a retry can neither lose
//!   nor double-count usage.
//! - [`reconcile`] compares the rollups, what Airlock reported and Stripe's meter
//!   event summaries for a month.
//! - [`webhook`] verifies and applies Stripe's webhooks (billing status).
//! - [`stripe`] is the only code that talks to Stripe (async-stripe).
//!
//! The CLI (`airlock billing …`) uses this module with the database and the
//! Stripe settings only, none of the server's other secrets.

pub mod reconcile;
pub mod stripe;
pub mod sync;
pub mod webhook;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use uuid::Uuid;

pub use self::stripe::{StripeApi, StripeFailure};

/// What the operator configures.
#[derive(Clone, Debug)]
pub struct BillingSettings {
    /// Stripe's API address (tests point it at a local fake).
    pub api_base: String,
    /// The meter's `event_name`.
    pub meter_event_name: String,
    /// Billing statuses that suspend a tenant's keys.
    pub suspend_when: Vec<BillingStatus>,
    /// `whsec_…`: verifies webhooks. Without it `/stripe/webhook` answers 404.
    pub webhook_secret: Option<secrecy::SecretString>,
}

/// Billing, when the operator turned it on (a Stripe secret key is set).
pub struct Billing {
    pub api: StripeApi,
    pub settings: BillingSettings,
}

// By hand: the Stripe client holds the secret key, which must never reach a
// log line through a `{:?}` of the console's state.
impl std::fmt::Debug for Billing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Billing")
            .field("api_base", &self.settings.api_base)
            .field("meter_event_name", &self.settings.meter_event_name)
            .finish_non_exhaustive()
    }
}

/// A tenant's billing status, as Stripe's webhooks report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BillingStatus {
    /// Paid up (the last invoice was paid, or nothing happened yet).
    Active,
    /// A payment failed; Stripe retries it.
    PastDue,
    /// The subscription ended.
    Canceled,
}

impl BillingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BillingStatus::Active => "active",
            BillingStatus::PastDue => "past_due",
            BillingStatus::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<BillingStatus> {
        match s.trim() {
            "active" => Some(BillingStatus::Active),
            "past_due" => Some(BillingStatus::PastDue),
            "canceled" | "cancelled" => Some(BillingStatus::Canceled),
            _ => None,
        }
    }
}

/// The most a markup may be, in basis points (1000 %).
pub const MAX_MARKUP_BASIS_POINTS: i32 = 100_000;

/// Parses a markup percentage (`12.5`) into basis points (1250).
pub fn parse_markup_percent(text: &str) -> Result<i32, String> {
    let text = text.trim().trim_end_matches('%').trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !(fraction.is_empty() || digits(fraction)) || fraction.len() > 2 {
        return Err(format!(
            "the markup is a percentage with at most two decimals, like 12.5 (got `{}`)",
            text.chars().take(20).collect::<String>()
        ));
    }
    let whole: i64 = whole
        .parse()
        .map_err(|_| "the markup is too large".to_owned())?;
    let fraction: i64 = format!("{fraction:0<2}").parse().unwrap_or(0);
    let points = whole.saturating_mul(100).saturating_add(fraction);
    if points > i64::from(MAX_MARKUP_BASIS_POINTS) {
        return Err("the markup is at most 1000 %".to_owned());
    }
    i32::try_from(points).map_err(|_| "the markup is too large".to_owned())
}

/// A cumulative cost with the markup applied, rounded down. Reports are the
/// differences of marked-up cumulative costs, so however a day's cost is split
/// over reports, their values add up to exactly the marked-up day total.
pub fn marked_up(cost_micros: i64, basis_points: i32) -> i64 {
    let value = i128::from(cost_micros) * (10_000 + i128::from(basis_points)) / 10_000;
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The meter event identifier of a report: the tenant and the exact range of the
/// day's cumulative cost it covers. The same range always gets the same
/// identifier; a different range never does.
pub fn identifier(tenant_id: Uuid, day: NaiveDate, from: i64, to: i64) -> String {
    format!(
        "alk_{}_{}_{from}_{to}",
        tenant_id.simple(),
        day.format("%Y%m%d")
    )
}

/// The meter event's time: within its day (so it lands in the right invoice
/// period), and never in the future (Stripe refuses that).
pub fn event_timestamp(day: NaiveDate, now: DateTime<Utc>) -> DateTime<Utc> {
    let end_of_day = day.and_time(NaiveTime::MIN).and_utc() + chrono::Duration::days(1)
        - chrono::Duration::seconds(1);
    end_of_day.min(now)
}

/// A message for people and the database: one line, bounded, no control
/// characters (it may come from Stripe).
pub fn short_message(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(400)
        .collect();
    line.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markups_parse_as_percent_with_two_decimals() {
        assert_eq!(parse_markup_percent("0"), Ok(0));
        assert_eq!(parse_markup_percent("12.5"), Ok(1250));
        assert_eq!(parse_markup_percent("12.50 %"), Ok(1250));
        assert_eq!(parse_markup_percent("1000"), Ok(100_000));
        assert!(parse_markup_percent("1000.01").is_err());
        assert!(parse_markup_percent("-5").is_err());
        assert!(parse_markup_percent("1.234").is_err());
        assert!(parse_markup_percent("ten").is_err());
        assert!(parse_markup_percent("99999999999999999999").is_err());
    }

    #[test]
    fn split_reports_add_up_to_the_marked_up_total() {
        // $1.234567 in three reports at 12.5 %: the parts sum to the whole.
        let cuts = [0, 400_001, 777_777, 1_234_567];
        let parts: i64 = cuts
            .windows(2)
            .map(|w| marked_up(w[1], 1250) - marked_up(w[0], 1250))
            .sum();
        assert_eq!(parts, marked_up(1_234_567, 1250));
        assert_eq!(marked_up(1_000_000, 1250), 1_125_000);
        assert_eq!(marked_up(i64::MAX, 100_000), i64::MAX);
    }

    #[test]
    fn identifiers_name_the_range_and_fit_stripe() {
        let tenant = Uuid::nil();
        let day = NaiveDate::from_ymd_opt(2026, 3, 9).unwrap_or_default();
        let a = identifier(tenant, day, 0, 1_000);
        assert_eq!(a, identifier(tenant, day, 0, 1_000));
        assert_ne!(a, identifier(tenant, day, 0, 1_001));
        assert_ne!(
            a,
            identifier(tenant, day.succ_opt().unwrap_or(day), 0, 1_000)
        );
        assert!(identifier(tenant, day, i64::MAX, i64::MAX).len() <= 100);
    }

    #[test]
    fn event_times_stay_in_their_day_and_never_in_the_future() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 9).unwrap_or_default();
        let later =
            day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc() + chrono::Duration::days(3);
        assert_eq!(event_timestamp(day, later).date_naive(), day);
        let noon = day.and_hms_opt(12, 0, 0).unwrap_or_default().and_utc();
        assert_eq!(event_timestamp(day, noon), noon);
    }
}
