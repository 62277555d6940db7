//! Budgets, providers and routes, agreements and policies over the API.

use actix_web::{HttpRequest, HttpResponse, web};
use airlock_core::class::DataClass;
use airlock_core::key::Env;
use airlock_core::policy::JudgeSettings;
use airlock_schema::entities::{env_default, model_route, tenant};
use chrono::{NaiveDate, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ApiCaller, ApiError, ErrorBody, micros, ok};
use crate::error::ConsoleError;
use crate::state::ConsoleState;
use crate::tenant::agreements::{self, NewAgreement};
use crate::tenant::limits::{self, EnvDefaultsInput};
use crate::tenant::policies::{self, NewPolicy};
use crate::tenant::prices::{self, NewPrice};
use crate::tenant::providers::{self, NewRoute, ProviderInput, ProviderRow};

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError(ConsoleError::Invalid(message.into()))
}

// --- budgets ----------------------------------------------------------------

#[derive(Serialize, utoipa::ToSchema)]
pub struct EnvBudget {
    pub env: String,
    pub rpm_limit: i32,
    pub tpm_limit: Option<i32>,
    pub monthly_budget_micros: i64,
    pub max_key_age_days: i32,
    /// No key is made or extended past `max_key_age_days`.
    pub enforce_max_age: bool,
}

