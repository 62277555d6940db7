//! The audit log page: filters, paging, and the chain check.

use actix_web::{HttpResponse, web};
use airlock_schema::entities::{audit_event, user};
use askama::Template;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::audit_words::{self, Emails, EventWords};
use super::{Layout, TenantForm, TenantPage, render};
use crate::error::ConsoleError;
use crate::state::ConsoleState;
use crate::tenant::audit::{self, ChainStatus, Filter};

const EVENTS_PER_PAGE: u64 = 50;

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    layout: Layout,
    events: Vec<EventWords>,
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
    let emails = emails_of(state, &events).await?;
    render(&AuditPage {
        layout: page.layout(state).await?,
        events: events
            .iter()
            .map(|e| audit_words::describe(e, &emails))
            .collect(),
        page: filter.page.unwrap_or(0),
        filter,
        more,
        verified,
    })
}

/// The emails of the accounts the events mention, in one query. The ids come
/// from this tenant's own events.
async fn emails_of(
    state: &ConsoleState,
    events: &[audit_event::Model],
) -> Result<Emails, ConsoleError> {
    let ids = audit_words::mentioned_users(events);
    if ids.is_empty() {
        return Ok(Emails::new());
    }
    let rows: Vec<(uuid::Uuid, String)> = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .column(user::Column::Email)
        .filter(user::Column::Id.is_in(ids))
        .into_tuple()
        .all(state.db())
        .await?;
    Ok(rows.into_iter().collect())
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
