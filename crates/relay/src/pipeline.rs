//! The relay pipeline for `POST /v1/chat/completions` and `POST /v1/messages`, in
//! DESIGN.md's order: authenticate → key state → IP allowlist → rate limit →
//! validate → data class → provider allowed for the class → PII and secrets →
//! injection screen → tokens and budget → upstream call → output checks and
//! placeholder restore → usage record → response (or stream).
//!
//! Every request, failed or not, ends in exactly one usage record; failures are
//! logged here, once, with the request id and never with content.

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};
use airlock_core::budget::Limits as BudgetLimits;
use airlock_core::class::DataClass;
use airlock_core::injection::{Layer, Technique};
use airlock_core::key::{KeyError, RelayKey};
use airlock_core::netaddr::{IpNet, client_ip};
use airlock_core::policy::{ClassPolicy, Destination, InjectionAction, check_destination};
use airlock_core::pricing::{Price, cost};
use airlock_core::tokens::{IMAGE_TOKEN_ESTIMATE, count_input, quick_estimate, upper_bound};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tracing::Instrument;

use crate::budget::{Reservation, Target as BudgetTarget};
use crate::cache::CachedKey;
use crate::cache::TenantRuntime;
use crate::cache::keys::Lookup;
use crate::canonical::{ChatRequest, FinishReason, ProviderReply, TokenUsage};
use crate::error::RelayError;
use crate::front::embeddings::{self, EmbeddingOptions};
use crate::front::{Front, FrontOptions, TextSize, WireRequest, crossing, truncate_label};
use crate::judge::{self, Judgement};
use crate::limits::{RateHeaders, RateLimits, Subject};
use crate::native::{self, NativeStream, NativeStreamParts, Outcome};
use crate::policy::{AnswerGuard, ScreenReport, Screened, screen_request};
use crate::providers::{
    HOP_HEADER, NativeCall, NativeReply, ProviderKind, UpstreamCall, UpstreamMeta,
};
use crate::routing;
use crate::state::{RelayState, RequestLimits};
use crate::stream::RelayStream;
use crate::ticket::{Accounting, Ticket};
use reqwest::header::{HeaderName, HeaderValue};

pub const REQUEST_ID_HEADER: &str = "x-airlock-request-id";
pub const CLASSIFICATION_HEADER: &str = "x-airlock-classification";
pub const PHI_HEADER: &str = "x-airlock-phi";
pub const REDACTIONS_HEADER: &str = "x-airlock-redactions";
pub const INJECTION_HEADER: &str = "x-airlock-injection";
/// The injection screen's scores and deciding layer, on every screened request:
/// `direct=0.12, indirect=0.00, layer=none`.
pub const INJECTION_SCORE_HEADER: &str = "x-airlock-injection-score";
pub const OUTPUT_FLAGS_HEADER: &str = "x-airlock-output-flags";
/// What a non-streamed call cost, in US dollars (streams carry it in their final usage).
pub const COST_HEADER: &str = "x-airlock-cost-usd";
/// On a `count_tokens` the relay answered itself: `exact` (the model's own
/// tokenizer) or `estimate`.
pub const TOKEN_COUNT_HEADER: &str = "x-airlock-token-count";

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

pub async fn responses(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<RelayState>,
) -> HttpResponse {
    relay(Front::Responses, req, payload, state.into_inner()).await
}

pub async fn embeddings(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<RelayState>,
) -> HttpResponse {
    relay(Front::Embeddings, req, payload, state.into_inner()).await
}

pub async fn count_tokens(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<RelayState>,
) -> HttpResponse {
    relay(Front::CountTokens, req, payload, state.into_inner()).await
}

pub fn new_request_id() -> String {
    format!("req_{}", uuid::Uuid::now_v7().simple())
}

/// A request that passed every check and has its answer.
struct Answered {
    reply: Reply,
    upstream: UpstreamMeta,
    options: FrontOptions,
    estimated_input: u64,
    guard: AnswerGuard,
    accounting: Accounting,
}

