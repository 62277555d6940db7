//! Wiring of the data plane: the routes, the shared state, and the background
//! tasks (cache poller, usage writer) with an orderly shutdown.

use std::sync::Arc;

use actix_web::http::header::HeaderMap;
use actix_web::{HttpRequest, HttpResponse, web};
use airlock_core::envelope::MasterKeys;
use airlock_core::key::KeyHasher;
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::budget::{Ledger, LocalLedger, RedisLedger};
use crate::cache::keys::UnknownKeyThrottle;
use crate::cache::{KeyCache, TenantCache, refresh};
use crate::error::RelayError;
use crate::limits::{Limiter, LocalLimiter, RedisLimiter};
use crate::metrics::RelayMetrics;
use crate::pipeline::{self, REQUEST_ID_HEADER};
use crate::prices::PriceBook;
use crate::providers::egress::Egress;
use crate::providers::{Providers, Upstream};
use crate::state::{MetricsExposure, RelaySettings, RelayState};
use crate::usage::{self, UsageWriter};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("building the upstream HTTP client failed: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error("registering metrics failed: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("connecting to Redis failed: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("loading model prices failed: {0}")]
    Prices(#[from] sea_orm::DbErr),
}

/// A running data plane minus its HTTP listener: mount it with [`RelayRuntime::configure`]
/// in any number of actix workers, and call [`RelayRuntime::shutdown`] after the
/// server stopped to drain the usage queue.
pub struct RelayRuntime {
    state: web::Data<RelayState>,
    stop: watch::Sender<bool>,
    poller: JoinHandle<()>,
    usage_writer: UsageWriter,
}

impl RelayRuntime {
    pub async fn start(
        db: DatabaseConnection,
        hasher: KeyHasher,
        master_keys: MasterKeys,
        settings: RelaySettings,
    ) -> Result<RelayRuntime, StartError> {
        let metrics = Arc::new(RelayMetrics::new()?);
        let (limiter, ledger) = match &settings.redis_url {
            Some(url) => {
                let client = redis::Client::open(url.as_str())?;
                let conn = redis::aio::ConnectionManager::new(client).await?;
                (
                    Limiter::Redis(RedisLimiter::new(conn.clone())),
                    Ledger::Redis(RedisLedger::new(conn)),
                )
            }
            None => (
                Limiter::Local(LocalLimiter::default()),
                Ledger::Local(LocalLedger::default()),
            ),
        };
        // The tokenizers' tables (tens of MB each) are loaded by the first request
        // that needs an exact count (a token count, or a budget close to its
        // limit), not here: most relays never need them.
        let egress = Egress::new(settings.egress.clone());
        let upstream = Upstream::new(settings.upstream, egress.clone())?;
        let prices = Arc::new(PriceBook::load(&db).await?);
        let keys = Arc::new(KeyCache::new(std::time::Duration::from_secs(1)));
        let tenants = Arc::new(TenantCache::new());
        let (recorder, usage_writer) = usage::spawn(db.clone(), settings.usage, metrics.clone());
        let state = Arc::new(RelayState {
            db,
            hasher,
            master_keys,
            keys: keys.clone(),
            tenants: tenants.clone(),
            providers: Providers::new(upstream),
            usage: recorder,
            metrics,
            prices: prices.clone(),
            egress,
            unknown_keys: UnknownKeyThrottle::default(),
            limiter,
            ledger: Arc::new(ledger),
            settings,
        });
        let (stop, stopped) = watch::channel(false);
        let poller = refresh::spawn(
            refresh::Refresher {
                db: state.db.clone(),
                master_keys: state.master_keys.clone(),
                keys,
                tenants,
                prices,
                every: state.settings.refresh_interval,
                full_resync_every: state.settings.full_resync_interval,
            },
            stopped,
        );
        Ok(RelayRuntime {
            state: web::Data::from(state),
            stop,
            poller,
            usage_writer,
        })
    }

    /// Registers the relay's routes and state on an actix `App`.
    pub fn configure(&self) -> impl Fn(&mut web::ServiceConfig) + Clone + use<> {
        let state = self.state.clone();
        move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(state.clone())
                .route(
                    "/v1/chat/completions",
                    web::post().to(pipeline::chat_completions),
                )
                .route("/v1/messages", web::post().to(pipeline::messages))
                .route(
                    "/v1/messages/count_tokens",
                    web::post().to(pipeline::count_tokens),
                )
                .route("/v1/responses", web::post().to(pipeline::responses))
                .route("/v1/embeddings", web::post().to(pipeline::embeddings))
                .route("/v1/models", web::get().to(models))
                .route("/v1/models/{model:.+}", web::get().to(model))
                .route("/healthz", web::get().to(healthz))
                .route("/readyz", web::get().to(readyz))
                .route("/metrics", web::get().to(metrics))
                .default_service(web::to(unknown_endpoint));
        }
    }

    /// Records addresses this process listens on (relay, console, metrics), which
    /// the egress policy then refuses as upstreams. Call it once they are bound.
    pub fn add_own_listeners(&self, addrs: &[std::net::SocketAddr]) {
        self.state.egress.add_own_listeners(addrs);
    }

    /// `/metrics` alone, for a listener of its own (`metrics_addr`).
    pub fn configure_metrics(&self) -> impl Fn(&mut web::ServiceConfig) + Clone + use<> {
        let state = self.state.clone();
        move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(state.clone())
                .route("/metrics", web::get().to(private_metrics));
        }
    }

    /// Waits until every usage record queued so far is written.
    pub async fn flush_usage(&self) {
        self.state.usage.flush().await;
    }

    /// Stops the poller and writes every queued usage record.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.poller.await;
        let recorder = self.state.usage.clone();
        self.usage_writer.shutdown(recorder).await;
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Ready when the database answers: a relay without it cannot learn of new keys
/// or revocations, so the load balancer should prefer another instance.
async fn readyz(state: web::Data<RelayState>) -> HttpResponse {
    match state.db.ping().await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ready", "database": "ok"})),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: database unreachable");
            HttpResponse::ServiceUnavailable()
                .json(json!({"status": "not_ready", "database": "unreachable"}))
        }
    }
}

