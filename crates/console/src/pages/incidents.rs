//! The incidents page: contain (choose whose keys, see how many, confirm),
//! the keys held now, and release after review.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use airlock_core::key::Env;
use airlock_schema::entities::relay_key;
use askama::Template;
use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;

use super::form::text;
use super::{Layout, TenantForm, TenantPage, invalid_status, redirect, render, saved_notice};
use crate::error::ConsoleError;
use crate::state::ConsoleState;
use crate::tenant::Permission;
use crate::tenant::incidents::{self, Containment, Target};

#[derive(Deserialize, Default, Clone)]
pub struct IncidentForm {
    /// `all`, `env` or `member`.
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    member: Option<String>,
    /// `suspend` or `revoke` (containment only).
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

impl IncidentForm {
    fn target(&self) -> Result<Target, ConsoleError> {
        match text(&self.scope).unwrap_or("all") {
            "all" => Ok(Target::All),
            "env" => {
                let env: Env = text(&self.env).unwrap_or_default().parse().map_err(|_| {
                    ConsoleError::InvalidParam(
                        "env",
                        "environment: choose dev, stg, prod or ci".into(),
                    )
                })?;
                Ok(Target::Env(env))
            }
            "member" => Ok(Target::Member(
                text(&self.member).unwrap_or_default().to_owned(),
            )),
            _ => Err(ConsoleError::InvalidParam(
                "scope",
                "whose keys: choose every key, one environment or one person".into(),
            )),
        }
    }

    fn note(&self) -> Result<Option<String>, ConsoleError> {
        incidents::check_note(self.note.as_deref().unwrap_or_default())
    }

    fn value<'a>(&self, field: &'a Option<String>) -> &'a str {
        field.as_deref().unwrap_or_default()
    }

    fn scope_is(&self, scope: &str) -> bool {
        self.scope.as_deref().unwrap_or("all") == scope
    }

    fn env_is(&self, env: &str) -> bool {
        self.env.as_deref() == Some(env)
    }

    fn action_is(&self, action: &str) -> bool {
        self.action.as_deref().unwrap_or("suspend") == action
    }
}