/// The provider's answer: translated to the canonical shape (a cross-wire route,
/// or the in-process mock), or in the app's own wire format (the same wire).
enum Reply {
    Canonical(ProviderReply),
    Native(NativeReply),
    /// An answer without text to guard (embeddings, a token count), and its usage.
    Data {
        body: serde_json::Value,
        usage: TokenUsage,
    },
}

/// One request, in its own span: the request id and endpoint from the start, the
/// tenant once the key is known (never anything the request says).
async fn relay(
    front: Front,
    req: HttpRequest,
    payload: web::Payload,
    state: Arc<RelayState>,
) -> HttpResponse {
    let request_id = new_request_id();
    let span = tracing::info_span!(
        "relay",
        request.id = %request_id,
        endpoint = front.endpoint(),
        tenant = tracing::field::Empty,
    );
    respond(front, req, payload, state, request_id)
        .instrument(span)
        .await
}

async fn respond(
    front: Front,
    req: HttpRequest,
    payload: web::Payload,
    state: Arc<RelayState>,
    request_id: String,
) -> HttpResponse {
    let mut ticket = Ticket::new(&request_id, front);
    match handle(front, &req, payload, &state, &mut ticket).await {
        Ok(answered) => answer(front, answered, ticket, state, request_id),
        Err(error) => refuse(front, &error, ticket, &state, request_id),
    }
}

fn answer(
    front: Front,
    answered: Answered,
    mut ticket: Ticket,
    state: Arc<RelayState>,
    request_id: String,
) -> HttpResponse {
    let Answered {
        reply,
        upstream,
        options,
        estimated_input,
        guard,
        accounting,
    } = answered;
    ticket.headers.extend(upstream.request_ids);
    match reply {
        Reply::Canonical(ProviderReply::Complete(mut response)) => {
            let guarded = guard.complete(&response.text, &response.tool_calls);
            if guarded.replaced {
                response.finish = FinishReason::ContentFilter;
            }
            response.text = guarded.text;
            response.tool_calls = guarded.tool_calls;
            let outcome = Outcome {
                usage: response.usage,
                findings: guarded.findings,
                replaced: guarded.replaced,
                output_chars: response.text.chars().count() as u64,
            };
            let body = front.render(&response, &request_id);
            deliver(ticket, &state, request_id, accounting, outcome, &body)
        }
        Reply::Data { body, usage } => {
            let outcome = Outcome {
                usage,
                findings: Default::default(),
                replaced: false,
                output_chars: 0,
            };
            deliver(ticket, &state, request_id, accounting, outcome, &body)
        }
        Reply::Native(NativeReply::Complete(mut body)) => {
            let model = ticket.record.model.clone().unwrap_or_default();
            match native::edit_complete(front, &mut body, &model, &guard) {
                Ok(outcome) => deliver(ticket, &state, request_id, accounting, outcome, &body),
                Err(error) => refuse(front, &error, ticket, &state, request_id),
            }
        }
        Reply::Canonical(ProviderReply::Stream(events)) => {
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
            event_stream(request_id, headers, stream)
        }
        Reply::Native(NativeReply::Stream(events)) => {
            let headers = std::mem::take(&mut ticket.headers);
            let stream = NativeStream::new(NativeStreamParts {
                front,
                upstream: events,
                guard,
                options,
                ticket,
                accounting,
                state,
                request_id: request_id.clone(),
                estimated_input,
            });
            event_stream(request_id, headers, stream)
        }
    }
}

