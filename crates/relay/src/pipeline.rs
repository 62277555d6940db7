//! The relay pipeline for `POST /v1/chat/completions` and `POST /v1/messages`:
//! authenticate → key state → parse → model allowed → route → upstream call →
//! response (or stream) → usage record. Policy steps (limits, budgets, data
//! classes, redaction, screening) slot in between parse and upstream call.
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
use airlock_core::pricing::cost;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

use crate::cache::CachedKey;
use crate::cache::keys::Lookup;
use crate::canonical::{
    ChatRequest, EventStream, FinishReason, ProviderReply, StreamEvent, TokenUsage,
};
use crate::error::RelayError;
use crate::front::{Front, FrontOptions, SseWriter};
use crate::providers::UpstreamCall;
use crate::routing;
use crate::state::RelayState;
use crate::usage::UsageRecord;

pub const REQUEST_ID_HEADER: &str = "x-airlock-request-id";
pub const CLASSIFICATION_HEADER: &str = "x-airlock-classification";

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
struct Ticket {
    started: Instant,
    record: UsageRecord,
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

    fn set_tokens(&mut self, state: &RelayState, usage: TokenUsage) {
        self.record.input_tokens = usage.input;
        self.record.output_tokens = usage.output;
        let model = self.record.model.as_deref().unwrap_or_default();
        self.record.cost_micros = state
            .prices
            .lookup(model)
            .map(|price| cost(price, usage.input, usage.output).as_micros())
            .unwrap_or(0);
    }
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
        Ok((ProviderReply::Complete(response), _, _)) => {
            ticket.record.output_chars = response.text.chars().count() as u64;
            ticket.set_tokens(&state, response.usage);
            let body = front.render(&response, &request_id);
            ticket.finish(&state, 200, None);
            HttpResponse::Ok()
                .insert_header((REQUEST_ID_HEADER, request_id))
                .json(body)
        }
        Ok((ProviderReply::Stream(events), options, estimated_input)) => {
            let model = ticket.record.model.clone().unwrap_or_default();
            let writer = front.stream_writer(&request_id, &model, options, estimated_input);
            let stream = RelayStream::new(
                events,
                writer,
                ticket,
                state,
                request_id.clone(),
                estimated_input,
            );
            HttpResponse::Ok()
                .insert_header((header::CONTENT_TYPE, "text/event-stream"))
                .insert_header((header::CACHE_CONTROL, "no-cache"))
                .insert_header((REQUEST_ID_HEADER, request_id))
                .streaming(stream)
        }
        Err(error) => {
            if error.status().is_server_error() {
                tracing::warn!(request.id = %request_id, code = error.code(), error = %error, "relay request failed");
            } else {
                tracing::debug!(request.id = %request_id, code = error.code(), "relay request refused");
            }
            let status = error.status();
            let body = front.error_body(&error, &request_id);
            ticket.finish(&state, status.as_u16(), Some(&error));
            HttpResponse::build(status)
                .insert_header((REQUEST_ID_HEADER, request_id))
                .json(body)
        }
    }
}

async fn handle(
    front: Front,
    req: &HttpRequest,
    payload: web::Payload,
    state: &RelayState,
    ticket: &mut Ticket,
) -> Result<(ProviderReply, FrontOptions, u64), RelayError> {
    let key = authenticate_request(req.headers(), state).await?;
    ticket.record.tenant_id = Some(key.tenant_id);
    ticket.record.key_id = Some(key.id);
    ticket.record.env = Some(key.env.as_str().to_owned());
    key.check_state(chrono::Utc::now())?;

    let data_class = requested_class(req.headers(), &key)?;
    ticket.record.data_class = Some(data_class.as_str());

    let body = read_body(payload, req.headers(), state.settings.max_body_bytes).await?;
    let (request, options) = front.parse(&body)?;
    record_input(ticket, state, &request);
    ticket.record.model = Some(request.model.clone());
    ticket.record.streamed = request.stream;
    if !key.allows_model(&request.model) {
        return Err(RelayError::ModelNotAllowed(
            crate::front::openai::truncate_label(&request.model),
        ));
    }

    let tenant = state
        .tenants
        .get(&state.db, &state.master_keys, key.tenant_id)
        .await?;
    let route = routing::resolve(&tenant, &request.model)?;
    ticket.record.provider = Some(route.provider.name.clone());
    ticket.record.model = Some(route.upstream_model.clone());

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
    let estimated_input = if request.stream {
        request
            .messages
            .iter()
            .map(|m| estimate_tokens(&m.text))
            .sum()
    } else {
        0
    };
    Ok((reply?, options, estimated_input))
}

/// Finds the key without touching the database when it is cached. A key that
/// fails its checksum is refused before any lookup.
pub async fn authenticate_request(
    headers: &HeaderMap,
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

async fn read_body(
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
}

impl RelayStream {
    fn new(
        upstream: EventStream,
        writer: Box<dyn SseWriter>,
        ticket: Ticket,
        state: Arc<RelayState>,
        request_id: String,
        estimated_input: u64,
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
            ticket.set_tokens(&self.state, usage);
            if let Some(error) = error {
                tracing::warn!(request.id = %self.request_id, code = error.code(), error = %error, "relay stream failed");
            }
            ticket.finish(&self.state, status, error);
        }
    }

    fn on_event(&mut self, event: StreamEvent, out: &mut Vec<Bytes>) {
        match event {
            StreamEvent::Delta(text) => {
                self.delivered_chars += text.chars().count() as u64;
                self.delivered_text_tokens += estimate_tokens(&text);
                self.writer.delta(&text, out);
            }
            StreamEvent::Usage { input, output } => {
                self.input_tokens = input.or(self.input_tokens);
                self.output_tokens = output.or(self.output_tokens);
            }
            StreamEvent::Finish(reason) => self.finish = reason,
        }
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
                Poll::Ready(Some(Err(error))) => {
                    this.writer.error(&error, &this.request_id, &mut out);
                    this.done = true;
                    this.close(error.status().as_u16(), Some(&error), false);
                }
                Poll::Ready(None) => {
                    let usage = this.usage();
                    this.writer.end(this.finish, usage, &mut out);
                    this.done = true;
                    this.close(200, None, false);
                }
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
