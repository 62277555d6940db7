//! The usage report: the rollups of a period, filtered, summed per day and per
//! group. One grouped query gives one row per (day, group); the report's tables,
//! its charts and the CSV are all made of those rows, so they agree.

use std::collections::HashMap;

use airlock_core::money::MicroDollars;
use airlock_schema::entities::usage_daily::{Grain, Needs};
use airlock_schema::entities::{membership, relay_key, usage_daily, user};
use chrono::NaiveDate;
use sea_orm::{
    AccessMode, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait,
    FromQueryResult, IsolationLevel, QueryFilter, QueryOrder, QueryResult, QuerySelect, Select,
    TransactionTrait,
};
use serde::Serialize;
use uuid::Uuid;

use super::{GroupBy, UsageQuery, sum_i64};
use crate::error::ConsoleError;
use crate::tenant::{Permission, Store, TenantScope};

/// Sums over some rollup rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Totals {
    pub requests: i64,
    /// Requests answered with a status of 400 or more.
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub images: i64,
    /// Provider cost in micro-dollars (1 USD = 1,000,000).
    pub cost_micros: i64,
    /// Requests whose model had no price (their cost counts as 0).
    pub unpriced_requests: i64,
}

impl Totals {
    pub fn add(&mut self, other: &Totals) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.images += other.images;
        self.cost_micros = self.cost_micros.saturating_add(other.cost_micros);
        self.unpriced_requests += other.unpriced_requests;
    }

    pub fn tokens(&self) -> i64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    pub fn cost(&self) -> MicroDollars {
        MicroDollars::new(self.cost_micros)
    }
}

/// One (day, group) row of the rollups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub day: NaiveDate,
    /// The group's value: a key or member id, or a model, provider or environment
    /// name; `None` when grouped by day.
    pub group: Option<String>,
    pub totals: Totals,
}

/// The group value of a result row: a uuid (key, member) or text (the others), or
/// absent (a backend may read an absent column as NULL: [`Row::grouped`] settles it).
fn read_group(res: &QueryResult, pre: &str) -> Option<String> {
    let text = res
        .try_get::<Option<String>>(pre, "group_text")
        .ok()
        .flatten();
    let id = res
        .try_get::<Option<Uuid>>(pre, "group_uuid")
        .ok()
        .flatten();
    text.or(id.map(|id| id.to_string()))
}

fn read_totals(res: &QueryResult, pre: &str) -> Result<Totals, sea_orm::DbErr> {
    Ok(Totals {
        requests: res.try_get(pre, "requests")?,
        errors: res.try_get(pre, "errors")?,
        input_tokens: res.try_get(pre, "input_tokens")?,
        output_tokens: res.try_get(pre, "output_tokens")?,
        images: res.try_get(pre, "images")?,
        cost_micros: res.try_get(pre, "cost_micros")?,
        unpriced_requests: res.try_get(pre, "unpriced_requests")?,
    })
}

impl FromQueryResult for Row {
    fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, sea_orm::DbErr> {
        Ok(Row {
            day: res.try_get(pre, "day")?,
            group: read_group(res, pre),
            totals: read_totals(res, pre)?,
        })
    }
}

impl Row {
    /// A grouped row always has a group value (`""` for a NULL key or owner); an
    /// ungrouped one never has.
    pub fn grouped(mut self, group: GroupBy) -> Row {
        self.group = match group {
            GroupBy::Day => None,
            _ => Some(self.group.unwrap_or_default()),
        };
        self
    }
}

/// One group's totals over the whole period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRow {
    /// `""` for a NULL key or owner.
    pub group: String,
    pub totals: Totals,
}

impl FromQueryResult for GroupRow {
    fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, sea_orm::DbErr> {
        Ok(GroupRow {
            group: read_group(res, pre).unwrap_or_default(),
            totals: read_totals(res, pre)?,
        })
    }
}

/// One group's cost on one day (what the chart needs of the charted groups).
struct DayCost {
    day: NaiveDate,
    group: Option<String>,
    cost_micros: i64,
}

impl FromQueryResult for DayCost {
    fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, sea_orm::DbErr> {
        Ok(DayCost {
            day: res.try_get(pre, "day")?,
            group: read_group(res, pre),
            cost_micros: res.try_get(pre, "cost_micros")?,
        })
    }
}

impl DayCost {
    fn into_row(self, group: GroupBy) -> Row {
        Row {
            day: self.day,
            group: self.group,
            totals: Totals {
                cost_micros: self.cost_micros,
                ..Totals::default()
            },
        }
        .grouped(group)
    }
}