/// The end of a complete answer, whichever wire it came in: the usage record,
/// the budget settled, the cost and flags in headers.
fn deliver(
    mut ticket: Ticket,
    state: &Arc<RelayState>,
    request_id: String,
    accounting: Accounting,
    outcome: Outcome,
    body: &serde_json::Value,
) -> HttpResponse {
    ticket.record_output_flags(&outcome.findings, outcome.replaced);
    if !outcome.findings.is_clean() {
        ticket
            .headers
            .push((OUTPUT_FLAGS_HEADER, outcome.findings.header_value()));
    }
    ticket.record.output_chars = outcome.output_chars;
    let cost = ticket.set_tokens(outcome.usage);
    accounting.settle(state, outcome.usage, cost);
    if ticket.price.is_some() {
        ticket
            .headers
            .push((COST_HEADER, format!("{:.6}", native::dollars(cost))));
    }
    let headers = std::mem::take(&mut ticket.headers);
    ticket.finish(state, 200, None);
    let mut builder = HttpResponse::Ok();
    builder.insert_header((REQUEST_ID_HEADER, request_id));
    headers.into_iter().for_each(|h| {
        builder.insert_header(h);
    });
    builder.json(body)
}

fn event_stream<S>(
    request_id: String,
    headers: Vec<(&'static str, String)>,
    stream: S,
) -> HttpResponse
where
    S: futures_util::Stream<Item = Result<Bytes, actix_web::Error>> + 'static,
{
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

fn refuse(
    front: Front,
    error: &RelayError,
    mut ticket: Ticket,
    state: &Arc<RelayState>,
    request_id: String,
) -> HttpResponse {
    // The one log line of a failed request (the span says who and where; nothing
    // says what was sent).
    if error.status().is_server_error() {
        tracing::warn!(code = error.code(), error = %error, "relay request failed");
    } else {
        tracing::debug!(code = error.code(), "relay request refused");
    }
    let status = error.status();
    let body = front.error_body(error, &request_id);
    let headers = std::mem::take(&mut ticket.headers);
    ticket.finish(state, status.as_u16(), Some(error));
    let mut builder = HttpResponse::build(status);
    builder.insert_header((REQUEST_ID_HEADER, request_id));
    if let RelayError::RateLimited {
        retry_after_secs, ..
    } = error
    {
        builder.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
    }
    headers.into_iter().for_each(|h| {
        builder.insert_header(h);
    });
    builder.json(body)
}

/// The pipeline of DESIGN.md, in its order. Every refusal returns before anything
/// is sent upstream; the ticket records what is known at each step.
async fn handle(
    front: Front,
    req: &HttpRequest,
    payload: web::Payload,
    state: &Arc<RelayState>,
    ticket: &mut Ticket,
) -> Result<Answered, RelayError> {
    // A request a relay sent: never call ourselves, however the base URLs chain.
    if req.headers().contains_key(HOP_HEADER) {
        return Err(RelayError::LoopDetected);
    }
    let now = chrono::Utc::now();

    // Authenticate the key, then its state and the client's address.
    let client = client_address(req, &state.settings.trusted_proxies);
    ticket.record.client_ip = client;
    let key = authenticate_request(req.headers(), client, state).await?;
    ticket.authenticated(&key);
    key.check_state(now)?;
    if !client.is_some_and(|ip| key.ip_allowlist.allows(ip)) {
        return Err(RelayError::IpNotAllowed);
    }

    // Rate limit: requests now, tokens once the request's size is known.
    let tenant = state
        .tenants
        .get(&state.db, &state.master_keys, key.tenant_id)
        .await?;
    if tenant.billing_suspended {
        return Err(RelayError::BillingSuspended);
    }
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
    let mut rate = RateHeaders {
        requests: state.limiter.admit(subject, rate_limits).await?,
        tokens: None,
    };
    ticket.rate_limited(&rate);

    // Validate the request.
    let data_class = requested_class(req.headers(), &key)?;
    ticket.classified(data_class);
    let body = read_body(
        payload,
        req.headers(),
        state.settings.max_body_bytes,
        state.settings.body_read_timeout,
    )
    .await?;
    let mut wire = WireRequest::parse(front, &body)?;
    drop(body);
    let size = ticket.parsed(state, &mut wire);
    validate(
        &mut wire.request,
        size.chars,
        ticket.record.input_images,
        &key,
        // Embeddings and token counts write nothing: no output ceiling applies.
        !matches!(front, Front::Embeddings | Front::CountTokens),
        &state.settings.limits,
    )?;
    if !key.allows_model(&wire.request.model) {
        return Err(RelayError::ModelNotAllowed(truncate_label(
            &wire.request.model,
        )));
    }

    // The request's data class, and whether its provider may receive it.
    if data_class > key.max_data_class {
        return Err(RelayError::ClassificationBlocked(format!(
            "this key may send data up to {}, and the request is marked {data_class}",
            key.max_data_class
        )));
    }
    let route = routing::resolve(&tenant, &wire.request.model)?;
    ticket.routed(&route, price_of(state, key.tenant_id, &route));
    let policy = tenant.policy(data_class);
    let destination = Destination {
        name: &route.provider.name,
        self_hosted: tenant.self_hosted.contains(&route.provider.name),
        agreements: tenant.agreement_status(&route.provider.name, now.date_naive()),
    };
    check_destination(data_class, phi_flag(req.headers())?, &policy, destination)
        .map_err(|blocked| RelayError::ClassificationBlocked(blocked.to_string()))?;

    // Secrets and PII, then the injection screen; then what the provider cannot
    // take from this wire is refused by name (see `front::crossing`).
    let mut report = ScreenReport::default();
    let screened = match screen_request(&mut wire, &policy, &mut report) {
        Ok(passed)
            if policy.injection == InjectionAction::Judge
                && report.injection.verdict.is_clean()
                && report.injection.uncertain > 0.0 =>
        {
            let phi = phi_flag(req.headers())?;
            judge_uncertain(
                state,
                &tenant,
                (data_class, phi),
                &policy,
                passed,
                &mut report,
            )
            .await
        }
        other => other,
    };
    let screened = ticket.screened(report, screened)?;
    let same_wire = wire.same_wire(route.provider.kind);
    if front == Front::Embeddings && route.provider.kind == ProviderKind::Anthropic {
        return Err(RelayError::InvalidRequest(
            "Anthropic has no embeddings API: route this model to an OpenAI-compatible or Gemini provider".into(),
        ));
    }
    crossing::check(front, route.provider.kind, &wire.body)?;
    if front == Front::CountTokens {
        // Counting costs nothing and answers nothing: no token limit, no budget.
        return count_tokens_of(req, state, ticket, wire, &route, same_wire, screened).await;
    }

    // Cost: tokens per minute (an estimate now, corrected with the real count
    // later; counted before redaction, placeholders are about as long as values),
    // then the per-request cap and the budgets.
    let estimate = Estimate::of(front, &wire.request, ticket, size, &state.settings.limits);
    rate.tokens = state
        .limiter
        .take_tokens(subject, rate_limits, estimate.tokens)
        .await?;
    ticket.rate_limited(&rate);
    let mut accounting = Accounting {
        reservation: None,
        tokens: rate
            .tokens
            .is_some()
            .then_some((subject, rate_limits, estimate.tokens)),
    };
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
            return Err(RelayError::ModelNotPriced(truncate_label(
                &route.upstream_model,
            )));
        };
        let reservation = reserve_budget(
            state,
            &target,
            price,
            &route.upstream_model,
            &mut wire,
            &estimate,
        )
        .await?;
        accounting.reservation = Some(reservation);
    }

    // The upstream call: the app's own body on the same wire, the canonical
    // request translated on another.
    let upstream_started = Instant::now();
    let stream = wire.request.stream;
    let reply = if front == Front::Embeddings && !same_wire {
        let options = EmbeddingOptions::of(&wire.body);
        let texts: Vec<&str> = wire
            .request
            .messages
            .iter()
            .map(|m| m.text.as_str())
            .collect();
        state
            .providers
            .embed(
                &route.provider,
                &route.upstream_model,
                &texts,
                options.dimensions,
            )
            .await
            .map(|(vectors, meta)| {
                let usage = TokenUsage {
                    input: estimate.input,
                    output: 0,
                };
                let body =
                    embeddings::render(&vectors, &route.upstream_model, usage, options.base64);
                (Reply::Data { body, usage }, meta)
            })
    } else if same_wire {
        let forwarded = forwarded_headers(front, req.headers());
        let body = wire.take_upstream_body(&route.upstream_model);
        state
            .providers
            .send_native(NativeCall {
                endpoint: &route.provider,
                front,
                body,
                stream,
                headers: forwarded,
            })
            .await
            .map(|(reply, meta)| match (front, reply) {
                // An embeddings answer has no text to guard: its usage is all.
                (Front::Embeddings, NativeReply::Complete(body)) => {
                    let input = body["usage"]["prompt_tokens"]
                        .as_u64()
                        .unwrap_or(estimate.input);
                    let usage = TokenUsage { input, output: 0 };
                    (Reply::Data { body, usage }, meta)
                }
                (_, reply) => (Reply::Native(reply), meta),
            })
    } else {
        state
            .providers
            .for_kind(route.provider.kind)
            .send(UpstreamCall {
                endpoint: &route.provider,
                model: &route.upstream_model,
                request: &wire.request,
            })
            .await
            .map(|(reply, meta)| (Reply::Canonical(reply), meta))
    };
    ticket.upstream_took(state, route.provider.kind, upstream_started.elapsed());
    // Only streams need the estimate (their usage may arrive last, or never).
    let estimated_input = if stream { estimate.input } else { 0 };
    // On failure `accounting` drops here: the reservation is released and the
    // token estimate stays charged (the attempt was made).
    let (reply, upstream) = reply?;
    Ok(Answered {
        reply,
        upstream,
        options: wire.options,
        estimated_input,
        guard: screened.answer,
        accounting,
    })
}

