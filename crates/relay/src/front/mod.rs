//! Front-ends: the wire shapes apps speak to the relay. Each parses its request
//! shape into the canonical [`ChatRequest`] and
//! renders canonical answers, streams and errors back in its own shape.

pub mod anthropic;
pub mod crossing;
pub mod embeddings;
pub mod openai;
pub mod responses;
pub mod texts;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::canonical::{ChatRequest, ChatResponse, FinishReason, TokenUsage};
use crate::error::RelayError;
use crate::providers::ProviderKind;
use texts::{TextField, Visitor};

/// A request as the app sent it. A same-wire route (an OpenAI-shaped request to an
/// OpenAI-compatible provider, an Anthropic-shaped one to Anthropic) forwards
/// `body` itself, edited only where the policy must (redacted text, the upstream
/// model, a lowered `max_tokens`), so a field the relay has no name for reaches
/// the provider all the same. `request` is the canonical view of it: what the
/// checks read, and what a cross-wire adapter translates.
pub struct WireRequest {
    pub front: Front,
    /// The body, a JSON object.
    pub body: Map<String, Value>,
    pub request: ChatRequest,
    pub options: FrontOptions,
}

impl WireRequest {
    pub fn parse(front: Front, bytes: &[u8]) -> Result<WireRequest, RelayError> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| RelayError::InvalidRequest(describe_json_error(&e)))?;
        let Value::Object(mut body) = value else {
            return Err(RelayError::InvalidRequest(
                "request body must be a JSON object".into(),
            ));
        };
        if front == Front::Embeddings {
            embeddings::decode_token_inputs(&mut body)?;
        }
        let (request, options) = front.canonical(&body)?;
        Ok(WireRequest {
            front,
            body,
            request,
            options,
        })
    }

    /// Calls `visit` with every text of the body (see [`texts`]).
    pub fn for_each_text(
        &mut self,
        visit: &mut dyn FnMut(TextField, &mut String) -> Result<(), RelayError>,
    ) -> Result<(), RelayError> {
        let mut visitor = Visitor::new(visit);
        match self.front {
            Front::OpenAi => texts::openai_chat(&mut self.body, &mut visitor),
            Front::Anthropic | Front::CountTokens => {
                texts::anthropic_messages(&mut self.body, &mut visitor)
            }
            Front::Responses => texts::openai_responses(&mut self.body, &mut visitor),
            Front::Embeddings => texts::openai_embeddings(&mut self.body, &mut visitor),
        }
    }

    /// How much text the body carries: every text the provider receives except
    /// names and ids (what the input limit, the usage record and the estimates count).
    pub fn text_size(&mut self) -> TextSize {
        let mut size = TextSize::default();
        // Counting never fails; the visitor's error type is the walkers'.
        let _ = self.for_each_text(&mut |field, text| {
            if field != TextField::Identifier {
                size.chars += text.chars().count() as u64;
                size.bytes += text.len() as u64;
            }
            Ok(())
        });
        size
    }

    /// Every text of the body, copied (for an exact token count, which is rare).
    pub fn texts(&mut self) -> Vec<String> {
        let mut all = Vec::new();
        let _ = self.for_each_text(&mut |field, text| {
            if field != TextField::Identifier {
                all.push(text.clone());
            }
            Ok(())
        });
        all
    }

    /// The canonical view again, after the screens rewrote the body.
    pub fn reparse(&mut self) -> Result<(), RelayError> {
        let max_tokens = self.request.max_tokens;
        (self.request, self.options) = self.front.canonical(&self.body)?;
        self.request.max_tokens = max_tokens;
        Ok(())
    }

    /// Whether `kind` speaks this request's wire format, so the body can go as it is.
    pub fn same_wire(&self, kind: ProviderKind) -> bool {
        self.front.same_wire(kind)
    }

    /// The body a same-wire provider receives: the app's, with the upstream model
    /// name, the `max_tokens` the key allows, and (for a stream) a request for the
    /// usage the relay needs to settle the cost.
    pub fn take_upstream_body(&mut self, model: &str) -> Map<String, Value> {
        let mut body = std::mem::take(&mut self.body);
        body.insert("model".into(), Value::String(model.to_owned()));
        if let Some(max_tokens) = self.request.max_tokens {
            let field = self
                .options
                .max_tokens_field
                .unwrap_or_else(|| output_limit_field(model));
            body.insert(field.into(), max_tokens.into());
        }
        if self.front == Front::OpenAi && self.request.stream {
            let options = body
                .entry("stream_options")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(options) = options {
                options.insert("include_usage".into(), Value::Bool(true));
            }
        }
        body
    }
}