/// The confirmation step: what containment would stop.
struct Confirm {
    describe: String,
    action: &'static str,
    prefixes: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/incidents.html")]
struct IncidentsPage {
    layout: Layout,
    form: IncidentForm,
    envs: [&'static str; 4],
    confirm: Option<Confirm>,
    suspended: Vec<relay_key::Model>,
    notice: Option<&'static str>,
    error: Option<String>,
}

async fn show(
    state: &ConsoleState,
    page: &TenantPage,
    form: IncidentForm,
    confirm: Option<Confirm>,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<HttpResponse, ConsoleError> {
    page.scope.require(Permission::RespondToIncidents)?;
    let suspended = relay_key::Entity::find()
        .filter(relay_key::Column::TenantId.eq(page.scope.tenant_id()))
        .filter(relay_key::Column::RevokedAt.is_null())
        .filter(relay_key::Column::SuspendedAt.is_not_null())
        .order_by_asc(relay_key::Column::DisplayPrefix)
        .all(state.db())
        .await?;
    let failed = error.is_some();
    let mut response = render(&IncidentsPage {
        layout: page.layout(state).await?,
        form,
        envs: Env::ALL.map(Env::as_str),
        confirm,
        suspended,
        notice,
        error,
    })?;
    if failed {
        invalid_status(&mut response);
    }
    Ok(response)
}

/// Shows the form again with the message by it, for input that cannot be taken.
async fn or_redisplay(
    state: &ConsoleState,
    page: &TenantPage,
    form: IncidentForm,
    result: Result<HttpResponse, ConsoleError>,
) -> Result<HttpResponse, ConsoleError> {
    match result {
        Err(ConsoleError::Invalid(message) | ConsoleError::InvalidParam(_, message)) => {
            show(state, page, form, None, None, Some(message)).await
        }
        other => other,
    }
}

pub async fn page(
    state: web::Data<ConsoleState>,
    page: TenantPage,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    show(
        &state,
        &page,
        IncidentForm::default(),
        None,
        saved_notice(&query),
        None,
    )
    .await
}

/// Step one: how many keys containment would stop, and a button to do it.
pub async fn preview(
    state: web::Data<ConsoleState>,
    post: TenantForm<IncidentForm>,
) -> Result<HttpResponse, ConsoleError> {
    let TenantForm { page, form } = post;
    let result = async {
        let target = form.target()?;
        let action = Containment::parse(text(&form.action).unwrap_or("suspend"))?;
        form.note()?;
        let prefixes = incidents::preview(&state.store, &page.scope, &target).await?;
        let confirm = Confirm {
            describe: target.describe(),
            action: action.as_str(),
            prefixes,
        };
        show(&state, &page, form.clone(), Some(confirm), None, None).await
    }
    .await;
    or_redisplay(&state, &page, form, result).await
}

/// Step two: suspend or revoke them.
pub async fn contain(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    post: TenantForm<IncidentForm>,
) -> Result<HttpResponse, ConsoleError> {
    let TenantForm { page, form } = post;
    let result = async {
        let target = form.target()?;
        let action = Containment::parse(text(&form.action).unwrap_or_default())?;
        let note = form.note()?;
        if action == Containment::Rotate {
            let replaced = incidents::rotate_all(
                &state.store,
                &page.scope,
                &page.actor(&req),
                &state.hasher,
                &target,
                note,
            )
            .await?;
            // The new keys, once, by post-redirect-get (never in a URL).
            let shown = RotatedShown {
                tenant_id: page.scope.tenant_id(),
                replaced,
            };
            let ticket = crate::shown_once::hold(&state, &page.user, &shown).await?;
            return Ok(redirect(&format!(
                "/t/{}/incidents/rotated/{ticket}",
                page.slug()
            )));
        }
        incidents::contain(
            &state.store,
            &page.scope,
            &page.actor(&req),
            &target,
            action,
            note,
        )
        .await?;
        let done = match action {
            Containment::Suspend => "keys-suspended",
            Containment::Revoke | Containment::Rotate => "keys-revoked",
        };
        Ok(redirect(&format!(
            "/t/{}/incidents?done={done}",
            page.slug()
        )))
    }
    .await;
    or_redisplay(&state, &page, form, result).await
}

/// Lifts the suspensions of a target after review.
pub async fn release(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    post: TenantForm<IncidentForm>,
) -> Result<HttpResponse, ConsoleError> {
    let TenantForm { page, form } = post;
    let result = async {
        let target = form.target()?;
        let note = form.note()?;
        incidents::release(&state.store, &page.scope, &page.actor(&req), &target, note).await?;
        Ok(redirect(&format!(
            "/t/{}/incidents?done=keys-released",
            page.slug()
        )))
    }
    .await;
    or_redisplay(&state, &page, form, result).await
}

/// The report's window and target, from the address (`?scope=env&env=dev&from=…`).
#[derive(Deserialize, Default, Clone)]
pub struct ReportQuery {
    #[serde(flatten)]
    form: IncidentForm,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    /// `csv` or `json`; otherwise the page.
    #[serde(default)]
    format: Option<String>,
    /// What was just done (`report-mailed`), for the notice.
    #[serde(default)]
    done: Option<String>,
}

/// A time typed as `2026-12-02T13:05` (a datetime field, UTC) or `2026-12-02`.
fn parse_time(
    text: Option<&str>,
    field: &'static str,
) -> Result<Option<DateTime<Utc>>, ConsoleError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let parsed = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
        })
        .map_err(|_| {
            ConsoleError::InvalidParam(
                field,
                format!("{field}: write a UTC time like 2026-12-02T13:05"),
            )
        })?;
    Ok(Some(parsed.and_utc()))
}

impl ReportQuery {
    /// The window: as given, else the last 24 hours.
    fn window(&self) -> Result<(DateTime<Utc>, DateTime<Utc>), ConsoleError> {
        let to = parse_time(self.to.as_deref(), "to")?.unwrap_or_else(Utc::now);
        let from =
            parse_time(self.from.as_deref(), "from")?.unwrap_or(to - chrono::Duration::hours(24));
        incidents::check_window(from, to)?;
        Ok((from, to))
    }

    /// The same report in another format, for the download links.
    fn link(&self, slug: &str, format: &str) -> String {
        let pairs = [
            (
                "scope",
                self.form.scope.clone().unwrap_or_else(|| "all".into()),
            ),
            ("env", self.form.env.clone().unwrap_or_default()),
            ("member", self.form.member.clone().unwrap_or_default()),
            ("from", self.from.clone().unwrap_or_default()),
            ("to", self.to.clone().unwrap_or_default()),
            ("format", format.to_owned()),
        ];
        let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
        format!("/t/{slug}/incidents/report?{query}")
    }
}

