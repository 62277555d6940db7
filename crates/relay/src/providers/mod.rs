//! Provider adapters behind one trait. Each adapter translates the canonical
//! request into its provider's wire format, sends it with the decrypted
//! credential, and translates the answer (or the stream) back. One pooled HTTP
//! client with connect, first-byte and total timeouts serves them all.

pub mod anthropic;
pub mod egress;
pub mod gemini;
pub mod mock;
pub mod openai;
pub mod sse;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use reqwest::header::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use crate::canonical::{ChatRequest, ChatResponse, ProviderReply};
use crate::error::RelayError;
use crate::front::Front;

pub use airlock_core::provider::ProviderKind;

/// A tenant's configured provider, with its credential decrypted in memory only.
pub struct ProviderEndpoint {
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    pub credential: Option<SecretString>,
}

impl fmt::Debug for ProviderEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderEndpoint")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field(
                "credential",
                &self.credential.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl ProviderEndpoint {
    /// The base URL joined with an API path. Base URLs are checked when saved (no
    /// query, fragment or credentials); one that fails here was stored before that
    /// check or by hand, and is refused rather than guessed at.
    fn url(&self, path: &str) -> Result<url::Url, RelayError> {
        let joined = format!("{}{}", self.base_url.trim_end_matches('/'), path);
        let misconfigured = || RelayError::ProviderMisconfigured(self.name.clone());
        let url = url::Url::parse(&joined).map_err(|_| misconfigured())?;
        if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
            return Err(misconfigured());
        }
        // Only the Gemini stream path carries a query, and only `alt=sse`.
        if url.query().is_some_and(|q| q != "alt=sse") {
            return Err(misconfigured());
        }
        Ok(url)
    }

    /// The credential as a header value marked sensitive, so neither reqwest nor
    /// hyper prints it in a `Debug` of the request.
    fn credential_header(&self, prefix: &str) -> Result<HeaderValue, RelayError> {
        let Some(secret) = &self.credential else {
            return Err(RelayError::CredentialUnavailable(self.name.clone()));
        };
        let mut value = HeaderValue::from_str(&format!("{prefix}{}", secret.expose_secret()))
            .map_err(|_| RelayError::CredentialUnavailable(self.name.clone()))?;
        value.set_sensitive(true);
        Ok(value)
    }
}

/// A tool call's arguments as the JSON object Anthropic and Gemini take. Models
/// occasionally write arguments that are not JSON; those are passed on under
/// `arguments` rather than dropped.
pub(crate) fn arguments_object(arguments: &str) -> serde_json::Value {
    match serde_json::from_str::<serde_json::Value>(arguments) {
        Ok(value @ serde_json::Value::Object(_)) => value,
        _ if arguments.trim().is_empty() => serde_json::json!({}),
        _ => serde_json::json!({ "arguments": arguments }),
    }
}

/// Adds a turn's parts, joined to the previous turn when it has the same role:
/// Anthropic and Gemini alternate roles, and tool results travel in the user's turn.
pub(crate) fn push_turn<'a>(
    turns: &mut Vec<(&'a str, Vec<serde_json::Value>)>,
    role: &'a str,
    parts: Vec<serde_json::Value>,
) {
    match turns.last_mut() {
        Some((last, existing)) if *last == role => existing.extend(parts),
        _ => turns.push((role, parts)),
    }
}

/// One call to a provider: everything an adapter needs, borrowed.
pub struct UpstreamCall<'a> {
    pub endpoint: &'a ProviderEndpoint,
    /// The model name to send upstream (after routing stripped `provider/`).
    pub model: &'a str,
    pub request: &'a ChatRequest,
}

/// A same-wire call: the app's own body (already edited by the pipeline) to the
/// provider's endpoint for that API.
pub struct NativeCall<'a> {
    pub endpoint: &'a ProviderEndpoint,
    pub front: Front,
    pub body: serde_json::Map<String, serde_json::Value>,
    pub stream: bool,
    /// Client headers the provider also receives (see `pipeline::forwarded_headers`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// A same-wire answer: the provider's JSON, or its SSE events, to be edited by the
/// answer's guard and passed on.
pub enum NativeReply {
    /// The answer, a JSON object.
    Complete(serde_json::Value),
    Stream(sse::SseEvents),
}

