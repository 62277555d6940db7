//! The Anthropic Messages shape (`POST /v1/messages`), parsed into the canonical
//! request and rendered back; streams use Anthropic's event types
//! (`message_start`, `content_block_*`, `message_delta`, `message_stop`).

use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

use serde_json::{Map, Value};

use super::truncate_label;
use super::{FrontOptions, SseWriter, ToolCallPiece, describe_json_error, sse_frame};
use crate::canonical::{
    ChatMessage, ChatRequest, ChatResponse, ChatRole, Effort, FinishReason, Image, Reasoning,
    TokenUsage, ToolCall, ToolSpec,
};
use crate::error::RelayError;
use crate::providers::arguments_object;

#[derive(Deserialize)]
struct Request {
    model: String,
    /// Required on `/v1/messages`; `count_tokens` takes none.
    #[serde(default)]
    max_tokens: Option<u32>,
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
    tools: Option<Vec<Tool>>,
    #[serde(default)]
    tool_choice: Option<ToolChoice>,
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    top_k: Option<u32>,
    #[serde(default)]
    thinking: Option<Thinking>,
    #[serde(default)]
    output_config: Option<OutputConfig>,
}

/// `output_config`: how hard the model works, and the JSON schema of its answer.
#[derive(Deserialize)]
struct OutputConfig {
    #[serde(default)]
    effort: Option<String>,
    #[serde(default)]
    format: Option<crate::front::openai::WireResponseFormat>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    user_id: Option<String>,
}

/// Extended thinking: on with a token budget, or off.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Thinking {
    Enabled {
        budget_tokens: u32,
    },
    Disabled,
    /// `adaptive` (the model decides) and `between_tools`: no budget to translate.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct Tool {
    /// Absent or `custom` for the app's own tools; Anthropic's server tools
    /// (`web_search_…`, `bash_…`) carry their own type.
    #[serde(rename = "type", default)]
    kind: Option<String>,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    input_schema: Option<Value>,
    #[serde(default)]
    strict: Option<bool>,
}

#[derive(Deserialize)]
struct ToolChoice {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    disable_parallel_tool_use: Option<bool>,
}

#[derive(Deserialize)]
struct Message {
    role: String,
    content: Blocks,
}

/// Content as a plain string or a list of blocks. Hand-written instead of
/// `#[serde(untagged)]`, so an error inside a block keeps serde's message
/// ("missing field `tool_use_id`") instead of "did not match any variant".
enum Blocks {
    Text(String),
    List(Vec<Block>),
}

