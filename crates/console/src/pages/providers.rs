//! Providers: credentials (shown by their last 4 characters only), replacing
//! them, base URLs, the default provider and model routes.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use airlock_schema::entities::model_route;
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;
use uuid::Uuid;

use super::form::text;
use super::{FormError, Layout, actor, or_show_error, redirect, render, saved_notice};
use crate::auth::{Checked, CurrentUser};
use crate::error::ConsoleError;
use crate::scope::{Permission, TenantScope};
use crate::state::ConsoleState;
use crate::tenant_config::{self, ProviderInput, ProviderRow};

#[derive(Template)]
#[template(path = "console/providers.html")]
struct ProvidersPage {
    layout: Layout,
    providers: Vec<ProviderRow>,
    routes: Vec<model_route::Model>,
    can_manage: bool,
    notice: Option<&'static str>,
    error: FormError,
    /// What was typed into the provider form (never the key), to show again.
    typed: ProviderForm,
}

/// The kinds of provider, as the form offers them.
const KINDS: &[(&str, &str)] = &[
    ("openai", "OpenAI or OpenAI-compatible"),
    ("anthropic", "Anthropic"),
    ("gemini", "Google Gemini"),
    ("mock", "Mock (built-in, for tests)"),
];

impl ProvidersPage {
    fn kind_selected(&self, kind: &str) -> bool {
        self.typed.kind.as_deref() == Some(kind)
    }
}

#[derive(Deserialize, Default)]
pub struct ProviderForm {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    api_key: Option<String>,
}

async fn show(
    state: &ConsoleState,
    user: &CurrentUser,
    scope: &TenantScope,
    notice: Option<&'static str>,
    error: FormError,
    typed: ProviderForm,
) -> Result<HttpResponse, ConsoleError> {
    render(&ProvidersPage {
        providers: tenant_config::list_providers(&state.db, scope).await?,
        routes: tenant_config::list_routes(&state.db, scope).await?,
        can_manage: scope.can(Permission::ManageProviders),
        notice,
        error,
        typed: ProviderForm {
            api_key: None,
            ..typed
        },
        layout: Layout::new(&state.db, user, Some(scope)).await?,
    })
}

fn back(scope: &TenantScope) -> HttpResponse {
    redirect(&format!("/t/{}/providers?saved=1", scope.tenant().slug))
}

pub async fn list(
    state: web::Data<ConsoleState>,
    user: CurrentUser,
    slug: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let scope = TenantScope::check(&state.db, &user, &slug).await?;
    show(
        &state,
        &user,
        &scope,
        saved_notice(&query),
        FormError::none(),
        ProviderForm::default(),
    )
    .await
}

pub async fn save(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    slug: web::Path<String>,
    checked: Checked<ProviderForm>,
) -> Result<HttpResponse, ConsoleError> {
    let Checked { user, form } = checked;
    let scope = TenantScope::check(&state.db, &user, &slug).await?;
    let input = ProviderInput {
        name: text(&form.name).unwrap_or_default().to_owned(),
        kind: text(&form.kind).unwrap_or_default().to_owned(),
        base_url: text(&form.base_url).map(str::to_owned),
        api_key: text(&form.api_key).map(|k| SecretString::from(k.to_owned())),
    };
    let result = tenant_config::save_provider(&state, &scope, &actor(&req, &user), input)
        .await
        .map(|_| back(&scope));
    or_show_error(result, |message| {
        show(
            &state,
            &user,
            &scope,
            None,
            FormError::on_form("provider", message),
            form,
        )
    })
    .await
}

#[derive(Deserialize)]
pub struct DefaultForm {
    #[serde(default)]
    provider: Option<String>,
}

pub async fn set_default(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    slug: web::Path<String>,
    checked: Checked<DefaultForm>,
) -> Result<HttpResponse, ConsoleError> {
    let Checked { user, form } = checked;
    let scope = TenantScope::check(&state.db, &user, &slug).await?;
    let name = text(&form.provider).unwrap_or_default();
    let result = tenant_config::set_default_provider(&state, &scope, &actor(&req, &user), name)
        .await
        .map(|()| back(&scope));
    or_show_error(result, |message| {
        show(
            &state,
            &user,
            &scope,
            None,
            FormError::on_form("default", message),
            ProviderForm::default(),
        )
    })
    .await
}

#[derive(Deserialize)]
pub struct RouteForm {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    upstream_model: Option<String>,
}

pub async fn save_route(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    slug: web::Path<String>,
    checked: Checked<RouteForm>,
) -> Result<HttpResponse, ConsoleError> {
    let Checked { user, form } = checked;
    let scope = TenantScope::check(&state.db, &user, &slug).await?;
    let result = tenant_config::save_route(
        &state,
        &scope,
        &actor(&req, &user),
        text(&form.model).unwrap_or_default(),
        text(&form.provider).unwrap_or_default(),
        text(&form.upstream_model),
    )
    .await
    .map(|_| back(&scope));
    or_show_error(result, |message| {
        show(
            &state,
            &user,
            &scope,
            None,
            FormError::on_form("route", message),
            ProviderForm::default(),
        )
    })
    .await
}

pub async fn remove_route(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    path: web::Path<(String, Uuid)>,
    checked: Checked<HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let (slug, route_id) = path.into_inner();
    let user = checked.user;
    let scope = TenantScope::check(&state.db, &user, &slug).await?;
    tenant_config::remove_route(&state, &scope, &actor(&req, &user), route_id).await?;
    Ok(back(&scope))
}