/// The rollup column of a grouping and the alias its values are read under.
fn group_column(group: GroupBy) -> Option<(usage_daily::Column, &'static str)> {
    use usage_daily::Column as C;
    match group {
        GroupBy::Day => None,
        GroupBy::Key => Some((C::KeyId, "group_uuid")),
        GroupBy::Member => Some((C::MemberId, "group_uuid")),
        GroupBy::Model => Some((C::Model, "group_text")),
        GroupBy::Provider => Some((C::Provider, "group_text")),
        GroupBy::Env => Some((C::Env, "group_text")),
    }
}

/// The tenant's rollup rows that the query's period and filters select, from the
/// coarsest rollup that keeps the filtered dimensions and, `with_group`, the
/// grouping's. Nothing selected yet.
fn filtered(
    scope: &TenantScope,
    query: &UsageQuery,
    with_group: bool,
) -> Select<usage_daily::Entity> {
    use usage_daily::Column as C;
    let grouped = |g: GroupBy| with_group && query.group == g;
    let needs = Needs {
        key: query.key.is_some() || grouped(GroupBy::Key),
        member: query.member.is_some() || grouped(GroupBy::Member),
        provider: query.provider.is_some() || grouped(GroupBy::Provider),
        model: query.model.is_some() || grouped(GroupBy::Model),
    };
    let mut select = Grain::covering(needs)
        .find()
        .select_only()
        .filter(C::TenantId.eq(scope.tenant_id()))
        .filter(C::Day.gte(query.from))
        .filter(C::Day.lte(query.to));
    if let Some(env) = query.env {
        select = select.filter(C::Env.eq(env.as_str()));
    }
    if let Some(provider) = &query.provider {
        select = select.filter(C::Provider.eq(provider.as_str()));
    }
    if let Some(model) = &query.model {
        select = select.filter(C::Model.eq(model.as_str()));
    }
    if let Some(key) = query.key {
        select = select.filter(C::KeyId.eq(key));
    }
    if let Some(member) = query.member {
        select = select.filter(C::MemberId.eq(member));
    }
    select
}

/// Adds the sums of every total, named as the columns.
fn with_sums(mut select: Select<usage_daily::Entity>) -> Select<usage_daily::Entity> {
    for column in [
        "requests",
        "errors",
        "input_tokens",
        "output_tokens",
        "images",
        "cost_micros",
        "unpriced_requests",
    ] {
        select = select.column_as(sum_i64(column), column);
    }
    select
}

/// The grouped, filtered query over the tenant's rollups, one row per (day, group),
/// ordered by day then group (the CSV's rows).
pub(crate) fn rows_query(scope: &TenantScope, query: &UsageQuery) -> Select<usage_daily::Entity> {
    use usage_daily::Column as C;
    let mut select = filtered(scope, query, true).column(C::Day);
    let group_column = group_column(query.group);
    if let Some((column, alias)) = group_column {
        select = select.column_as(column, alias);
    }
    select = with_sums(select).group_by(C::Day).order_by_asc(C::Day);
    if let Some((column, _)) = group_column {
        select = select.group_by(column).order_by_asc(column);
    }
    select
}

/// A group's name as people read it, and its id where it has one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct GroupLabel {
    /// The raw value: a key or member id, a model, provider or environment.
    pub value: String,
    pub label: String,
}

/// Names for ids: the tenant's keys and members, read once per report (a tenant
/// has at most thousands of keys; the rows can be millions).
#[derive(Default)]
pub struct Labels {
    keys: HashMap<String, String>,
    members: HashMap<String, String>,
}

impl Labels {
    pub async fn load(
        db: &impl ConnectionTrait,
        scope: &TenantScope,
        group: GroupBy,
    ) -> Result<Labels, ConsoleError> {
        let mut labels = Labels::default();
        match group {
            GroupBy::Key => {
                let keys: Vec<(Uuid, String, String)> = relay_key::Entity::find()
                    .select_only()
                    .column(relay_key::Column::Id)
                    .column(relay_key::Column::Name)
                    .column(relay_key::Column::DisplayPrefix)
                    .filter(relay_key::Column::TenantId.eq(scope.tenant_id()))
                    .into_tuple()
                    .all(db)
                    .await?;
                labels.keys = keys
                    .into_iter()
                    .map(|(id, name, prefix)| (id.to_string(), format!("{name} ({prefix}…)")))
                    .collect();
            }
            GroupBy::Member => {
                labels.members = member_emails(db, scope).await?;
            }
            _ => {}
        }
        Ok(labels)
    }