/// Which API shape the app used; decides parsing, rendering and the error body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Front {
    /// OpenAI Chat Completions.
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
    /// OpenAI Responses.
    Responses,
    /// OpenAI embeddings.
    Embeddings,
    /// Anthropic's token count of a Messages body.
    CountTokens,
}

/// The text a request carries, in Unicode scalars and in bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct TextSize {
    pub chars: u64,
    pub bytes: u64,
}

/// The field that limits output for an OpenAI-compatible model when the app sent
/// none: OpenAI's reasoning models take only `max_completion_tokens`; most other
/// compatible servers know only `max_tokens`.
pub(crate) fn output_limit_field(model: &str) -> &'static str {
    let reasoning = model.starts_with("gpt-5")
        || (model.starts_with('o') && model[1..].starts_with(|c: char| c.is_ascii_digit()));
    if reasoning {
        "max_completion_tokens"
    } else {
        "max_tokens"
    }
}

/// What a front-end took from the request beyond the canonical fields.
#[derive(Clone, Copy, Debug, Default)]
pub struct FrontOptions {
    /// OpenAI `stream_options.include_usage`: send a final chunk with token counts.
    pub include_usage: bool,
    /// The field the request limits output with (`max_tokens` or OpenAI's
    /// `max_completion_tokens`), if any; a lowered limit is written back there.
    pub max_tokens_field: Option<&'static str>,
}

impl Front {
    /// Whether a provider of `kind` speaks this API itself (the app's body can go
    /// as it is). A Responses request goes as it is to OpenAI providers: those
    /// that do not implement the Responses API answer with an error.
    pub fn same_wire(self, kind: ProviderKind) -> bool {
        matches!(
            (self, kind),
            (
                Front::OpenAi | Front::Responses | Front::Embeddings,
                ProviderKind::OpenAi
            ) | (
                Front::Anthropic | Front::CountTokens,
                ProviderKind::Anthropic
            )
        )
    }

    pub fn endpoint(self) -> &'static str {
        match self {
            Front::OpenAi => "chat_completions",
            Front::Anthropic => "messages",
            Front::Responses => "responses",
            Front::Embeddings => "embeddings",
            Front::CountTokens => "count_tokens",
        }
    }

    /// The canonical view of a body (lenient: what it cannot express, such as
    /// audio parts or documents, is left out of the view and stays in the body).
    fn canonical(
        self,
        body: &Map<String, Value>,
    ) -> Result<(ChatRequest, FrontOptions), RelayError> {
        match self {
            Front::OpenAi => openai::parse_request(body),
            Front::Anthropic => anthropic::parse_request(body),
            Front::Responses => responses::parse_request(body),
            Front::Embeddings => embeddings::parse_request(body),
            Front::CountTokens => anthropic::parse_count_tokens(body),
        }
    }

    pub fn render(self, response: &ChatResponse, request_id: &str) -> serde_json::Value {
        match self {
            Front::OpenAi | Front::Embeddings => openai::render_response(response, request_id),
            Front::Anthropic | Front::CountTokens => {
                anthropic::render_response(response, request_id)
            }
            Front::Responses => responses::render_response(response, request_id),
        }
    }

    pub fn error_body(self, error: &RelayError, request_id: &str) -> serde_json::Value {
        match self {
            Front::OpenAi | Front::Responses | Front::Embeddings => error.openai_body(request_id),
            Front::Anthropic | Front::CountTokens => error.anthropic_body(request_id),
        }
    }

    pub fn stream_writer(
        self,
        request_id: &str,
        model: &str,
        options: FrontOptions,
        estimated_input_tokens: u64,
    ) -> Box<dyn SseWriter> {
        match self {
            Front::OpenAi | Front::Embeddings => {
                Box::new(openai::StreamWriter::new(request_id, model, options))
            }
            Front::Responses => Box::new(responses::StreamWriter::new(request_id, model)),
            Front::Anthropic | Front::CountTokens => Box::new(anthropic::StreamWriter::new(
                request_id,
                model,
                estimated_input_tokens,
            )),
        }
    }
}

