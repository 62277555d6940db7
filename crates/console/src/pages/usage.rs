//! The usage page finance works in: filters and a grouping, the month so far
//! (spend, forecast, budgets), charts with a table of the same numbers under
//! each, and the CSV of exactly what the filters select. And a key's recent
//! activity.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use airlock_core::key::Env;
use airlock_core::money::MicroDollars;
use askama::Template;
use uuid::Uuid;

use super::chart::{self, Stacked};
use super::{Layout, TenantPage};
use crate::api::usage::{csv_response, wants_csv};
use crate::error::ConsoleError;
use crate::state::ConsoleState;
use crate::tenant::usage::activity::{self, KeyActivity};
use crate::tenant::usage::overview::{self, Overview};
use crate::tenant::usage::report::member_emails;
use crate::tenant::usage::{self, GroupBy, Preset, UsageQuery, UsageReport};
use crate::tenant::{Permission, keys};

/// A choice of a select box.
pub struct Choice {
    pub value: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "console/usage.html")]
struct UsagePage {
    layout: Layout,
    report: UsageReport,
    overview: Overview,
    /// Why the filters were not applied, shown by the form.
    error: Option<String>,
    presets: Vec<Choice>,
    groups: Vec<Choice>,
    envs: Vec<&'static str>,
    keys: Vec<Choice>,
    members: Vec<Choice>,
    cost_chart: String,
    volume_chart: String,
    csv_link: String,
}

impl UsagePage {
    fn dollars(&self, micros: &i64) -> String {
        MicroDollars::new(*micros).readable().to_string()
    }

    fn selected_key(&self) -> String {
        self.report
            .query
            .key
            .map(|k| k.to_string())
            .unwrap_or_default()
    }

    fn selected_member(&self) -> String {
        self.report
            .query
            .member
            .map(|m| m.to_string())
            .unwrap_or_default()
    }

    fn selected_env(&self) -> &'static str {
        self.report.query.env.map_or("", Env::as_str)
    }
}

fn dollars(micros: i64) -> String {
    MicroDollars::new(micros).readable().to_string()
}

fn count(n: i64) -> String {
    n.to_string()
}

fn cost_chart(report: &UsageReport) -> String {
    let total = report.totals.cost().readable();
    let busiest = report
        .days
        .iter()
        .max_by_key(|d| d.totals.cost_micros)
        .filter(|d| d.totals.cost_micros > 0);
    let description = match busiest {
        Some(day) => format!(
            "{total} over {} days; the most on {} ({}).",
            report.days.len(),
            day.day,
            day.totals.cost().readable()
        ),
        None => format!("No cost in these {} days.", report.days.len()),
    };
    let title = match report.query.group {
        GroupBy::Day => "Cost per day".to_owned(),
        group => format!("Cost per day by {}", group.label().to_lowercase()),
    };
    chart::stacked(&Stacked {
        id: "cost-chart",
        title: &title,
        description,
        days: report.days.iter().map(|d| d.day.to_string()).collect(),
        series: &report.series,
        values: report
            .days
            .iter()
            .map(|d| d.cost_by_series.clone())
            .collect(),
        format: dollars,
    })
}

fn volume_chart(report: &UsageReport) -> String {
    let series = vec!["Input tokens".to_owned(), "Output tokens".to_owned()];
    chart::stacked(&Stacked {
        id: "tokens-chart",
        title: "Tokens per day",
        description: format!(
            "{} requests, {} input and {} output tokens over {} days.",
            report.totals.requests,
            report.totals.input_tokens,
            report.totals.output_tokens,
            report.days.len()
        ),
        days: report.days.iter().map(|d| d.day.to_string()).collect(),
        series: &series,
        values: report
            .days
            .iter()
            .map(|d| vec![d.totals.input_tokens, d.totals.output_tokens])
            .collect(),
        format: count,
    })
}

async fn key_choices(state: &ConsoleState, page: &TenantPage) -> Result<Vec<Choice>, ConsoleError> {
    if !page.scope.can(Permission::ReadKeys) {
        return Ok(Vec::new());
    }
    Ok(keys::all_names(&state.store, &page.scope)
        .await?
        .into_iter()
        .map(|(id, name, prefix)| Choice {
            value: id.to_string(),
            label: format!("{name} ({prefix}…)"),
        })
        .collect())
}

pub async fn page(
    state: web::Data<ConsoleState>,
    page: TenantPage,
    params: web::Query<HashMap<String, String>>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let today = chrono::Utc::now().date_naive();
    let (query, error) = match UsageQuery::parse(&params) {
        Ok(query) => (query, None),
        Err(e @ (ConsoleError::InvalidParam(..) | ConsoleError::Invalid(_))) => (
            UsageQuery::this_month(today),
            Some(super::errors::sentence(&e.to_string())),
        ),
        Err(e) => return Err(e),
    };
    if error.is_none() && wants_csv(&req, &params) {
        return csv_response(&state, &page.scope, &query).await;
    }
    let report = usage::report(&state.store, &page.scope, &query).await?;
    let overview = overview::overview(&state.store, &page.scope).await?;
    let members = member_emails(state.store.db(), &page.scope).await?;
    let mut members: Vec<Choice> = members
        .into_iter()
        .map(|(value, label)| Choice { value, label })
        .collect();
    members.sort_by(|a, b| a.label.cmp(&b.label));
    let html = UsagePage {
        cost_chart: cost_chart(&report),
        volume_chart: volume_chart(&report),
        csv_link: format!(
            "/t/{}/usage?{}&format=csv",
            page.scope.slug(),
            report.query.to_params(report.query.group)
        ),
        presets: Preset::ALL
            .into_iter()
            .map(|p| Choice {
                value: p.as_str().to_owned(),
                label: p.label().to_owned(),
            })
            .collect(),
        groups: GroupBy::ALL
            .into_iter()
            .map(|g| Choice {
                value: g.as_str().to_owned(),
                label: g.label().to_owned(),
            })
            .collect(),
        envs: Env::ALL.iter().map(|e| e.as_str()).collect(),
        keys: key_choices(&state, &page).await?,
        members,
        report,
        overview,
        error: error.clone(),
        layout: page.layout(&state).await?,
    }
    .render()?;
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(html))
}

#[derive(Template)]
#[template(path = "console/key_activity.html")]
struct ActivityPage {
    layout: Layout,
    activity: KeyActivity,
}

pub async fn key_activity(
    state: web::Data<ConsoleState>,
    page: TenantPage,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let key_id = Uuid::parse_str(&path.1).map_err(|_| ConsoleError::NotFound)?;
    let activity = activity::key_activity(&state.store, &page.scope, key_id).await?;
    super::render(&ActivityPage {
        activity,
        layout: page.layout(&state).await?,
    })
}
