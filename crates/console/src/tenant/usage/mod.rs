//! Usage for finance, built only from metadata (counts, tokens, cost; usage
//! records hold no prompt text) and read from the `usage_daily` rollups, never by
//! scanning usage records — except a single key's recent activity
//! ([`activity`]).
//!
//! [`UsageQuery`] is what a page or an API call asks for (a period, filters and a
//! grouping), parsed strictly: an unknown parameter or a bad value is a 400 that
//! names the parameter. [`report`] answers it; [`export`] streams the same rows as
//! CSV; [`overview`] is the month so far (spend, forecast, budgets).

pub mod activity;
pub mod export;
pub mod overview;
pub mod report;

use std::collections::HashMap;

use airlock_core::key::Env;
use chrono::{Datelike, Days, Months, NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use serde::Serialize;
use uuid::Uuid;

use crate::error::ConsoleError;

pub use report::{UsageReport, report};

/// The longest period one query covers, in days (counted inclusively).
pub const MAX_DAYS: i64 = 400;

/// `SUM(column)` as an i64 on both backends, 0 when no row matches. PostgreSQL
/// sums a bigint as numeric, which does not decode into an i64: cast it back.
pub(crate) fn sum_i64(column: &str) -> sea_orm::sea_query::SimpleExpr {
    Expr::cust(format!("CAST(COALESCE(SUM({column}), 0) AS BIGINT)"))
}

/// The period presets of the usage page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    ThisMonth,
    LastMonth,
    Last7Days,
    Last30Days,
    Custom,
}

impl Preset {
    pub const ALL: [Preset; 5] = [
        Preset::ThisMonth,
        Preset::LastMonth,
        Preset::Last7Days,
        Preset::Last30Days,
        Preset::Custom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Preset::ThisMonth => "this_month",
            Preset::LastMonth => "last_month",
            Preset::Last7Days => "last_7_days",
            Preset::Last30Days => "last_30_days",
            Preset::Custom => "custom",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Preset::ThisMonth => "This month",
            Preset::LastMonth => "Last month",
            Preset::Last7Days => "Last 7 days",
            Preset::Last30Days => "Last 30 days",
            Preset::Custom => "Custom",
        }
    }

    fn parse(s: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The days this preset covers, seen from `today`.
    fn days(self, today: NaiveDate) -> (NaiveDate, NaiveDate) {
        let month_start = today.with_day(1).unwrap_or(today);
        match self {
            Preset::ThisMonth | Preset::Custom => (month_start, today),
            Preset::LastMonth => {
                let end = month_start - Days::new(1);
                (end.with_day(1).unwrap_or(end), end)
            }
            Preset::Last7Days => (today - Days::new(6), today),
            Preset::Last30Days => (today - Days::new(29), today),
        }
    }
}

/// How the report groups its rows (besides by day).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    #[default]
    Day,
    Key,
    Member,
    Model,
    Provider,
    Env,
}

impl GroupBy {
    pub const ALL: [GroupBy; 6] = [
        GroupBy::Day,
        GroupBy::Key,
        GroupBy::Member,
        GroupBy::Model,
        GroupBy::Provider,
        GroupBy::Env,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Day => "day",
            GroupBy::Key => "key",
            GroupBy::Member => "member",
            GroupBy::Model => "model",
            GroupBy::Provider => "provider",
            GroupBy::Env => "env",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            GroupBy::Day => "Day",
            GroupBy::Key => "Key",
            GroupBy::Member => "Member",
            GroupBy::Model => "Model",
            GroupBy::Provider => "Provider",
            GroupBy::Env => "Environment",
        }
    }

    fn parse(s: &str) -> Option<GroupBy> {
        GroupBy::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

/// What a usage page or API call asks for.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UsageQuery {
    pub preset: Preset,
    /// First UTC day, inclusive.
    pub from: NaiveDate,
    /// Last UTC day, inclusive.
    pub to: NaiveDate,
    #[schema(value_type = Option<String>)]
    pub env: Option<Env>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub key: Option<Uuid>,
    pub member: Option<Uuid>,
    pub group: GroupBy,
}

/// The query parameters [`UsageQuery::parse`] accepts; `format` is the export's.
pub const PARAMETERS: [&str; 10] = [
    "period", "from", "to", "env", "provider", "model", "key", "member", "group", "format",
];

fn invalid(param: &'static str, message: impl Into<String>) -> ConsoleError {
    ConsoleError::InvalidParam(param, message.into())
}