/// `count_tokens`: the provider's own count on the same wire (the body screened
/// like any other, since it leaves the relay), the relay's otherwise: exact for
/// OpenAI models, an estimate for others, said so in a header.
async fn count_tokens_of(
    req: &HttpRequest,
    state: &Arc<RelayState>,
    ticket: &mut Ticket,
    mut wire: WireRequest,
    route: &routing::Route,
    same_wire: bool,
    screened: crate::policy::Screened,
) -> Result<Answered, RelayError> {
    let accounting = Accounting {
        reservation: None,
        tokens: None,
    };
    let (reply, upstream) = if same_wire {
        let forwarded = forwarded_headers(Front::CountTokens, req.headers());
        let body = wire.take_upstream_body(&route.upstream_model);
        let started = Instant::now();
        let answer = state
            .providers
            .send_native(NativeCall {
                endpoint: &route.provider,
                front: Front::CountTokens,
                body,
                stream: false,
                headers: forwarded,
            })
            .await;
        ticket.upstream_took(state, route.provider.kind, started.elapsed());
        match answer? {
            (NativeReply::Complete(body), meta) => (body, meta),
            (NativeReply::Stream(_), _) => return Err(RelayError::UpstreamProtocol),
        }
    } else {
        let texts = wire.texts();
        let exact = airlock_core::tokens::Tokenizer::for_model(&route.upstream_model).is_some();
        let count = count_input(&route.upstream_model, texts.iter().map(String::as_str));
        ticket.headers.push((
            TOKEN_COUNT_HEADER,
            if exact { "exact" } else { "estimate" }.to_owned(),
        ));
        (
            serde_json::json!({"input_tokens": count}),
            UpstreamMeta::default(),
        )
    };
    Ok(Answered {
        reply: Reply::Data {
            body: reply,
            usage: TokenUsage::default(),
        },
        upstream,
        options: wire.options,
        estimated_input: 0,
        guard: screened.answer,
        accounting,
    })
}