#[derive(Template)]
#[template(path = "console/incident_report.html")]
struct ReportPage {
    layout: Layout,
    report: incidents::Assessment,
    query: ReportQuery,
    csv_link: String,
    json_link: String,
    can_mail: bool,
    notice: Option<&'static str>,
}

impl ReportPage {
    fn money(&self, micros: &i64) -> String {
        airlock_core::money::MicroDollars::new(*micros)
            .readable()
            .to_string()
    }
}

/// An incident's window: the target's keys' activity and the audit events, as a
/// page, CSV or JSON.
pub async fn report(
    state: web::Data<ConsoleState>,
    page: TenantPage,
    query: web::Query<ReportQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let query = query.into_inner();
    let result = async {
        let target = query.form.target()?;
        let (from, to) = query.window()?;
        incidents::assess(&state.store, &page.scope, &target, from, to).await
    }
    .await;
    let report = match result {
        Ok(report) => report,
        Err(ConsoleError::Invalid(message) | ConsoleError::InvalidParam(_, message)) => {
            return show(&state, &page, query.form, None, None, Some(message)).await;
        }
        Err(other) => return Err(other),
    };
    let name = format!(
        "airlock-incident-{}-{}",
        page.slug(),
        report.from.format("%Y%m%dT%H%M")
    );
    match query.format.as_deref() {
        Some("csv") => Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                "content-disposition",
                format!("attachment; filename=\"{name}.csv\""),
            ))
            .body(report.csv())),
        Some("json") => Ok(HttpResponse::Ok()
            .insert_header((
                "content-disposition",
                format!("attachment; filename=\"{name}.json\""),
            ))
            .json(&report)),
        _ => render(&ReportPage {
            csv_link: query.link(page.slug(), "csv"),
            json_link: query.link(page.slug(), "json"),
            can_mail: state.mailer.is_some(),
            notice: query.done.as_deref().and_then(super::done_notice),
            layout: page.layout(&state).await?,
            report,
            query,
        }),
    }
}

/// Mails the report's summary to the tenant's owners, admins and finance.
pub async fn notify(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    post: TenantForm<ReportQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let TenantForm { page, form: query } = post;
    let target = query.form.target()?;
    let (from, to) = query.window()?;
    let report = incidents::assess(&state.store, &page.scope, &target, from, to).await?;
    let Some(mailer) = state.mailer.as_ref() else {
        return Err(ConsoleError::Invalid(
            "no mail server is configured (smtp_url): download the report and send it yourself"
                .into(),
        ));
    };
    let link = format!(
        "{}{}",
        state.link_base(&req),
        query.link(page.slug(), "html")
    );
    incidents::notify(
        &state.store,
        &page.scope,
        &page.actor(&req),
        mailer,
        &report,
        &link,
    )
    .await?;
    // Post-redirect-get: a reload of the next page shows the report, and sends
    // nothing again.
    Ok(redirect(&format!(
        "{}&done=report-mailed",
        query.link(page.slug(), "html")
    )))
}

/// The replacements of a rotate-all, held once for their page.
#[derive(serde::Serialize, Deserialize)]
struct RotatedShown {
    tenant_id: uuid::Uuid,
    replaced: Vec<incidents::Replacement>,
}

#[derive(Template)]
#[template(path = "console/incident_rotated.html")]
struct RotatedPage {
    layout: Layout,
    /// `None`: already shown.
    replaced: Option<Vec<incidents::Replacement>>,
}

/// The new keys of a rotate-all, once; afterwards "already shown".
pub async fn rotated(
    state: web::Data<ConsoleState>,
    page: TenantPage,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    page.scope.require(Permission::RespondToIncidents)?;
    let (_, ticket) = path.into_inner();
    let shown = crate::shown_once::take::<RotatedShown>(&state, &page.user, &ticket)
        .await?
        .filter(|shown| shown.tenant_id == page.scope.tenant_id());
    render(&RotatedPage {
        layout: page.layout(&state).await?,
        replaced: shown.map(|s| s.replaced),
    })
}