    pub fn label(&self, group: GroupBy, value: &str) -> String {
        let known = match group {
            GroupBy::Key => self.keys.get(value),
            GroupBy::Member => self.members.get(value),
            _ => None,
        };
        match (known, value) {
            (Some(label), _) => label.clone(),
            (None, "") => match group {
                GroupBy::Key => "(deleted key)".to_owned(),
                GroupBy::Member => "(no owner)".to_owned(),
                _ => "(none)".to_owned(),
            },
            // A member who left, or a key of a deleted row: show the id.
            (None, value) => value.to_owned(),
        }
    }
}

/// The tenant's members' emails by user id.
pub(crate) async fn member_emails(
    db: &impl ConnectionTrait,
    scope: &TenantScope,
) -> Result<HashMap<String, String>, ConsoleError> {
    let ids: Vec<Uuid> = membership::Entity::find()
        .select_only()
        .column(membership::Column::UserId)
        .filter(membership::Column::TenantId.eq(scope.tenant_id()))
        .into_tuple()
        .all(db)
        .await?;
    let users: Vec<(Uuid, String)> = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .column(user::Column::Email)
        .filter(user::Column::Id.is_in(ids))
        .into_tuple()
        .all(db)
        .await?;
    Ok(users
        .into_iter()
        .map(|(id, email)| (id.to_string(), email))
        .collect())
}

/// A group's totals over the period.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct GroupLine {
    pub group: GroupLabel,
    pub totals: Totals,
}

/// One day's totals, and its cost split over the report's chart series.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DayLine {
    pub day: NaiveDate,
    pub totals: Totals,
    /// Cost in micro-dollars per entry of [`UsageReport::series`], in that order.
    pub cost_by_series: Vec<i64>,
}

/// How many groups the charts show by name; the rest are "Other".
pub const CHART_SERIES: usize = 6;

/// A period's usage, filtered and grouped.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct UsageReport {
    pub query: UsageQuery,
    pub totals: Totals,
    /// Per group, the most expensive first (empty when grouped by day).
    pub groups: Vec<GroupLine>,
    /// Every day of the period, including days without usage.
    pub days: Vec<DayLine>,
    /// The chart's series: the costliest groups, then "Other" if there are more.
    pub series: Vec<String>,
}

/// The report in three small queries instead of one row per (day, group): the
/// days' totals, the groups' totals, and the days of the charted groups only. A
/// tenant with 500 keys over 90 days reads about 600 rows, not 45,000. They run in
/// one read-only snapshot (PostgreSQL: repeatable read; SQLite's transaction reads
/// one snapshot), so "Other" is exactly the day's total less the named groups.
pub async fn report(
    store: &Store,
    scope: &TenantScope,
    query: &UsageQuery,
) -> Result<UsageReport, ConsoleError> {
    use usage_daily::Column as C;
    scope.require(Permission::ReadUsage)?;
    let txn = match store.db().get_database_backend() {
        DatabaseBackend::Postgres => {
            store
                .db()
                .begin_with_config(
                    Some(IsolationLevel::RepeatableRead),
                    Some(AccessMode::ReadOnly),
                )
                .await?
        }
        _ => store.db().begin().await?,
    };
    let days: Vec<Row> = with_sums(filtered(scope, query, false).column(C::Day))
        .group_by(C::Day)
        .order_by_asc(C::Day)
        .into_model::<Row>()
        .all(&txn)
        .await?;
    let Some((column, alias)) = group_column(query.group) else {
        return Ok(assemble(query, days, Vec::new(), Vec::new()));
    };
    let group_rows: Vec<GroupRow> =
        with_sums(filtered(scope, query, true).column_as(column, alias))
            .group_by(column)
            .into_model::<GroupRow>()
            .all(&txn)
            .await?;
    let labels = Labels::load(&txn, scope, query.group).await?;
    let groups = rank(query.group, group_rows, &labels);
    let charted: Vec<&str> = groups
        .iter()
        .take(CHART_SERIES)
        .map(|g| g.group.value.as_str())
        .collect();
    let series_rows: Vec<Row> = match charted.as_slice() {
        [] => Vec::new(),
        // One group holds every row: its days are the days' totals.
        [only] if groups.len() == 1 => days
            .iter()
            .map(|day| Row {
                group: Some((*only).to_owned()),
                ..day.clone()
            })
            .collect(),
        // The chart needs only the cost of each charted group's days.
        _ => filtered(scope, query, true)
            .column(C::Day)
            .column_as(column, alias)
            .column_as(sum_i64("cost_micros"), "cost_micros")
            .filter(one_of(column, query.group, &charted))
            .group_by(C::Day)
            .group_by(column)
            .into_model::<DayCost>()
            .all(&txn)
            .await?
            .into_iter()
            .map(|cost| cost.into_row(query.group))
            .collect(),
    };
    txn.commit().await?;
    Ok(assemble(query, days, groups, series_rows))
}

