//! The audit log page: filters, paging, and the chain check.

use actix_web::{HttpResponse, web};
use airlock_schema::entities::audit_event;
use askama::Template;

use super::{Layout, render};
use crate::audit::{self, AuditFilter, ChainStatus};
use crate::auth::{Checked, CurrentUser};
use crate::error::ConsoleError;
use crate::scope::{Permission, TenantScope};
use crate::state::ConsoleState;

const EVENTS_PER_PAGE: u64 = 50;

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    layout: Layout,
    events: Vec<audit_event::Model>,
    filter: AuditFilter,
    page: u64,
    more: bool,
    /// After "verify": whether the chain is intact, and what to say.
    verified: Option<(bool, String)>,
}

async fn page(
    state: &ConsoleState,
    user: &CurrentUser,
    slug: &str,
    filter: AuditFilter,
    verify: bool,
) -> Result<HttpResponse, ConsoleError> {
    let scope = TenantScope::check(&state.db, user, slug).await?;
    scope.require(Permission::ReadAudit)?;
    let (events, more) = audit::list(&state.db, &scope, &filter, EVENTS_PER_PAGE).await?;
    let verified = if verify {
        Some(match audit::verify(&state.db, &scope).await? {
            ChainStatus::Intact { events } => (
                true,
                format!("The chain is intact: all {events} events link up and match their hashes."),
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
        layout: Layout::new(&state.db, user, Some(&scope)).await?,
        events,
        page: filter.page.unwrap_or(0),
        filter,
        more,
        verified,
    })
}

pub async fn list(
    state: web::Data<ConsoleState>,
    user: CurrentUser,
    slug: web::Path<String>,
    filter: web::Query<AuditFilter>,
) -> Result<HttpResponse, ConsoleError> {
    page(&state, &user, &slug, filter.into_inner(), false).await
}

/// Walks the whole chain and shows where it breaks, if it does.
pub async fn verify(
    state: web::Data<ConsoleState>,
    slug: web::Path<String>,
    checked: Checked<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    page(&state, &checked.user, &slug, AuditFilter::default(), true).await
}
