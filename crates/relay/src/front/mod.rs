//! Front-ends: the wire shapes apps speak to the relay. Each parses its request
//! shape into the canonical [`ChatRequest`] and
//! renders canonical answers, streams and errors back in its own shape.

pub mod anthropic;
pub mod openai;

use bytes::Bytes;

use crate::canonical::{ChatRequest, ChatResponse, FinishReason, TokenUsage};
use crate::error::RelayError;

/// Which API shape the app used; decides parsing, rendering and the error body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Front {
    OpenAi,
    Anthropic,
}

/// What a front-end took from the request beyond the canonical fields.
#[derive(Clone, Copy, Debug, Default)]
pub struct FrontOptions {
    /// OpenAI `stream_options.include_usage`: send a final chunk with token counts.
    pub include_usage: bool,
}

impl Front {
    pub fn endpoint(self) -> &'static str {
        match self {
            Front::OpenAi => "chat_completions",
            Front::Anthropic => "messages",
        }
    }

    pub fn parse(self, body: &[u8]) -> Result<(ChatRequest, FrontOptions), RelayError> {
        match self {
            Front::OpenAi => openai::parse_request(body),
            Front::Anthropic => anthropic::parse_request(body),
        }
    }

    pub fn render(self, response: &ChatResponse, request_id: &str) -> serde_json::Value {
        match self {
            Front::OpenAi => openai::render_response(response, request_id),
            Front::Anthropic => anthropic::render_response(response, request_id),
        }
    }

    pub fn error_body(self, error: &RelayError, request_id: &str) -> serde_json::Value {
        match self {
            Front::OpenAi => error.openai_body(request_id),
            Front::Anthropic => error.anthropic_body(request_id),
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
            Front::OpenAi => Box::new(openai::StreamWriter::new(request_id, model, options)),
            Front::Anthropic => Box::new(anthropic::StreamWriter::new(
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
