//! The management API: JSON under `/api/v1`, covering what the pages do (keys,
//! budgets, providers, agreements, policies, members, usage, billing).
//!
//! Callers authenticate with a personal API token (`Authorization: Bearer
//! alk_…`), made on the console's account page; a token acts as its user, with
//! that user's role in each tenant, through the same [`TenantScope`] and the same
//! scoped operations as the pages. The session cookie is not accepted here, so
//! the API needs no CSRF token. Errors have the relay's shape and codes:
//! `{"error": {"message", "type", "param", "code"}}`. The OpenAPI document is
//! generated from these handlers (utoipa) and served at `/api/openapi.json`.

pub mod billing;
pub mod keys;
pub mod people;
pub mod settings;
pub mod stripe_webhook;
pub mod usage;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use airlock_schema::entities::user;
use serde::Serialize;
use utoipa::OpenApi;

use crate::error::ConsoleError;
use crate::state::ConsoleState;
use crate::tenant::{Actor, TenantScope};

/// Largest JSON body the API reads.
const MAX_JSON_BYTES: usize = 64 * 1024;

/// An error as the API answers it.
#[derive(Debug)]
pub struct ApiError(pub ConsoleError);

impl From<ConsoleError> for ApiError {
    fn from(e: ConsoleError) -> Self {
        ApiError(e)
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        ApiError(e.into())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The error body, for the OpenAPI document.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub param: Option<String>,
    /// Stable: `invalid_api_key`, `forbidden`, `not_found`, `invalid_request`,
    /// `rate_limit_exceeded`, `internal_error`.
    pub code: String,
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self.0 {
            ConsoleError::SignedOut => "invalid_api_key",
            ref other => other.code(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let kind = match status.as_u16() {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            400 => "invalid_request_error",
            429 => "rate_limit_error",
            _ => "api_error",
        };
        let message = match self.0 {
            ConsoleError::SignedOut => {
                "a valid API token is required: Authorization: Bearer alk_…".to_owned()
            }
            ref other => other.to_string(),
        };
        let mut response = HttpResponse::build(status);
        response.insert_header(("x-airlock-error-code", self.code()));
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header(("www-authenticate", "Bearer"));
        }
        response.json(ErrorBody {
            error: ErrorDetail {
                message,
                kind: kind.to_owned(),
                param: match self.0 {
                    ConsoleError::InvalidParam(param, _) => Some(param.to_owned()),
                    _ => None,
                },
                code: self.code().to_owned(),
            },
        })
    }
}

/// The API token's holder.
pub struct ApiCaller {
    pub user: user::Model,
    /// The token's display prefix, for the audit log.
    pub token_prefix: String,
}

impl FromRequest for ApiCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<ConsoleState>>()
                .ok_or_else(|| ConsoleError::internal("the console state is not registered"))?
                .clone();
            let presented = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or(ConsoleError::SignedOut)?;
            let (user, token) = crate::api_tokens::authenticate(state.db(), presented).await?;
            Ok(ApiCaller {
                user,
                token_prefix: token.display_prefix,
            })
        })
    }
}

impl ApiCaller {
    /// The caller's membership in the tenant (404 when not a member).
    pub async fn scope(&self, state: &ConsoleState, slug: &str) -> Result<TenantScope, ApiError> {
        Ok(TenantScope::check(state.db(), &self.user, slug).await?)
    }

    pub fn actor(&self, req: &HttpRequest) -> Actor {
        Actor::api(
            &self.user,
            &self.token_prefix,
            req.peer_addr().map(|a| a.ip().to_string()),
        )
    }
}

/// Declares the API's routes once, like the console's: the registration and
/// [`API_ROUTES`] (which the isolation sweep and the OpenAPI test enumerate).
macro_rules! api_routes {
    ($($method:ident $path:literal => $handler:path),* $(,)?) => {
        /// Every API route as (method, path pattern).
        pub const API_ROUTES: &[(&str, &str)] = &[$((stringify!($method), concat!("/api", $path))),*];

        /// The routes inside the `/api` scope.
        fn register_routes(cfg: &mut web::ServiceConfig) {
            $(cfg.route($path, web::$method().to($handler));)*
        }
    };
}

