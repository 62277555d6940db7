//! Providers: credentials (shown by their last 4 characters only), replacing
//! them, base URLs, the default provider, the self-hosted mark, model routes,
//! where each model goes (the effective routes) and a route tester.

use actix_web::{HttpRequest, HttpResponse, web};
use airlock_core::provider::ProviderKind;
use airlock_schema::entities::model_route;
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;
use uuid::Uuid;

use super::form::{text, ticked};
use super::{
    FormError, Layout, SettingsPage, TenantForm, TenantPage, View, redirect, render,
    save_or_redisplay,
};
use crate::error::ConsoleError;
use crate::state::ConsoleState;
use crate::tenant::Permission;
use crate::tenant::providers::{self, NewRoute, ProviderInput, ProviderRow, SelfHosted};
use crate::tenant::routing::{self, EffectiveRoute, TenantRouting};

#[derive(Template)]
#[template(path = "console/providers.html")]
pub(crate) struct ProvidersPage {
    layout: Layout,
    providers: Vec<ProviderRow>,
    routes: Vec<model_route::Model>,
    /// Where each model the tenant routes, allows or used goes, and why.
    effective: Vec<EffectiveRoute>,
    /// The route tester's answer, for the name typed.
    tested: Option<EffectiveRoute>,
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

impl SettingsPage for ProvidersPage {
    type Typed = ProviderForm;
    const PATH: &'static str = "providers";

    async fn show(
        state: &ConsoleState,
        page: &TenantPage,
        view: View<ProviderForm>,
    ) -> Result<HttpResponse, ConsoleError> {
        show_with_test(state, page, view, None).await
    }
}

/// The providers page, with the route tester's answer for `test_model`.
async fn show_with_test(
    state: &ConsoleState,
    page: &TenantPage,
    view: View<ProviderForm>,
    test_model: Option<&str>,
) -> Result<HttpResponse, ConsoleError> {
    let scope = &page.scope;
    let routing = TenantRouting::load(&state.store, scope).await?;
    render(&ProvidersPage {
        effective: routing::effective_routes(&state.store, scope, &routing).await?,
        tested: test_model.map(|model| routing.resolve(model)),
        providers: providers::list(&state.store, scope).await?,
        routes: providers::routes(&state.store, scope).await?,
        can_manage: scope.can(Permission::ManageProviders),
        notice: view.notice,
        error: view.error,
        typed: ProviderForm {
            api_key: None,
            ..view.typed
        },
        layout: page.layout(state).await?,
    })
}

#[derive(Deserialize)]
pub struct RouteTest {
    #[serde(default)]
    model: Option<String>,
}

/// The route tester: the providers page with where the typed model goes.
pub async fn test_route(
    state: web::Data<ConsoleState>,
    page: TenantPage,
    query: web::Query<RouteTest>,
) -> Result<HttpResponse, ConsoleError> {
    let model = text(&query.model).map(|m| m.chars().take(200).collect::<String>());
    let view = View {
        notice: None,
        error: FormError::none(),
        typed: ProviderForm::default(),
    };
    show_with_test(&state, &page, view, model.as_deref()).await
}

pub async fn save(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    post: TenantForm<ProviderForm>,
) -> Result<HttpResponse, ConsoleError> {
    let TenantForm { page, form } = post;
    let saved = async {
        let kind = text(&form.kind)
            .and_then(ProviderKind::parse)
            .ok_or_else(|| {
                ConsoleError::Invalid("the kind is one of openai, anthropic, gemini or mock".into())
            })?;
        let input = ProviderInput {
            master_keys: &state.master_keys,
            egress: &state.settings.egress,
            name: text(&form.name).unwrap_or_default().to_owned(),
            kind,
            base_url: text(&form.base_url).map(str::to_owned),
            api_key: text(&form.api_key).map(|k| SecretString::from(k.to_owned())),
        };
        providers::save(&state.store, &page.scope, &page.actor(&req), input)
            .await
            .map(drop)
    }
    .await;
    save_or_redisplay::<ProvidersPage>(&state, &page, "provider", form, saved).await
}

#[derive(Deserialize)]
pub struct DefaultForm {
    #[serde(default)]
    provider: Option<String>,
}

pub async fn set_default(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    post: TenantForm<DefaultForm>,
) -> Result<HttpResponse, ConsoleError> {
    let TenantForm { page, form } = post;
    let name = text(&form.provider).unwrap_or_default();
    let saved = providers::set_default(&state.store, &page.scope, &page.actor(&req), name).await;
    save_or_redisplay::<ProvidersPage>(&state, &page, "default", ProviderForm::default(), saved)
        .await
}

#[derive(Deserialize)]
pub struct SelfHostedForm {
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    self_hosted: Option<String>,
}

pub async fn set_self_hosted(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    post: TenantForm<SelfHostedForm>,
) -> Result<HttpResponse, ConsoleError> {
    let TenantForm { page, form } = post;
    let mark = SelfHosted {
        provider: text(&form.provider).unwrap_or_default().to_owned(),
        self_hosted: ticked(&form.self_hosted),
    };
    let saved =
        providers::set_self_hosted(&state.store, &page.scope, &page.actor(&req), mark).await;
    save_or_redisplay::<ProvidersPage>(&state, &page, "self-hosted", ProviderForm::default(), saved)
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
    post: TenantForm<RouteForm>,
) -> Result<HttpResponse, ConsoleError> {
    let TenantForm { page, form } = post;
    let route = NewRoute {
        model: text(&form.model).unwrap_or_default().to_owned(),
        provider: text(&form.provider).unwrap_or_default().to_owned(),
        upstream_model: text(&form.upstream_model).map(str::to_owned),
    };
    let saved = providers::save_route(&state.store, &page.scope, &page.actor(&req), route)
        .await
        .map(drop);
    save_or_redisplay::<ProvidersPage>(&state, &page, "route", ProviderForm::default(), saved).await
}

pub async fn remove_route(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    path: web::Path<(String, Uuid)>,
    post: TenantForm<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let (_, route_id) = path.into_inner();
    let page = post.page;
    providers::remove_route(&state.store, &page.scope, &page.actor(&req), route_id).await?;
    Ok(redirect(&format!(
        "/t/{}/providers?done=route-removed",
        page.slug()
    )))
}
