//! Anthropic Messages API. Reached from either front-end: an OpenAI-shaped
//! request naming a Claude model is translated here, and back.

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Value, json};

use super::sse::Step;
use super::{
    Answer, NativeCall, NativeReply, Provider, Upstream, UpstreamCall, UpstreamMeta,
    arguments_object, push_turn,
};
use crate::canonical::{
    ChatMessage, ChatRequest, ChatResponse, ChatRole, Effort, FinishReason, Image, Reasoning,
    StreamEvent, TokenUsage, ToolCall,
};
use crate::error::RelayError;
use crate::front::Front;

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
    let mut body = json!({
        "model": model,
        "messages": messages_json(request),
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
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| {
                let mut tool = json!({"name": t.name, "input_schema": t.parameters});
                if let Some(d) = &t.description {
                    tool["description"] = json!(d);
                }
                if let Some(strict) = t.strict {
                    tool["strict"] = json!(strict);
                }
                tool
            })
            .collect();
    }
    if let Some(choice) = request.tool_choice.as_ref().and_then(tool_choice_json) {
        body["tool_choice"] = choice;
    }
    if request.parallel_tool_calls == Some(false) && !request.tools.is_empty() {
        if body["tool_choice"].is_null() {
            body["tool_choice"] = json!({"type": "auto"});
        }
        body["tool_choice"]["disable_parallel_tool_use"] = json!(true);
    }
    if let Some(format) = &request.response_format {
        body["output_config"]["format"] = json!({"type": "json_schema", "schema": format.schema()});
    }
    match request.reasoning {
        Some(Reasoning::Budget(tokens)) => {
            body["thinking"] = json!({"type": "enabled", "budget_tokens": tokens});
        }
        Some(Reasoning::Disabled) => body["thinking"] = json!({"type": "disabled"}),
        Some(Reasoning::Effort(effort)) => {
            // Anthropic's levels start at `low`.
            let level = match effort {
                Effort::Minimal => Effort::Low,
                other => other,
            };
            body["output_config"]["effort"] = json!(level.as_str());
        }
        None => {}
    }
    if let Some(user) = &request.user {
        body["metadata"] = json!({"user_id": user});
    }
    if let Some(top_k) = request.top_k {
        body["top_k"] = json!(top_k);
    }
    body
}

/// Anthropic alternates user and assistant turns, and tool results travel as
/// `tool_result` blocks of a user turn. Consecutive canonical messages of the same
/// Anthropic role (tool results, then the user's next words) become one turn.
fn messages_json(request: &ChatRequest) -> Vec<Value> {
    let mut turns: Vec<(&str, Vec<Value>)> = Vec::new();
    for m in request
        .messages
        .iter()
        .filter(|m| m.role != ChatRole::System)
    {
        let (role, blocks) = match m.role {
            ChatRole::Assistant => ("assistant", assistant_blocks(m)),
            ChatRole::Tool => {
                let mut result = json!({
                    "type": "tool_result",
                    "tool_use_id": m.tool_call_id.as_deref().unwrap_or_default(),
                    "content": m.text,
                });
                if m.tool_error {
                    result["is_error"] = json!(true);
                }
                ("user", vec![result])
            }
            ChatRole::User | ChatRole::System => ("user", user_blocks(m)),
        };
        push_turn(&mut turns, role, blocks);
    }
    turns
        .into_iter()
        .map(|(role, blocks)| match blocks.as_slice() {
            // The common case keeps the plain string form.
            [only] if only["type"] == "text" => json!({"role": role, "content": only["text"]}),
            _ => json!({"role": role, "content": blocks}),
        })
        .collect()
}

fn user_blocks(m: &ChatMessage) -> Vec<Value> {
    let mut blocks = Vec::with_capacity(1 + m.images.len());
    if !m.text.is_empty() || m.images.is_empty() {
        blocks.push(json!({"type": "text", "text": m.text}));
    }
    blocks.extend(m.images.iter().map(|image| {
        let source = match image {
            Image::Url { url, .. } => json!({"type": "url", "url": url}),
            Image::Inline {
                media_type, data, ..
            } => json!({"type": "base64", "media_type": media_type, "data": data}),
        };
        json!({"type": "image", "source": source})
    }));
    blocks
}

