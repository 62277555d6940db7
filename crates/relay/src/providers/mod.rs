//! Provider adapters behind one trait. Each adapter translates the canonical
//! request into its provider's wire format, sends it with the decrypted
//! credential, and translates the answer (or the stream) back. One pooled HTTP
//! client with connect, first-byte and total timeouts serves them all.

pub mod anthropic;
pub mod gemini;
pub mod mock;
pub mod openai;
mod sse;

use std::fmt;
use std::time::Duration;

use futures_util::future::BoxFuture;
use reqwest::header::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use crate::canonical::{ChatRequest, ChatResponse, ProviderReply};
use crate::error::RelayError;

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
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url.trim_end_matches('/'), path)
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

pub trait Provider: Send + Sync {
    fn send<'a>(
        &'a self,
        call: UpstreamCall<'a>,
    ) -> BoxFuture<'a, Result<ProviderReply, RelayError>>;
}

#[derive(Clone, Copy, Debug)]
pub struct UpstreamTimeouts {
    pub connect: Duration,
    /// From sending the request to the response headers.
    pub first_byte: Duration,
    /// The whole exchange, body and stream included.
    pub total: Duration,
}

impl Default for UpstreamTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            first_byte: Duration::from_secs(60),
            total: Duration::from_secs(600),
        }
    }
}

/// The relay's one pooled HTTP client.
pub fn http_client(timeouts: &UpstreamTimeouts) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.total)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(512)
        .tcp_nodelay(true)
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
    timeouts: UpstreamTimeouts,
}

impl Upstream {
    pub fn new(client: reqwest::Client, timeouts: UpstreamTimeouts) -> Self {
        Self {
            template: client,
            timeouts,
        }
    }

    fn client(&self) -> reqwest::Client {
        WORKER_CLIENT.with(|cell| {
            let mut slot = cell.borrow_mut();
            if let Some(client) = slot.as_ref() {
                return client.clone();
            }
            let client = http_client(&self.timeouts).unwrap_or_else(|_| self.template.clone());
            *slot = Some(client.clone());
            client
        })
    }

    /// POSTs JSON and returns the response once its headers arrived with a 2xx.
    /// A connection that could not be opened is retried once: nothing was sent,
    /// so the retry cannot double a request. Nothing else is retried.
    async fn post_json(
        &self,
        url: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: &serde_json::Value,
    ) -> Result<reqwest::Response, RelayError> {
        let payload = serde_json::to_vec(body).map_err(|_| RelayError::Internal)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut builder = self
                .client()
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(payload.clone());
            for (name, value) in headers {
                builder = builder.header(name.clone(), value.clone());
            }
            let sent = tokio::time::timeout(self.timeouts.first_byte, builder.send()).await;
            let response = match sent {
                Err(_) => return Err(RelayError::UpstreamTimeout),
                Ok(Err(e)) if e.is_connect() && attempt < 2 => continue,
                Ok(Err(e)) => return Err(transport_error(&e)),
                Ok(Ok(response)) => response,
            };
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            // The body of a failed upstream call is not read into a message or a log:
            // providers echo request fragments in their errors.
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
        url: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: &serde_json::Value,
        mut step: S,
        parse: fn(&serde_json::Value, &str) -> Result<ChatResponse, RelayError>,
    ) -> Result<ProviderReply, RelayError>
    where
        S: FnMut(&str) -> Result<sse::Step, RelayError> + Send + 'static,
    {
        let response = self.post_json(url, headers, body).await?;
        if call.request.stream {
            Ok(ProviderReply::Stream(sse::adapt(response, move |event| {
                step(&event.data)
            })))
        } else {
            let body = Self::read_json(response).await?;
            Ok(ProviderReply::Complete(parse(&body, call.model)?))
        }
    }

    async fn read_json(response: reqwest::Response) -> Result<serde_json::Value, RelayError> {
        let bytes = response.bytes().await.map_err(|e| transport_error(&e))?;
        serde_json::from_slice(&bytes).map_err(|_| RelayError::UpstreamProtocol)
    }
}

fn transport_error(error: &reqwest::Error) -> RelayError {
    if error.is_timeout() {
        RelayError::UpstreamTimeout
    } else if error.is_connect() {
        RelayError::UpstreamUnreachable
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