/// A filter value: empty means no filter; otherwise capped at `max` characters.
fn text_filter(
    params: &HashMap<String, String>,
    param: &'static str,
    max: usize,
) -> Result<Option<String>, ConsoleError> {
    match params.get(param).map(|v| v.trim()) {
        None | Some("") => Ok(None),
        Some(v) if v.chars().count() > max => Err(invalid(
            param,
            format!("`{param}` is at most {max} characters"),
        )),
        Some(v) => Ok(Some(v.to_owned())),
    }
}

fn uuid_filter(
    params: &HashMap<String, String>,
    param: &'static str,
) -> Result<Option<Uuid>, ConsoleError> {
    match params.get(param).map(|v| v.trim()) {
        None | Some("") => Ok(None),
        Some(v) => Uuid::parse_str(v)
            .map(Some)
            .map_err(|_| invalid(param, format!("`{param}` must be an id from the list"))),
    }
}

fn date_param(
    params: &HashMap<String, String>,
    param: &'static str,
) -> Result<Option<NaiveDate>, ConsoleError> {
    match params.get(param).map(|v| v.trim()) {
        None | Some("") => Ok(None),
        Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| invalid(param, format!("`{param}` must be a date like 2026-12-01"))),
    }
}

impl UsageQuery {
    /// This month so far, by day, unfiltered.
    pub fn this_month(today: NaiveDate) -> UsageQuery {
        let (from, to) = Preset::ThisMonth.days(today);
        UsageQuery {
            preset: Preset::ThisMonth,
            from,
            to,
            env: None,
            provider: None,
            model: None,
            key: None,
            member: None,
            group: GroupBy::Day,
        }
    }

    /// Parses query parameters. `from`/`to` without a `period` mean a custom
    /// period; a preset ignores them. Unknown parameters are refused, so a typo
    /// never silently shows unfiltered numbers.
    pub fn parse(params: &HashMap<String, String>) -> Result<UsageQuery, ConsoleError> {
        Self::parse_on(params, Utc::now().date_naive())
    }

    fn parse_on(
        params: &HashMap<String, String>,
        today: NaiveDate,
    ) -> Result<UsageQuery, ConsoleError> {
        let mut names: Vec<&String> = params.keys().collect();
        names.sort();
        if let Some(unknown) = names.iter().find(|n| !PARAMETERS.contains(&n.as_str())) {
            return Err(ConsoleError::Invalid(format!(
                "unknown parameter `{}`; the usage filters are {}",
                unknown.chars().take(40).collect::<String>(),
                PARAMETERS.join(", ")
            )));
        }
        let from = date_param(params, "from")?;
        let to = date_param(params, "to")?;
        let preset = match params.get("period").map(|v| v.trim()) {
            None | Some("") if from.is_some() || to.is_some() => Preset::Custom,
            None | Some("") => Preset::ThisMonth,
            Some(v) => Preset::parse(v).ok_or_else(|| {
                invalid(
                    "period",
                    "`period` is one of this_month, last_month, last_7_days, last_30_days, custom",
                )
            })?,
        };
        let (from, to) = match preset {
            Preset::Custom => {
                let to = to.unwrap_or(today);
                let from = from.unwrap_or_else(|| to.with_day(1).unwrap_or(to));
                (from, to)
            }
            preset => preset.days(today),
        };
        if from > to {
            return Err(invalid(
                "from",
                "the period starts after it ends: pick a first day on or before the last day",
            ));
        }
        if (to - from).num_days() >= MAX_DAYS {
            return Err(invalid(
                "from",
                format!("a period is at most {MAX_DAYS} days"),
            ));
        }
        let env = match params.get("env").map(|v| v.trim()) {
            None | Some("") => None,
            Some(v) => Some(
                v.parse::<Env>()
                    .map_err(|_| invalid("env", "`env` is one of dev, stg, prod, ci"))?,
            ),
        };
        let group = match params.get("group").map(|v| v.trim()) {
            None | Some("") => GroupBy::Day,
            Some(v) => GroupBy::parse(v).ok_or_else(|| {
                invalid(
                    "group",
                    "`group` is one of day, key, member, model, provider, env",
                )
            })?,
        };
        if let Some(format) = params.get("format").map(|v| v.trim())
            && !matches!(format, "" | "json" | "csv" | "html")
        {
            return Err(invalid("format", "`format` is json or csv"));
        }
        Ok(UsageQuery {
            preset,
            from,
            to,
            env,
            provider: text_filter(params, "provider", 64)?,
            model: text_filter(params, "model", 128)?,
            key: uuid_filter(params, "key")?,
            member: uuid_filter(params, "member")?,
            group,
        })
    }

