//! The alerts page: what crossed a threshold, whether the mail went out, and
//! acknowledging; and the tenant's thresholds.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use airlock_schema::entities::alert;
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::form::text;
use super::{Layout, TenantForm, TenantPage, invalid_status, redirect, render, saved_notice};
use crate::error::ConsoleError;
use crate::state::ConsoleState;
use crate::tenant::{Permission, alerts, anomalies};
use airlock_core::key::Env;

const ALERTS_SHOWN: u64 = 100;

#[derive(Template)]
#[template(path = "console/alerts.html")]
struct AlertsPage {
    layout: Layout,
    alerts: Vec<alert::Model>,
    thresholds: String,
    can_acknowledge: bool,
    can_manage: bool,
    notice: Option<&'static str>,
    error: Option<String>,
    /// Environments where an anomaly suspends the key; who may choose them.
    suspend_envs: Vec<&'static str>,
    can_respond: bool,
    envs: [&'static str; 4],
}

impl AlertsPage {
    fn suspends_in(&self, env: &str) -> bool {
        self.suspend_envs.contains(&env)
    }
}

impl AlertsPage {
    /// What happened to the alert's mail, in words.
    fn mail(&self, alert: &alert::Model) -> String {
        match alert.mail_state.as_str() {
            "sent" => match alert.emailed_at {
                Some(at) => format!("Mailed {}.", at.format("%Y-%m-%d %H:%M UTC")),
                None => "Mailed.".to_owned(),
            },
            "none" => "Not mailed: no mail server is configured (smtp_url).".to_owned(),
            "failed" => format!(
                "Not mailed: gave up after {} tries ({}).",
                alert.mail_attempts,
                alert.mail_error.as_deref().unwrap_or("no answer")
            ),
            _ if alert.mail_attempts > 0 => format!(
                "Not mailed yet: try {} failed ({}); tried again{}.",
                alert.mail_attempts,
                alert.mail_error.as_deref().unwrap_or("no answer"),
                alert
                    .next_mail_at
                    .map(|at| format!(" at {}", at.format("%H:%M UTC")))
                    .unwrap_or_default()
            ),
            _ => "Mail on its way (within a minute).".to_owned(),
        }
    }
}

async fn show(
    state: &ConsoleState,
    page: &TenantPage,
    notice: Option<&'static str>,
    error: Option<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let scope = &page.scope;
    let list = alerts::list(&state.store, scope, ALERTS_SHOWN).await?;
    let saved: Vec<String> = alerts::thresholds(state.db(), scope.tenant_id())
        .await?
        .iter()
        .map(u32::to_string)
        .collect();
    let failed = error.is_some();
    let (thresholds, error) = match error {
        Some((typed, message)) => (typed, Some(message)),
        None => (saved.join(", "), None),
    };
    let mut response = render(&AlertsPage {
        layout: page.layout(state).await?,
        alerts: list,
        thresholds,
        can_acknowledge: scope.can(Permission::ReadBilling),
        can_manage: scope.can(Permission::ManageBudgets),
        notice,
        error,
        suspend_envs: anomalies::suspend_envs(state.db(), scope.tenant_id())
            .await?
            .into_iter()
            .map(Env::as_str)
            .collect(),
        can_respond: scope.can(Permission::RespondToIncidents),
        envs: Env::ALL.map(Env::as_str),
    })?;
    if failed {
        invalid_status(&mut response);
    }
    Ok(response)
}

pub async fn page(
    state: web::Data<ConsoleState>,
    page: TenantPage,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    show(&state, &page, saved_notice(&query), None).await
}

pub async fn acknowledge(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    path: web::Path<(String, Uuid)>,
    post: TenantForm<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let (_, alert_id) = path.into_inner();
    let page = post.page;
    alerts::acknowledge(&state.store, &page.scope, &page.actor(&req), alert_id).await?;
    Ok(redirect(&format!(
        "/t/{}/alerts?done=alert-acknowledged",
        page.slug()
    )))
}

#[derive(Deserialize)]
pub struct ThresholdsForm {
    #[serde(default)]
    budget_thresholds: Option<String>,
}

pub async fn save_thresholds(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    post: TenantForm<ThresholdsForm>,
) -> Result<HttpResponse, ConsoleError> {
    let TenantForm { page, form } = post;
    let typed = text(&form.budget_thresholds).unwrap_or_default().to_owned();
    let saved = async {
        let thresholds = alerts::parse_thresholds(&typed)?;
        alerts::save_thresholds(&state.store, &page.scope, &page.actor(&req), thresholds).await
    }
    .await;
    match saved {
        Ok(()) => Ok(redirect(&format!("/t/{}/alerts?saved=1", page.slug()))),
        Err(ConsoleError::Invalid(message) | ConsoleError::InvalidParam(_, message)) => {
            show(&state, &page, None, Some((typed, message))).await
        }
        Err(other) => Err(other),
    }
}

/// The anomaly response: the environments where an anomaly suspends the key.
pub async fn save_anomaly_response(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    post: TenantForm<Vec<(String, String)>>,
) -> Result<HttpResponse, ConsoleError> {
    let TenantForm { page, form } = post;
    let envs: Vec<Env> = form
        .iter()
        .filter(|(name, _)| name == "suspend_in")
        .map(|(_, value)| {
            value.parse().map_err(|_| {
                ConsoleError::InvalidParam(
                    "suspend_in",
                    "environments: dev, stg, prod or ci".into(),
                )
            })
        })
        .collect::<Result<_, _>>()?;
    anomalies::save_suspend_envs(&state.store, &page.scope, &page.actor(&req), envs).await?;
    Ok(redirect(&format!("/t/{}/alerts?saved=1", page.slug())))
}
