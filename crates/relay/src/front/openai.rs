//! The OpenAI Chat Completions shape (`POST /v1/chat/completions`), parsed into
//! the canonical request and rendered back, streamed as `chat.completion.chunk`
//! events ending in `data: [DONE]`.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

use super::{FrontOptions, SseWriter, describe_json_error, sse_frame, unix_now};
use crate::canonical::{
    ChatMessage, ChatRequest, ChatResponse, ChatRole, FinishReason, TokenUsage,
};
use crate::error::RelayError;

#[derive(Deserialize)]
struct Request {
    model: String,
    messages: Vec<Message>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    max_completion_tokens: Option<u32>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    stop: Option<Stop>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    n: Option<u32>,
    #[serde(default)]
    tools: Option<serde_json::Value>,
    #[serde(default)]
    functions: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Message {
    role: String,
    #[serde(default)]
    content: Option<Content>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize)]
pub(crate) struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

impl Content {
    /// Text parts joined; other part types are refused with a message that says so.
    pub(crate) fn into_text(self) -> Result<String, RelayError> {
        match self {
            Content::Text(text) => Ok(text),
            Content::Parts(parts) => {
                let mut text = String::new();
                for part in parts {
                    match (part.kind.as_str(), part.text) {
                        ("text", Some(t)) => text.push_str(&t),
                        ("text", None) => {
                            return Err(RelayError::InvalidRequest(
                                "a content part of type `text` needs a `text` field".into(),
                            ));
                        }
                        (other, _) => {
                            return Err(RelayError::InvalidRequest(format!(
                                "content parts of type `{}` are not supported by this relay yet; send text parts",
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

/// Labels from the request are echoed only short and only if they look like identifiers.
pub(crate) fn truncate_label(label: &str) -> String {
    label
        .chars()
        .take(32)
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-' || *c == '.')
        .collect()
}

pub fn parse_request(body: &[u8]) -> Result<(ChatRequest, FrontOptions), RelayError> {
    let request: Request = serde_json::from_slice(body)
        .map_err(|e| RelayError::InvalidRequest(describe_json_error(&e)))?;
    if request.tools.is_some() || request.functions.is_some() {
        return Err(RelayError::InvalidRequest(
            "tool and function calling are not supported by this relay yet".into(),
        ));
    }
    if request.n.is_some_and(|n| n != 1) {
        return Err(RelayError::InvalidRequest(
            "`n` other than 1 is not supported".into(),
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
    let mut messages = Vec::with_capacity(request.messages.len());
    for (index, message) in request.messages.into_iter().enumerate() {
        let role = match message.role.as_str() {
            "system" | "developer" => ChatRole::System,
            "user" => ChatRole::User,
            "assistant" => ChatRole::Assistant,
            "tool" | "function" => {
                return Err(RelayError::InvalidRequest(format!(
                    "messages[{index}]: tool messages are not supported by this relay yet"
                )));
            }
            other => {
                return Err(RelayError::InvalidRequest(format!(
                    "messages[{index}]: unknown role `{}`; use system, developer, user or assistant",
                    truncate_label(other)
                )));
            }
        };
        let text = match message.content {
            Some(content) => content.into_text()?,
            None => String::new(),
        };
        messages.push(ChatMessage { role, text });
    }
    let stop = match request.stop {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s],
        Some(Stop::Many(v)) => v,
    };
    let options = FrontOptions {
        include_usage: request.stream_options.is_some_and(|o| o.include_usage),
    };
    Ok((
        ChatRequest {
            model: request.model,
            messages,
            max_tokens: request.max_completion_tokens.or(request.max_tokens),
            temperature: request.temperature,
            top_p: request.top_p,
            stop,
            stream: request.stream.unwrap_or(false),
        },
        options,
    ))
}

pub fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop | FinishReason::Other => "stop",
        FinishReason::Length => "length",
        FinishReason::ContentFilter => "content_filter",
    }
}

fn usage_json(usage: TokenUsage) -> serde_json::Value {
    json!({
        "prompt_tokens": usage.input,
        "completion_tokens": usage.output,
        "total_tokens": usage.input + usage.output,
    })
}

fn completion_id(request_id: &str) -> String {
    format!("chatcmpl-{}", request_id.trim_start_matches("req_"))
}

pub fn render_response(response: &ChatResponse, request_id: &str) -> serde_json::Value {
    json!({
        "id": completion_id(request_id),
        "object": "chat.completion",
        "created": unix_now(),
        "model": response.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": response.text, "refusal": null},
            "logprobs": null,
            "finish_reason": finish_reason(response.finish),
        }],
        "usage": usage_json(response.usage),
    })
}

pub struct StreamWriter {
    id: String,
    model: String,
    created: i64,
    include_usage: bool,
}

impl StreamWriter {
    pub fn new(request_id: &str, model: &str, options: FrontOptions) -> Self {
        Self {
            id: completion_id(request_id),
            model: model.to_owned(),
            created: unix_now(),
            include_usage: options.include_usage,
        }
    }

    fn chunk(&self, delta: serde_json::Value, finish: Option<&str>) -> Bytes {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if self.include_usage {
            chunk["usage"] = serde_json::Value::Null;
        }
        sse_frame(None, &chunk.to_string())
    }
}

impl SseWriter for StreamWriter {
    fn begin(&mut self, out: &mut Vec<Bytes>) {
        out.push(self.chunk(json!({"role": "assistant", "content": ""}), None));
    }

    fn delta(&mut self, text: &str, out: &mut Vec<Bytes>) {
        out.push(self.chunk(json!({"content": text}), None));
    }

    fn end(&mut self, finish: FinishReason, usage: TokenUsage, out: &mut Vec<Bytes>) {
        out.push(self.chunk(json!({}), Some(finish_reason(finish))));
        if self.include_usage {
            let chunk = json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": usage_json(usage),
            });
            out.push(sse_frame(None, &chunk.to_string()));
        }
        out.push(sse_frame(None, "[DONE]"));
    }

    fn error(&mut self, error: &RelayError, request_id: &str, out: &mut Vec<Bytes>) {
        // The OpenAI SDKs raise an APIError when a `data:` event carries `error`.
        out.push(sse_frame(None, &error.openai_body(request_id).to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_and_part_contents_both_parse_to_text() {
        let body = br#"{"model":"gpt-4o","messages":[
            {"role":"developer","content":"be brief"},
            {"role":"user","content":[{"type":"text","text":"hello "},{"type":"text","text":"there"}]}
        ],"max_tokens":5,"stop":"END","stream":true,"stream_options":{"include_usage":true}}"#;
        let (request, options) = parse_request(body).unwrap();
        assert_eq!(request.messages[0].role, ChatRole::System);
        assert_eq!(request.messages[1].text, "hello there");
        assert_eq!(request.stop, vec!["END".to_string()]);
        assert_eq!(request.max_tokens, Some(5));
        assert!(request.stream && options.include_usage);
    }

    #[test]
    fn unknown_roles_and_image_parts_are_clear_400s() {
        let err = parse_request(br#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#)
            .unwrap_err();
        assert!(
            matches!(err, RelayError::InvalidRequest(ref m) if m.contains("unknown role `wizard`"))
        );
        let err = parse_request(
            br#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}"#,
        )
        .unwrap_err();
        assert!(matches!(err, RelayError::InvalidRequest(ref m) if m.contains("image_url")));
    }

    #[test]
    fn malformed_bodies_are_invalid_requests() {
        for body in [
            &b"{"[..],
            b"[]",
            b"{\"model\":1}",
            b"\xff\xfe",
            b"{\"model\":\"m\",\"messages\":[]}",
        ] {
            assert!(matches!(
                parse_request(body),
                Err(RelayError::InvalidRequest(_))
            ));
        }
    }

    #[test]
    fn a_stream_ends_with_done_and_usage_when_asked() {
        let mut writer = StreamWriter::new(
            "req_1",
            "gpt-4o",
            FrontOptions {
                include_usage: true,
            },
        );
        let mut out = Vec::new();
        writer.begin(&mut out);
        writer.delta("hi", &mut out);
        writer.end(
            FinishReason::Stop,
            TokenUsage {
                input: 3,
                output: 1,
            },
            &mut out,
        );
        let text: String = out
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect();
        assert!(text.ends_with("data: [DONE]\n\n"));
        assert!(text.contains(r#""total_tokens":4"#));
    }
}