/// Labels from the request (a model name, a role, a part type) are echoed in an
/// error only short and only if they look like identifiers: what a client put in
/// a field may be a secret.
pub(crate) fn truncate_label(label: &str) -> String {
    label
        .chars()
        .take(32)
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-' || *c == '.')
        .collect()
}

/// A tool the app offers, checked alike on both fronts: a name of 1-64 characters
/// of a-z, A-Z, 0-9, `_` and `-` (what every provider accepts), and an empty object
/// schema when none is given.
pub(crate) fn tool_spec(
    index: usize,
    name: String,
    description: Option<String>,
    parameters: Option<serde_json::Value>,
    strict: Option<bool>,
) -> Result<crate::canonical::ToolSpec, RelayError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid {
        return Err(RelayError::InvalidRequest(format!(
            "tools[{index}]: a tool name is 1-64 characters of a-z, A-Z, 0-9, _ and -"
        )));
    }
    Ok(crate::canonical::ToolSpec {
        name,
        description,
        parameters: parameters
            .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}})),
        strict,
    })
}

/// A piece of a streamed tool call, as a writer renders it.
pub struct ToolCallPiece<'a> {
    pub index: u32,
    pub id: Option<&'a str>,
    pub name: Option<&'a str>,
    pub arguments: &'a str,
}

/// Renders a canonical stream as server-sent events in one API's shape.
pub trait SseWriter: Send {
    fn begin(&mut self, out: &mut Vec<Bytes>);
    fn delta(&mut self, text: &str, out: &mut Vec<Bytes>);
    /// A piece of a tool call; pieces of one call come together, in order.
    fn tool_call(&mut self, piece: &ToolCallPiece<'_>, out: &mut Vec<Bytes>);
    fn end(&mut self, finish: FinishReason, usage: TokenUsage, out: &mut Vec<Bytes>);
    /// What the call cost, in dollars, for the final usage the stream reports
    /// (`airlock_cost_usd`); called before [`SseWriter::end`] when it is known.
    fn set_cost(&mut self, cost_usd: f64);
    fn error(&mut self, error: &RelayError, request_id: &str, out: &mut Vec<Bytes>);
}

/// One SSE frame: an optional `event:` line and one `data:` line (our JSON never
/// contains a raw newline, serde escapes them).
pub fn sse_frame(event: Option<&str>, data: &str) -> Bytes {
    let mut frame = String::with_capacity(data.len() + 32);
    if let Some(event) = event {
        frame.push_str("event: ");
        frame.push_str(event);
        frame.push('\n');
    }
    frame.push_str("data: ");
    frame.push_str(data);
    frame.push_str("\n\n");
    Bytes::from(frame)
}

/// serde_json's messages for a wrong type quote the offending value, which may be
/// the caller's secret put in the wrong field. Keep the position and the
/// expectation, drop the quoted value.
pub fn describe_json_error(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let cleaned = match (message.find('"'), message.rfind('"')) {
        (Some(start), Some(end)) if end > start && message.contains("invalid ") => {
            format!("{}…{}", &message[..start], &message[end + 1..])
        }
        _ => message,
    };
    match error.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            format!("request body is not valid JSON: {cleaned}")
        }
        _ => format!("request body has the wrong shape: {cleaned}"),
    }
}

pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_type_errors_do_not_echo_the_value() {
        let err = serde_json::from_str::<u32>("\"sk-secret-value\"").unwrap_err();
        let text = describe_json_error(&err);
        assert!(!text.contains("sk-secret-value"), "{text}");
        assert!(
            text.starts_with("request body has the wrong shape"),
            "{text}"
        );
    }
}
