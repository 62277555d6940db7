//! The audit log page: filters, paging, and the chain check.

use actix_web::{HttpResponse, web};
use airlock_schema::entities::audit_event;
use askama::Template;

use super::{Layout, TenantForm, TenantPage, render};
use crate::error::ConsoleError;
use crate::state::ConsoleState;
use crate::tenant::audit::{self, ChainStatus, Filter};

const EVENTS_PER_PAGE: u64 = 50;

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    layout: Layout,
    events: Vec<audit_event::Model>,
    filter: Filter,
    page: u64,
    more: bool,
    /// After "verify": whether the chain is intact, and what to say.
    verified: Option<(bool, String)>,
}

async fn show(
    state: &ConsoleState,
    page: &TenantPage,
    filter: Filter,
    verify: bool,
) -> Result<HttpResponse, ConsoleError> {
    let scope = &page.scope;
    let (events, more) = audit::list(&state.store, scope, &filter, EVENTS_PER_PAGE).await?;
    let verified = if verify {
        Some(match audit::verify(&state.store, scope).await? {
            ChainStatus::Intact { events } => (
                true,
                format!(
                    "The chain is intact: all {events} events link up, match their signatures, and end where the head says."
                ),
            ),
            ChainStatus::Broken { seq, reason } => (
                false,
                format!("The chain breaks at event #{seq}: {reason}."),
            ),
        })
    } else {
        None
    };
    render(&AuditPage {
        layout: page.layout(state).await?,
        events,
        page: filter.page.unwrap_or(0),
        filter,
        more,
        verified,
    })
}

pub async fn list(
    state: web::Data<ConsoleState>,
    page: TenantPage,
    filter: web::Query<Filter>,
) -> Result<HttpResponse, ConsoleError> {
    show(&state, &page, filter.into_inner(), false).await
}

/// Walks the whole chain and shows where it breaks, if it does.
pub async fn verify(
    state: web::Data<ConsoleState>,
    post: TenantForm<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    show(&state, &post.page, Filter::default(), true).await
}
