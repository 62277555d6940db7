//! Budgets and limits: each environment's defaults (RPM, TPM, monthly budget,
//! maximum key age), the tenant-wide limits, and one key's own settings.

use actix_web::{HttpRequest, HttpResponse, web};
use airlock_core::class::DataClass;
use airlock_core::key::Env;
use airlock_core::money::MicroDollars;
use airlock_schema::entities::{env_default, relay_key};
use askama::Template;
use chrono::{NaiveTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::form::{
    class, count, dollars, list, optional_count, optional_date, optional_dollars, ticked,
};
use super::{
    FormError, Layout, SettingsPage, TenantForm, TenantPage, View, invalid_status, redirect,
    render, saved_notice,
};
use crate::error::ConsoleError;
use crate::state::ConsoleState;
use crate::tenant::limits::{self, EnvDefaultsInput, KeyLimits, KeyLimitsInput, TenantLimits};
use crate::tenant::{Change, Permission, keys};

/// Money as a form shows it again: dollars without the sign.
fn dollars_text(micros: Option<i64>) -> String {
    micros
        .map(|m| {
            MicroDollars::new(m)
                .to_string()
                .trim_start_matches('$')
                .to_owned()
        })
        .unwrap_or_default()
}

fn number_text(value: Option<i32>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

pub struct EnvDefaultsView {
    pub env: String,
    pub rpm: String,
    pub tpm: String,
    pub monthly_budget: String,
    pub max_key_age_days: String,
    pub enforce_max_age: bool,
}

impl From<env_default::Model> for EnvDefaultsView {
    fn from(row: env_default::Model) -> Self {
        EnvDefaultsView {
            rpm: row.rpm_limit.to_string(),
            tpm: number_text(row.tpm_limit),
            monthly_budget: dollars_text(Some(row.monthly_budget_micros)),
            max_key_age_days: row.max_key_age_days.to_string(),
            enforce_max_age: row.enforce_max_age,
            env: row.env.to_string(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/limits.html")]
pub(crate) struct LimitsPage {
    layout: Layout,
    envs: Vec<EnvDefaultsView>,
    tenant_rpm: String,
    tenant_tpm: String,
    tenant_budget: String,
    can_manage: bool,
    notice: Option<&'static str>,
    error: FormError,
}

impl SettingsPage for LimitsPage {
    type Typed = ();
    const PATH: &'static str = "limits";

    async fn show(
        state: &ConsoleState,
        page: &TenantPage,
        view: View<()>,
    ) -> Result<HttpResponse, ConsoleError> {
        let scope = &page.scope;
        let envs = limits::env_defaults(&state.store, scope).await?;
        let tenant = crate::tenant::current(state.db(), scope).await?;
        render(&LimitsPage {
            envs: envs.into_iter().map(EnvDefaultsView::from).collect(),
            tenant_rpm: number_text(tenant.rpm_limit),
            tenant_tpm: number_text(tenant.tpm_limit),
            tenant_budget: dollars_text(tenant.monthly_budget_micros),
            can_manage: scope.can(Permission::ManageBudgets),
            notice: view.notice,
            error: view.error,
            layout: page.layout(state).await?,
        })
    }
}

#[derive(Deserialize)]
pub struct EnvDefaultsForm {
    #[serde(default)]
    rpm: Option<String>,
    #[serde(default)]
    tpm: Option<String>,
    #[serde(default)]
    monthly_budget: Option<String>,
    #[serde(default)]
    max_key_age_days: Option<String>,
    #[serde(default)]
    enforce_max_age: Option<String>,
}

pub async fn save_env(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    path: web::Path<(String, String)>,
    post: TenantForm<EnvDefaultsForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (_, env) = path.into_inner();
    let TenantForm { page, form } = post;
    let env: Env = env.parse().map_err(|_| ConsoleError::NotFound)?;
    let saved = async {
        let input = EnvDefaultsInput {
            env,
            rpm: count(&form.rpm, "Requests per minute")?,
            tpm: optional_count(&form.tpm, "Tokens per minute")?,
            monthly_budget: dollars(&form.monthly_budget, "The monthly budget")?,
            max_key_age_days: count(&form.max_key_age_days, "The maximum key age")?,
            enforce_max_age: Some(super::form::ticked(&form.enforce_max_age)),
        };
        limits::save_env_defaults(&state.store, &page.scope, &page.actor(&req), input)
            .await
            .map(drop)
    }
    .await;
    super::save_or_redisplay::<LimitsPage>(&state, &page, env.as_str(), (), saved).await
}

#[derive(Deserialize)]
pub struct TenantLimitsForm {
    #[serde(default)]
    rpm: Option<String>,
    #[serde(default)]
    tpm: Option<String>,
    #[serde(default)]
    monthly_budget: Option<String>,
}

pub async fn save_tenant(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    post: TenantForm<TenantLimitsForm>,
) -> Result<HttpResponse, ConsoleError> {
    let TenantForm { page, form } = post;
    let saved = async {
        let input = TenantLimits {
            rpm: optional_count(&form.rpm, "Requests per minute")?,
            tpm: optional_count(&form.tpm, "Tokens per minute")?,
            monthly_budget: optional_dollars(&form.monthly_budget, "The monthly budget")?,
        };
        limits::save_tenant_limits(&state.store, &page.scope, &page.actor(&req), input)
            .await
            .map(drop)
    }
    .await;
    super::save_or_redisplay::<LimitsPage>(&state, &page, "tenant", (), saved).await
}

/// One key's settings as the form shows them.
pub struct KeyView {
    pub key: relay_key::Model,
    pub rpm: String,
    pub tpm: String,
    pub daily_budget: String,
    pub monthly_budget: String,
    pub per_request_cap: String,
    pub allowed_models: String,
    pub ip_allowlist: String,
    pub max_tokens_ceiling: String,
    pub expires_on: String,
}

impl From<relay_key::Model> for KeyView {
    fn from(key: relay_key::Model) -> Self {
        KeyView {
            rpm: number_text(key.rpm_limit),
            tpm: number_text(key.tpm_limit),
            daily_budget: dollars_text(key.daily_budget_micros),
            monthly_budget: dollars_text(key.monthly_budget_micros),
            per_request_cap: dollars_text(key.per_request_cap_micros),
            allowed_models: airlock_schema::json_strings(&key.allowed_models).join(", "),
            ip_allowlist: airlock_schema::json_strings(&key.ip_allowlist).join(", "),
            max_tokens_ceiling: number_text(key.max_tokens_ceiling),
            // The last day the key works (it stops at the start of the next).
            expires_on: key
                .expires_at
                .map(|t| (t - chrono::Duration::seconds(1)).date_naive().to_string())
                .unwrap_or_default(),
            key,
        }
    }
}

#[derive(Template)]
#[template(path = "console/key_settings.html")]
struct KeySettingsPage {
    layout: Layout,
    view: KeyView,
    classes: [&'static str; 4],
    can_manage: bool,
    notice: Option<&'static str>,
    error: FormError,
}

impl KeySettingsPage {
    fn max_class_is(&self, class: &str) -> bool {
        self.view.key.max_data_class.as_str() == class
    }

    fn default_class_is(&self, class: &str) -> bool {
        self.view.key.default_data_class.as_str() == class
    }
}

/// The key settings page: a settings page of its own, addressed by the key.
async fn show_key(
    state: &ConsoleState,
    page: &TenantPage,
    key_id: Uuid,
    notice: Option<&'static str>,
    error: FormError,
) -> Result<HttpResponse, ConsoleError> {
    let scope = &page.scope;
    let key = keys::get(&state.store, scope, key_id).await?;
    render(&KeySettingsPage {
        view: key.into(),
        classes: DataClass::ALL.map(DataClass::as_str),
        can_manage: scope.can(Permission::ManageBudgets),
        notice,
        error,
        layout: page.layout(state).await?,
    })
}

pub async fn key_page(
    state: web::Data<ConsoleState>,
    page: TenantPage,
    path: web::Path<(String, Uuid)>,
    query: web::Query<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let (_, key_id) = path.into_inner();
    show_key(
        &state,
        &page,
        key_id,
        saved_notice(&query),
        FormError::none(),
    )
    .await
}

#[derive(Deserialize)]
pub struct KeyLimitsForm {
    #[serde(default)]
    rpm: Option<String>,
    #[serde(default)]
    tpm: Option<String>,
    #[serde(default)]
    daily_budget: Option<String>,
    #[serde(default)]
    monthly_budget: Option<String>,
    #[serde(default)]
    per_request_cap: Option<String>,
    #[serde(default)]
    allowed_models: Option<String>,
    #[serde(default)]
    ip_allowlist: Option<String>,
    #[serde(default)]
    max_data_class: Option<String>,
    #[serde(default)]
    default_data_class: Option<String>,
    #[serde(default)]
    max_tokens_ceiling: Option<String>,
    #[serde(default)]
    reject_over_ceiling: Option<String>,
    #[serde(default)]
    expires_on: Option<String>,
}

impl KeyLimitsForm {
    /// Every field of the form is sent, so each one sets or clears its setting.
    fn parse(&self) -> Result<KeyLimits, ConsoleError> {
        let expires_at = match optional_date(&self.expires_on, "The expiry date")? {
            // The key works through the whole day it expires on.
            Some(day) => Change::Set(day.and_time(NaiveTime::MIN).and_utc() + chrono::Days::new(1)),
            None => Change::Clear,
        };
        if let Change::Set(at) = expires_at
            && at <= Utc::now()
        {
            return Err(ConsoleError::Invalid(
                "the expiry date is in the past; revoke the key instead".into(),
            ));
        }
        Ok(KeyLimits {
            rpm: optional_count(&self.rpm, "Requests per minute")?,
            tpm: optional_count(&self.tpm, "Tokens per minute")?,
            daily_budget: optional_dollars(&self.daily_budget, "The daily budget")?,
            monthly_budget: optional_dollars(&self.monthly_budget, "The monthly budget")?,
            per_request_cap: optional_dollars(&self.per_request_cap, "The per-request cap")?,
            ip_allowlist: Some(list(&self.ip_allowlist)),
            allowed_models: Some(list(&self.allowed_models)),
            max_data_class: Some(class(&self.max_data_class, "The highest data class")?),
            default_data_class: Some(class(&self.default_data_class, "The default data class")?),
            max_tokens_ceiling: optional_count(&self.max_tokens_ceiling, "The max_tokens ceiling")?,
            reject_over_ceiling: Some(ticked(&self.reject_over_ceiling)),
            expires_at,
        })
    }
}

pub async fn save_key(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    path: web::Path<(String, Uuid)>,
    post: TenantForm<KeyLimitsForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (_, key_id) = path.into_inner();
    let TenantForm { page, form } = post;
    let saved = async {
        let limits = form.parse()?;
        let input = KeyLimitsInput { key_id, limits };
        limits::save_key_limits(&state.store, &page.scope, &page.actor(&req), input)
            .await
            .map(drop)
    }
    .await;
    match saved {
        Ok(()) => Ok(redirect(&format!(
            "/t/{}/keys/{key_id}?saved=1",
            page.slug()
        ))),
        Err(ConsoleError::Invalid(message)) => {
            let mut response = show_key(
                &state,
                &page,
                key_id,
                None,
                FormError::on_form("key", message),
            )
            .await?;
            invalid_status(&mut response);
            Ok(response)
        }
        Err(other) => Err(other),
    }
}