fn assistant_blocks(m: &ChatMessage) -> Vec<Value> {
    let mut blocks = Vec::with_capacity(1 + m.tool_calls.len());
    if !m.text.is_empty() || m.tool_calls.is_empty() {
        blocks.push(json!({"type": "text", "text": m.text}));
    }
    blocks.extend(m.tool_calls.iter().map(|c| {
        json!({"type": "tool_use", "id": c.id, "name": c.name, "input": arguments_object(&c.arguments)})
    }));
    blocks
}

/// OpenAI's `tool_choice` (the canonical form) in Anthropic's shape.
fn tool_choice_json(choice: &Value) -> Option<Value> {
    match choice {
        Value::String(s) => match s.as_str() {
            "auto" => Some(json!({"type": "auto"})),
            "required" => Some(json!({"type": "any"})),
            "none" => Some(json!({"type": "none"})),
            _ => None,
        },
        Value::Object(_) => choice["function"]["name"]
            .as_str()
            .map(|name| json!({"type": "tool", "name": name})),
        _ => None,
    }
}

pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" => FinishReason::Length,
        "refusal" => FinishReason::ContentFilter,
        "tool_use" => FinishReason::ToolCalls,
        _ => FinishReason::Other,
    }
}

pub(crate) fn parse_response(body: &Value, model: &str) -> Result<ChatResponse, RelayError> {
    let blocks = body["content"]
        .as_array()
        .ok_or(RelayError::UpstreamProtocol)?;
    let text: String = blocks
        .iter()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect();
    let tool_calls = blocks
        .iter()
        .filter(|b| b["type"] == "tool_use")
        .map(|b| {
            Some(ToolCall {
                id: b["id"].as_str()?.to_owned(),
                name: b["name"].as_str()?.to_owned(),
                arguments: b["input"].to_string(),
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or(RelayError::UpstreamProtocol)?;
    Ok(ChatResponse {
        model: body["model"].as_str().unwrap_or(model).to_owned(),
        text,
        tool_calls,
        finish: finish_reason(body["stop_reason"].as_str().unwrap_or("end_turn")),
        usage: TokenUsage {
            input: body["usage"]["input_tokens"].as_u64().unwrap_or(0),
            output: body["usage"]["output_tokens"].as_u64().unwrap_or(0),
        },
    })
}

/// What an Anthropic stream has said so far that later events refer to: content
/// blocks are numbered across text and tool use, canonical tool calls only
/// across tool use.
#[derive(Default)]
struct StreamState {
    /// For each `tool_use` block seen: (its block index, its tool-call index).
    tool_blocks: Vec<(u64, u32)>,
}

impl StreamState {
    fn tool_index(&self, block: u64) -> Option<u32> {
        self.tool_blocks
            .iter()
            .find(|(b, _)| *b == block)
            .map(|(_, tool)| *tool)
    }

    fn step(&mut self, data: &str) -> Result<Step, RelayError> {
        let event: Value = serde_json::from_str(data).map_err(|_| RelayError::UpstreamProtocol)?;
        let block = event["index"].as_u64().unwrap_or(0);
        let events = match event["type"].as_str().unwrap_or_default() {
            "message_start" => vec![StreamEvent::Usage {
                input: event["message"]["usage"]["input_tokens"].as_u64(),
                output: None,
            }],
            "content_block_start" if event["content_block"]["type"] == "tool_use" => {
                let index = u32::try_from(self.tool_blocks.len()).unwrap_or(u32::MAX);
                self.tool_blocks.push((block, index));
                let start = &event["content_block"];
                vec![StreamEvent::ToolCallDelta {
                    index,
                    id: start["id"].as_str().map(str::to_owned),
                    name: start["name"].as_str().map(str::to_owned),
                    arguments: String::new(),
                }]
            }
            "content_block_delta" => match event["delta"]["type"].as_str() {
                Some("text_delta") => match event["delta"]["text"].as_str() {
                    Some(text) if !text.is_empty() => vec![StreamEvent::Delta(text.to_owned())],
                    _ => Vec::new(),
                },
                Some("input_json_delta") => {
                    let index = self.tool_index(block).ok_or(RelayError::UpstreamProtocol)?;
                    match event["delta"]["partial_json"].as_str() {
                        Some(json) if !json.is_empty() => vec![StreamEvent::ToolCallDelta {
                            index,
                            id: None,
                            name: None,
                            arguments: json.to_owned(),
                        }],
                        _ => Vec::new(),
                    }
                }
                _ => Vec::new(),
            },
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
}

impl AnthropicAdapter {
    /// A same-wire call: the app's Messages body, as edited by the pipeline, with
    /// the app's `anthropic-version` (else the relay's) and beta flags.
    pub async fn send_native(
        &self,
        call: NativeCall<'_>,
    ) -> Result<(NativeReply, UpstreamMeta), RelayError> {
        let mut headers = vec![(
            HeaderName::from_static("x-api-key"),
            call.endpoint.credential_header("")?,
        )];
        if !call
            .headers
            .iter()
            .any(|(name, _)| name == "anthropic-version")
        {
            headers.push((
                HeaderName::from_static("anthropic-version"),
                HeaderValue::from_static(API_VERSION),
            ));
        }
        let path = match call.front {
            Front::CountTokens => "/v1/messages/count_tokens",
            _ => "/v1/messages",
        };
        self.upstream.native(call, path, headers).await
    }
}

impl Provider for AnthropicAdapter {
    fn send<'a>(&'a self, call: UpstreamCall<'a>) -> BoxFuture<'a, Result<Answer, RelayError>> {
        async move {
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
                    "/v1/messages",
                    &headers,
                    &body,
                    {
                        let mut state = StreamState::default();
                        move |data: &str| state.step(data)
                    },
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
        let mut state = StreamState::default();
        let Ok(Step::Events(events)) = state.step(
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
            state.step(r#"{"type":"message_stop"}"#),
            Ok(Step::Done(_))
        ));
    }

    #[test]
    fn tool_use_blocks_stream_as_tool_calls_numbered_apart_from_text() {
        let mut state = StreamState::default();
        let mut events = Vec::new();
        for data in [
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me look."}}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"lookup","input":{}}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"q\":"}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"1}"}}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}"#,
        ] {
            let Ok(Step::Events(more)) = state.step(data) else {
                panic!("{data}")
            };
            events.extend(more);
        }
        assert_eq!(events[0], StreamEvent::Delta("Let me look.".into()));
        assert_eq!(
            events[1],
            StreamEvent::ToolCallDelta {
                index: 0,
                id: Some("toolu_1".into()),
                name: Some("lookup".into()),
                arguments: String::new()
            }
        );
        let arguments: String = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ToolCallDelta {
                    index: 0,
                    arguments,
                    ..
                } => Some(arguments.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(arguments, r#"{"q":1}"#);
        assert!(events.contains(&StreamEvent::Finish(FinishReason::ToolCalls)));
        // A delta for a block that never started is a protocol error, not a panic.
        assert!(
            StreamState::default()
                .step(r#"{"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{}"}}"#)
                .is_err()
        );
    }

    #[test]
    fn tool_turns_and_images_translate_to_anthropic_blocks() {
        let request = ChatRequest {
            tool_choice: Some(json!("required")),
            ..crate::canonical::fixtures::tool_round()
        };
        let body = request_body("claude-sonnet-4-5", &request);
        let messages = body["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 3, "{body}");
        assert_eq!(messages[0]["content"][1]["source"]["type"], "base64");
        assert_eq!(messages[1]["content"][0]["type"], "tool_use");
        assert_eq!(messages[1]["content"][0]["input"]["city"], "Oslo");
        assert_eq!(messages[2]["role"], "user");
        assert_eq!(messages[2]["content"][0]["type"], "tool_result");
        assert_eq!(messages[2]["content"][0]["tool_use_id"], "call_1");
        assert_eq!(messages[2]["content"][1]["text"], "and tomorrow?");
        assert_eq!(body["tools"][0]["input_schema"]["type"], "object");
        assert_eq!(body["tool_choice"]["type"], "any");
    }

    #[test]
    fn a_tool_use_answer_becomes_tool_calls() {
        let answer = json!({"model": "claude", "stop_reason": "tool_use",
            "content": [{"type": "text", "text": "Checking."},
                        {"type": "tool_use", "id": "toolu_9", "name": "weather", "input": {"city": "Oslo"}}],
            "usage": {"input_tokens": 5, "output_tokens": 7}});
        let response = parse_response(&answer, "claude").unwrap();
        assert_eq!(response.finish, FinishReason::ToolCalls);
        assert_eq!(response.tool_calls[0].id, "toolu_9");
        assert_eq!(response.tool_calls[0].arguments, r#"{"city":"Oslo"}"#);
        assert_eq!(response.text, "Checking.");
    }
}
