//! The Anthropic Messages shape (`POST /v1/messages`), parsed into the canonical
//! request and rendered back; streams use Anthropic's event types
//! (`message_start`, `content_block_*`, `message_delta`, `message_stop`).

use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

use super::openai::truncate_label;
use super::{FrontOptions, SseWriter, describe_json_error, sse_frame};
use crate::canonical::{
    ChatMessage, ChatRequest, ChatResponse, ChatRole, FinishReason, TokenUsage,
};
use crate::error::RelayError;

#[derive(Deserialize)]
struct Request {
    model: String,
    max_tokens: u32,
    messages: Vec<Message>,
    #[serde(default)]
    system: Option<Blocks>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    stop_sequences: Option<Vec<String>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    tools: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Message {
    role: String,
    content: Blocks,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Blocks {
    Text(String),
    List(Vec<Block>),
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

impl Blocks {
    fn into_text(self, at: &str) -> Result<String, RelayError> {
        match self {
            Blocks::Text(text) => Ok(text),
            Blocks::List(blocks) => {
                let mut text = String::new();
                for block in blocks {
                    match (block.kind.as_str(), block.text) {
                        ("text", Some(t)) => text.push_str(&t),
                        ("text", None) => {
                            return Err(RelayError::InvalidRequest(format!(
                                "{at}: a `text` block needs a `text` field"
                            )));
                        }
                        (other, _) => {
                            return Err(RelayError::InvalidRequest(format!(
                                "{at}: content blocks of type `{}` are not supported by this relay yet; send text blocks",
                                truncate_label(other)
                            )));
                        }
                    }
                }
                Ok(text)
            }
        }
    }
}

pub fn parse_request(body: &[u8]) -> Result<(ChatRequest, FrontOptions), RelayError> {
    let request: Request = serde_json::from_slice(body)
        .map_err(|e| RelayError::InvalidRequest(describe_json_error(&e)))?;
    if request.tools.is_some() {
        return Err(RelayError::InvalidRequest(
            "tool use is not supported by this relay yet".into(),
        ));
    }
    if request.model.trim().is_empty() {
        return Err(RelayError::InvalidRequest(
            "`model` must not be empty".into(),
        ));
    }
    if request.messages.is_empty() {
        return Err(RelayError::InvalidRequest(
            "`messages` must hold at least one message".into(),
        ));
    }
    if request.max_tokens == 0 {
        return Err(RelayError::InvalidRequest(
            "`max_tokens` must be at least 1".into(),
        ));
    }
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if let Some(system) = request.system {
        messages.push(ChatMessage::new(
            ChatRole::System,
            system.into_text("system")?,
        ));
    }
    for (index, message) in request.messages.into_iter().enumerate() {
        let role = match message.role.as_str() {
            "user" => ChatRole::User,
            "assistant" => ChatRole::Assistant,
            other => {
                return Err(RelayError::InvalidRequest(format!(
                    "messages[{index}]: unknown role `{}`; use user or assistant (system goes in `system`)",
                    truncate_label(other)
                )));
            }
        };
        let text = message.content.into_text(&format!("messages[{index}]"))?;
        messages.push(ChatMessage::new(role, text));
    }
    Ok((
        ChatRequest {
            model: request.model,
            messages,
            max_tokens: Some(request.max_tokens),
            temperature: request.temperature,
            top_p: request.top_p,
            stop: request.stop_sequences.unwrap_or_default(),
            stream: request.stream.unwrap_or(false),
            tools: Vec::new(),
            tool_choice: None,
        },
        FrontOptions::default(),
    ))
}

pub fn stop_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop | FinishReason::Other | FinishReason::ContentFilter => "end_turn",
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
    }
}

fn message_id(request_id: &str) -> String {
    format!("msg_{}", request_id.trim_start_matches("req_"))
}

pub fn render_response(response: &ChatResponse, request_id: &str) -> serde_json::Value {
    json!({
        "id": message_id(request_id),
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": [{"type": "text", "text": response.text}],
        "stop_reason": stop_reason(response.finish),
        "stop_sequence": null,
        "usage": {"input_tokens": response.usage.input, "output_tokens": response.usage.output},
    })
}

pub struct StreamWriter {
    id: String,
    model: String,
    estimated_input_tokens: u64,
}

impl StreamWriter {
    pub fn new(request_id: &str, model: &str, estimated_input_tokens: u64) -> Self {
        Self {
            id: message_id(request_id),
            model: model.to_owned(),
            estimated_input_tokens,
        }
    }
}

impl SseWriter for StreamWriter {
    fn begin(&mut self, out: &mut Vec<Bytes>) {
        // Not every upstream reports input tokens before the answer (OpenAI sends them
        // last), so `message_start` carries our estimate and `message_delta` the real count.
        let start = json!({
            "type": "message_start",
            "message": {
                "id": self.id, "type": "message", "role": "assistant", "model": self.model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": self.estimated_input_tokens, "output_tokens": 0},
            }
        });
        out.push(sse_frame(Some("message_start"), &start.to_string()));
        let block = json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}});
        out.push(sse_frame(Some("content_block_start"), &block.to_string()));
    }

    fn delta(&mut self, text: &str, out: &mut Vec<Bytes>) {
        let delta = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}});
        out.push(sse_frame(Some("content_block_delta"), &delta.to_string()));
    }

    fn end(&mut self, finish: FinishReason, usage: TokenUsage, out: &mut Vec<Bytes>) {
        out.push(sse_frame(
            Some("content_block_stop"),
            r#"{"type":"content_block_stop","index":0}"#,
        ));
        let delta = json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason(finish), "stop_sequence": null},
            "usage": {"input_tokens": usage.input, "output_tokens": usage.output},
        });
        out.push(sse_frame(Some("message_delta"), &delta.to_string()));
        out.push(sse_frame(
            Some("message_stop"),
            r#"{"type":"message_stop"}"#,
        ));
    }

    fn error(&mut self, error: &RelayError, request_id: &str, out: &mut Vec<Bytes>) {
        out.push(sse_frame(
            Some("error"),
            &error.anthropic_body(request_id).to_string(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_blocks_become_a_leading_system_message() {
        let body = br#"{"model":"claude-sonnet-4-5","max_tokens":64,
            "system":[{"type":"text","text":"be brief"}],
            "messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],
            "stop_sequences":["END"]}"#;
        let (request, _) = parse_request(body).unwrap();
        assert_eq!(request.messages[0].role, ChatRole::System);
        assert_eq!(request.messages[0].text, "be brief");
        assert_eq!(request.messages[1].text, "hi");
        assert_eq!(request.max_tokens, Some(64));
    }

    #[test]
    fn max_tokens_is_required_as_in_the_anthropic_api() {
        let err = parse_request(br#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#)
            .unwrap_err();
        assert!(matches!(err, RelayError::InvalidRequest(ref m) if m.contains("max_tokens")));
    }

    #[test]
    fn a_stream_has_the_anthropic_event_sequence() {
        let mut writer = StreamWriter::new("req_1", "claude", 5);
        let mut out = Vec::new();
        writer.begin(&mut out);
        writer.delta("hi", &mut out);
        writer.end(
            FinishReason::Length,
            TokenUsage {
                input: 5,
                output: 1,
            },
            &mut out,
        );
        let text: String = out
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect();
        let events: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect();
        assert_eq!(
            events,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert!(text.contains(r#""stop_reason":"max_tokens""#));
    }
}
