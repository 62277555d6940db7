//! The OpenAI Chat Completions shape (`POST /v1/chat/completions`), parsed into
//! the canonical request and rendered back, streamed as `chat.completion.chunk`
//! events ending in `data: [DONE]`.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

use super::{
    FrontOptions, SseWriter, ToolCallPiece, describe_json_error, sse_frame, truncate_label,
    unix_now,
};
use crate::canonical::{
    ChatMessage, ChatRequest, ChatResponse, ChatRole, Effort, FinishReason, Image, Reasoning,
    ResponseFormat, TokenUsage, ToolCall, ToolSpec,
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
    tools: Option<Vec<Tool>>,
    #[serde(default)]
    tool_choice: Option<serde_json::Value>,
    #[serde(default)]
    functions: Option<serde_json::Value>,
    #[serde(default)]
    function_call: Option<serde_json::Value>,
    #[serde(default)]
    response_format: Option<WireResponseFormat>,
    #[serde(default)]
    seed: Option<i64>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    safety_identifier: Option<String>,
    #[serde(default)]
    reasoning_effort: Option<String>,
    #[serde(default)]
    presence_penalty: Option<f64>,
    #[serde(default)]
    frequency_penalty: Option<f64>,
    #[serde(default)]
    parallel_tool_calls: Option<bool>,
}

/// `response_format`: `text`, `json_object` or `json_schema` (the Responses API's
/// `text.format` has the same forms with the schema's fields inline).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum WireResponseFormat {
    Text,
    JsonObject,
    JsonSchema {
        #[serde(default)]
        json_schema: Option<JsonSchemaFormat>,
        #[serde(flatten)]
        inline: JsonSchemaFormat,
    },
}

#[derive(Deserialize, Default)]
pub(crate) struct JsonSchemaFormat {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    schema: Option<serde_json::Value>,
    #[serde(default)]
    strict: Option<bool>,
}

impl WireResponseFormat {
    pub(crate) fn into_canonical(self) -> Result<Option<ResponseFormat>, RelayError> {
        match self {
            WireResponseFormat::Text => Ok(None),
            WireResponseFormat::JsonObject => Ok(Some(ResponseFormat::JsonObject)),
            WireResponseFormat::JsonSchema {
                json_schema,
                inline,
            } => {
                let format = json_schema.unwrap_or(inline);
                let Some(schema) = format.schema else {
                    return Err(RelayError::InvalidRequest(
                        "a json_schema response format needs a `schema`".into(),
                    ));
                };
                Ok(Some(ResponseFormat::JsonSchema {
                    name: format.name.unwrap_or_else(|| "response".into()),
                    description: format.description,
                    schema,
                    strict: format.strict,
                }))
            }
        }
    }
}

/// OpenAI's `reasoning_effort`.
pub(crate) fn reasoning_effort(effort: Option<String>) -> Result<Option<Reasoning>, RelayError> {
    match effort.as_deref() {
        None => Ok(None),
        Some("none") => Ok(Some(Reasoning::Disabled)),
        Some(text) => Effort::parse(text)
            .map(|e| Some(Reasoning::Effort(e)))
            .ok_or_else(|| {
                RelayError::InvalidRequest(
                    "`reasoning_effort` must be none, minimal, low, medium, high, xhigh or max"
                        .into(),
                )
            }),
    }
}

#[derive(Deserialize)]
struct Tool {
    #[serde(rename = "type")]
    kind: String,
    /// Absent on `custom` tools, which stay in the body for the same wire.
    #[serde(default)]
    function: Option<Function>,
}

#[derive(Deserialize)]
struct Function {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<serde_json::Value>,
    #[serde(default)]
    strict: Option<bool>,
}

#[derive(Deserialize)]
struct WireToolCall {
    id: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    /// Absent on `custom` tool calls, which stay in the body for the same wire.
    #[serde(default)]
    function: Option<WireFunctionCall>,
}

