//! OpenAI Chat Completions and every OpenAI-compatible endpoint (DeepSeek, vLLM,
//! …) reached through the credential's base URL.

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use serde_json::{Value, json};

use super::sse::Step;
use super::{Answer, NativeCall, NativeReply, Provider, Upstream, UpstreamCall, UpstreamMeta};
use crate::canonical::{
    ChatMessage, ChatRequest, ChatResponse, FinishReason, ResponseFormat, StreamEvent, TokenUsage,
    ToolCall,
};
use crate::error::RelayError;
use crate::front::Front;

pub struct OpenAiAdapter {
    upstream: Upstream,
}

impl OpenAiAdapter {
    pub fn new(upstream: Upstream) -> Self {
        Self { upstream }
    }
}

/// The request body an OpenAI-compatible endpoint receives.
pub fn request_body(model: &str, request: &ChatRequest) -> Value {
    let messages: Vec<Value> = request.messages.iter().map(message_json).collect();
    let mut body = json!({"model": model, "messages": messages, "stream": request.stream});
    if let Some(max_tokens) = request.max_tokens {
        body[crate::front::output_limit_field(model)] = json!(max_tokens);
    }
    if let Some(format) = &request.response_format {
        body["response_format"] = match format {
            ResponseFormat::JsonObject => json!({"type": "json_object"}),
            ResponseFormat::JsonSchema {
                name,
                description,
                schema,
                strict,
            } => {
                let mut spec = json!({"name": name, "schema": schema});
                if let Some(d) = description {
                    spec["description"] = json!(d);
                }
                if let Some(strict) = strict {
                    spec["strict"] = json!(strict);
                }
                json!({"type": "json_schema", "json_schema": spec})
            }
        };
    }
    if let Some(reasoning) = request.reasoning {
        body["reasoning_effort"] = match reasoning.effort() {
            Some(effort) => json!(effort.as_str()),
            None => json!("none"),
        };
    }
    let optional = [
        ("seed", request.seed.map(|v| json!(v))),
        ("user", request.user.as_ref().map(|v| json!(v))),
        (
            "presence_penalty",
            request.presence_penalty.map(|v| json!(v)),
        ),
        (
            "frequency_penalty",
            request.frequency_penalty.map(|v| json!(v)),
        ),
        (
            "parallel_tool_calls",
            request.parallel_tool_calls.map(|v| json!(v)),
        ),
    ];
    for (field, value) in optional {
        if let Some(value) = value {
            body[field] = value;
        }
    }
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(p) = request.top_p {
        body["top_p"] = json!(p);
    }
    if !request.stop.is_empty() {
        body["stop"] = json!(request.stop);
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| {
                let mut function = json!({"name": t.name, "parameters": t.parameters});
                if let Some(d) = &t.description {
                    function["description"] = json!(d);
                }
                if let Some(strict) = t.strict {
                    function["strict"] = json!(strict);
                }
                json!({"type": "function", "function": function})
            })
            .collect();
    }
    if let Some(choice) = &request.tool_choice {
        body["tool_choice"] = choice.clone();
    }
    if request.stream {
        // Always ask for usage: the usage record needs real token counts.
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

fn message_json(m: &ChatMessage) -> Value {
    let mut message = json!({"role": m.role.as_str(), "content": m.text});
    if !m.images.is_empty() {
        let mut parts = Vec::with_capacity(m.images.len() + 1);
        if !m.text.is_empty() {
            parts.push(json!({"type": "text", "text": m.text}));
        }
        parts.extend(m.images.iter().map(|image| {
            let mut url = json!({"url": image.as_url()});
            if let Some(detail) = image.detail() {
                url["detail"] = json!(detail);
            }
            json!({"type": "image_url", "image_url": url})
        }));
        message["content"] = Value::Array(parts);
    }
    if let Some(id) = &m.tool_call_id {
        message["tool_call_id"] = json!(id);
    }
    if !m.tool_calls.is_empty() {
        message["tool_calls"] = m
            .tool_calls
            .iter()
            .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
            .collect();
        if m.text.is_empty() {
            message["content"] = Value::Null;
        }
    }
    message
}

pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "stop" => FinishReason::Stop,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "length" => FinishReason::Length,
        "content_filter" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

pub(crate) fn parse_response(body: &Value, model: &str) -> Result<ChatResponse, RelayError> {
    let choice = body["choices"].get(0).ok_or(RelayError::UpstreamProtocol)?;
    let text = match &choice["message"]["content"] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        _ => return Err(RelayError::UpstreamProtocol),
    };
    let tool_calls = match &choice["message"]["tool_calls"] {
        Value::Array(calls) => calls
            .iter()
            .map(|c| {
                Some(ToolCall {
                    id: c["id"].as_str()?.to_owned(),
                    name: c["function"]["name"].as_str()?.to_owned(),
                    arguments: c["function"]["arguments"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or(RelayError::UpstreamProtocol)?,
        _ => Vec::new(),
    };
    Ok(ChatResponse {
        model: body["model"].as_str().unwrap_or(model).to_owned(),
        text,
        tool_calls,
        finish: finish_reason(choice["finish_reason"].as_str().unwrap_or("stop")),
        usage: TokenUsage {
            input: body["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
            output: body["usage"]["completion_tokens"].as_u64().unwrap_or(0),
        },
    })
}

fn stream_step(data: &str) -> Result<Step, RelayError> {
    if data.trim() == "[DONE]" {
        return Ok(Step::Done(Vec::new()));
    }
    let chunk: Value = serde_json::from_str(data).map_err(|_| RelayError::UpstreamProtocol)?;
    if chunk.get("error").is_some() {
        return Err(RelayError::UpstreamCut);
    }
    let mut events = Vec::new();
    if let Some(choice) = chunk["choices"].get(0) {
        if let Some(text) = choice["delta"]["content"].as_str()
            && !text.is_empty()
        {
            events.push(StreamEvent::Delta(text.to_owned()));
        }
        if let Some(calls) = choice["delta"]["tool_calls"].as_array() {
            for call in calls {
                events.push(StreamEvent::ToolCallDelta {
                    index: u32::try_from(call["index"].as_u64().unwrap_or(0)).unwrap_or(0),
                    id: call["id"].as_str().map(str::to_owned),
                    name: call["function"]["name"].as_str().map(str::to_owned),
                    arguments: call["function"]["arguments"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                });
            }
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            events.push(StreamEvent::Finish(finish_reason(reason)));
        }
    }
    if chunk["usage"].is_object() {
        events.push(StreamEvent::Usage {
            input: chunk["usage"]["prompt_tokens"].as_u64(),
            output: chunk["usage"]["completion_tokens"].as_u64(),
        });
    }
    Ok(Step::Events(events))
}

impl OpenAiAdapter {
    /// A same-wire call: the app's Chat Completions body, as edited by the pipeline.
    pub async fn send_native(
        &self,
        call: NativeCall<'_>,
    ) -> Result<(NativeReply, UpstreamMeta), RelayError> {
        let auth = vec![(AUTHORIZATION, call.endpoint.credential_header("Bearer ")?)];
        let path = match call.front {
            Front::Responses => "/responses",
            Front::Embeddings => "/embeddings",
            _ => "/chat/completions",
        };
        self.upstream.native(call, path, auth).await
    }
}

impl Provider for OpenAiAdapter {
    fn send<'a>(&'a self, call: UpstreamCall<'a>) -> BoxFuture<'a, Result<Answer, RelayError>> {
        async move {
            let headers: [(HeaderName, HeaderValue); 1] =
                [(AUTHORIZATION, call.endpoint.credential_header("Bearer ")?)];
            let body = request_body(call.model, call.request);
            self.upstream
                .exchange(
                    &call,
                    "/chat/completions",
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

    #[test]
    fn a_chunk_with_content_finish_and_usage_gives_three_events() {
        let Step::Events(events) = stream_step(
            r#"{"choices":[{"delta":{"content":"hi"},"finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#,
        )
        .unwrap() else {
            panic!("expected events");
        };
        assert_eq!(
            events,
            vec![
                StreamEvent::Delta("hi".into()),
                StreamEvent::Finish(FinishReason::Length),
                StreamEvent::Usage {
                    input: Some(3),
                    output: Some(1)
                }
            ]
        );
        assert!(matches!(stream_step("[DONE]"), Ok(Step::Done(_))));
        assert!(stream_step("{not json").is_err());
    }
}
