//! Usage and cost for finance: requests, tokens and cost per environment,
//! provider and model over a period, from metadata-only usage records.

use actix_web::{HttpResponse, web};
use airlock_core::money::MicroDollars;
use askama::Template;
use serde::Deserialize;

use super::form::optional_date;
use super::{Layout, TenantPage, render};
use crate::error::ConsoleError;
use crate::state::ConsoleState;
use crate::tenant::usage::{self, UsageSummary};

#[derive(Template)]
#[template(path = "console/usage.html")]
struct UsagePage {
    layout: Layout,
    summary: UsageSummary,
}

impl UsagePage {
    fn dollars(&self, micros: &i64) -> String {
        MicroDollars::new(*micros).to_string()
    }
}

#[derive(Deserialize)]
pub struct UsageQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

pub async fn page(
    state: web::Data<ConsoleState>,
    page: TenantPage,
    query: web::Query<UsageQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let (from, to) = usage::period(
        optional_date(&query.from, "The first day")?,
        optional_date(&query.to, "The last day")?,
    )?;
    render(&UsagePage {
        summary: usage::summary(&state.store, &page.scope, from, to).await?,
        layout: page.layout(&state).await?,
    })
}