#[derive(Deserialize)]
struct WireFunctionCall {
    name: String,
    #[serde(default)]
    arguments: String,
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
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
    #[serde(default)]
    tool_call_id: Option<String>,
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
    #[serde(default)]
    image_url: Option<ImageUrl>,
}

#[derive(Deserialize)]
pub(crate) struct ImageUrl {
    url: String,
    #[serde(default)]
    detail: Option<String>,
}

/// A message's content in the canonical view.
pub(crate) struct ContentView {
    pub text: String,
    pub images: Vec<Image>,
    /// Parts the view leaves out (audio, files): passed on unread on the same
    /// wire, refused on another (see `crossing`).
    pub opaque: u32,
}

impl Content {
    /// Text parts joined, image parts kept aside, other parts counted.
    pub(crate) fn into_parts(self, at: &str) -> Result<ContentView, RelayError> {
        let mut view = ContentView {
            text: String::new(),
            images: Vec::new(),
            opaque: 0,
        };
        match self {
            Content::Text(text) => view.text = text,
            Content::Parts(parts) => {
                for part in parts {
                    match (part.kind.as_str(), part.text, part.image_url) {
                        ("text" | "refusal", Some(t), _) => view.text.push_str(&t),
                        ("text", None, _) => {
                            return Err(RelayError::InvalidRequest(format!(
                                "{at}: a content part of type `text` needs a `text` field"
                            )));
                        }
                        ("image_url", _, Some(image)) => view.images.push(
                            Image::from_url(image.url, image.detail)
                                .map_err(|e| RelayError::InvalidRequest(format!("{at}: {e}")))?,
                        ),
                        ("image_url", _, None) => {
                            return Err(RelayError::InvalidRequest(format!(
                                "{at}: a content part of type `image_url` needs an `image_url` object"
                            )));
                        }
                        _ => view.opaque += 1,
                    }
                }
            }
        }
        Ok(view)
    }
}