/// `column` is one of `values` (group values as [`Row`] reads them: `""` is a NULL
/// key or owner).
fn one_of(column: usage_daily::Column, group: GroupBy, values: &[&str]) -> Condition {
    let any = Condition::any();
    match group {
        GroupBy::Key | GroupBy::Member => {
            let ids: Vec<Uuid> = values
                .iter()
                .filter_map(|v| Uuid::parse_str(v).ok())
                .collect();
            let any = any.add(column.is_in(ids));
            if values.contains(&"") {
                any.add(column.is_null())
            } else {
                any
            }
        }
        _ => any.add(column.is_in(values.iter().copied())),
    }
}

/// The groups with their names, the most expensive first.
pub fn rank(group: GroupBy, rows: Vec<GroupRow>, labels: &Labels) -> Vec<GroupLine> {
    // NULL and "" can come back as two rows of one group: add, never replace.
    let mut by_group: HashMap<String, Totals> = HashMap::new();
    for row in rows {
        by_group.entry(row.group).or_default().add(&row.totals);
    }
    let mut groups: Vec<GroupLine> = by_group
        .into_iter()
        .map(|(value, totals)| GroupLine {
            group: GroupLabel {
                label: labels.label(group, &value),
                value,
            },
            totals,
        })
        .collect();
    groups.sort_by(|a, b| {
        b.totals
            .cost_micros
            .cmp(&a.totals.cost_micros)
            .then(b.totals.requests.cmp(&a.totals.requests))
            .then(a.group.label.cmp(&b.group.label))
    });
    groups
}