    /// The same query as URL parameters (for links: CSV download, grouping).
    pub fn to_params(&self, group: GroupBy) -> String {
        let mut pairs: Vec<(&str, String)> = vec![("period", self.preset.as_str().to_owned())];
        if self.preset == Preset::Custom {
            pairs.push(("from", self.from.to_string()));
            pairs.push(("to", self.to.to_string()));
        }
        if let Some(env) = self.env {
            pairs.push(("env", env.to_string()));
        }
        if let Some(p) = &self.provider {
            pairs.push(("provider", p.clone()));
        }
        if let Some(m) = &self.model {
            pairs.push(("model", m.clone()));
        }
        if let Some(k) = self.key {
            pairs.push(("key", k.to_string()));
        }
        if let Some(m) = self.member {
            pairs.push(("member", m.to_string()));
        }
        pairs.push(("group", group.as_str().to_owned()));
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={}", urlencoding(&v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Every day of the period, in order.
    pub fn days(&self) -> Vec<NaiveDate> {
        self.from
            .iter_days()
            .take_while(|d| *d <= self.to)
            .collect()
    }
}

/// Percent-encodes a query value (letters, digits and `-._~` pass).
fn urlencoding(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The first day of the month `months_back` before `today`'s month.
pub fn month_start(today: NaiveDate, months_back: u32) -> NaiveDate {
    let start = today.with_day(1).unwrap_or(today);
    start
        .checked_sub_months(Months::new(months_back))
        .unwrap_or(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap_or_default()
    }

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn parse(pairs: &[(&str, &str)]) -> Result<UsageQuery, ConsoleError> {
        UsageQuery::parse_on(&params(pairs), day("2026-03-15"))
    }

    fn param_of(result: Result<UsageQuery, ConsoleError>) -> Option<&'static str> {
        match result {
            Err(ConsoleError::InvalidParam(p, _)) => Some(p),
            _ => None,
        }
    }

    #[test]
    fn presets_cover_the_days_they_name() {
        let q = parse(&[]).unwrap_or_else(|_| UsageQuery::this_month(day("2026-03-15")));
        assert_eq!((q.from, q.to), (day("2026-03-01"), day("2026-03-15")));
        let q = parse(&[("period", "last_month")]).ok();
        assert_eq!(
            q.map(|q| (q.from, q.to)),
            Some((day("2026-02-01"), day("2026-02-28")))
        );
        let q = parse(&[("period", "last_7_days")]).ok();
        assert_eq!(
            q.map(|q| (q.from, q.to)),
            Some((day("2026-03-09"), day("2026-03-15")))
        );
        let q = parse(&[("period", "last_30_days")]).ok();
        assert_eq!(q.map(|q| q.days().len()), Some(30));
        let q = parse(&[("from", "2026-01-10"), ("to", "2026-01-12")]).ok();
        assert_eq!(
            q.map(|q| (q.preset, q.days().len())),
            Some((Preset::Custom, 3))
        );
    }

    #[test]
    fn bad_input_names_its_parameter() {
        assert_eq!(param_of(parse(&[("period", "yesterday")])), Some("period"));
        assert_eq!(param_of(parse(&[("from", "12/01/2026")])), Some("from"));
        assert_eq!(
            param_of(parse(&[("from", "2026-02-01"), ("to", "2026-01-01")])),
            Some("from")
        );
        // 400 days counted inclusively is the most.
        assert!(parse(&[("from", "2025-01-01"), ("to", "2026-02-04")]).is_ok());
        assert_eq!(
            param_of(parse(&[("from", "2025-01-01"), ("to", "2026-02-05")])),
            Some("from")
        );
        assert_eq!(param_of(parse(&[("env", "production")])), Some("env"));
        assert_eq!(param_of(parse(&[("group", "week")])), Some("group"));
        assert_eq!(param_of(parse(&[("key", "dev_abc")])), Some("key"));
        assert_eq!(param_of(parse(&[("format", "xml")])), Some("format"));
        assert!(matches!(
            parse(&[("tenant", "x")]),
            Err(ConsoleError::Invalid(m)) if m.contains("`tenant`")
        ));
    }

    #[test]
    fn a_query_survives_its_own_link() {
        let q = parse(&[
            ("from", "2026-01-10"),
            ("to", "2026-01-12"),
            ("env", "prod"),
            ("model", "gpt 4o/mini"),
            ("group", "key"),
        ])
        .ok();
        let link = q.as_ref().map(|q| q.to_params(q.group)).unwrap_or_default();
        let back: HashMap<String, String> = link
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| {
                let v = v.replace("%20", " ").replace("%2F", "/");
                (k.to_owned(), v)
            })
            .collect();
        assert_eq!(UsageQuery::parse_on(&back, day("2026-03-15")).ok(), q);
    }
}