pub fn parse_request(
    body: &serde_json::Map<String, serde_json::Value>,
) -> Result<(ChatRequest, FrontOptions), RelayError> {
    let request = Request::deserialize(body)
        .map_err(|e| RelayError::InvalidRequest(describe_json_error(&e)))?;
    if request.functions.is_some() || request.function_call.is_some() {
        return Err(RelayError::InvalidRequest(
            "the legacy `functions` and `function_call` fields are not supported; send `tools` and `tool_choice`".into(),
        ));
    }
    let tools = parse_tools(request.tools.unwrap_or_default())?;
    if let Some(choice) = &request.tool_choice {
        let ok = match choice {
            serde_json::Value::String(s) => matches!(s.as_str(), "auto" | "none" | "required"),
            serde_json::Value::Object(o) => match o.get("type").and_then(|t| t.as_str()) {
                Some("function") => o
                    .get("function")
                    .and_then(|f| f.get("name"))
                    .is_some_and(|n| n.is_string()),
                // `allowed_tools` and `custom`: for the provider to judge.
                Some(_) => true,
                None => false,
            },
            _ => false,
        };
        if !ok {
            return Err(RelayError::InvalidRequest(
                "`tool_choice` must be auto, none, required or {\"type\": \"function\", \"function\": {\"name\": …}}".into(),
            ));
        }
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
    let mut opaque_parts = 0;
    for (index, message) in request.messages.into_iter().enumerate() {
        let role = match message.role.as_str() {
            "system" | "developer" => ChatRole::System,
            "user" => ChatRole::User,
            "assistant" => ChatRole::Assistant,
            "tool" => ChatRole::Tool,
            other => {
                return Err(RelayError::InvalidRequest(format!(
                    "messages[{index}]: unknown role `{}`; use system, developer, user, assistant or tool",
                    truncate_label(other)
                )));
            }
        };
        let ContentView {
            text,
            images,
            opaque,
        } = match message.content {
            Some(content) => content.into_parts(&format!("messages[{index}]"))?,
            None => ContentView {
                text: String::new(),
                images: Vec::new(),
                opaque: 0,
            },
        };
        opaque_parts += opaque;
        if !images.is_empty() && role != ChatRole::User {
            return Err(RelayError::InvalidRequest(format!(
                "messages[{index}]: only user messages carry images"
            )));
        }
        let tool_call_id = match (role, message.tool_call_id) {
            (ChatRole::Tool, Some(id)) => Some(id),
            (ChatRole::Tool, None) => {
                return Err(RelayError::InvalidRequest(format!(
                    "messages[{index}]: a tool message needs `tool_call_id`"
                )));
            }
            (_, _) => None,
        };
        let tool_calls = match (role, message.tool_calls) {
            (_, None) => Vec::new(),
            (ChatRole::Assistant, Some(calls)) => calls
                .into_iter()
                .filter(|c| c.kind.as_deref().is_none_or(|k| k == "function"))
                .map(|c| {
                    let function = c.function.ok_or_else(|| {
                        RelayError::InvalidRequest(format!(
                            "messages[{index}]: a `function` tool call needs a `function` object"
                        ))
                    })?;
                    Ok(ToolCall {
                        id: c.id,
                        name: function.name,
                        arguments: function.arguments,
                    })
                })
                .collect::<Result<_, RelayError>>()?,
            (_, Some(_)) => {
                return Err(RelayError::InvalidRequest(format!(
                    "messages[{index}]: only assistant messages carry `tool_calls`"
                )));
            }
        };
        messages.push(ChatMessage {
            role,
            text,
            images,
            tool_calls,
            tool_call_id,
            tool_error: false,
        });
    }
    let stop = match request.stop {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s],
        Some(Stop::Many(v)) => v,
    };
    let options = FrontOptions {
        include_usage: request.stream_options.is_some_and(|o| o.include_usage),
        max_tokens_field: if request.max_completion_tokens.is_some() {
            Some("max_completion_tokens")
        } else {
            request.max_tokens.map(|_| "max_tokens")
        },
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
            tools,
            tool_choice: request.tool_choice,
            response_format: request
                .response_format
                .map(WireResponseFormat::into_canonical)
                .transpose()?
                .flatten(),
            seed: request.seed,
            user: request.safety_identifier.or(request.user),
            reasoning: reasoning_effort(request.reasoning_effort)?,
            top_k: None,
            presence_penalty: request.presence_penalty,
            frequency_penalty: request.frequency_penalty,
            parallel_tool_calls: request.parallel_tool_calls,
            opaque_parts,
        },
        options,
    ))
}

/// The function tools; other tool types (`custom`) are not in the canonical view
/// (they pass on the same wire, and are refused on another by `crossing`).
fn parse_tools(tools: Vec<Tool>) -> Result<Vec<ToolSpec>, RelayError> {
    let mut specs = Vec::with_capacity(tools.len());
    for (index, tool) in tools.into_iter().enumerate() {
        if tool.kind != "function" {
            continue;
        }
        let Some(function) = tool.function else {
            return Err(RelayError::InvalidRequest(format!(
                "tools[{index}]: a tool of type `function` needs a `function` object"
            )));
        };
        specs.push(super::tool_spec(
            index,
            function.name,
            function.description,
            function.parameters,
            function.strict,
        )?);
    }
    Ok(specs)
}

fn tool_calls_json(calls: &[ToolCall]) -> serde_json::Value {
    calls
        .iter()
        .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
        .collect()
}

pub fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop | FinishReason::Other => "stop",
        FinishReason::Length => "length",
        FinishReason::ContentFilter => "content_filter",
        FinishReason::ToolCalls => "tool_calls",
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
            "message": message_json(response),
            "logprobs": null,
            "finish_reason": finish_reason(response.finish),
        }],
        "usage": usage_json(response.usage),
    })
}

fn message_json(response: &ChatResponse) -> serde_json::Value {
    let mut message = json!({"role": "assistant", "content": response.text, "refusal": null});
    if !response.tool_calls.is_empty() {
        message["tool_calls"] = tool_calls_json(&response.tool_calls);
        if response.text.is_empty() {
            message["content"] = serde_json::Value::Null;
        }
    }
    message
}