/// The report from its parts (pure, so the arithmetic is tested without a
/// database): the days' totals, the ranked groups, and the charted groups' days.
pub fn assemble(
    query: &UsageQuery,
    day_rows: Vec<Row>,
    groups: Vec<GroupLine>,
    series_rows: Vec<Row>,
) -> UsageReport {
    let named: Vec<&GroupLine> = groups.iter().take(CHART_SERIES).collect();
    let has_other = groups.len() > CHART_SERIES;
    let series: Vec<String> = if query.group == GroupBy::Day {
        vec!["Cost".to_owned()]
    } else {
        let mut series: Vec<String> = named.iter().map(|g| g.group.label.clone()).collect();
        if has_other {
            series.push("Other".to_owned());
        }
        series
    };
    let series_index: HashMap<&str, usize> = named
        .iter()
        .enumerate()
        .map(|(i, g)| (g.group.value.as_str(), i))
        .collect();
    let mut days: Vec<DayLine> = query
        .days()
        .into_iter()
        .map(|day| DayLine {
            day,
            totals: Totals::default(),
            cost_by_series: vec![0; series.len()],
        })
        .collect();
    let index_of =
        |day: NaiveDate| -> Option<usize> { (day - query.from).num_days().try_into().ok() };
    let mut totals = Totals::default();
    for row in &day_rows {
        totals.add(&row.totals);
        if let Some(line) = index_of(row.day).and_then(|i| days.get_mut(i)) {
            line.totals.add(&row.totals);
        }
    }
    if query.group == GroupBy::Day {
        for line in &mut days {
            line.cost_by_series = vec![line.totals.cost_micros];
        }
    } else {
        for row in &series_rows {
            let slot = row
                .group
                .as_deref()
                .and_then(|value| series_index.get(value).copied());
            let line = index_of(row.day).and_then(|i| days.get_mut(i));
            if let (Some(slot), Some(line)) = (slot, line)
                && let Some(cost) = line.cost_by_series.get_mut(slot)
            {
                *cost = cost.saturating_add(row.totals.cost_micros);
            }
        }
        if has_other {
            for line in &mut days {
                if let Some((other, named)) = line.cost_by_series.split_last_mut() {
                    *other = line.totals.cost_micros - named.iter().sum::<i64>();
                }
            }
        }
    }
    UsageReport {
        query: query.clone(),
        totals,
        groups,
        days,
        series,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(day: u32, group: &str, cost: i64) -> Row {
        Row {
            day: NaiveDate::from_ymd_opt(2026, 3, day).unwrap_or_default(),
            group: Some(group.to_owned()),
            totals: Totals {
                requests: 1,
                cost_micros: cost,
                ..Totals::default()
            },
        }
    }

    /// What the report's three queries return for these rows.
    fn assemble_like_the_database(query: &UsageQuery, rows: Vec<Row>) -> UsageReport {
        let mut days: HashMap<NaiveDate, Totals> = HashMap::new();
        let mut group_rows = Vec::new();
        for row in &rows {
            days.entry(row.day).or_default().add(&row.totals);
            group_rows.push(GroupRow {
                group: row.group.clone().unwrap_or_default(),
                totals: row.totals,
            });
        }
        let day_rows = days
            .into_iter()
            .map(|(day, totals)| Row {
                day,
                group: None,
                totals,
            })
            .collect();
        let groups = rank(query.group, group_rows, &Labels::default());
        let charted: Vec<String> = groups
            .iter()
            .take(CHART_SERIES)
            .map(|g| g.group.value.clone())
            .collect();
        let series_rows = rows
            .into_iter()
            .filter(|r| charted.contains(&r.group.clone().unwrap_or_default()))
            .collect();
        assemble(query, day_rows, groups, series_rows)
    }

    #[test]
    fn groups_beyond_the_chart_series_fall_into_other_and_nothing_is_lost() {
        let mut query =
            UsageQuery::this_month(NaiveDate::from_ymd_opt(2026, 3, 3).unwrap_or_default());
        query.group = GroupBy::Model;
        let rows: Vec<Row> = (0..9)
            .map(|i| row(1 + (i % 3), &format!("m{i}"), 100 * (i64::from(i) + 1)))
            .collect();
        let report = assemble_like_the_database(&query, rows);
        assert_eq!(report.days.len(), 3);
        assert_eq!(report.series.len(), CHART_SERIES + 1);
        assert_eq!(report.series.last().map(String::as_str), Some("Other"));
        // The costliest first.
        assert_eq!(
            report.groups.first().map(|g| g.group.value.as_str()),
            Some("m8")
        );
        let charted: i64 = report
            .days
            .iter()
            .flat_map(|d| d.cost_by_series.iter())
            .sum();
        assert_eq!(charted, report.totals.cost_micros);
        assert_eq!(
            report.totals.cost_micros,
            (1..=9).map(|i| 100 * i).sum::<i64>()
        );
        let per_day: i64 = report.days.iter().map(|d| d.totals.cost_micros).sum();
        assert_eq!(per_day, report.totals.cost_micros);
    }

    #[test]
    fn an_empty_period_still_has_every_day() {
        let query =
            UsageQuery::this_month(NaiveDate::from_ymd_opt(2026, 3, 10).unwrap_or_default());
        let report = assemble(&query, Vec::new(), Vec::new(), Vec::new());
        assert_eq!(report.days.len(), 10);
        assert_eq!(report.totals, Totals::default());
        assert!(report.groups.is_empty());
    }
}

#[cfg(test)]
mod database_tests {
    use super::*;
    use crate::tenant::testing::TestStore;
    use airlock_schema::entities::usage_record;
    use chrono::Utc;

    fn record(scope: &TenantScope, model: &str, cost: i64) -> usage_record::Model {
        usage_record::Model {
            id: Uuid::now_v7(),
            request_id: "req".into(),
            tenant_id: Some(scope.tenant_id()),
            key_id: None,
            env: Some(airlock_core::key::Env::Prod.into()),
            endpoint: "chat_completions".into(),
            provider: Some("openai".into()),
            model: Some(model.into()),
            created_at: Utc::now(),
            latency_ms: 1,
            upstream_latency_ms: None,
            status_code: 200,
            error_code: None,
            input_tokens: 10,
            output_tokens: 5,
            cost_micros: cost,
            priced: true,
            message_count: 1,
            input_chars: 1,
            input_images: 0,
            output_chars: 1,
            redactions: serde_json::json!({}),
            injection_flags: 0,
            injection_score_milli: 0,
            injection_indirect_milli: 0,
            injection_layer: None,
            output_flags: 0,
            data_class: None,
            input_hash: None,
            streamed: false,
            client_disconnected: false,
            client_ip: None,
        }
    }

    /// Ten keys over three days with two models: more groups than the chart names,
    /// so "Other" is the day's total less the named keys, and every grain gives the
    /// same totals.
    #[tokio::test]
    async fn charted_groups_and_other_add_up_to_each_day_on_every_grain() {
        let test = TestStore::new().await;
        let scope = test.tenant("grains").await;
        let hasher = airlock_core::key::KeyHasher::new(&[5; 32]).unwrap();
        let mut records = Vec::new();
        let today = Utc::now();
        for k in 0..10_i64 {
            let key = crate::tenant::keys::create(
                &test,
                &scope,
                &crate::tenant::Actor::cli(),
                crate::tenant::keys::NewKey {
                    hasher: &hasher,
                    env: airlock_core::key::Env::Prod,
                    name: format!("key {k}"),
                    allowed_models: Vec::new(),
                    expires_at: None,
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
            for day in 0..3_i64 {
                for (m, model) in ["gpt-4o", "gpt-4o-mini"].into_iter().enumerate() {
                    let mut r = record(&scope, model, 1000 * (k + 1) + 10 * day + m as i64);
                    r.key_id = Some(key.row.id);
                    r.created_at = today - chrono::Duration::days(day);
                    records.push(r);
                }
            }
        }
        airlock_schema::rollup::write_usage_batch(test.db(), &records)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let expected: i64 = records.iter().map(|r| r.cost_micros).sum();
        let mut query = UsageQuery::this_month(today.date_naive());
        query.from = today.date_naive() - chrono::Duration::days(2);
        for (group, model) in [
            (GroupBy::Key, None),
            (GroupBy::Key, Some("gpt-4o")),
            (GroupBy::Model, None),
            (GroupBy::Day, None),
            (GroupBy::Member, None),
        ] {
            query.group = group;
            query.model = model.map(str::to_owned);
            let report = report(&test, &scope, &query)
                .await
                .unwrap_or_else(|e| panic!("{e:?}"));
            let want: i64 = records
                .iter()
                .filter(|r| model.is_none_or(|m| r.model.as_deref() == Some(m)))
                .map(|r| r.cost_micros)
                .sum();
            assert!(want > 0 && want <= expected);
            assert_eq!(report.totals.cost_micros, want, "{group:?} {model:?}");
            assert_eq!(report.days.len(), 3);
            for line in &report.days {
                assert_eq!(
                    line.cost_by_series.iter().sum::<i64>(),
                    line.totals.cost_micros,
                    "{group:?} {model:?} {}",
                    line.day
                );
            }
            if group == GroupBy::Key {
                assert_eq!(report.groups.len(), 10);
                assert_eq!(report.series.len(), CHART_SERIES + 1);
                // The costliest key is charted by name, with its own days.
                let top = &report.groups[0];
                assert_eq!(report.series[0], top.group.label);
                let charted: i64 = report.days.iter().map(|d| d.cost_by_series[0]).sum();
                assert_eq!(charted, top.totals.cost_micros);
                assert!(
                    top.group.label.starts_with("key 9 ("),
                    "{}",
                    top.group.label
                );
            }
        }
    }

    #[tokio::test]
    async fn every_grouping_reads_its_values_back() {
        let test = TestStore::new().await;
        let scope = test.tenant("sums").await;
        let records = [
            record(&scope, "gpt-4o", 300),
            record(&scope, "gpt-4o-mini", 20),
            record(&scope, "gpt-4o", 1),
        ];
        airlock_schema::rollup::write_usage_batch(test.db(), &records)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut query = super::super::UsageQuery::this_month(Utc::now().date_naive());
        for group in GroupBy::ALL {
            query.group = group;
            let report = report(&test, &scope, &query)
                .await
                .unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(report.totals.cost_micros, 321, "{group:?}");
            assert_eq!(report.totals.requests, 3, "{group:?}");
            let values: Vec<&str> = report
                .groups
                .iter()
                .map(|g| g.group.value.as_str())
                .collect();
            let expected: Vec<&str> = match group {
                GroupBy::Day => vec![],
                GroupBy::Model => vec!["gpt-4o", "gpt-4o-mini"],
                GroupBy::Provider => vec!["openai"],
                GroupBy::Env => vec!["prod"],
                GroupBy::Key | GroupBy::Member => vec![""],
            };
            assert_eq!(values, expected, "{group:?}");
        }
    }
}
