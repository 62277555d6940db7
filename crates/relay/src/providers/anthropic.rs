//! Anthropic Messages API. Reached from either front-end: an OpenAI-shaped
//! request naming a Claude model is translated here, and back.

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Value, json};

use super::sse::Step;
use super::{Provider, Upstream, UpstreamCall};
use crate::canonical::{
    ChatRequest, ChatResponse, ChatRole, FinishReason, ProviderReply, StreamEvent, TokenUsage,
};
use crate::error::RelayError;

/// Anthropic requires `max_tokens`; OpenAI-shaped requests often omit it.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;
const API_VERSION: &str = "2023-06-01";

pub struct AnthropicAdapter {
    upstream: Upstream,
}

impl AnthropicAdapter {
    pub fn new(upstream: Upstream) -> Self {
        Self { upstream }
    }
}

pub fn request_body(model: &str, request: &ChatRequest) -> Value {
    let messages: Vec<Value> = request
        .messages
        .iter()
        .filter(|m| m.role != ChatRole::System)
        .map(|m| json!({"role": m.role.as_str(), "content": m.text}))
        .collect();
    let mut body = json!({
        "model": model,
        "messages": messages,
        "max_tokens": request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "stream": request.stream,
    });
    if let Some(system) = request.system_text() {
        body["system"] = json!(system);
    }
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(p) = request.top_p {
        body["top_p"] = json!(p);
    }
    if !request.stop.is_empty() {
        body["stop_sequences"] = json!(request.stop);
    }
    body
}

pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" => FinishReason::Length,
        "refusal" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

fn parse_response(body: &Value, model: &str) -> Result<ChatResponse, RelayError> {
    let blocks = body["content"]
        .as_array()
        .ok_or(RelayError::UpstreamProtocol)?;
    let text: String = blocks
        .iter()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect();
    Ok(ChatResponse {
        model: body["model"].as_str().unwrap_or(model).to_owned(),
        text,
        tool_calls: Vec::new(),
        finish: finish_reason(body["stop_reason"].as_str().unwrap_or("end_turn")),
        usage: TokenUsage {
            input: body["usage"]["input_tokens"].as_u64().unwrap_or(0),
            output: body["usage"]["output_tokens"].as_u64().unwrap_or(0),
        },
    })
}

fn stream_step(data: &str) -> Result<Step, RelayError> {
    let event: Value = serde_json::from_str(data).map_err(|_| RelayError::UpstreamProtocol)?;
    let events = match event["type"].as_str().unwrap_or_default() {
        "message_start" => vec![StreamEvent::Usage {
            input: event["message"]["usage"]["input_tokens"].as_u64(),
            output: None,
        }],
        "content_block_delta" if event["delta"]["type"] == "text_delta" => {
            match event["delta"]["text"].as_str() {
                Some(text) if !text.is_empty() => vec![StreamEvent::Delta(text.to_owned())],
                _ => Vec::new(),
            }
        }
        "message_delta" => {
            let mut events = Vec::new();
            if let Some(reason) = event["delta"]["stop_reason"].as_str() {
                events.push(StreamEvent::Finish(finish_reason(reason)));
            }
            events.push(StreamEvent::Usage {
                input: event["usage"]["input_tokens"].as_u64(),
                output: event["usage"]["output_tokens"].as_u64(),
            });
            events
        }
        "message_stop" => return Ok(Step::Done(Vec::new())),
        "error" => return Err(RelayError::UpstreamCut),
        _ => Vec::new(),
    };
    Ok(Step::Events(events))
}

impl Provider for AnthropicAdapter {
    fn send<'a>(
        &'a self,
        call: UpstreamCall<'a>,
    ) -> BoxFuture<'a, Result<ProviderReply, RelayError>> {
        async move {
            if call.request.uses_tools() {
                return Err(super::tools_unsupported(&call.endpoint.name));
            }
            let headers: [(HeaderName, HeaderValue); 2] = [
                (
                    HeaderName::from_static("x-api-key"),
                    call.endpoint.credential_header("")?,
                ),
                (
                    HeaderName::from_static("anthropic-version"),
                    HeaderValue::from_static(API_VERSION),
                ),
            ];
            let body = request_body(call.model, call.request);
            self.upstream
                .exchange(
                    &call,
                    &call.endpoint.url("/v1/messages"),
                    &headers,
                    &body,
                    stream_step,
                    parse_response,
                )
                .await
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::ChatMessage;

    #[test]
    fn system_messages_move_to_the_system_field() {
        let request = ChatRequest {
            model: "claude-sonnet-4-5".into(),
            messages: vec![
                ChatMessage::new(ChatRole::System, "rules"),
                ChatMessage::new(ChatRole::User, "hi"),
            ],
            ..Default::default()
        };
        let body = request_body("claude-sonnet-4-5", &request);
        assert_eq!(body["system"], "rules");
        assert_eq!(body["messages"].as_array().unwrap().len(), 1);
        assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
    }

    #[test]
    fn stream_events_map_to_canonical_events() {
        let Ok(Step::Events(events)) = stream_step(
            r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":7}}"#,
        ) else {
            panic!("expected events")
        };
        assert_eq!(events[0], StreamEvent::Finish(FinishReason::Length));
        assert_eq!(
            events[1],
            StreamEvent::Usage {
                input: None,
                output: Some(7)
            }
        );
        assert!(matches!(
            stream_step(r#"{"type":"message_stop"}"#),
            Ok(Step::Done(_))
        ));
    }
}
