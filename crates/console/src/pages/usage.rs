//! Usage and cost for finance: requests, tokens and cost per environment,
//! provider and model over a period, from metadata-only usage records.

use actix_web::{HttpResponse, web};
use airlock_core::money::MicroDollars;
use askama::Template;
use serde::Deserialize;

use super::form::optional_date;
use super::{Layout, render};
use crate::auth::CurrentUser;
use crate::error::ConsoleError;
use crate::scope::TenantScope;
use crate::state::ConsoleState;
use crate::usage::{self, UsageSummary};

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
    user: CurrentUser,
    slug: web::Path<String>,
    query: web::Query<UsageQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let scope = TenantScope::check(&state.db, &user, &slug).await?;
    let (from, to) = usage::period(
        optional_date(&query.from, "The first day")?,
        optional_date(&query.to, "The last day")?,
    )?;
    render(&UsagePage {
        summary: usage::summary(&state.db, &scope, from, to).await?,
        layout: Layout::new(&state.db, &user, Some(&scope)).await?,
    })
}