fn render_metrics(state: &RelayState) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

/// `/metrics` on the relay's own port: what it reveals (tenants' traffic shapes,
/// error rates) is for the operator, so it is open only when the operator says so,
/// or behind the metrics token. Otherwise it is served on `metrics_addr` and this
/// route answers 404 like any unknown path.
async fn metrics(req: HttpRequest, state: web::Data<RelayState>) -> HttpResponse {
    match &state.settings.metrics {
        MetricsExposure::Public => render_metrics(&state),
        MetricsExposure::Token(token) => {
            let presented = req
                .headers()
                .get(actix_web::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default();
            let expected = token.expose_secret();
            let matches: bool =
                subtle::ConstantTimeEq::ct_eq(presented.as_bytes(), expected.as_bytes()).into();
            if !expected.is_empty() && matches {
                render_metrics(&state)
            } else {
                HttpResponse::Unauthorized()
                    .insert_header(("www-authenticate", "Bearer"))
                    .finish()
            }
        }
        MetricsExposure::Private => HttpResponse::NotFound().finish(),
    }
}

/// The metrics listener's handler (bound to an operator address only).
async fn private_metrics(state: web::Data<RelayState>) -> HttpResponse {
    render_metrics(&state)
}

/// The Anthropic SDKs send `anthropic-version`; they get Anthropic's list shape.
fn wants_anthropic_shape(headers: &HeaderMap) -> bool {
    headers.contains_key("anthropic-version")
}

/// `GET /v1/models`: the models this key may use. A key with an allow-list gets
/// exactly that list; otherwise the tenant's routed models and the priced models
/// of the provider families it has configured (all of them with a default provider).
async fn models(req: HttpRequest, state: web::Data<RelayState>) -> HttpResponse {
    let request_id = pipeline::new_request_id();
    let anthropic = wants_anthropic_shape(req.headers());
    match list_models(&req, &state).await {
        Ok(entries) => {
            let body = if anthropic {
                json!({
                    "data": entries.iter().map(|(id, _)| json!({
                        "type": "model", "id": id, "display_name": id, "created_at": "2025-01-01T00:00:00Z"
                    })).collect::<Vec<_>>(),
                    "has_more": false,
                    "first_id": entries.first().map(|(id, _)| id.clone()),
                    "last_id": entries.last().map(|(id, _)| id.clone()),
                })
            } else {
                json!({
                    "object": "list",
                    "data": entries.iter().map(|(id, owner)| json!({
                        "id": id, "object": "model", "created": 0, "owned_by": owner
                    })).collect::<Vec<_>>(),
                })
            };
            HttpResponse::Ok()
                .insert_header((REQUEST_ID_HEADER, request_id))
                .json(body)
        }
        Err(error) => {
            let body = if anthropic {
                error.anthropic_body(&request_id)
            } else {
                error.openai_body(&request_id)
            };
            HttpResponse::build(error.status())
                .insert_header((REQUEST_ID_HEADER, request_id))
                .json(body)
        }
    }
}

/// Any other path: 404 in the API's error shape (the path itself is not echoed:
/// it is the client's input).
async fn unknown_endpoint(req: HttpRequest) -> HttpResponse {
    let request_id = pipeline::new_request_id();
    let error = RelayError::NotFound("this relay has no such endpoint");
    let body = if wants_anthropic_shape(req.headers()) {
        error.anthropic_body(&request_id)
    } else {
        error.openai_body(&request_id)
    };
    HttpResponse::NotFound()
        .insert_header((REQUEST_ID_HEADER, request_id))
        .json(body)
}

/// `GET /v1/models/{id}`: one model, if this key may use it and the tenant
/// routes it somewhere; 404 otherwise, like a model that does not exist.
async fn model(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<RelayState>,
) -> HttpResponse {
    let request_id = pipeline::new_request_id();
    let anthropic = wants_anthropic_shape(req.headers());
    let id = path.into_inner();
    let found = async {
        let (key, tenant) = authorized(&req, &state).await?;
        if !key.allows_model(&id) {
            return Err(RelayError::NotFound("no such model for this key"));
        }
        let route = crate::routing::resolve(&tenant, &id)
            .map_err(|_| RelayError::NotFound("no such model for this key"))?;
        Ok(route.provider.name.clone())
    }
    .await;
    let (status, body) = match found {
        Ok(_) if anthropic => (
            actix_web::http::StatusCode::OK,
            json!({"type": "model", "id": id, "display_name": id, "created_at": "2025-01-01T00:00:00Z"}),
        ),
        Ok(owner) => (
            actix_web::http::StatusCode::OK,
            json!({"id": id, "object": "model", "created": 0, "owned_by": owner}),
        ),
        Err(error) if anthropic => (error.status(), error.anthropic_body(&request_id)),
        Err(error) => (error.status(), error.openai_body(&request_id)),
    };
    HttpResponse::build(status)
        .insert_header((REQUEST_ID_HEADER, request_id))
        .json(body)
}

/// The key of a request that only reads (the model list): the same checks as the
/// pipeline's first steps, IP allowlist included.
async fn authorized(
    req: &HttpRequest,
    state: &RelayState,
) -> Result<
    (
        Arc<crate::cache::CachedKey>,
        Arc<crate::cache::TenantRuntime>,
    ),
    RelayError,
> {
    if req.headers().contains_key(crate::providers::HOP_HEADER) {
        return Err(RelayError::LoopDetected);
    }
    let client = pipeline::client_address(req, &state.settings.trusted_proxies);
    let key = pipeline::authenticate_request(req.headers(), client, state).await?;
    key.check_state(chrono::Utc::now())?;
    if !client.is_some_and(|ip| key.ip_allowlist.allows(ip)) {
        return Err(RelayError::IpNotAllowed);
    }
    let tenant = state
        .tenants
        .get(&state.db, &state.master_keys, key.tenant_id)
        .await?;
    if tenant.billing_suspended {
        return Err(RelayError::BillingSuspended);
    }
    Ok((key, tenant))
}

async fn list_models(
    req: &HttpRequest,
    state: &RelayState,
) -> Result<Vec<(String, String)>, RelayError> {
    let (key, tenant) = authorized(req, state).await?;
    let mut entries: Vec<(String, String)> = Vec::new();
    let mut push = |model: &str| {
        if !entries.iter().any(|(m, _)| m == model)
            && let Ok(route) = crate::routing::resolve(&tenant, model)
        {
            entries.push((model.to_owned(), route.provider.name.clone()));
        }
    };
    if !key.allowed_models.is_empty() {
        key.allowed_models.iter().for_each(|m| push(m));
    } else {
        let mut routed: Vec<&String> = tenant.routes.keys().collect();
        routed.sort();
        routed.into_iter().for_each(|m| push(m));
        state
            .prices
            .models(tenant.tenant_id)
            .iter()
            .filter(|m| m.as_str() != "mock")
            .for_each(|m| push(m));
    }
    Ok(entries)
}