/// What the provider's response headers say that the client should see too.
#[derive(Clone, Debug, Default)]
pub struct UpstreamMeta {
    /// The provider's request id headers (`x-request-id`, `request-id`), for the
    /// app to quote to its provider.
    pub request_ids: Vec<(&'static str, String)>,
}

impl UpstreamMeta {
    const REQUEST_ID_HEADERS: [&'static str; 2] = ["x-request-id", "request-id"];

    fn of(response: &reqwest::Response) -> UpstreamMeta {
        let request_ids = Self::REQUEST_ID_HEADERS
            .iter()
            .filter_map(|name| {
                let value = response.headers().get(*name)?.to_str().ok()?;
                // An id, not a message: short and plain, or not passed on.
                let plain = value.len() <= 128
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
                plain.then(|| (*name, value.to_owned()))
            })
            .collect();
        UpstreamMeta { request_ids }
    }
}

pub type Answer = (ProviderReply, UpstreamMeta);

pub trait Provider: Send + Sync {
    fn send<'a>(&'a self, call: UpstreamCall<'a>) -> BoxFuture<'a, Result<Answer, RelayError>>;
}

#[derive(Clone, Copy, Debug)]
pub struct UpstreamTimeouts {
    pub connect: Duration,
    /// From sending the request to the response headers.
    pub first_byte: Duration,
    /// The longest silence between two chunks of a body or stream.
    pub idle: Duration,
    /// The whole exchange, body and stream included.
    pub total: Duration,
}

impl Default for UpstreamTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            first_byte: Duration::from_secs(60),
            idle: Duration::from_secs(60),
            total: Duration::from_secs(600),
        }
    }
}

/// How the relay talks to upstreams: timeouts, and the most it reads of an answer.
#[derive(Clone, Copy, Debug)]
pub struct UpstreamSettings {
    pub timeouts: UpstreamTimeouts,
    /// The largest non-streamed answer read (`relay.max_upstream_body_bytes`).
    pub max_body_bytes: usize,
    /// The largest single SSE event or line of a stream (`relay.max_upstream_event_bytes`).
    pub max_event_bytes: usize,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        Self {
            timeouts: UpstreamTimeouts::default(),
            max_body_bytes: 16 << 20,
            max_event_bytes: 1 << 20,
        }
    }
}

/// The header every upstream request carries, so a relay that is (through any chain
/// of base URLs) asked to call itself refuses instead of recursing.
pub const HOP_HEADER: &str = "x-airlock-hop";

/// The relay's one pooled HTTP client: timeouts, no redirects (a 3xx could point
/// anywhere, and the egress check was made for this URL only), no proxy from the
/// environment (the egress check must see the real destination), and the egress
/// resolver.
pub fn http_client(
    timeouts: &UpstreamTimeouts,
    resolver: Arc<egress::EgressResolver>,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.total)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(512)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(resolver)
        .user_agent(concat!("airlock/", env!("CARGO_PKG_VERSION")))
        .build()
}

thread_local! {
    /// One pooled client per actix worker thread. hyper drives a pooled connection
    /// on the runtime that opened it; a client shared across workers makes half the
    /// requests wake another thread's runtime for every read and write (the largest
    /// item in the relay's profile under streaming load).
    static WORKER_CLIENT: std::cell::RefCell<Option<reqwest::Client>> = const { std::cell::RefCell::new(None) };
}

/// Shared HTTP plumbing of the adapters.
#[derive(Clone)]
pub struct Upstream {
    /// Used to build each worker's client with the same settings; kept so a
    /// configuration error surfaces at startup, not on the first request.
    template: reqwest::Client,
    settings: UpstreamSettings,
    egress: Arc<egress::Egress>,
}