api_routes! {
    get "/v1/tenants" => people::tenants,
    get "/v1/tenants/{slug}/keys" => keys::list,
    post "/v1/tenants/{slug}/keys" => keys::create,
    post "/v1/tenants/{slug}/keys/{key_id}/revoke" => keys::revoke,
    post "/v1/tenants/{slug}/keys/{key_id}/rotate" => keys::rotate,
    put "/v1/tenants/{slug}/keys/{key_id}/limits" => keys::set_limits,
    get "/v1/tenants/{slug}/budgets" => settings::budgets,
    put "/v1/tenants/{slug}/budgets/{env}" => settings::set_env_budget,
    put "/v1/tenants/{slug}/limits" => settings::set_tenant_limits,
    get "/v1/tenants/{slug}/providers" => settings::providers,
    put "/v1/tenants/{slug}/providers/{name}" => settings::set_provider,
    post "/v1/tenants/{slug}/routes" => settings::add_route,
    delete "/v1/tenants/{slug}/routes/{route_id}" => settings::remove_route,
    get "/v1/tenants/{slug}/agreements" => settings::agreements,
    put "/v1/tenants/{slug}/agreements/{provider}" => settings::set_agreement,
    get "/v1/tenants/{slug}/policies" => settings::policies,
    put "/v1/tenants/{slug}/policies/{class}" => settings::set_policy,
    get "/v1/tenants/{slug}/prices" => settings::prices,
    put "/v1/tenants/{slug}/prices/{model}" => settings::set_price,
    delete "/v1/tenants/{slug}/prices/{model}" => settings::remove_price,
    get "/v1/tenants/{slug}/members" => people::members,
    put "/v1/tenants/{slug}/members/{user_id}" => people::set_role,
    delete "/v1/tenants/{slug}/members/{user_id}" => people::remove,
    post "/v1/tenants/{slug}/invitations" => people::invite,
    get "/v1/tenants/{slug}/usage" => usage::usage,
    get "/v1/tenants/{slug}/usage/overview" => usage::usage_overview,
    get "/v1/tenants/{slug}/keys/{key_id}/activity" => usage::key_activity,
    get "/v1/tenants/{slug}/billing" => billing::show,
    put "/v1/tenants/{slug}/billing" => billing::configure,
    get "/v1/tenants/{slug}/billing/invoices" => billing::invoices,
    post "/v1/tenants/{slug}/billing/sync" => billing::sync_now,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Airlock management API",
        description = "Keys, budgets, providers, agreements, policies, prices, members, usage and billing of the tenants you belong to. Authenticate with a personal API token (`Authorization: Bearer alk_…`) from the console's account page; it acts with your role in each tenant. Money is in micro-dollars (1 USD = 1,000,000)."
    ),
    paths(
        people::tenants,
        keys::list, keys::create, keys::revoke, keys::rotate, keys::set_limits,
        settings::budgets, settings::set_env_budget, settings::set_tenant_limits,
        settings::providers, settings::set_provider, settings::add_route, settings::remove_route,
        settings::agreements, settings::set_agreement,
        settings::policies, settings::set_policy,
        settings::prices, settings::set_price, settings::remove_price,
        people::members, people::set_role, people::remove, people::invite,
        usage::usage, usage::usage_overview, usage::key_activity,
        billing::show, billing::configure, billing::invoices, billing::sync_now,
    ),
    modifiers(&BearerAuth),
    security(("api_token" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

async fn openapi_json() -> HttpResponse {
    match ApiDoc::openapi().to_pretty_json() {
        Ok(json) => HttpResponse::Ok()
            .content_type("application/json")
            .insert_header(("cache-control", "public, max-age=300"))
            .body(json),
        Err(e) => ApiError(ConsoleError::internal(e)).error_response(),
    }
}

/// Bad JSON, paths and queries answer in the API's error shape.
fn invalid(message: String) -> actix_web::Error {
    ApiError(ConsoleError::Invalid(message)).into()
}

/// Registers the API on the console's app, in its own scope so its JSON error
/// handlers do not reach the pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .app_data(
                web::JsonConfig::default()
                    .limit(MAX_JSON_BYTES)
                    .error_handler(|e, _| invalid(format!("the JSON body is not valid: {e}"))),
            )
            .app_data(web::PathConfig::default().error_handler(|e, _| {
                // A path that does not parse (a bad uuid, class or env) names nothing.
                tracing::debug!(why = %e, "an API path did not parse");
                ApiError(ConsoleError::NotFound).into()
            }))
            .app_data(
                web::QueryConfig::default()
                    .error_handler(|e, _| invalid(format!("the query string is not valid: {e}"))),
            )
            .route("/openapi.json", web::get().to(openapi_json))
            .configure(register_routes)
            .default_service(web::to(|| async {
                Err::<HttpResponse, ApiError>(ApiError(ConsoleError::NotFound))
            })),
    );
}

/// Micro-dollars from a body: never negative.
pub fn micros(value: i64, what: &str) -> Result<airlock_core::money::MicroDollars, ApiError> {
    if value < 0 {
        return Err(ApiError(ConsoleError::Invalid(format!(
            "{what} must not be negative"
        ))));
    }
    Ok(airlock_core::money::MicroDollars::new(value))
}

/// A JSON answer.
pub fn ok<T: Serialize>(body: &T) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(body))
}
