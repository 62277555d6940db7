//! The relay pipeline for `POST /v1/chat/completions` and `POST /v1/messages`, in
//! DESIGN.md's order: authenticate → key state → IP allowlist → rate limit →
//! validate → data class → provider allowed for the class → PII and secrets →
//! injection screen → tokens and budget → upstream call → output checks and
//! placeholder restore → usage record → response (or stream).
//!
//! Every request, failed or not, ends in exactly one usage record; failures are
//! logged here, once, with the request id and never with content.

use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};
use airlock_core::class::DataClass;
use airlock_core::key::{KeyError, RelayKey};
use airlock_core::mock_reply::estimate_tokens;
use airlock_core::pricing::{Price, cost};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

use std::net::IpAddr;

use airlock_core::budget::Limits as BudgetLimits;
use airlock_core::money::MicroDollars;
use airlock_core::netaddr::{IpNet, client_ip};
use airlock_core::policy::{Destination, check_destination};
use airlock_core::tokens::{IMAGE_TOKEN_ESTIMATE, count_input, quick_estimate, upper_bound};

use crate::budget::{Reservation, Target as BudgetTarget};
use crate::cache::CachedKey;
use crate::cache::keys::Lookup;
use crate::canonical::{
    ChatRequest, EventStream, FinishReason, ProviderReply, StreamEvent, TokenUsage,
};
use crate::error::RelayError;
use crate::front::{Front, FrontOptions, SseWriter, ToolCallPiece};
use crate::limits::{RateHeaders, RateLimits, Subject};
use crate::policy::{AnswerGuard, Guarded, ScreenReport, StreamGuard, ToolPiece, screen_request};
use crate::providers::{HOP_HEADER, UpstreamCall};
use crate::routing;
use crate::state::{RelayState, RequestLimits};
use crate::usage::UsageRecord;

pub const REQUEST_ID_HEADER: &str = "x-airlock-request-id";
pub const CLASSIFICATION_HEADER: &str = "x-airlock-classification";
pub const PHI_HEADER: &str = "x-airlock-phi";
pub const REDACTIONS_HEADER: &str = "x-airlock-redactions";
pub const INJECTION_HEADER: &str = "x-airlock-injection";
pub const OUTPUT_FLAGS_HEADER: &str = "x-airlock-output-flags";

pub async fn chat_completions(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<RelayState>,
) -> HttpResponse {
    relay(Front::OpenAi, req, payload, state.into_inner()).await
}

pub async fn messages(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<RelayState>,
) -> HttpResponse {
    relay(Front::Anthropic, req, payload, state.into_inner()).await
}

pub fn new_request_id() -> String {
    format!("req_{}", uuid::Uuid::now_v7().simple())
}

/// What the pipeline knows about a request so far; it becomes the usage record.
/// `headers` collects what the response reports (rate limits, redactions, flags),
/// on success and on refusal alike.
struct Ticket {
    started: Instant,
    record: UsageRecord,
    headers: Vec<(&'static str, String)>,
    /// The price of the routed model, once known.
    price: Option<Price>,
}

impl Ticket {
    fn new(request_id: &str, front: Front) -> Self {
        Self {
            started: Instant::now(),
            record: UsageRecord {
                request_id: request_id.to_owned(),
                endpoint: front.endpoint(),
                created_at: chrono::Utc::now(),
                ..UsageRecord::default()
            },
            headers: Vec::new(),
            price: None,
        }
    }

    fn finish(mut self, state: &RelayState, status: u16, error: Option<&RelayError>) {
        let elapsed = self.started.elapsed();
        self.record.latency_ms = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
        self.record.status_code = status;
        self.record.error_code = error.map(RelayError::code);
        let status_label = status.to_string();
        state
            .metrics
            .requests
            .with_label_values(&[self.record.endpoint, status_label.as_str()])
            .inc();
        state
            .metrics
            .duration
            .with_label_values(&[self.record.endpoint])
            .observe(elapsed.as_secs_f64());
        if let Some(error) = error {
            state
                .metrics
                .errors
                .with_label_values(&[error.code()])
                .inc();
        }
        state.usage.record(self.record);
    }