/// The client's headers a same-wire provider also receives: what the official
/// SDKs send that changes the answer (Anthropic's API version and beta
/// features). Account selectors (`openai-organization`, `openai-project`,
/// Anthropic's workspace headers) are not forwarded: the tenant's credential
/// decides the account, not the app.
fn forwarded_headers(front: Front, headers: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    let names: &[&str] = match front {
        Front::Anthropic | Front::CountTokens => &["anthropic-version", "anthropic-beta"],
        Front::OpenAi | Front::Responses | Front::Embeddings => &[],
    };
    names
        .iter()
        .flat_map(|name| {
            headers.get_all(*name).filter_map(move |value| {
                let value = HeaderValue::from_bytes(value.as_bytes()).ok()?;
                Some((HeaderName::from_static(name), value))
            })
        })
        .collect()
}

/// A request's size before it is sent: input tokens (a quick estimate from its
/// characters, plus its images), the tokens charged to the rate limit, and the
/// output assumed for the cost.
struct Estimate {
    input: u64,
    tokens: u64,
    image_tokens: u64,
    /// Bytes of text, for the free upper bound of the input tokens.
    text_bytes: u64,
    max_output: u32,
}

impl Estimate {
    fn of(
        front: Front,
        request: &ChatRequest,
        ticket: &Ticket,
        size: TextSize,
        limits: &RequestLimits,
    ) -> Estimate {
        let image_tokens = IMAGE_TOKEN_ESTIMATE * u64::from(ticket.record.input_images);
        let input = quick_estimate(size.chars) + image_tokens;
        // Embeddings write nothing back: their cost is all input.
        let max_output = match front {
            Front::Embeddings | Front::CountTokens => 0,
            _ => request.max_tokens.unwrap_or(limits.assumed_output_tokens),
        };
        Estimate {
            input,
            tokens: input + u64::from(request.max_tokens.unwrap_or(0)),
            image_tokens,
            text_bytes: size.bytes,
            max_output,
        }
    }
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
    wire: &mut WireRequest,
    estimate: &Estimate,
) -> Result<Reservation, RelayError> {
    let (image_tokens, max_output) = (estimate.image_tokens, estimate.max_output);
    let bytes = usize::try_from(estimate.text_bytes).unwrap_or(usize::MAX);
    let upper = cost(
        price,
        upper_bound(bytes) + 4 * wire.request.messages.len() as u64 + image_tokens,
        u64::from(max_output),
    );
    match state.ledger.reserve(&state.db, target, upper).await {
        Err(RelayError::BudgetExceeded(_)) => {
            let texts = wire.texts();
            let exact_input = count_input(model, texts.iter().map(String::as_str)) + image_tokens;
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
    output_ceiling: bool,
    limits: &RequestLimits,
) -> Result<(), RelayError> {
    let ceiling = key.max_tokens_ceiling.filter(|_| output_ceiling);
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
        if let Some(ceiling) = ceiling
            && max_tokens > ceiling
        {
            if key.reject_over_ceiling {
                return Err(RelayError::InvalidRequest(format!(
                    "max_tokens {max_tokens} is above this key's ceiling of {ceiling}"
                )));
            }
            request.max_tokens = Some(ceiling);
        }
    } else if let Some(ceiling) = ceiling {
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

/// Asks the class's judge about a request the screen was unsure of, and applies
/// its answer (or the policy's choice when it has none) to the screening result.
async fn judge_uncertain(
    state: &RelayState,
    tenant: &TenantRuntime,
    (class, phi): (DataClass, bool),
    policy: &ClassPolicy,
    passed: Screened,
    report: &mut ScreenReport,
) -> Result<Screened, RelayError> {
    let judgement = match &policy.judge {
        Some(settings) => {
            judge::ask(
                state,
                tenant,
                class,
                phi,
                policy,
                settings,
                &passed.judge_text,
            )
            .await
        }
        // A policy row saved as `judge` without a complete judge (by hand): no
        // judge can answer, and nothing says to fail open.
        None => return Err(RelayError::JudgeUnavailable),
    };
    let settings = policy.judge.as_ref().ok_or(RelayError::JudgeUnavailable)?;
    match judgement {
        Judgement::Injection => {
            report.injection.verdict.add(Technique::Judged);
            report.injection.layer = Some(Layer::Judge);
            Err(RelayError::InjectionBlocked(
                report.injection.verdict.header_value(),
            ))
        }
        Judgement::Benign => Ok(passed),
        Judgement::Unavailable => {
            judge::on_failure(settings)?;
            report.injection.verdict.add(Technique::JudgeUnavailable);
            Ok(passed)
        }
    }
}