impl Upstream {
    pub fn new(
        settings: UpstreamSettings,
        egress: Arc<egress::Egress>,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            template: http_client(&settings.timeouts, egress.resolver())?,
            settings,
            egress,
        })
    }

    fn client(&self) -> reqwest::Client {
        WORKER_CLIENT.with(|cell| {
            let mut slot = cell.borrow_mut();
            if let Some(client) = slot.as_ref() {
                return client.clone();
            }
            let client = http_client(&self.settings.timeouts, self.egress.resolver())
                .unwrap_or_else(|_| self.template.clone());
            *slot = Some(client.clone());
            client
        })
    }

    /// POSTs JSON and returns the response once its headers arrived with a 2xx.
    /// The destination is checked against the egress policy (the URL here, the
    /// resolved address in the resolver). A connection that could not be opened is
    /// retried once: nothing was sent, so the retry cannot double a request.
    /// Nothing else is retried.
    async fn post_json(
        &self,
        endpoint: &ProviderEndpoint,
        path: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: &impl serde::Serialize,
    ) -> Result<reqwest::Response, RelayError> {
        let url = endpoint.url(path)?;
        let denied = || RelayError::EgressDenied(endpoint.name.clone());
        self.egress.check_url(&url).map_err(|_| denied())?;
        let port = url.port_or_known_default().unwrap_or(0);
        let payload =
            bytes::Bytes::from(serde_json::to_vec(body).map_err(|_| RelayError::Internal)?);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut builder = self
                .client()
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(HOP_HEADER, "1")
                .body(payload.clone());
            for (name, value) in headers {
                builder = builder.header(name.clone(), value.clone());
            }
            let send = egress::with_target_port(port, builder.send());
            let sent = tokio::time::timeout(self.settings.timeouts.first_byte, send).await;
            let response = match sent {
                Err(_) => return Err(RelayError::UpstreamTimeout),
                Ok(Err(e)) if egress::refusal_in(&e).is_some() => return Err(denied()),
                Ok(Err(e)) if e.is_connect() && attempt < 2 => continue,
                Ok(Err(e)) => return Err(transport_error(&e)),
                Ok(Ok(response)) => response,
            };
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            // The body of a failed upstream call is not read into a message or a log:
            // providers echo request fragments in their errors. A redirect is a
            // failure too: it is never followed.
            return Err(match status.as_u16() {
                code @ (400 | 404 | 413 | 422) => RelayError::UpstreamRejected(code),
                code => RelayError::UpstreamStatus(code),
            });
        }
    }

    /// One provider exchange: POST, then either adapt the SSE stream with `step`
    /// or parse the JSON answer with `parse`. Each adapter supplies only its URL,
    /// headers, body and the two translations; `step` may keep state across the
    /// events of one stream (which tool call a content block belongs to).
    async fn exchange<S>(
        &self,
        call: &UpstreamCall<'_>,
        path: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: &serde_json::Value,
        step: S,
        parse: fn(&serde_json::Value, &str) -> Result<ChatResponse, RelayError>,
    ) -> Result<Answer, RelayError>
    where
        S: FnMut(&str) -> Result<sse::Step, RelayError> + Send + 'static,
    {
        let response = self.post_json(call.endpoint, path, headers, body).await?;
        let meta = UpstreamMeta::of(&response);
        if call.request.stream {
            Ok((
                ProviderReply::Stream(sse::adapt(response, self.stream_limits(), step)),
                meta,
            ))
        } else {
            let body = self.read_json(response).await?;
            Ok((ProviderReply::Complete(parse(&body, call.model)?), meta))
        }
    }

    fn stream_limits(&self) -> sse::StreamLimits {
        sse::StreamLimits {
            max_event_bytes: self.settings.max_event_bytes,
            idle: self.settings.timeouts.idle,
        }
    }

    /// A POST whose answer is one JSON document (embeddings).
    async fn post_for_json(
        &self,
        endpoint: &ProviderEndpoint,
        path: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: &impl serde::Serialize,
    ) -> Result<(serde_json::Value, UpstreamMeta), RelayError> {
        let response = self.post_json(endpoint, path, headers, body).await?;
        let meta = UpstreamMeta::of(&response);
        Ok((self.read_json(response).await?, meta))
    }

    /// A same-wire exchange: the body as given, the answer as JSON or SSE events.
    async fn native(
        &self,
        call: NativeCall<'_>,
        path: &str,
        mut headers: Vec<(HeaderName, HeaderValue)>,
    ) -> Result<(NativeReply, UpstreamMeta), RelayError> {
        headers.extend(call.headers);
        let response = self
            .post_json(call.endpoint, path, &headers, &call.body)
            .await?;
        let meta = UpstreamMeta::of(&response);
        if call.stream {
            let events = sse::raw_events(response, self.stream_limits());
            return Ok((NativeReply::Stream(events), meta));
        }
        match self.read_json(response).await? {
            body @ serde_json::Value::Object(_) => Ok((NativeReply::Complete(body), meta)),
            _ => Err(RelayError::UpstreamProtocol),
        }
    }

    /// Reads a JSON answer of at most `max_body_bytes`, chunk by chunk, each within
    /// the idle timeout: a hostile upstream can neither fill the relay's memory nor
    /// hold a worker's request open by trickling.
    async fn read_json(
        &self,
        mut response: reqwest::Response,
    ) -> Result<serde_json::Value, RelayError> {
        let cap = self.settings.max_body_bytes;
        if response
            .content_length()
            .is_some_and(|len| len > cap as u64)
        {
            return Err(RelayError::UpstreamTooLarge);
        }
        let mut body = bytes::BytesMut::new();
        loop {
            let chunk = tokio::time::timeout(self.settings.timeouts.idle, response.chunk())
                .await
                .map_err(|_| RelayError::UpstreamTimeout)?
                .map_err(|e| transport_error(&e))?;
            let Some(chunk) = chunk else { break };
            if body.len() + chunk.len() > cap {
                return Err(RelayError::UpstreamTooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|_| RelayError::UpstreamProtocol)
    }
}

/// A transport failure, as the client sees it. Failing to connect, a connection
/// reset and a connect timeout all read the same, so the relay's answers do not
/// tell a tenant which ports are open, closed or filtered.
fn transport_error(error: &reqwest::Error) -> RelayError {
    if error.is_timeout() && !error.is_connect() {
        RelayError::UpstreamTimeout
    } else if error.is_body() || error.is_decode() {
        RelayError::UpstreamCut
    } else {
        RelayError::UpstreamUnreachable
    }
}

/// The adapters by wire format.
pub struct Providers {
    openai: openai::OpenAiAdapter,
    anthropic: anthropic::AnthropicAdapter,
    gemini: gemini::GeminiAdapter,
    mock: mock::MockAdapter,
}

impl Providers {
    pub fn new(upstream: Upstream) -> Self {
        Self {
            openai: openai::OpenAiAdapter::new(upstream.clone()),
            anthropic: anthropic::AnthropicAdapter::new(upstream.clone()),
            gemini: gemini::GeminiAdapter::new(upstream),
            mock: mock::MockAdapter,
        }
    }

    /// Sends a same-wire call to the provider's own endpoint for its API.
    pub async fn send_native(
        &self,
        call: NativeCall<'_>,
    ) -> Result<(NativeReply, UpstreamMeta), RelayError> {
        match call.endpoint.kind {
            ProviderKind::OpenAi if call.front.same_wire(ProviderKind::OpenAi) => {
                self.openai.send_native(call).await
            }
            ProviderKind::Anthropic if call.front.same_wire(ProviderKind::Anthropic) => {
                self.anthropic.send_native(call).await
            }
            // The pipeline sends only same-wire calls here.
            _ => Err(RelayError::Internal),
        }
    }

    /// Embeds texts with a provider of another API (Gemini) or the in-process
    /// mock. OpenAI-compatible providers take the app's body as it is instead.
    pub async fn embed(
        &self,
        endpoint: &ProviderEndpoint,
        model: &str,
        texts: &[&str],
        dimensions: Option<u32>,
    ) -> Result<(Vec<Vec<f32>>, UpstreamMeta), RelayError> {
        match endpoint.kind {
            ProviderKind::Gemini => self.gemini.embed(endpoint, model, texts, dimensions).await,
            ProviderKind::Mock => {
                let d = dimensions.map_or(airlock_core::mock_reply::EMBEDDING_DIMENSIONS, |d| {
                    d as usize
                });
                let vectors = texts
                    .iter()
                    .map(|text| airlock_core::mock_reply::embedding(text, d.min(4096)))
                    .collect();
                Ok((vectors, UpstreamMeta::default()))
            }
            ProviderKind::OpenAi | ProviderKind::Anthropic => Err(RelayError::Internal),
        }
    }

    pub fn for_kind(&self, kind: ProviderKind) -> &dyn Provider {
        match kind {
            ProviderKind::OpenAi => &self.openai,
            ProviderKind::Anthropic => &self.anthropic,
            ProviderKind::Gemini => &self.gemini,
            ProviderKind::Mock => &self.mock,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_an_endpoint_never_shows_the_credential() {
        let endpoint = ProviderEndpoint {
            name: "openai".into(),
            kind: ProviderKind::OpenAi,
            base_url: "http://x".into(),
            credential: Some(SecretString::from("sk-live-canary-123")),
        };
        let text = format!("{endpoint:?}");
        assert!(!text.contains("canary"), "{text}");
        assert!(text.contains("<redacted>"));
    }
}
