//! Google Gemini `generateContent` / `streamGenerateContent` (SSE with `alt=sse`),
//! translated to and from the canonical shape. Gemini calls the assistant
//! `model` and carries system text in `systemInstruction`.

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use reqwest::header::HeaderName;
use serde_json::{Value, json};

use super::sse::Step;
use super::{Answer, Provider, Upstream, UpstreamCall, UpstreamMeta, arguments_object, push_turn};
use crate::canonical::{
    ChatRequest, ChatResponse, ChatRole, FinishReason, Image, ResponseFormat, StreamEvent,
    TokenUsage, ToolCall,
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

/// The request body, or a clear refusal for what Gemini cannot take (images by
/// URL: it reads inline bytes or files uploaded to Google).
pub fn request_body(request: &ChatRequest) -> Result<Value, RelayError> {
    let mut body = json!({"contents": contents_json(request)?});
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
    if let Some(format) = &request.response_format {
        config.insert("responseMimeType".into(), json!("application/json"));
        if let ResponseFormat::JsonSchema { schema, .. } = format {
            config.insert("responseJsonSchema".into(), schema.clone());
        }
    }
    if let Some(reasoning) = request.reasoning {
        let budget = reasoning.budget().unwrap_or(0);
        config.insert("thinkingConfig".into(), json!({"thinkingBudget": budget}));
    }
    let optional = [
        ("seed", request.seed.map(|v| json!(v))),
        ("topK", request.top_k.map(|v| json!(v))),
        (
            "presencePenalty",
            request.presence_penalty.map(|v| json!(v)),
        ),
        (
            "frequencyPenalty",
            request.frequency_penalty.map(|v| json!(v)),
        ),
    ];
    for (field, value) in optional {
        if let Some(value) = value {
            config.insert(field.into(), value);
        }
    }
    if !config.is_empty() {
        body["generationConfig"] = Value::Object(config);
    }
    if !request.tools.is_empty() {
        let declarations: Vec<Value> = request
            .tools
            .iter()
            .map(|t| {
                let mut declaration = json!({"name": t.name, "parameters": t.parameters});
                if let Some(d) = &t.description {
                    declaration["description"] = json!(d);
                }
                declaration
            })
            .collect();
        body["tools"] = json!([{"functionDeclarations": declarations}]);
    }
    if let Some(config) = request.tool_choice.as_ref().and_then(tool_config_json) {
        body["toolConfig"] = config;
    }
    Ok(body)
}

/// Gemini's turns are `user` and `model`; a tool result is a `functionResponse`
/// part of a user turn, answered by the function's name. Consecutive parts of the
/// same role share one turn.
fn contents_json(request: &ChatRequest) -> Result<Vec<Value>, RelayError> {
    let mut turns: Vec<(&str, Vec<Value>)> = Vec::new();
    for m in request
        .messages
        .iter()
        .filter(|m| m.role != ChatRole::System)
    {
        let (role, parts) = match m.role {
            ChatRole::Assistant => {
                let mut parts = Vec::with_capacity(1 + m.tool_calls.len());
                if !m.text.is_empty() || m.tool_calls.is_empty() {
                    parts.push(json!({"text": m.text}));
                }
                parts.extend(m.tool_calls.iter().map(|c| {
                    json!({"functionCall": {"name": c.name, "args": arguments_object(&c.arguments)}})
                }));
                ("model", parts)
            }
            ChatRole::Tool => {
                let id = m.tool_call_id.as_deref().unwrap_or_default();
                let name = request.tool_name_of(id).ok_or_else(|| {
                    RelayError::InvalidRequest(
                        "a tool result answers a call that is not in the conversation; Gemini needs the call to name the function".into(),
                    )
                })?;
                let response = match serde_json::from_str::<Value>(&m.text) {
                    Ok(object @ Value::Object(_)) => object,
                    _ => json!({"result": m.text}),
                };
                (
                    "user",
                    vec![json!({"functionResponse": {"name": name, "response": response}})],
                )
            }
            ChatRole::User | ChatRole::System => {
                let mut parts = Vec::with_capacity(1 + m.images.len());
                if !m.text.is_empty() || m.images.is_empty() {
                    parts.push(json!({"text": m.text}));
                }
                for image in &m.images {
                    let Image::Inline {
                        media_type, data, ..
                    } = image
                    else {
                        return Err(RelayError::InvalidRequest(
                            "Gemini takes images inline only: send them as data: URLs (base64)"
                                .into(),
                        ));
                    };
                    parts.push(json!({"inlineData": {"mimeType": media_type, "data": data}}));
                }
                ("user", parts)
            }
        };
        push_turn(&mut turns, role, parts);
    }
    Ok(turns
        .into_iter()
        .map(|(role, parts)| json!({"role": role, "parts": parts}))
        .collect())
}

/// OpenAI's `tool_choice` (the canonical form) as Gemini's `toolConfig`.
fn tool_config_json(choice: &Value) -> Option<Value> {
    let (mode, only) = match choice {
        Value::String(s) => match s.as_str() {
            "auto" => ("AUTO", None),
            "required" => ("ANY", None),
            "none" => ("NONE", None),
            _ => return None,
        },
        Value::Object(_) => ("ANY", Some(choice["function"]["name"].as_str()?)),
        _ => return None,
    };
    let mut config = json!({"mode": mode});
    if let Some(name) = only {
        config["allowedFunctionNames"] = json!([name]);
    }
    Some(json!({"functionCallingConfig": config}))
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

fn candidate_parts(body: &Value) -> &[Value] {
    body["candidates"][0]["content"]["parts"]
        .as_array()
        .map_or(&[], Vec::as_slice)
}

fn candidate_text(body: &Value) -> String {
    candidate_parts(body)
        .iter()
        .filter_map(|p| p["text"].as_str())
        .collect()
}

/// The function calls of a candidate. Gemini gives calls no id; the relay names
/// them `call_<n>` in answer order so the app can send results back.
fn function_calls(body: &Value, first: usize) -> Vec<ToolCall> {
    candidate_parts(body)
        .iter()
        .filter_map(|p| p.get("functionCall"))
        .enumerate()
        .map(|(i, call)| ToolCall {
            id: call["id"]
                .as_str()
                .map_or_else(|| format!("call_{}", first + i), str::to_owned),
            name: call["name"].as_str().unwrap_or_default().to_owned(),
            arguments: call
                .get("args")
                .map_or_else(|| "{}".to_owned(), Value::to_string),
        })
        .collect()
}

fn parse_response(body: &Value, model: &str) -> Result<ChatResponse, RelayError> {
    if !body["candidates"].is_array() {
        return Err(RelayError::UpstreamProtocol);
    }
    let tool_calls = function_calls(body, 0);
    let mut finish = finish_reason(
        body["candidates"][0]["finishReason"]
            .as_str()
            .unwrap_or("STOP"),
    );
    // Gemini says STOP after a function call; the OpenAI shape says tool_calls.
    if !tool_calls.is_empty() && finish == FinishReason::Stop {
        finish = FinishReason::ToolCalls;
    }
    Ok(ChatResponse {
        model: body["modelVersion"].as_str().unwrap_or(model).to_owned(),
        text: candidate_text(body),
        tool_calls,
        finish,
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

/// A Gemini stream sends each function call whole, in one chunk; the state counts
/// them so each gets its own index and id.
#[derive(Default)]
struct StreamState {
    calls: usize,
}

impl StreamState {
    fn step(&mut self, data: &str) -> Result<Step, RelayError> {
        let chunk: Value = serde_json::from_str(data).map_err(|_| RelayError::UpstreamProtocol)?;
        if chunk.get("error").is_some() {
            return Err(RelayError::UpstreamCut);
        }
        let mut events = Vec::new();
        let text = candidate_text(&chunk);
        if !text.is_empty() {
            events.push(StreamEvent::Delta(text));
        }
        for call in function_calls(&chunk, self.calls) {
            events.push(StreamEvent::ToolCallDelta {
                index: u32::try_from(self.calls).unwrap_or(u32::MAX),
                id: Some(call.id),
                name: Some(call.name),
                arguments: call.arguments,
            });
            self.calls += 1;
        }
        if chunk["usageMetadata"].is_object() {
            events.push(StreamEvent::Usage {
                input: chunk["usageMetadata"]["promptTokenCount"].as_u64(),
                output: chunk["usageMetadata"]["candidatesTokenCount"].as_u64(),
            });
        }
        if let Some(reason) = chunk["candidates"][0]["finishReason"].as_str() {
            let finish = match finish_reason(reason) {
                FinishReason::Stop if self.calls > 0 => FinishReason::ToolCalls,
                other => other,
            };
            events.push(StreamEvent::Finish(finish));
        }
        Ok(Step::Events(events))
    }
}

/// A model name as one path segment: everything but unreserved characters is
/// percent-encoded. (Routing has already refused names with `/`, `?`, `#`, `..` or
/// control characters; this keeps anything else from changing the path.)
fn encode_model(model: &str) -> String {
    let mut out = String::with_capacity(model.len());
    for byte in model.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl GeminiAdapter {
    /// `batchEmbedContents`: one vector per text. Gemini reports no token count;
    /// the relay's estimate stands in for it.
    pub async fn embed(
        &self,
        endpoint: &super::ProviderEndpoint,
        model: &str,
        texts: &[&str],
        dimensions: Option<u32>,
    ) -> Result<(Vec<Vec<f32>>, UpstreamMeta), RelayError> {
        let headers = [(
            HeaderName::from_static("x-goog-api-key"),
            endpoint.credential_header("")?,
        )];
        let name = format!("models/{model}");
        let requests: Vec<Value> = texts
            .iter()
            .map(|text| {
                let mut request = json!({"model": name, "content": {"parts": [{"text": text}]}});
                if let Some(d) = dimensions {
                    request["outputDimensionality"] = json!(d);
                }
                request
            })
            .collect();
        let path = format!("/v1beta/models/{}:batchEmbedContents", encode_model(model));
        let (body, meta) = self
            .upstream
            .post_for_json(endpoint, &path, &headers, &json!({"requests": requests}))
            .await?;
        let vectors = body["embeddings"]
            .as_array()
            .ok_or(RelayError::UpstreamProtocol)?
            .iter()
            .map(|e| {
                e["values"]
                    .as_array()?
                    .iter()
                    .map(|v| v.as_f64().map(|f| f as f32))
                    .collect::<Option<Vec<f32>>>()
            })
            .collect::<Option<Vec<_>>>()
            .ok_or(RelayError::UpstreamProtocol)?;
        if vectors.len() != texts.len() {
            return Err(RelayError::UpstreamProtocol);
        }
        Ok((vectors, meta))
    }
}

impl Provider for GeminiAdapter {
    fn send<'a>(&'a self, call: UpstreamCall<'a>) -> BoxFuture<'a, Result<Answer, RelayError>> {
        async move {
            let headers = [(
                HeaderName::from_static("x-goog-api-key"),
                call.endpoint.credential_header("")?,
            )];
            let body = request_body(call.request)?;
            let method = if call.request.stream {
                "streamGenerateContent?alt=sse"
            } else {
                "generateContent"
            };
            let path = format!("/v1beta/models/{}:{method}", encode_model(call.model));
            self.upstream
                .exchange(
                    &call,
                    &path,
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
    fn model_names_are_one_encoded_path_segment() {
        assert_eq!(encode_model("gemini-2.5-flash"), "gemini-2.5-flash");
        assert_eq!(encode_model("a b%c:d"), "a%20b%25c%3Ad");
    }

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
        let body = request_body(&request).unwrap();
        assert_eq!(body["systemInstruction"]["parts"][0]["text"], "rules");
        assert_eq!(body["contents"][1]["role"], "model");
        assert_eq!(body["generationConfig"]["maxOutputTokens"], 9);
    }

    #[test]
    fn tool_turns_become_function_calls_and_responses_by_name() {
        let request = ChatRequest {
            tool_choice: Some(json!({"type": "function", "function": {"name": "weather"}})),
            ..crate::canonical::fixtures::tool_round()
        };
        let body = request_body(&request).unwrap();
        assert_eq!(
            body["contents"][1]["parts"][0]["functionCall"]["args"]["city"],
            "Oslo"
        );
        assert_eq!(
            body["contents"][0]["parts"][1]["inlineData"]["mimeType"],
            "image/png"
        );
        let response = &body["contents"][2]["parts"][0]["functionResponse"];
        assert_eq!(response["name"], "weather");
        assert_eq!(response["response"]["result"], "-3C");
        assert_eq!(body["contents"][2]["parts"][1]["text"], "and tomorrow?");
        assert_eq!(
            body["tools"][0]["functionDeclarations"][0]["name"],
            "weather"
        );
        assert_eq!(body["toolConfig"]["functionCallingConfig"]["mode"], "ANY");
        assert_eq!(
            body["toolConfig"]["functionCallingConfig"]["allowedFunctionNames"][0],
            "weather"
        );
    }

    #[test]
    fn images_go_inline_and_urls_are_refused_clearly() {
        let mut request = ChatRequest {
            messages: vec![ChatMessage {
                images: vec![Image::Inline {
                    media_type: "image/jpeg".into(),
                    data: "AAAA".into(),
                    detail: None,
                }],
                ..ChatMessage::new(ChatRole::User, "")
            }],
            ..Default::default()
        };
        let body = request_body(&request).unwrap();
        assert_eq!(
            body["contents"][0]["parts"][0]["inlineData"]["mimeType"],
            "image/jpeg"
        );
        request.messages[0].images[0] = Image::Url {
            url: "https://x/y.png".into(),
            detail: None,
        };
        assert!(
            matches!(request_body(&request), Err(RelayError::InvalidRequest(m)) if m.contains("inline"))
        );
    }

    #[test]
    fn function_calls_in_answers_and_streams_get_ids_and_the_tool_calls_finish() {
        let answer = json!({"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "weather", "args": {"city": "Oslo"}}}]}, "finishReason": "STOP"}]});
        let response = parse_response(&answer, "gemini").unwrap();
        assert_eq!(response.finish, FinishReason::ToolCalls);
        assert_eq!(response.tool_calls[0].id, "call_0");
        assert_eq!(response.tool_calls[0].arguments, r#"{"city":"Oslo"}"#);
        let mut state = StreamState::default();
        let Ok(Step::Events(events)) = state.step(&answer.to_string()) else {
            panic!("expected events")
        };
        assert!(
            matches!(&events[0], StreamEvent::ToolCallDelta { index: 0, id: Some(id), .. } if id == "call_0")
        );
        assert_eq!(
            events.last(),
            Some(&StreamEvent::Finish(FinishReason::ToolCalls))
        );
    }
}