impl From<env_default::Model> for EnvBudget {
    fn from(row: env_default::Model) -> Self {
        EnvBudget {
            env: row.env.to_string(),
            rpm_limit: row.rpm_limit,
            tpm_limit: row.tpm_limit,
            monthly_budget_micros: row.monthly_budget_micros,
            max_key_age_days: row.max_key_age_days,
            enforce_max_age: row.enforce_max_age,
        }
    }
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct TenantLimits {
    pub rpm_limit: Option<u32>,
    pub tpm_limit: Option<u32>,
    pub monthly_budget_micros: Option<i64>,
}

impl From<&tenant::Model> for TenantLimits {
    fn from(row: &tenant::Model) -> Self {
        TenantLimits {
            rpm_limit: row.rpm_limit.and_then(|v| u32::try_from(v).ok()),
            tpm_limit: row.tpm_limit.and_then(|v| u32::try_from(v).ok()),
            monthly_budget_micros: row.monthly_budget_micros,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Budgets {
    pub environments: Vec<EnvBudget>,
    pub tenant: TenantLimits,
}

/// Each environment's defaults and the tenant-wide limits.
#[utoipa::path(get, path = "/api/v1/tenants/{slug}/budgets", tag = "budgets",
    params(("slug" = String, Path)),
    responses((status = 200, body = Budgets), (status = 403, body = ErrorBody)))]
pub async fn budgets(
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.scope(&state, &slug).await?;
    let environments = limits::env_defaults(&state.store, &scope)
        .await?
        .into_iter()
        .map(EnvBudget::from)
        .collect();
    ok(&Budgets {
        environments,
        tenant: (&crate::tenant::current(state.db(), &scope).await?).into(),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct EnvBudgetBody {
    pub rpm_limit: u32,
    /// Null or left out: no tokens-per-minute default.
    pub tpm_limit: Option<u32>,
    pub monthly_budget_micros: i64,
    pub max_key_age_days: u32,
    /// Left out: unchanged.
    #[serde(default)]
    pub enforce_max_age: Option<bool>,
}

/// Sets an environment's defaults.
#[utoipa::path(put, path = "/api/v1/tenants/{slug}/budgets/{env}", tag = "budgets",
    params(("slug" = String, Path), ("env" = String, Path, description = "dev, stg, prod or ci")),
    request_body = EnvBudgetBody,
    responses((status = 200, body = EnvBudget), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn set_env_budget(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
    body: web::Json<EnvBudgetBody>,
) -> Result<HttpResponse, ApiError> {
    let (slug, env) = path.into_inner();
    let scope = caller.scope(&state, &slug).await?;
    let env: Env = env.parse().map_err(|_| ApiError(ConsoleError::NotFound))?;
    let input = EnvDefaultsInput {
        env,
        rpm: body.rpm_limit,
        tpm: body.tpm_limit.into(),
        monthly_budget: micros(body.monthly_budget_micros, "monthly_budget_micros")?,
        max_key_age_days: body.max_key_age_days,
        enforce_max_age: body.enforce_max_age,
    };
    let row = limits::save_env_defaults(&state.store, &scope, &caller.actor(&req), input).await?;
    ok(&EnvBudget::from(row))
}

/// Sets the tenant-wide limits; a field left out (or null) means no limit.
#[utoipa::path(put, path = "/api/v1/tenants/{slug}/limits", tag = "budgets",
    params(("slug" = String, Path)), request_body = TenantLimits,
    responses((status = 200, body = TenantLimits), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn set_tenant_limits(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    slug: web::Path<String>,
    body: web::Json<TenantLimits>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.scope(&state, &slug).await?;
    let budget = body
        .monthly_budget_micros
        .map(|v| micros(v, "monthly_budget_micros"))
        .transpose()?;
    let input = limits::TenantLimits {
        rpm: body.rpm_limit.into(),
        tpm: body.tpm_limit.into(),
        monthly_budget: budget.into(),
    };
    let row = limits::save_tenant_limits(&state.store, &scope, &caller.actor(&req), input).await?;
    ok(&TenantLimits::from(&row))
}

// --- providers and routes ---------------------------------------------------

#[derive(Serialize, utoipa::ToSchema)]
pub struct ProviderView {
    pub name: String,
    pub kind: String,
    pub base_url: Option<String>,
    /// The last 4 characters of the credential; the credential itself is never returned.
    pub last4: Option<String>,
    pub self_hosted: bool,
    pub is_default: bool,
}

impl From<ProviderRow> for ProviderView {
    fn from(p: ProviderRow) -> Self {
        ProviderView {
            name: p.name,
            kind: p.kind.as_str().to_owned(),
            base_url: p.base_url,
            last4: p.last4,
            self_hosted: p.self_hosted,
            is_default: p.is_default,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RouteView {
    pub id: Uuid,
    pub model: String,
    pub provider: String,
    pub upstream_model: Option<String>,
}

impl From<model_route::Model> for RouteView {
    fn from(row: model_route::Model) -> Self {
        RouteView {
            id: row.id,
            model: row.model,
            provider: row.provider_name,
            upstream_model: row.upstream_model,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Providers {
    pub providers: Vec<ProviderView>,
    pub routes: Vec<RouteView>,
}

/// The tenant's providers (by the last 4 characters of their credential) and model routes.
#[utoipa::path(get, path = "/api/v1/tenants/{slug}/providers", tag = "providers",
    params(("slug" = String, Path)),
    responses((status = 200, body = Providers), (status = 403, body = ErrorBody)))]
pub async fn providers(
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.scope(&state, &slug).await?;
    let providers = providers::list(&state.store, &scope)
        .await?
        .into_iter()
        .map(ProviderView::from)
        .collect();
    let routes = providers::routes(&state.store, &scope)
        .await?
        .into_iter()
        .map(RouteView::from)
        .collect();
    ok(&Providers { providers, routes })
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ProviderBody {
    /// openai (also OpenAI-compatible endpoints), anthropic, gemini or mock.
    pub kind: String,
    pub base_url: Option<String>,
    /// Stored encrypted; required except for mock.
    pub api_key: Option<String>,
}

/// Adds a provider, or replaces its credential (rotation).
#[utoipa::path(put, path = "/api/v1/tenants/{slug}/providers/{name}", tag = "providers",
    params(("slug" = String, Path), ("name" = String, Path)), request_body = ProviderBody,
    responses((status = 200, body = ProviderView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn set_provider(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
    body: web::Json<ProviderBody>,
) -> Result<HttpResponse, ApiError> {
    let (slug, name) = path.into_inner();
    let scope = caller.scope(&state, &slug).await?;
    let body = body.into_inner();
    let kind = airlock_core::provider::ProviderKind::parse(body.kind.trim())
        .ok_or_else(|| invalid("kind is one of openai, anthropic, gemini or mock"))?;
    let input = ProviderInput {
        master_keys: &state.master_keys,
        egress: &state.settings.egress,
        name,
        kind,
        base_url: body.base_url.filter(|u| !u.trim().is_empty()),
        api_key: body
            .api_key
            .filter(|k| !k.trim().is_empty())
            .map(SecretString::from),
    };
    let saved = providers::save(&state.store, &scope, &caller.actor(&req), input).await?;
    ok(&ProviderView::from(saved))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RouteBody {
    pub model: String,
    pub provider: String,
    pub upstream_model: Option<String>,
}

/// Sends a model to a provider (replacing that model's route, if any).
#[utoipa::path(post, path = "/api/v1/tenants/{slug}/routes", tag = "providers",
    params(("slug" = String, Path)), request_body = RouteBody,
    responses((status = 200, body = RouteView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn add_route(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    slug: web::Path<String>,
    body: web::Json<RouteBody>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.scope(&state, &slug).await?;
    let body = body.into_inner();
    let route = NewRoute {
        model: body.model,
        provider: body.provider,
        upstream_model: body.upstream_model,
    };
    let row = providers::save_route(&state.store, &scope, &caller.actor(&req), route).await?;
    ok(&RouteView::from(row))
}

/// Removes a route; the model then goes to the default provider.
#[utoipa::path(delete, path = "/api/v1/tenants/{slug}/routes/{route_id}", tag = "providers",
    params(("slug" = String, Path), ("route_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn remove_route(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, route_id) = path.into_inner();
    let scope = caller.scope(&state, &slug).await?;
    providers::remove_route(&state.store, &scope, &caller.actor(&req), route_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

// --- agreements ---------------------------------------------------------------

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgreementBody {
    pub dpa_signed_on: Option<NaiveDate>,
    pub dpa_reference: Option<String>,
    #[serde(default)]
    pub baa: bool,
    #[serde(default)]
    pub zero_data_retention: bool,
    #[serde(default)]
    pub training_opt_out: bool,
    pub region: Option<String>,
    pub expires_on: Option<NaiveDate>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AgreementView {
    pub provider: String,
    #[serde(flatten)]
    pub terms: AgreementBody,
    /// current, expiring (within 30 days) or expired.
    pub standing: String,
}

/// What is on file with each provider.
#[utoipa::path(get, path = "/api/v1/tenants/{slug}/agreements", tag = "agreements",
    params(("slug" = String, Path)),
    responses((status = 200, body = Vec<AgreementView>), (status = 403, body = ErrorBody)))]
pub async fn agreements(
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.scope(&state, &slug).await?;
    let rows = agreements::list(&state.store, &scope, Utc::now().date_naive()).await?;
    let views: Vec<AgreementView> = rows
        .into_iter()
        .map(|row| {
            let a = row.agreement;
            AgreementView {
                provider: a.provider_name,
                terms: AgreementBody {
                    dpa_signed_on: a.dpa_signed_on,
                    dpa_reference: a.dpa_reference,
                    baa: a.baa,
                    zero_data_retention: a.zero_data_retention,
                    training_opt_out: a.training_opt_out,
                    region: a.region,
                    expires_on: a.expires_on,
                },
                standing: row.standing.as_str().to_owned(),
            }
        })
        .collect();
    ok(&views)
}

/// Records (or replaces) the agreement with a provider.
#[utoipa::path(put, path = "/api/v1/tenants/{slug}/agreements/{provider}", tag = "agreements",
    params(("slug" = String, Path), ("provider" = String, Path)), request_body = AgreementBody,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn set_agreement(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
    body: web::Json<AgreementBody>,
) -> Result<HttpResponse, ApiError> {
    let (slug, provider) = path.into_inner();
    let scope = caller.scope(&state, &slug).await?;
    let body = body.into_inner();
    agreements::save(
        &state.store,
        &scope,
        &caller.actor(&req),
        NewAgreement {
            provider,
            dpa_signed_on: body.dpa_signed_on,
            dpa_reference: body.dpa_reference,
            baa: body.baa,
            zero_data_retention: body.zero_data_retention,
            training_opt_out: body.training_opt_out,
            region: body.region,
            expires_on: body.expires_on,
        },
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

// --- policies -------------------------------------------------------------------

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyBody {
    /// Provider names; empty allows any provider that meets the requirements.
    #[serde(default)]
    pub allowed_providers: Vec<String>,
    #[serde(default)]
    pub require_dpa: bool,
    #[serde(default)]
    pub require_zdr: bool,
    #[serde(default)]
    pub require_baa: bool,
    /// allow, redact or block.
    pub pii: String,
    /// allow, redact or block.
    pub secrets: String,
    /// off, flag, block or judge.
    pub injection: String,
    /// The judge asked about uncertain requests; required for `injection = judge`.
    #[serde(default)]
    pub judge: Option<JudgeBody>,
    /// off, flag or block.
    pub output: String,
    #[serde(default)]
    pub block_code: bool,
}

/// A class's injection judge: a model of one of the tenant's providers.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JudgeBody {
    /// The name of one of the tenant's providers.
    pub provider: String,
    pub model: String,
    /// 100 to 30000; 2000 when left out.
    #[serde(default = "default_judge_timeout")]
    pub timeout_ms: u32,
    /// `closed` (refuse the request) or `open` (let it through, flagged) when the
    /// judge does not answer in time; there is no default.
    pub on_failure: String,
}

fn default_judge_timeout() -> u32 {
    JudgeSettings::DEFAULT_TIMEOUT_MS
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PolicyView {
    pub class: String,
    #[serde(flatten)]
    pub policy: PolicyBody,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PreviewCell {
    pub class: String,
    pub allowed: bool,
    /// What stands in the way when not allowed.
    pub blocked_by: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PreviewRow {
    pub provider: String,
    pub classes: Vec<PreviewCell>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Policies {
    pub policies: Vec<PolicyView>,
    /// Which provider may receive which class today.
    pub preview: Vec<PreviewRow>,
}

/// Each class's policy and the preview of who may receive what today.
#[utoipa::path(get, path = "/api/v1/tenants/{slug}/policies", tag = "policies",
    params(("slug" = String, Path)),
    responses((status = 200, body = Policies), (status = 403, body = ErrorBody)))]
pub async fn policies(
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.scope(&state, &slug).await?;
    let policies = policies::list(&state.store, &scope)
        .await?
        .into_iter()
        .map(|(class, p)| PolicyView {
            class: class.as_str().to_owned(),
            policy: PolicyBody {
                allowed_providers: p.allowed_providers,
                require_dpa: p.require_dpa,
                require_zdr: p.require_zdr,
                require_baa: p.require_baa,
                pii: p.redaction.pii.as_str().to_owned(),
                secrets: p.redaction.secrets.as_str().to_owned(),
                injection: p.injection.as_str().to_owned(),
                judge: p.judge.map(|j| JudgeBody {
                    provider: j.provider,
                    model: j.model,
                    timeout_ms: j.timeout_ms,
                    on_failure: j.on_failure.as_str().to_owned(),
                }),
                output: p.output.as_str().to_owned(),
                block_code: p.block_code,
            },
        })
        .collect();
    let preview = policies::preview(&state.store, &scope, Utc::now().date_naive())
        .await?
        .into_iter()
        .map(|row| PreviewRow {
            provider: row.provider,
            classes: row
                .cells
                .into_iter()
                .map(|c| PreviewCell {
                    class: c.class.to_owned(),
                    allowed: c.blocked.is_none(),
                    blocked_by: c.blocked,
                })
                .collect(),
        })
        .collect();
    ok(&Policies { policies, preview })
}

/// Sets a class's policy.
#[utoipa::path(put, path = "/api/v1/tenants/{slug}/policies/{class}", tag = "policies",
    params(("slug" = String, Path), ("class" = String, Path, description = "public, internal, confidential or restricted")),
    request_body = PolicyBody,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn set_policy(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
    body: web::Json<PolicyBody>,
) -> Result<HttpResponse, ApiError> {
    let (slug, class) = path.into_inner();
    let scope = caller.scope(&state, &slug).await?;
    let class: DataClass = class
        .parse()
        .map_err(|_| ApiError(ConsoleError::NotFound))?;
    let body = body.into_inner();
    let word = |e: airlock_core::policy::UnknownAction| invalid(e.to_string());
    let policy = NewPolicy {
        class,
        allowed_providers: body.allowed_providers,
        require_dpa: body.require_dpa,
        require_zdr: body.require_zdr,
        require_baa: body.require_baa,
        pii: body.pii.parse().map_err(word)?,
        secrets: body.secrets.parse().map_err(word)?,
        injection: body.injection.parse().map_err(word)?,
        judge: match body.judge {
            Some(j) => Some(JudgeSettings {
                provider: j.provider,
                model: j.model,
                timeout_ms: j.timeout_ms,
                on_failure: j.on_failure.parse().map_err(word)?,
            }),
            None => None,
        },
        output: body.output.parse().map_err(word)?,
        block_code: body.block_code,
    };
    policies::save(&state.store, &scope, &caller.actor(&req), policy).await?;
    Ok(HttpResponse::NoContent().finish())
}

// --- prices -----------------------------------------------------------------------

#[derive(Serialize, utoipa::ToSchema)]
pub struct PriceView {
    pub model: String,
    pub input_per_mtok_micros: i64,
    pub output_per_mtok_micros: i64,
    pub aliases: Vec<String>,
    /// `tenant` (this tenant's own, which wins) or `list`.
    pub source: String,
    /// A list price the tenant's own price replaces.
    pub overridden: bool,
}

/// Every price that applies to the tenant: its own and the list prices.
#[utoipa::path(get, path = "/api/v1/tenants/{slug}/prices", tag = "prices",
    params(("slug" = String, Path)),
    responses((status = 200, body = Vec<PriceView>), (status = 404, body = ErrorBody)))]
pub async fn prices(
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    slug: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.scope(&state, &slug).await?;
    let views: Vec<PriceView> = prices::list(&state.store, &scope)
        .await?
        .into_iter()
        .map(|p| PriceView {
            model: p.model,
            input_per_mtok_micros: p.input_per_mtok.as_micros(),
            output_per_mtok_micros: p.output_per_mtok.as_micros(),
            aliases: p.aliases,
            source: if p.own { "tenant" } else { "list" }.to_owned(),
            overridden: p.overridden,
        })
        .collect();
    ok(&views)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PriceBody {
    pub input_per_mtok_micros: i64,
    pub output_per_mtok_micros: i64,
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// Sets the tenant's own price for a model (owners, admins and finance).
#[utoipa::path(put, path = "/api/v1/tenants/{slug}/prices/{model}", tag = "prices",
    params(("slug" = String, Path), ("model" = String, Path)), request_body = PriceBody,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn set_price(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
    body: web::Json<PriceBody>,
) -> Result<HttpResponse, ApiError> {
    let (slug, model) = path.into_inner();
    let scope = caller.scope(&state, &slug).await?;
    let body = body.into_inner();
    let new = NewPrice {
        model,
        input_per_mtok: micros(body.input_per_mtok_micros, "input_per_mtok_micros")?,
        output_per_mtok: micros(body.output_per_mtok_micros, "output_per_mtok_micros")?,
        aliases: body.aliases,
    };
    prices::save(&state.store, &scope, &caller.actor(&req), new).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes the tenant's own price for a model.
#[utoipa::path(delete, path = "/api/v1/tenants/{slug}/prices/{model}", tag = "prices",
    params(("slug" = String, Path), ("model" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_price(
    req: HttpRequest,
    state: web::Data<ConsoleState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, model) = path.into_inner();
    let scope = caller.scope(&state, &slug).await?;
    prices::remove(&state.store, &scope, &caller.actor(&req), &model).await?;
    Ok(HttpResponse::NoContent().finish())
}