    /// Records the token counts and returns the cost. Without a price the cost is
    /// zero and the record says so (`priced: false`); the pipeline only lets an
    /// unpriced model through when no budget or cap applies.
    fn set_tokens(&mut self, usage: TokenUsage) -> MicroDollars {
        let usage = usage.clamped();
        self.record.input_tokens = usage.input;
        self.record.output_tokens = usage.output;
        let cost = match self.price {
            Some(price) => cost(price, usage.input, usage.output),
            None => {
                self.record.unpriced = true;
                MicroDollars::ZERO
            }
        };
        self.record.cost_micros = cost.as_micros();
        cost
    }

    fn record_output(&mut self, guarded: &Guarded) {
        self.record.output_flags = u32::try_from(guarded.findings.bits()).unwrap_or(0)
            | if guarded.replaced { 8 } else { 0 };
    }
}

/// What a request holds until its answer is known: the budget reservation and the
/// token estimate charged to the rate limits. Settling replaces both with the real
/// numbers; dropping it unsettled releases the reservation.
struct Accounting {
    reservation: Option<Reservation>,
    tokens: Option<(Subject, RateLimits, u64)>,
}

impl Accounting {
    fn settle(self, state: &Arc<RelayState>, usage: TokenUsage, cost: MicroDollars) {
        if let Some(reservation) = self.reservation {
            reservation.settle(cost);
        }
        if let Some((subject, limits, estimate)) = self.tokens {
            let real = usage.input.saturating_add(usage.output);
            let delta =
                i64::try_from(real).unwrap_or(i64::MAX) - i64::try_from(estimate).unwrap_or(0);
            if let Some(shared) = state.limiter.correct_tokens(subject, limits, delta) {
                // A Redis round trip, off the response path.
                actix_web::rt::spawn(shared);
            }
        }
    }
}

/// A request that passed every check and has its answer.
struct Answered {
    reply: ProviderReply,
    options: FrontOptions,
    estimated_input: u64,
    guard: AnswerGuard,
    accounting: Accounting,
}

async fn relay(
    front: Front,
    req: HttpRequest,
    payload: web::Payload,
    state: Arc<RelayState>,
) -> HttpResponse {
    let request_id = new_request_id();
    let mut ticket = Ticket::new(&request_id, front);
    match handle(front, &req, payload, &state, &mut ticket).await {
        Ok(Answered {
            reply: ProviderReply::Complete(mut response),
            accounting,
            guard,
            ..
        }) => {
            let guarded = guard.complete(&response.text, &response.tool_calls);
            ticket.record_output(&guarded);
            if !guarded.findings.is_clean() {
                ticket
                    .headers
                    .push((OUTPUT_FLAGS_HEADER, guarded.findings.header_value()));
            }
            if guarded.replaced {
                response.finish = FinishReason::ContentFilter;
            }
            response.text = guarded.text;
            response.tool_calls = guarded.tool_calls;
            ticket.record.output_chars = response.text.chars().count() as u64;
            let cost = ticket.set_tokens(response.usage);
            accounting.settle(&state, response.usage, cost);
            let body = front.render(&response, &request_id);
            let headers = std::mem::take(&mut ticket.headers);
            ticket.finish(&state, 200, None);
            let mut builder = HttpResponse::Ok();
            builder.insert_header((REQUEST_ID_HEADER, request_id));
            headers.into_iter().for_each(|h| {
                builder.insert_header(h);
            });
            builder.json(body)
        }
        Ok(Answered {
            reply: ProviderReply::Stream(events),
            options,
            estimated_input,
            guard,
            accounting,
        }) => {
            let model = ticket.record.model.clone().unwrap_or_default();
            let writer = front.stream_writer(&request_id, &model, options, estimated_input);
            let headers = std::mem::take(&mut ticket.headers);
            let stream = RelayStream::new(
                events,
                writer,
                ticket,
                state,
                request_id.clone(),
                estimated_input,
                (!guard.is_passthrough()).then(|| guard.into_stream()),
                accounting,
            );
            let mut builder = HttpResponse::Ok();
            builder
                .insert_header((header::CONTENT_TYPE, "text/event-stream"))
                .insert_header((header::CACHE_CONTROL, "no-cache"))
                .insert_header((REQUEST_ID_HEADER, request_id));
            headers.into_iter().for_each(|h| {
                builder.insert_header(h);
            });
            builder.streaming(stream)
        }
        Err(error) => {
            if error.status().is_server_error() {
                tracing::warn!(request.id = %request_id, code = error.code(), error = %error, "relay request failed");
            } else {
                tracing::debug!(request.id = %request_id, code = error.code(), "relay request refused");
            }
            let status = error.status();
            let body = front.error_body(&error, &request_id);
            let headers = std::mem::take(&mut ticket.headers);
            ticket.finish(&state, status.as_u16(), Some(&error));
            let mut builder = HttpResponse::build(status);
            builder.insert_header((REQUEST_ID_HEADER, request_id));
            if let RelayError::RateLimited {
                retry_after_secs, ..
            } = &error
            {
                builder.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            headers.into_iter().for_each(|h| {
                builder.insert_header(h);
            });
            builder.json(body)
        }
    }
}

/// The pipeline of DESIGN.md, in its order. Every refusal returns before anything
/// is sent upstream.
async fn handle(
    front: Front,
    req: &HttpRequest,
    payload: web::Payload,
    state: &Arc<RelayState>,
    ticket: &mut Ticket,
) -> Result<Answered, RelayError> {
    if req.headers().contains_key(HOP_HEADER) {
        return Err(RelayError::LoopDetected);
    }
    let now = chrono::Utc::now();
    let client = client_address(req, &state.settings.trusted_proxies);
    let key = authenticate_request(req.headers(), client, state).await?;
    ticket.record.tenant_id = Some(key.tenant_id);
    ticket.record.key_id = Some(key.id);
    ticket.record.env = Some(key.env);
    key.check_state(now)?;

    if !client.is_some_and(|ip| key.ip_allowlist.allows(ip)) {
        return Err(RelayError::IpNotAllowed);
    }

    let tenant = state
        .tenants
        .get(&state.db, &state.master_keys, key.tenant_id)
        .await?;
    let env_defaults = tenant.env_defaults(key.env);
    let subject = Subject {
        key_id: key.id,
        tenant_id: key.tenant_id,
    };
    let rate_limits = RateLimits {
        key_rpm: key.rpm_limit.or(env_defaults.rpm_limit),
        key_tpm: key.tpm_limit.or(env_defaults.tpm_limit),
        tenant_rpm: tenant.rpm_limit,
        tenant_tpm: tenant.tpm_limit,
    };
    let mut rate_headers = RateHeaders {
        requests: state.limiter.admit(subject, rate_limits).await?,
        tokens: None,
    };
    ticket.headers.extend(rate_headers.pairs());

    let data_class = requested_class(req.headers(), &key)?;
    ticket.record.data_class = Some(data_class);

    let body = read_body(
        payload,
        req.headers(),
        state.settings.max_body_bytes,
        state.settings.body_read_timeout,
    )
    .await?;
    let (mut request, options) = front.parse(&body)?;
    record_input(ticket, state, &request);
    ticket.record.model = Some(request.model.clone());
    ticket.record.streamed = request.stream;
    validate(
        &mut request,
        ticket.record.input_chars,
        ticket.record.input_images,
        &key,
        &state.settings.limits,
    )?;
    if !key.allows_model(&request.model) {
        return Err(RelayError::ModelNotAllowed(
            crate::front::openai::truncate_label(&request.model),
        ));
    }

    if data_class > key.max_data_class {
        return Err(RelayError::ClassificationBlocked(format!(
            "this key may send data up to {}, and the request is marked {data_class}",
            key.max_data_class
        )));
    }
    let route = routing::resolve(&tenant, &request.model)?;
    ticket.record.provider = Some(route.provider.name.clone());
    ticket.record.model = Some(route.upstream_model.clone());
    ticket.price = price_of(state, key.tenant_id, &route);
    ticket.record.unpriced = ticket.price.is_none();
    let policy = tenant.policy(data_class);
    let destination = Destination {
        name: &route.provider.name,
        self_hosted: tenant.self_hosted.contains(&route.provider.name),
        agreements: tenant.agreement_status(&route.provider.name, now.date_naive()),
    };
    check_destination(data_class, phi_flag(req.headers())?, &policy, destination)
        .map_err(|blocked| RelayError::ClassificationBlocked(blocked.to_string()))?;

    let mut report = ScreenReport::default();
    let screened = screen_request(&mut request, &policy, &mut report);
    ticket.record.redactions = report.redactions;
    ticket.record.injection_flags = u32::try_from(report.injection.bits()).unwrap_or(0);
    let screened = screened?;
    if !screened.redactions_header.is_empty() {
        ticket
            .headers
            .push((REDACTIONS_HEADER, screened.redactions_header));
    }
    if !report.injection.is_clean() {
        ticket
            .headers
            .push((INJECTION_HEADER, report.injection.header_value()));
    }

    // Tokens per minute: a quick estimate now, corrected with the real count later.
    // Counted once, before redaction (placeholders are about as long as values).
    let input_chars = ticket.record.input_chars;
    let max_output = request
        .max_tokens
        .unwrap_or(state.settings.limits.assumed_output_tokens);
    let image_tokens = IMAGE_TOKEN_ESTIMATE * u64::from(ticket.record.input_images);
    let input_estimate = quick_estimate(input_chars) + image_tokens;
    let token_estimate = input_estimate + u64::from(request.max_tokens.unwrap_or(0));
    rate_headers.tokens = state
        .limiter
        .take_tokens(subject, rate_limits, token_estimate)
        .await?;
    let mut accounting = Accounting {
        reservation: None,
        tokens: rate_headers
            .tokens
            .is_some()
            .then_some((subject, rate_limits, token_estimate)),
    };
    ticket
        .headers
        .retain(|(name, _)| !name.starts_with("x-ratelimit-"));
    ticket.headers.extend(rate_headers.pairs());

    let target = BudgetTarget {
        tenant_id: key.tenant_id,
        key_id: key.id,
        env: key.env,
        today: now.date_naive(),
        limits: BudgetLimits {
            per_request: key.per_request_cap,
            scopes: [
                key.daily_budget,
                key.monthly_budget,
                env_defaults.monthly_budget,
                tenant.monthly_budget,
            ],
        },
    };
    if !target.limits.is_unlimited() {
        // A budget cannot be kept with a model whose cost is unknown.
        let Some(price) = ticket.price else {
            return Err(RelayError::ModelNotPriced(
                crate::front::openai::truncate_label(&route.upstream_model),
            ));
        };
        accounting.reservation = Some(
            reserve_budget(
                state,
                &target,
                price,
                &route.upstream_model,
                &request,
                image_tokens,
                max_output,
            )
            .await?,
        );
    }

    let upstream_started = Instant::now();
    let reply = state
        .providers
        .for_kind(route.provider.kind)
        .send(UpstreamCall {
            endpoint: &route.provider,
            model: &route.upstream_model,
            request: &request,
        })
        .await;
    let upstream_elapsed = upstream_started.elapsed();
    ticket.record.upstream_latency_ms =
        Some(i64::try_from(upstream_elapsed.as_millis()).unwrap_or(i64::MAX));
    state
        .metrics
        .upstream_duration
        .with_label_values(&[route.provider.kind.as_str()])
        .observe(upstream_elapsed.as_secs_f64());
    // Only streams need the estimate (their usage may arrive last, or never).
    let estimated_input = if request.stream { input_estimate } else { 0 };
    // On failure `accounting` drops here: the reservation is released and the
    // token estimate stays charged (the attempt was made).
    Ok(Answered {
        reply: reply?,
        options,
        estimated_input,
        guard: screened.answer,
        accounting,
    })
}

/// Reserves the request's cost. The first try uses an upper bound of the input
/// tokens (free to compute); only if that does not fit is the prompt tokenized
/// exactly and the reservation tried again, so the exact count is paid for only
/// when it can change the answer.
async fn reserve_budget(
    state: &Arc<RelayState>,
    target: &BudgetTarget,
    price: Price,
    model: &str,
    request: &ChatRequest,
    image_tokens: u64,
    max_output: u32,
) -> Result<Reservation, RelayError> {
    let bytes: usize = request.texts().map(str::len).sum();
    let upper = cost(
        price,
        upper_bound(bytes) + 4 * request.messages.len() as u64 + image_tokens,
        u64::from(max_output),
    );
    match state.ledger.reserve(&state.db, target, upper).await {
        Err(RelayError::BudgetExceeded(_)) => {
            let exact_input = count_input(model, request.texts()) + image_tokens;
            let exact = cost(price, exact_input, u64::from(max_output));
            state.ledger.reserve(&state.db, target, exact).await
        }
        other => other,
    }
}

/// The request's own bounds, and the key's `max_tokens` ceiling (clamp or refuse).
/// `chars` and `images` are the request's counts (already taken for the usage record).
/// An empty `messages` never gets here: both front-ends refuse it.
fn validate(
    request: &mut ChatRequest,
    chars: u64,
    images: u32,
    key: &CachedKey,
    limits: &RequestLimits,
) -> Result<(), RelayError> {
    if request.messages.len() > limits.max_messages {
        return Err(RelayError::InvalidRequest(format!(
            "too many messages: {} (the limit is {})",
            request.messages.len(),
            limits.max_messages
        )));
    }
    if usize::try_from(images).unwrap_or(usize::MAX) > limits.max_images {
        return Err(RelayError::InvalidRequest(format!(
            "too many images: {images} (the limit is {})",
            limits.max_images
        )));
    }
    if chars > limits.max_input_chars {
        return Err(RelayError::InvalidRequest(format!(
            "the messages hold {chars} characters; the limit is {}",
            limits.max_input_chars
        )));
    }
    if let Some(max_tokens) = request.max_tokens {
        if max_tokens == 0 || max_tokens > limits.max_output_tokens {
            return Err(RelayError::InvalidRequest(format!(
                "max_tokens must be between 1 and {}",
                limits.max_output_tokens
            )));
        }
        if let Some(ceiling) = key.max_tokens_ceiling
            && max_tokens > ceiling
        {
            if key.reject_over_ceiling {
                return Err(RelayError::InvalidRequest(format!(
                    "max_tokens {max_tokens} is above this key's ceiling of {ceiling}"
                )));
            }
            request.max_tokens = Some(ceiling);
        }
    } else if let Some(ceiling) = key.max_tokens_ceiling {
        // Without a ceiling on the request, the key's applies.
        request.max_tokens = Some(ceiling);
    }
    Ok(())
}

/// The price of a routed model: the tenant's own price, else the list price. The
/// in-process mock answers any model name; names it has no price for cost what
/// `mock` costs, so tests and the demo see real budget arithmetic.
fn price_of(state: &RelayState, tenant_id: uuid::Uuid, route: &routing::Route) -> Option<Price> {
    state
        .prices
        .lookup(tenant_id, &route.upstream_model)
        .or_else(|| {
            (route.provider.kind == crate::providers::ProviderKind::Mock)
                .then(|| state.prices.lookup(tenant_id, "mock"))
                .flatten()
        })
}

/// The client's address: the TCP peer, or what a trusted proxy says it saw.
/// `X-Forwarded-For` may arrive as several header lines; they are one list, in
/// order (RFC 9110 §5.3), so a client cannot hide a hop by adding a line.
pub fn client_address(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let mut lines = req.headers().get_all("x-forwarded-for").peekable();
    if lines.peek().is_none() {
        return Some(client_ip(peer, None, trusted));
    }
    let mut joined = String::new();
    for line in lines {
        // A line that is not text cannot be read; what lies left of it is
        // untrusted anyway, so it ends the walk like a malformed entry would.
        let text = line.to_str().unwrap_or("?");
        if !joined.is_empty() {
            joined.push(',');
        }
        joined.push_str(text);
    }
    Some(client_ip(peer, Some(&joined), trusted))
}

/// `X-Airlock-PHI: true` marks protected health information (a BAA is then needed).
fn phi_flag(headers: &HeaderMap) -> Result<bool, RelayError> {
    match headers.get(PHI_HEADER).map(|v| v.to_str().map(str::trim)) {
        None => Ok(false),
        Some(Ok(v)) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
        Some(Ok(v)) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(false),
        Some(_) => Err(RelayError::InvalidRequest(
            "X-Airlock-PHI must be true or false".into(),
        )),
    }
}

/// Token counts an upstream reports are believed up to [`TokenUsage::MAX`].
fn clamp_tokens(tokens: u64) -> u64 {
    tokens.min(TokenUsage::MAX)
}

/// Finds the key without touching the database when it is cached. A key that
/// fails its checksum is refused before any lookup.
pub async fn authenticate_request(
    headers: &HeaderMap,
    client: Option<IpAddr>,
    state: &RelayState,
) -> Result<Arc<CachedKey>, RelayError> {
    let presented = presented_key(headers).ok_or(RelayError::MissingApiKey)?;
    let key = RelayKey::parse(presented).map_err(|e| {
        RelayError::InvalidApiKey(match e {
            KeyError::Empty => "the key is empty",
            KeyError::UnknownEnvironment => "the key must start with dev_, stg_, prod_ or ci_",
            KeyError::Malformed => "the key is not in Airlock's format",
            KeyError::BadChecksum => "the key's checksum does not match (a typo?)",
        })
    })?;
    let hash = state.hasher.hash(&key);
    match state.keys.lookup(&hash) {
        Lookup::Known(cached) => return Ok(cached),
        Lookup::Unknown => return Err(RelayError::InvalidApiKey("no such key")),
        Lookup::Miss => {}
    }
    // Made-up keys with a valid checksum are free to produce; each costs a
    // database read, so a client network gets only so many.
    state
        .unknown_keys
        .admit(client)
        .map_err(|retry_after_secs| RelayError::RateLimited {
            message: "too many requests with unknown keys from this address".into(),
            retry_after_secs,
        })?;
    let row = airlock_schema::queries::find_key_by_hash(&state.db, &hash.to_hex())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "key lookup failed");
            RelayError::Internal
        })?;
    state
        .keys
        .remember(hash, row.as_ref())
        .ok_or(RelayError::InvalidApiKey("no such key"))
}

fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let value = value.trim();
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .unwrap_or(value);
        return Some(token.trim());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn requested_class(headers: &HeaderMap, key: &CachedKey) -> Result<DataClass, RelayError> {
    match headers.get(CLASSIFICATION_HEADER) {
        None => Ok(key.default_data_class),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| DataClass::from_str(v).ok())
            .ok_or_else(|| {
                RelayError::InvalidRequest(
                    "X-Airlock-Classification must be one of public, internal, confidential, restricted".into(),
                )
            }),
    }
}

/// Reads the request body: at most `limit` bytes, all of it within `deadline`
/// (a client that sends a byte every few seconds would otherwise hold a connection
/// and a buffer for as long as it likes).
async fn read_body(
    payload: web::Payload,
    headers: &HeaderMap,
    limit: usize,
    deadline: std::time::Duration,
) -> Result<Bytes, RelayError> {
    tokio::time::timeout(deadline, read_body_within(payload, headers, limit))
        .await
        .map_err(|_| RelayError::BodyTimeout)?
}

async fn read_body_within(
    mut payload: web::Payload,
    headers: &HeaderMap,
    limit: usize,
) -> Result<Bytes, RelayError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(RelayError::RequestTooLarge { limit });
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(1024).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|_| RelayError::InvalidRequest("the request body could not be read".into()))?;
        if body.len() + chunk.len() > limit {
            return Err(RelayError::RequestTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn record_input(ticket: &mut Ticket, state: &RelayState, request: &ChatRequest) {
    ticket.record.message_count = u32::try_from(request.messages.len()).unwrap_or(u32::MAX);
    ticket.record.input_chars = request.input_chars();
    ticket.record.input_images = u32::try_from(request.image_count()).unwrap_or(u32::MAX);
    // A keyed digest lets finance spot repeated prompts without storing any text.
    let parts = request
        .messages
        .iter()
        .flat_map(|m| [m.role.as_str().as_bytes(), b"\0", m.text.as_bytes(), b"\0"]);
    ticket.record.input_hash = Some(state.hasher.content_digest_parts(parts));
}

/// A streamed answer on its way to the client. It renders canonical events in the
/// client's SSE shape and records usage when the stream ends, fails, or is
/// dropped because the client went away (then with what was delivered).
struct RelayStream {
    upstream: EventStream,
    writer: Box<dyn SseWriter>,
    ticket: Option<Ticket>,
    state: Arc<RelayState>,
    request_id: String,
    started: bool,
    done: bool,
    finish: FinishReason,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    estimated_input: u64,
    delivered_chars: u64,
    delivered_text_tokens: u64,
    guard: Option<StreamGuard>,
    accounting: Option<Accounting>,
}

impl RelayStream {
    #[allow(clippy::too_many_arguments)]
    fn new(
        upstream: EventStream,
        writer: Box<dyn SseWriter>,
        ticket: Ticket,
        state: Arc<RelayState>,
        request_id: String,
        estimated_input: u64,
        guard: Option<StreamGuard>,
        accounting: Accounting,
    ) -> Self {
        Self {
            upstream,
            writer,
            ticket: Some(ticket),
            state,
            request_id,
            started: false,
            done: false,
            finish: FinishReason::Stop,
            input_tokens: None,
            output_tokens: None,
            estimated_input,
            delivered_chars: 0,
            delivered_text_tokens: 0,
            guard,
            accounting: Some(accounting),
        }
    }

    fn usage(&self) -> TokenUsage {
        TokenUsage {
            input: self.input_tokens.unwrap_or(self.estimated_input),
            output: self.output_tokens.unwrap_or(self.delivered_text_tokens),
        }
    }

    fn close(&mut self, status: u16, error: Option<&RelayError>, disconnected: bool) {
        let usage = self.usage();
        if let Some(mut ticket) = self.ticket.take() {
            ticket.record.output_chars = self.delivered_chars;
            ticket.record.client_disconnected = disconnected;
            let cost = ticket.set_tokens(usage);
            if let Some(accounting) = self.accounting.take() {
                accounting.settle(&self.state, usage, cost);
            }
            if let Some(error) = error {
                tracing::warn!(request.id = %self.request_id, code = error.code(), error = %error, "relay stream failed");
            }
            ticket.finish(&self.state, status, error);
        }
    }

    fn on_event(&mut self, event: StreamEvent, out: &mut Vec<Bytes>) {
        match event {
            StreamEvent::Delta(text) => {
                // Tokens are what the model wrote, whether or not it is sent as is.
                self.delivered_text_tokens += estimate_tokens(&text);
                match self.guard.as_mut().map(|guard| guard.piece(&text)) {
                    Some(Ok(ready)) => {
                        let ready = ready.into_owned();
                        self.send_text(&ready, out);
                    }
                    Some(Err(refused)) => self.fail(refused, out),
                    None => self.send_text(&text, out),
                }
            }
            StreamEvent::ToolCallDelta {
                index,
                id,
                name,
                arguments,
            } => {
                self.delivered_text_tokens += estimate_tokens(&arguments);
                let piece = ToolPiece {
                    index,
                    id,
                    name,
                    arguments,
                };
                let ready = match self.guard.as_mut() {
                    Some(guard) => guard.tool_piece(piece),
                    None => Ok(Some(piece)),
                };
                match ready {
                    Ok(Some(piece)) => self.send_tool_piece(&piece, out),
                    Ok(None) => {}
                    Err(refused) => self.fail(refused, out),
                }
            }
            StreamEvent::Usage { input, output } => {
                let (input, output) = (input.map(clamp_tokens), output.map(clamp_tokens));
                self.input_tokens = input.or(self.input_tokens);
                self.output_tokens = output.or(self.output_tokens);
            }
            StreamEvent::Finish(reason) => self.finish = reason,
        }
    }
}

impl RelayStream {
    /// Ends the stream with an error event (the answer so far is all the client
    /// gets, and the error says why it stops).
    fn fail(&mut self, error: RelayError, out: &mut Vec<Bytes>) {
        if self.done {
            return;
        }
        self.writer.error(&error, &self.request_id, out);
        self.done = true;
        self.close(error.status().as_u16(), Some(&error), false);
    }

    fn send_text(&mut self, text: &str, out: &mut Vec<Bytes>) {
        if !text.is_empty() {
            self.delivered_chars += text.chars().count() as u64;
            self.writer.delta(text, out);
        }
    }

    fn send_tool_piece(&mut self, piece: &ToolPiece, out: &mut Vec<Bytes>) {
        self.delivered_chars += piece.arguments.chars().count() as u64;
        self.writer.tool_call(
            &ToolCallPiece {
                index: piece.index,
                id: piece.id.as_deref(),
                name: piece.name.as_deref(),
                arguments: &piece.arguments,
            },
            out,
        );
    }

    /// The end of the upstream stream: what the guard still holds goes out (or a
    /// refusal in its place), then the closing frames.
    fn end(&mut self, out: &mut Vec<Bytes>) {
        if let Some(mut guard) = self.guard.take() {
            let (guarded, tool_pieces) = guard.end();
            self.send_text(&guarded.text, out);
            for piece in &tool_pieces {
                self.send_tool_piece(piece, out);
            }
            if guarded.replaced {
                self.finish = FinishReason::ContentFilter;
            }
            if let Some(ticket) = self.ticket.as_mut() {
                ticket.record_output(&guarded);
            }
        }
        let usage = self.usage();
        self.writer.end(self.finish, usage, out);
        self.done = true;
        self.close(200, None, false);
    }
}

impl Stream for RelayStream {
    type Item = Result<Bytes, actix_web::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let mut out = Vec::new();
        if !this.started {
            this.started = true;
            this.writer.begin(&mut out);
        }
        // Render every event the upstream has ready, then send them as one write:
        // fewer, larger writes than one per frame.
        while !this.done {
            match this.upstream.as_mut().poll_next(cx) {
                Poll::Pending => break,
                Poll::Ready(Some(Ok(event))) => this.on_event(event, &mut out),
                Poll::Ready(Some(Err(error))) => this.fail(error, &mut out),
                Poll::Ready(None) => this.end(&mut out),
            }
        }
        match out.len() {
            0 if this.done => Poll::Ready(None),
            0 => Poll::Pending,
            1 => Poll::Ready(out.pop().map(Ok)),
            _ => {
                let mut joined = BytesMut::with_capacity(out.iter().map(Bytes::len).sum());
                out.iter().for_each(|frame| joined.extend_from_slice(frame));
                Poll::Ready(Some(Ok(joined.freeze())))
            }
        }
    }
}

impl Drop for RelayStream {
    fn drop(&mut self) {
        // Still holding the ticket means the client left before the end.
        if self.ticket.is_some() {
            self.close(200, None, true);
        }
    }
}