pub struct StreamWriter {
    id: String,
    model: String,
    created: i64,
    include_usage: bool,
    cost_usd: Option<f64>,
}

impl StreamWriter {
    pub fn new(request_id: &str, model: &str, options: FrontOptions) -> Self {
        Self {
            id: completion_id(request_id),
            model: model.to_owned(),
            created: unix_now(),
            include_usage: options.include_usage,
            cost_usd: None,
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

    fn tool_call(&mut self, piece: &ToolCallPiece<'_>, out: &mut Vec<Bytes>) {
        let mut call = json!({"index": piece.index, "function": {"arguments": piece.arguments}});
        if let Some(id) = piece.id {
            call["id"] = json!(id);
            call["type"] = json!("function");
        }
        if let Some(name) = piece.name {
            call["function"]["name"] = json!(name);
        }
        out.push(self.chunk(json!({"tool_calls": [call]}), None));
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
            let mut chunk = chunk;
            if let Some(cost) = self.cost_usd {
                chunk["usage"][crate::native::COST_FIELD] = json!(cost);
            }
            out.push(sse_frame(None, &chunk.to_string()));
        }
        out.push(sse_frame(None, "[DONE]"));
    }

    fn set_cost(&mut self, cost_usd: f64) {
        self.cost_usd = Some(cost_usd);
    }

    fn error(&mut self, error: &RelayError, request_id: &str, out: &mut Vec<Bytes>) {
        // The OpenAI SDKs raise an APIError when a `data:` event carries `error`.
        out.push(sse_frame(None, &error.openai_body(request_id).to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request as the relay parses it from the wire.
    fn parse_request(body: &[u8]) -> Result<(ChatRequest, FrontOptions), RelayError> {
        crate::front::WireRequest::parse(crate::front::Front::OpenAi, body)
            .map(|w| (w.request, w.options))
    }

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
    fn unknown_roles_and_unsupported_parts_are_clear_400s() {
        let err = parse_request(br#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#)
            .unwrap_err();
        assert!(
            matches!(err, RelayError::InvalidRequest(ref m) if m.contains("unknown role `wizard`"))
        );
        // Audio stays in the body (for an OpenAI provider), counted as an
        // attachment; other wires refuse it (see `crossing`).
        let (request, _) = parse_request(
            br#"{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}"#,
        )
        .unwrap();
        assert_eq!(request.opaque_parts, 1);
        for (url, expected) in [
            ("ftp://x/cat.png", "https://"),
            ("data:text/html;base64,PGI+", "images must be one of"),
            ("data:image/png,not-base64", "data:image/png;base64"),
            ("data:image/png;base64,***", "base64"),
        ] {
            let body = json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": url}}]}]});
            let err = parse_request(body.to_string().as_bytes()).unwrap_err();
            assert!(
                matches!(err, RelayError::InvalidRequest(ref m) if m.contains(expected) && m.starts_with("messages[0]")),
                "{url}: {err:?}"
            );
        }
        let err = parse_request(
            br#"{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/a.png"}}]}]}"#,
        )
        .unwrap_err();
        assert!(
            matches!(err, RelayError::InvalidRequest(ref m) if m.contains("only user messages"))
        );
    }

    #[test]
    fn image_parts_are_kept_beside_the_text() {
        let body = br#"{"model":"gpt-4o","messages":[{"role":"user","content":[
            {"type":"text","text":"what is this?"},
            {"type":"image_url","image_url":{"url":"https://example.com/cat.png","detail":"low"}},
            {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]}"#;
        let (request, _) = parse_request(body).unwrap();
        let message = &request.messages[0];
        assert_eq!(message.text, "what is this?");
        assert_eq!(request.image_count(), 2);
        assert_eq!(
            message.images[0],
            Image::Url {
                url: "https://example.com/cat.png".into(),
                detail: Some("low".into())
            }
        );
        assert_eq!(
            message.images[1].as_url(),
            "data:image/png;base64,iVBORw0KGgo="
        );
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
    fn tools_tool_calls_and_tool_results_parse() {
        let body = br#"{"model":"gpt-4o","tool_choice":{"type":"function","function":{"name":"f"}},
            "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
            "messages":[{"role":"user","content":"hi"},
              {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
              {"role":"tool","tool_call_id":"c1","content":"42"}]}"#;
        let (request, _) = parse_request(body).unwrap();
        assert_eq!(request.tools[0].name, "f");
        assert_eq!(request.messages[1].tool_calls[0].id, "c1");
        assert_eq!(request.messages[2].role, ChatRole::Tool);
        assert_eq!(request.messages[2].tool_call_id.as_deref(), Some("c1"));
    }

    #[test]
    fn malformed_tool_use_is_a_clear_400() {
        let cases: [(&[u8], &str); 4] = [
            (br#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#, "needs `tool_call_id`"),
            (br#"{"model":"m","messages":[{"role":"user","content":"x","tool_calls":[{"id":"a","function":{"name":"f"}}]}]}"#, "only assistant"),
            (br#"{"model":"m","tools":[{"type":"function","function":{"name":"bad name!"}}],"messages":[{"role":"user","content":"x"}]}"#, "tool name is 1-64"),
            (br#"{"model":"m","tool_choice":"sometimes","messages":[{"role":"user","content":"x"}]}"#, "tool_choice"),
        ];
        for (body, expected) in cases {
            let err = parse_request(body).unwrap_err();
            assert!(
                matches!(&err, RelayError::InvalidRequest(m) if m.contains(expected)),
                "{err:?}"
            );
        }
    }

    #[test]
    fn tool_calls_render_in_the_answer_and_in_stream_chunks() {
        let response = ChatResponse {
            model: "gpt-4o".into(),
            text: String::new(),
            tool_calls: vec![ToolCall {
                id: "c1".into(),
                name: "f".into(),
                arguments: "{}".into(),
            }],
            finish: FinishReason::ToolCalls,
            usage: TokenUsage::default(),
        };
        let body = render_response(&response, "req_1");
        assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(
            body["choices"][0]["message"]["content"],
            serde_json::Value::Null
        );
        assert_eq!(
            body["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
            "f"
        );
        let mut writer = StreamWriter::new("req_1", "gpt-4o", FrontOptions::default());
        let mut out = Vec::new();
        writer.tool_call(
            &ToolCallPiece {
                index: 0,
                id: Some("c1"),
                name: Some("f"),
                arguments: "{\"a\"",
            },
            &mut out,
        );
        let text = String::from_utf8_lossy(&out[0]).into_owned();
        assert!(text.contains(r#""tool_calls":[{"function":{"arguments":"{\"a\"","name":"f"},"id":"c1","index":0,"type":"function"}]"#), "{text}");
    }

    #[test]
    fn deeply_nested_and_huge_values_are_clear_400s() {
        let nested = format!(
            r#"{{"model":"m","messages":[{{"role":"user","content":{}1{}}}]}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let err = parse_request(nested.as_bytes()).unwrap_err();
        assert!(matches!(err, RelayError::InvalidRequest(_)), "{err:?}");
        // Every field is forwarded, so a field the relay has no name for is read
        // too: past serde_json's nesting limit it is a clear 400, not a crash.
        let unknown = format!(
            r#"{{"model":"m","messages":[{{"role":"user","content":"x"}}],"extra":{}1{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let err = parse_request(unknown.as_bytes()).unwrap_err();
        assert!(
            matches!(err, RelayError::InvalidRequest(ref m) if m.contains("recursion")),
            "{err:?}"
        );
        let huge_number = format!(
            r#"{{"model":"m","max_tokens":1{},"messages":[]}}"#,
            "0".repeat(5000)
        );
        let err = parse_request(huge_number.as_bytes()).unwrap_err();
        assert!(matches!(err, RelayError::InvalidRequest(_)), "{err:?}");
    }

    #[test]
    fn a_stream_ends_with_done_and_usage_when_asked() {
        let mut writer = StreamWriter::new(
            "req_1",
            "gpt-4o",
            FrontOptions {
                include_usage: true,
                ..FrontOptions::default()
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