impl<'de> Deserialize<'de> for Blocks {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BlocksVisitor;
        impl<'de> serde::de::Visitor<'de> for BlocksVisitor {
            type Value = Blocks;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a list of content blocks")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Blocks, E> {
                Ok(Blocks::Text(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Blocks, E> {
                Ok(Blocks::Text(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Blocks, A::Error> {
                Vec::<Block>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(Blocks::List)
            }
        }
        deserializer.deserialize_any(BlocksVisitor)
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        text: String,
    },
    Image {
        source: ImageSource,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        #[serde(default)]
        content: Option<Blocks>,
        #[serde(default)]
        is_error: bool,
    },
    /// Documents, thinking blocks, search results, server tool results…: left out
    /// of the canonical view (passed on unread to Anthropic, refused elsewhere).
    #[serde(other)]
    Opaque,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ImageSource {
    Base64 { media_type: String, data: String },
    Url { url: String },
}

impl ImageSource {
    fn into_image(self) -> Result<Image, String> {
        match self {
            ImageSource::Base64 { media_type, data } => Image::inline(media_type, data, None),
            ImageSource::Url { url } => Image::from_url(url, None),
        }
    }
}

impl Blocks {
    /// The text of the system prompt or a tool result; other blocks there are
    /// counted as opaque.
    fn into_text(self, opaque: &mut u32) -> String {
        match self {
            Blocks::Text(text) => text,
            Blocks::List(blocks) => {
                let mut text = String::new();
                for block in blocks {
                    match block {
                        Block::Text { text: t } => text.push_str(&t),
                        _ => *opaque += 1,
                    }
                }
                text
            }
        }
    }

    fn into_list(self) -> Vec<Block> {
        match self {
            Blocks::Text(text) => vec![Block::Text { text }],
            Blocks::List(blocks) => blocks,
        }
    }
}

/// One Anthropic turn as canonical messages: a user turn's `tool_result` blocks
/// become `Tool` messages ahead of its text and images; an assistant turn's
/// `tool_use` blocks become its tool calls.
fn turn_messages(
    role: ChatRole,
    blocks: Vec<Block>,
    at: &str,
    messages: &mut Vec<ChatMessage>,
    opaque: &mut u32,
) -> Result<(), RelayError> {
    let mut own = ChatMessage::new(role, String::new());
    let mut has_content = false;
    let mut tool_results = 0;
    for (i, block) in blocks.into_iter().enumerate() {
        let at = format!("{at}.content[{i}]");
        match (role, block) {
            (_, Block::Text { text }) => {
                own.text.push_str(&text);
                has_content = true;
            }
            (ChatRole::User, Block::Image { source }) => {
                own.images.push(
                    source
                        .into_image()
                        .map_err(|e| RelayError::InvalidRequest(format!("{at}: {e}")))?,
                );
                has_content = true;
            }
            (
                ChatRole::User,
                Block::ToolResult {
                    tool_use_id,
                    content,
                    is_error,
                },
            ) => {
                let text = match content {
                    Some(content) => content.into_text(opaque),
                    None => String::new(),
                };
                messages.push(ChatMessage {
                    tool_call_id: Some(tool_use_id),
                    tool_error: is_error,
                    ..ChatMessage::new(ChatRole::Tool, text)
                });
                tool_results += 1;
            }
            (ChatRole::Assistant, Block::ToolUse { id, name, input }) => {
                let input = if input.is_null() { json!({}) } else { input };
                own.tool_calls.push(ToolCall {
                    id,
                    name,
                    arguments: input.to_string(),
                });
                has_content = true;
            }
            (_, Block::Opaque) => *opaque += 1,
            (_, _) => {
                return Err(RelayError::InvalidRequest(format!(
                    "{at}: images and tool results belong in user turns, tool_use in assistant turns"
                )));
            }
        }
    }
    // A turn of only tool results adds no empty user message after them.
    if has_content || tool_results == 0 {
        messages.push(own);
    }
    Ok(())
}

fn parse_tools(tools: Vec<Tool>) -> Result<Vec<ToolSpec>, RelayError> {
    tools
        .into_iter()
        .enumerate()
        .map(|(index, tool)| {
            if tool.kind.as_deref().is_some_and(|k| k != "custom") {
                return Err(RelayError::InvalidRequest(format!(
                    "tools[{index}]: Anthropic server tools are not supported; define your own tools with input_schema"
                )));
            }
            super::tool_spec(
                index,
                tool.name,
                tool.description,
                tool.input_schema,
                tool.strict,
            )
        })
        .collect()
}

/// Anthropic's `tool_choice` in the canonical (OpenAI) form.
fn parse_tool_choice(choice: ToolChoice) -> Result<Value, RelayError> {
    match (choice.kind.as_str(), choice.name) {
        ("auto", _) => Ok(json!("auto")),
        ("any", _) => Ok(json!("required")),
        ("none", _) => Ok(json!("none")),
        ("tool", Some(name)) => Ok(json!({"type": "function", "function": {"name": name}})),
        _ => Err(RelayError::InvalidRequest(
            "`tool_choice` must be {\"type\": \"auto\" | \"any\" | \"none\"} or {\"type\": \"tool\", \"name\": …}".into(),
        )),
    }
}

pub fn parse_request(body: &Map<String, Value>) -> Result<(ChatRequest, FrontOptions), RelayError> {
    parse(body, true)
}

/// A `count_tokens` body: a Messages body without `max_tokens`.
pub fn parse_count_tokens(
    body: &Map<String, Value>,
) -> Result<(ChatRequest, FrontOptions), RelayError> {
    parse(body, false)
}

fn parse(
    body: &Map<String, Value>,
    answer_wanted: bool,
) -> Result<(ChatRequest, FrontOptions), RelayError> {
    let request = Request::deserialize(body)
        .map_err(|e| RelayError::InvalidRequest(describe_json_error(&e)))?;
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
    match request.max_tokens {
        Some(0) => {
            return Err(RelayError::InvalidRequest(
                "`max_tokens` must be at least 1".into(),
            ));
        }
        None if answer_wanted => {
            return Err(RelayError::InvalidRequest(
                "missing field `max_tokens`: Anthropic's API requires it".into(),
            ));
        }
        _ => {}
    }
    let tools = parse_tools(request.tools.unwrap_or_default())?;
    let (effort, format) = match request.output_config {
        Some(config) => (config.effort, config.format),
        None => (None, None),
    };
    let response_format = format
        .map(crate::front::openai::WireResponseFormat::into_canonical)
        .transpose()?
        .flatten();
    let reasoning = match request.thinking {
        Some(Thinking::Enabled { budget_tokens }) => Some(Reasoning::Budget(budget_tokens)),
        Some(Thinking::Disabled) => Some(Reasoning::Disabled),
        Some(Thinking::Other) | None => match effort.as_deref() {
            None => None,
            Some(text) => Some(Reasoning::Effort(Effort::parse(text).ok_or_else(|| {
                RelayError::InvalidRequest(
                    "`output_config.effort` must be low, medium, high, xhigh or max".into(),
                )
            })?)),
        },
    };
    let parallel_tool_calls = request
        .tool_choice
        .as_ref()
        .and_then(|c| c.disable_parallel_tool_use)
        .map(|disabled| !disabled);
    let tool_choice = request.tool_choice.map(parse_tool_choice).transpose()?;
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    let mut opaque = 0;
    if let Some(system) = request.system {
        messages.push(ChatMessage::new(
            ChatRole::System,
            system.into_text(&mut opaque),
        ));
    }
    for (index, message) in request.messages.into_iter().enumerate() {
        let role = match message.role.as_str() {
            "user" => ChatRole::User,
            "assistant" => ChatRole::Assistant,
            // Newer API versions take system turns among the messages too.
            "system" => ChatRole::System,
            other => {
                return Err(RelayError::InvalidRequest(format!(
                    "messages[{index}]: unknown role `{}`; use user, assistant or system",
                    truncate_label(other)
                )));
            }
        };
        turn_messages(
            role,
            message.content.into_list(),
            &format!("messages[{index}]"),
            &mut messages,
            &mut opaque,
        )?;
    }
    Ok((
        ChatRequest {
            model: request.model,
            messages,
            max_tokens: request.max_tokens,
            temperature: request.temperature,
            top_p: request.top_p,
            stop: request.stop_sequences.unwrap_or_default(),
            stream: request.stream.unwrap_or(false),
            tools,
            tool_choice,
            response_format,
            seed: None,
            user: request.metadata.and_then(|m| m.user_id),
            reasoning,
            top_k: request.top_k,
            presence_penalty: None,
            frequency_penalty: None,
            parallel_tool_calls,
            opaque_parts: opaque,
        },
        FrontOptions {
            include_usage: true,
            max_tokens_field: answer_wanted.then_some("max_tokens"),
        },
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
    let mut content = Vec::with_capacity(1 + response.tool_calls.len());
    if !response.text.is_empty() || response.tool_calls.is_empty() {
        content.push(json!({"type": "text", "text": response.text}));
    }
    content.extend(response.tool_calls.iter().map(|c| {
        json!({"type": "tool_use", "id": c.id, "name": c.name, "input": arguments_object(&c.arguments)})
    }));
    json!({
        "id": message_id(request_id),
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": content,
        "stop_reason": stop_reason(response.finish),
        "stop_sequence": null,
        "usage": {"input_tokens": response.usage.input, "output_tokens": response.usage.output},
    })
}

pub struct StreamWriter {
    id: String,
    model: String,
    estimated_input_tokens: u64,
    /// The content block open now: text at 0, then one per tool call.
    block: u32,
    /// The tool call the open block carries, if it is a `tool_use` block.
    open_tool: Option<u32>,
    cost_usd: Option<f64>,
}

impl StreamWriter {
    pub fn new(request_id: &str, model: &str, estimated_input_tokens: u64) -> Self {
        Self {
            id: message_id(request_id),
            model: model.to_owned(),
            estimated_input_tokens,
            block: 0,
            open_tool: None,
            cost_usd: None,
        }
    }

    fn close_block(&self, out: &mut Vec<Bytes>) {
        let stop = json!({"type": "content_block_stop", "index": self.block});
        out.push(sse_frame(Some("content_block_stop"), &stop.to_string()));
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
        // Text after a tool call would need a new text block; providers do not
        // send it, and a guard never reorders, so it stays in the open block.
        let delta = json!({"type": "content_block_delta", "index": self.block, "delta": {"type": "text_delta", "text": text}});
        out.push(sse_frame(Some("content_block_delta"), &delta.to_string()));
    }

    /// Each tool call is its own `tool_use` block; its arguments stream as
    /// `input_json_delta` pieces.
    fn tool_call(&mut self, piece: &ToolCallPiece<'_>, out: &mut Vec<Bytes>) {
        if self.open_tool != Some(piece.index) {
            self.close_block(out);
            self.block += 1;
            self.open_tool = Some(piece.index);
            let start = json!({"type": "content_block_start", "index": self.block,
                "content_block": {"type": "tool_use", "id": piece.id.unwrap_or_default(),
                    "name": piece.name.unwrap_or_default(), "input": {}}});
            out.push(sse_frame(Some("content_block_start"), &start.to_string()));
        }
        if !piece.arguments.is_empty() {
            let delta = json!({"type": "content_block_delta", "index": self.block,
                "delta": {"type": "input_json_delta", "partial_json": piece.arguments}});
            out.push(sse_frame(Some("content_block_delta"), &delta.to_string()));
        }
    }

    fn end(&mut self, finish: FinishReason, usage: TokenUsage, out: &mut Vec<Bytes>) {
        self.close_block(out);
        let delta = json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason(finish), "stop_sequence": null},
            "usage": {"input_tokens": usage.input, "output_tokens": usage.output},
        });
        let mut delta = delta;
        if let Some(cost) = self.cost_usd {
            delta["usage"][crate::native::COST_FIELD] = json!(cost);
        }
        out.push(sse_frame(Some("message_delta"), &delta.to_string()));
        out.push(sse_frame(
            Some("message_stop"),
            r#"{"type":"message_stop"}"#,
        ));
    }

    fn set_cost(&mut self, cost_usd: f64) {
        self.cost_usd = Some(cost_usd);
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

    /// The request as the relay parses it from the wire.
    fn parse_request(body: &[u8]) -> Result<(ChatRequest, FrontOptions), RelayError> {
        crate::front::WireRequest::parse(crate::front::Front::Anthropic, body)
            .map(|w| (w.request, w.options))
    }

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

    #[test]
    fn tool_use_and_tool_result_turns_become_canonical_tool_messages() {
        let body = br#"{"model":"claude","max_tokens":64,
            "tools":[{"name":"weather","description":"forecast","input_schema":{"type":"object"}}],
            "tool_choice":{"type":"tool","name":"weather"},
            "messages":[
              {"role":"user","content":"weather in Oslo?"},
              {"role":"assistant","content":[{"type":"text","text":"Checking."},
                 {"type":"tool_use","id":"toolu_1","name":"weather","input":{"city":"Oslo"}}]},
              {"role":"user","content":[
                 {"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"-3C"}],"is_error":false},
                 {"type":"text","text":"and tomorrow?"},
                 {"type":"image","source":{"type":"url","url":"https://example.com/map.png"}}]}]}"#;
        let (request, _) = parse_request(body).unwrap();
        let roles: Vec<ChatRole> = request.messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [
                ChatRole::User,
                ChatRole::Assistant,
                ChatRole::Tool,
                ChatRole::User
            ]
        );
        assert_eq!(request.messages[1].text, "Checking.");
        assert_eq!(
            request.messages[1].tool_calls[0].arguments,
            r#"{"city":"Oslo"}"#
        );
        assert_eq!(request.messages[2].tool_call_id.as_deref(), Some("toolu_1"));
        assert_eq!(request.messages[2].text, "-3C");
        assert_eq!(request.messages[3].images.len(), 1);
        assert_eq!(request.tools[0].name, "weather");
        assert_eq!(
            request.tool_choice,
            Some(json!({"type": "function", "function": {"name": "weather"}}))
        );
    }

    #[test]
    fn a_streamed_tool_call_is_its_own_tool_use_block() {
        let mut writer = StreamWriter::new("req_1", "claude", 5);
        let mut out = Vec::new();
        writer.begin(&mut out);
        writer.delta("Checking.", &mut out);
        for (id, name, arguments) in [
            (Some("toolu_1"), Some("weather"), ""),
            (None, None, r#"{"city":"#),
            (None, None, r#""Oslo"}"#),
        ] {
            writer.tool_call(
                &ToolCallPiece {
                    index: 0,
                    id,
                    name,
                    arguments,
                },
                &mut out,
            );
        }
        writer.end(FinishReason::ToolCalls, TokenUsage::default(), &mut out);
        let events: Vec<Value> = out
            .iter()
            .flat_map(|b| {
                String::from_utf8_lossy(b)
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: ").map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .map(|d| serde_json::from_str(&d).unwrap())
            .collect();
        let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(events[4]["index"], 1);
        assert_eq!(events[4]["content_block"]["id"], "toolu_1");
        assert_eq!(events[6]["delta"]["partial_json"], r#""Oslo"}"#);
        assert_eq!(events[7]["index"], 1);
        assert_eq!(events[8]["delta"]["stop_reason"], "tool_use");
    }

    #[test]
    fn malformed_and_misplaced_blocks_are_named_in_the_error() {
        // A document is not in the canonical view: it stays in the body for
        // Anthropic, counted as an attachment, and is refused on other wires.
        let body = br#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"document","source":{}}]}]}"#;
        assert_eq!(parse_request(body).unwrap().0.opaque_parts, 1);
        for (content, expected) in [
            (r#"[{"type":"tool_result"}]"#, "tool_use_id"),
            (
                r#"[{"type":"image","source":{"type":"base64","media_type":"image/bmp","data":"AA=="}}]"#,
                "images must be one of",
            ),
            (r#"42"#, "a string or a list of content blocks"),
        ] {
            let body = format!(
                r#"{{"model":"m","max_tokens":5,"messages":[{{"role":"user","content":{content}}}]}}"#
            );
            let err = parse_request(body.as_bytes()).unwrap_err();
            assert!(
                matches!(err, RelayError::InvalidRequest(ref m) if m.contains(expected)),
                "{content}: {err:?}"
            );
        }
    }
}
