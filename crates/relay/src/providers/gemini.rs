//! Google Gemini `generateContent` / `streamGenerateContent` (SSE with `alt=sse`),
//! translated to and from the canonical shape. Gemini calls the assistant
//! `model` and carries system text in `systemInstruction`.

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use reqwest::header::HeaderName;
use serde_json::{Value, json};

use super::sse::Step;
use super::{Provider, Upstream, UpstreamCall};
use crate::canonical::{
    ChatRequest, ChatResponse, ChatRole, FinishReason, ProviderReply, StreamEvent, TokenUsage,
};
use crate::error::RelayError;

pub struct GeminiAdapter {
    upstream: Upstream,
}

impl GeminiAdapter {
    pub fn new(upstream: Upstream) -> Self {
        Self { upstream }
    }
}

pub fn request_body(request: &ChatRequest) -> Value {
    let contents: Vec<Value> = request
        .messages
        .iter()
        .filter(|m| m.role != ChatRole::System)
        .map(|m| {
            let role = if m.role == ChatRole::Assistant {
                "model"
            } else {
                "user"
            };
            json!({"role": role, "parts": [{"text": m.text}]})
        })
        .collect();
    let mut body = json!({"contents": contents});
    if let Some(system) = request.system_text() {
        body["systemInstruction"] = json!({"parts": [{"text": system}]});
    }
    let mut config = serde_json::Map::new();
    if let Some(max_tokens) = request.max_tokens {
        config.insert("maxOutputTokens".into(), json!(max_tokens));
    }
    if let Some(t) = request.temperature {
        config.insert("temperature".into(), json!(t));
    }
    if let Some(p) = request.top_p {
        config.insert("topP".into(), json!(p));
    }
    if !request.stop.is_empty() {
        config.insert("stopSequences".into(), json!(request.stop));
    }
    if !config.is_empty() {
        body["generationConfig"] = Value::Object(config);
    }
    body
}

pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" => {
            FinishReason::ContentFilter
        }
        _ => FinishReason::Other,
    }
}

fn candidate_text(body: &Value) -> String {
    body["candidates"][0]["content"]["parts"]
        .as_array()
        .map(|parts| parts.iter().filter_map(|p| p["text"].as_str()).collect())
        .unwrap_or_default()
}

fn parse_response(body: &Value, model: &str) -> Result<ChatResponse, RelayError> {
    if !body["candidates"].is_array() {
        return Err(RelayError::UpstreamProtocol);
    }
    Ok(ChatResponse {
        model: body["modelVersion"].as_str().unwrap_or(model).to_owned(),
        text: candidate_text(body),
        tool_calls: Vec::new(),
        finish: finish_reason(
            body["candidates"][0]["finishReason"]
                .as_str()
                .unwrap_or("STOP"),
        ),
        usage: TokenUsage {
            input: body["usageMetadata"]["promptTokenCount"]
                .as_u64()
                .unwrap_or(0),
            output: body["usageMetadata"]["candidatesTokenCount"]
                .as_u64()
                .unwrap_or(0),
        },
    })
}

fn stream_step(data: &str) -> Result<Step, RelayError> {
    let chunk: Value = serde_json::from_str(data).map_err(|_| RelayError::UpstreamProtocol)?;
    if chunk.get("error").is_some() {
        return Err(RelayError::UpstreamCut);
    }
    let mut events = Vec::new();
    let text = candidate_text(&chunk);
    if !text.is_empty() {
        events.push(StreamEvent::Delta(text));
    }
    if chunk["usageMetadata"].is_object() {
        events.push(StreamEvent::Usage {
            input: chunk["usageMetadata"]["promptTokenCount"].as_u64(),
            output: chunk["usageMetadata"]["candidatesTokenCount"].as_u64(),
        });
    }
    if let Some(reason) = chunk["candidates"][0]["finishReason"].as_str() {
        events.push(StreamEvent::Finish(finish_reason(reason)));
    }
    Ok(Step::Events(events))
}

impl Provider for GeminiAdapter {
    fn send<'a>(
        &'a self,
        call: UpstreamCall<'a>,
    ) -> BoxFuture<'a, Result<ProviderReply, RelayError>> {
        async move {
            if call.request.uses_tools() {
                return Err(super::tools_unsupported(&call.endpoint.name));
            }
            let headers = [(
                HeaderName::from_static("x-goog-api-key"),
                call.endpoint.credential_header("")?,
            )];
            let body = request_body(call.request);
            let method = if call.request.stream {
                "streamGenerateContent?alt=sse"
            } else {
                "generateContent"
            };
            let path = format!("/v1beta/models/{}:{method}", call.model);
            self.upstream
                .exchange(
                    &call,
                    &call.endpoint.url(&path),
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
    fn roles_and_generation_config_translate() {
        let request = ChatRequest {
            model: "gemini-2.5-flash".into(),
            messages: vec![
                ChatMessage::new(ChatRole::System, "rules"),
                ChatMessage::new(ChatRole::User, "hi"),
                ChatMessage::new(ChatRole::Assistant, "yo"),
            ],
            max_tokens: Some(9),
            ..Default::default()
        };
        let body = request_body(&request);
        assert_eq!(body["systemInstruction"]["parts"][0]["text"], "rules");
        assert_eq!(body["contents"][1]["role"], "model");
        assert_eq!(body["generationConfig"]["maxOutputTokens"], 9);
    }
}
