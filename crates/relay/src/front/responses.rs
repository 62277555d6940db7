//! OpenAI's Responses API (`POST /v1/responses`): `input` as a string or a list of
//! items (messages, function calls and their outputs), `instructions`, function
//! tools, `text.format`, `reasoning.effort`. Parsed into the canonical request for
//! the checks and for a provider of another API; rendered back as a `response`
//! object, or streamed as its typed events (`response.created`, …,
//! `response.output_text.delta`, …, `response.completed`).
//!
//! Airlock keeps no content, so `previous_response_id` works only where the
//! provider keeps the conversation itself (an OpenAI provider, on the same wire).

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::openai::{WireResponseFormat, reasoning_effort};
use super::{
    FrontOptions, SseWriter, ToolCallPiece, describe_json_error, sse_frame, truncate_label,
};
use crate::canonical::{
    ChatMessage, ChatRequest, ChatResponse, ChatRole, FinishReason, Image, TokenUsage, ToolCall,
    ToolSpec,
};
use crate::error::RelayError;

#[derive(Deserialize)]
struct Request {
    model: String,
    #[serde(default)]
    input: Option<Input>,
    #[serde(default)]
    instructions: Option<String>,
    #[serde(default)]
    tools: Option<Vec<Value>>,
    #[serde(default)]
    tool_choice: Option<Value>,
    #[serde(default)]
    max_output_tokens: Option<u32>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    text: Option<TextConfig>,
    #[serde(default)]
    reasoning: Option<ReasoningConfig>,
    #[serde(default)]
    parallel_tool_calls: Option<bool>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    safety_identifier: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    Text(String),
    Items(Vec<Value>),
}

#[derive(Deserialize)]
struct TextConfig {
    #[serde(default)]
    format: Option<WireResponseFormat>,
}

#[derive(Deserialize)]
struct ReasoningConfig {
    #[serde(default)]
    effort: Option<String>,
}

fn invalid(message: String) -> RelayError {
    RelayError::InvalidRequest(message)
}

pub fn parse_request(body: &Map<String, Value>) -> Result<(ChatRequest, FrontOptions), RelayError> {
    let request = Request::deserialize(body)
        .map_err(|e| RelayError::InvalidRequest(describe_json_error(&e)))?;
    if request.model.trim().is_empty() {
        return Err(invalid("`model` must not be empty".into()));
    }
    let mut messages = Vec::new();
    let mut opaque_parts = 0;
    if let Some(instructions) = request.instructions {
        messages.push(ChatMessage::new(ChatRole::System, instructions));
    }
    match request.input {
        None => {
            return Err(invalid(
                "`input` is required: a string or a list of items".into(),
            ));
        }
        Some(Input::Text(text)) => messages.push(ChatMessage::new(ChatRole::User, text)),
        Some(Input::Items(items)) => {
            if items.is_empty() {
                return Err(invalid("`input` must hold at least one item".into()));
            }
            for (index, item) in items.iter().enumerate() {
                input_item(item, index, &mut messages, &mut opaque_parts)?;
            }
        }
    }
    let tools = request
        .tools
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(index, tool)| function_tool(tool, index))
        .collect::<Result<Vec<_>, _>>()?;
    let tool_choice = request.tool_choice.map(tool_choice).transpose()?;
    let response_format = match request.text.and_then(|t| t.format) {
        Some(format) => format.into_canonical()?,
        None => None,
    };
    Ok((
        ChatRequest {
            model: request.model,
            messages,
            max_tokens: request.max_output_tokens,
            temperature: request.temperature,
            top_p: request.top_p,
            stop: Vec::new(),
            stream: request.stream.unwrap_or(false),
            tools,
            tool_choice,
            response_format,
            seed: None,
            user: request.safety_identifier.or(request.user),
            reasoning: reasoning_effort(request.reasoning.and_then(|r| r.effort))?,
            top_k: None,
            presence_penalty: None,
            frequency_penalty: None,
            parallel_tool_calls: request.parallel_tool_calls,
            opaque_parts,
        },
        FrontOptions {
            include_usage: true,
            max_tokens_field: Some("max_output_tokens"),
        },
    ))
}

/// One `input` item as canonical messages: a message, a function call (joined to
/// the assistant turn before it), a function call's output. Reasoning items and
/// item references stay in the body only.
fn input_item(
    item: &Value,
    index: usize,
    messages: &mut Vec<ChatMessage>,
    opaque: &mut u32,
) -> Result<(), RelayError> {
    let at = format!("input[{index}]");
    let text_of = |value: &Value| value.as_str().map(str::to_owned);
    match item
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message")
    {
        "message" => {
            let role = match item.get("role").and_then(Value::as_str) {
                Some("user") => ChatRole::User,
                Some("assistant") => ChatRole::Assistant,
                Some("system" | "developer") => ChatRole::System,
                other => {
                    return Err(invalid(format!(
                        "{at}: unknown role `{}`; use user, assistant, system or developer",
                        truncate_label(other.unwrap_or_default())
                    )));
                }
            };
            let mut message = ChatMessage::new(role, String::new());
            match item.get("content") {
                Some(Value::String(text)) => message.text.push_str(text),
                Some(Value::Array(parts)) => {
                    for (j, part) in parts.iter().enumerate() {
                        match part.get("type").and_then(Value::as_str) {
                            Some("input_text" | "output_text") => {
                                let text = part.get("text").and_then(text_of).ok_or_else(|| {
                                    invalid(format!("{at}.content[{j}]: a text part needs `text`"))
                                })?;
                                message.text.push_str(&text);
                            }
                            Some("refusal") => {
                                message
                                    .text
                                    .push_str(part["refusal"].as_str().unwrap_or_default());
                            }
                            Some("input_image") if part["image_url"].is_string() => {
                                let url = part["image_url"].as_str().unwrap_or_default().to_owned();
                                let detail = part["detail"].as_str().map(str::to_owned);
                                message.images.push(
                                    Image::from_url(url, detail)
                                        .map_err(|e| invalid(format!("{at}.content[{j}]: {e}")))?,
                                );
                            }
                            _ => *opaque += 1,
                        }
                    }
                }
                _ => return Err(invalid(format!("{at}: a message needs `content`"))),
            }
            messages.push(message);
        }
        "function_call" => {
            let (Some(call_id), Some(name)) = (
                item.get("call_id").and_then(text_of),
                item.get("name").and_then(text_of),
            ) else {
                return Err(invalid(format!(
                    "{at}: a function_call needs `call_id` and `name`"
                )));
            };
            let call = ToolCall {
                id: call_id,
                name,
                arguments: item["arguments"].as_str().unwrap_or("{}").to_owned(),
            };
            match messages.last_mut() {
                Some(last) if last.role == ChatRole::Assistant => last.tool_calls.push(call),
                _ => messages.push(ChatMessage {
                    tool_calls: vec![call],
                    ..ChatMessage::new(ChatRole::Assistant, String::new())
                }),
            }
        }
        "function_call_output" => {
            let call_id = item
                .get("call_id")
                .and_then(text_of)
                .ok_or_else(|| invalid(format!("{at}: a function_call_output needs `call_id`")))?;
            let output = match &item["output"] {
                Value::String(text) => text.clone(),
                Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
                _ => return Err(invalid(format!("{at}: `output` must be a string or parts"))),
            };
            messages.push(ChatMessage {
                tool_call_id: Some(call_id),
                ..ChatMessage::new(ChatRole::Tool, output)
            });
        }
        _ => *opaque += 1,
    }
    Ok(())
}

/// A `function` tool; the provider's own tools (web search, file search, code
/// interpreter, computer use, MCP…) are refused: what they fetch and run never
/// passes the relay's checks.
fn function_tool(tool: &Value, index: usize) -> Result<ToolSpec, RelayError> {
    match tool.get("type").and_then(Value::as_str) {
        Some("function") => {}
        other => {
            return Err(invalid(format!(
                "tools[{index}]: built-in tools (`{}`) are not supported through Airlock; define function tools",
                truncate_label(other.unwrap_or_default())
            )));
        }
    }
    let name = tool["name"].as_str().unwrap_or_default().to_owned();
    super::tool_spec(
        index,
        name,
        tool["description"].as_str().map(str::to_owned),
        tool.get("parameters").cloned().filter(|p| !p.is_null()),
        tool["strict"].as_bool(),
    )
}

/// `tool_choice` in the canonical (Chat Completions) form.
fn tool_choice(choice: Value) -> Result<Value, RelayError> {
    match &choice {
        Value::String(s) if matches!(s.as_str(), "auto" | "none" | "required") => Ok(choice),
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            let name = o
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("`tool_choice` of type function needs a `name`".into()))?;
            Ok(json!({"type": "function", "function": {"name": name}}))
        }
        Value::Object(_) => Ok(choice),
        _ => Err(invalid(
            "`tool_choice` must be auto, none, required or {\"type\": \"function\", \"name\": …}"
                .into(),
        )),
    }
}

fn response_id(request_id: &str) -> String {
    format!("resp_{}", request_id.trim_start_matches("req_"))
}

fn usage_json(usage: TokenUsage) -> Value {
    json!({
        "input_tokens": usage.input,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": usage.output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.input + usage.output,
    })
}

fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({"type": "message", "id": id, "status": status, "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]})
}

fn function_item(call: &ToolCall, index: usize, request_id: &str, status: &str) -> Value {
    json!({"type": "function_call", "id": format!("fc_{index}_{}", request_id.trim_start_matches("req_")),
        "call_id": call.id, "name": call.name, "arguments": call.arguments, "status": status})
}

/// A `response` object around `output`.
fn response_object(
    id: &str,
    model: &str,
    status: &str,
    output: Value,
    usage: Option<TokenUsage>,
) -> Value {
    let incomplete = match status {
        "incomplete" => json!({"reason": "content_filter"}),
        _ => Value::Null,
    };
    json!({
        "id": id, "object": "response", "created_at": super::unix_now() as f64, "status": status,
        "model": model, "output": output, "usage": usage.map(usage_json),
        "error": null, "incomplete_details": incomplete, "instructions": null, "metadata": {},
        "parallel_tool_calls": true, "temperature": null, "top_p": null, "tool_choice": "auto", "tools": [],
    })
}

fn status_of(finish: FinishReason) -> &'static str {
    match finish {
        FinishReason::Length | FinishReason::ContentFilter => "incomplete",
        _ => "completed",
    }
}

pub fn render_response(response: &ChatResponse, request_id: &str) -> Value {
    let mut output = Vec::new();
    if !response.text.is_empty() || response.tool_calls.is_empty() {
        output.push(message_item(
            &format!("msg_{}", request_id.trim_start_matches("req_")),
            &response.text,
            "completed",
        ));
    }
    output.extend(
        response
            .tool_calls
            .iter()
            .enumerate()
            .map(|(i, call)| function_item(call, i, request_id, "completed")),
    );
    let mut object = response_object(
        &response_id(request_id),
        &response.model,
        status_of(response.finish),
        Value::Array(output),
        Some(response.usage),
    );
    if response.finish == FinishReason::Length {
        object["incomplete_details"] = json!({"reason": "max_output_tokens"});
    }
    object
}

/// The Responses stream in the order the OpenAI SDK's helper requires:
/// `response.created` first; an item is announced (`output_item.added`, and a
/// `content_part.added` for text) before its deltas; every announced item is
/// finished (`…done`) before `response.completed`, which carries the whole output.
pub struct StreamWriter {
    id: String,
    message_id: String,
    request_id: String,
    model: String,
    sequence: u64,
    /// The text so far, and whether its message item is open.
    text: String,
    text_open: bool,
    /// Each call's output index and the call so far, in the order they came.
    calls: Vec<(u32, ToolCall)>,
    /// The canonical index of each call in `calls`.
    call_pieces: Vec<u32>,
    next_index: u32,
    text_index: u32,
    cost_usd: Option<f64>,
}

impl StreamWriter {
    pub fn new(request_id: &str, model: &str) -> Self {
        Self {
            id: response_id(request_id),
            message_id: format!("msg_{}", request_id.trim_start_matches("req_")),
            request_id: request_id.to_owned(),
            model: model.to_owned(),
            sequence: 0,
            text: String::new(),
            text_open: false,
            calls: Vec::new(),
            call_pieces: Vec::new(),
            next_index: 0,
            text_index: 0,
            cost_usd: None,
        }
    }

    fn event(&mut self, kind: &str, mut value: Value, out: &mut Vec<Bytes>) {
        value["type"] = json!(kind);
        value["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        out.push(sse_frame(Some(kind), &value.to_string()));
    }

    fn open_text(&mut self, out: &mut Vec<Bytes>) {
        if self.text_open {
            return;
        }
        self.text_open = true;
        self.text_index = self.next_index;
        self.next_index += 1;
        let mut item = message_item(&self.message_id, "", "in_progress");
        item["content"] = json!([]);
        let index = self.text_index;
        self.event(
            "response.output_item.added",
            json!({"output_index": index, "item": item}),
            out,
        );
        let part = json!({"type": "output_text", "text": "", "annotations": [], "logprobs": []});
        let item_id = self.message_id.clone();
        self.event(
            "response.content_part.added",
            json!({"output_index": index, "content_index": 0, "item_id": item_id, "part": part}),
            out,
        );
    }

    fn close_text(&mut self, out: &mut Vec<Bytes>) {
        if !self.text_open {
            return;
        }
        self.text_open = false;
        let (index, item_id, text) = (self.text_index, self.message_id.clone(), self.text.clone());
        self.event(
            "response.output_text.done",
            json!({"output_index": index, "content_index": 0, "item_id": item_id, "text": text, "logprobs": []}),
            out,
        );
        let part = json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []});
        self.event(
            "response.content_part.done",
            json!({"output_index": index, "content_index": 0, "item_id": item_id, "part": part}),
            out,
        );
        let item = message_item(&item_id, &text, "completed");
        self.event(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
            out,
        );
    }

    fn output(&self) -> Value {
        let mut items: Vec<(u32, Value)> = Vec::new();
        if !self.text.is_empty() || self.calls.is_empty() {
            items.push((
                self.text_index,
                message_item(&self.message_id, &self.text, "completed"),
            ));
        }
        for (n, (index, call)) in self.calls.iter().enumerate() {
            items.push((
                *index,
                function_item(call, n, &self.request_id, "completed"),
            ));
        }
        items.sort_by_key(|(index, _)| *index);
        Value::Array(items.into_iter().map(|(_, item)| item).collect())
    }
}

impl SseWriter for StreamWriter {
    fn begin(&mut self, out: &mut Vec<Bytes>) {
        let response = response_object(&self.id, &self.model, "in_progress", json!([]), None);
        self.event(
            "response.created",
            json!({"response": response.clone()}),
            out,
        );
        self.event("response.in_progress", json!({"response": response}), out);
    }

    fn delta(&mut self, text: &str, out: &mut Vec<Bytes>) {
        self.open_text(out);
        self.text.push_str(text);
        let (index, item_id) = (self.text_index, self.message_id.clone());
        self.event(
            "response.output_text.delta",
            json!({"output_index": index, "content_index": 0, "item_id": item_id, "delta": text, "logprobs": []}),
            out,
        );
    }

    fn tool_call(&mut self, piece: &ToolCallPiece<'_>, out: &mut Vec<Bytes>) {
        self.close_text(out);
        let n = match self.call_pieces.iter().position(|p| *p == piece.index) {
            Some(n) => n,
            None => {
                let index = self.next_index;
                self.next_index += 1;
                let call = ToolCall {
                    id: piece.id.unwrap_or_default().to_owned(),
                    name: piece.name.unwrap_or_default().to_owned(),
                    arguments: String::new(),
                };
                let item = function_item(&call, self.calls.len(), &self.request_id, "in_progress");
                self.calls.push((index, call));
                self.call_pieces.push(piece.index);
                self.event(
                    "response.output_item.added",
                    json!({"output_index": index, "item": item}),
                    out,
                );
                self.calls.len() - 1
            }
        };
        let (index, call) = &mut self.calls[n];
        call.arguments.push_str(piece.arguments);
        let index = *index;
        let item_id = function_item(call, n, &self.request_id, "in_progress")["id"].clone();
        if !piece.arguments.is_empty() {
            self.event(
                "response.function_call_arguments.delta",
                json!({"output_index": index, "item_id": item_id, "delta": piece.arguments}),
                out,
            );
        }
    }

    fn end(&mut self, finish: FinishReason, usage: TokenUsage, out: &mut Vec<Bytes>) {
        if self.calls.is_empty() {
            // An empty answer is still one (empty) message.
            self.open_text(out);
        }
        self.close_text(out);
        for n in 0..self.calls.len() {
            let (index, call) = self.calls[n].clone();
            let item = function_item(&call, n, &self.request_id, "completed");
            self.event(
                "response.function_call_arguments.done",
                json!({"output_index": index, "item_id": item["id"], "arguments": call.arguments}),
                out,
            );
            self.event(
                "response.output_item.done",
                json!({"output_index": index, "item": item}),
                out,
            );
        }
        let status = status_of(finish);
        let mut response =
            response_object(&self.id, &self.model, status, self.output(), Some(usage));
        if let Some(cost) = self.cost_usd {
            response["usage"][crate::native::COST_FIELD] = json!(cost);
        }
        let kind = if status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        self.event(kind, json!({"response": response}), out);
    }

    fn set_cost(&mut self, cost_usd: f64) {
        self.cost_usd = Some(cost_usd);
    }

    fn error(&mut self, error: &RelayError, request_id: &str, out: &mut Vec<Bytes>) {
        let body = error.openai_body(request_id);
        self.event(
            "error",
            json!({"code": error.code(), "message": body["error"]["message"], "param": null}),
            out,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::{Front, WireRequest};

    fn parse(body: Value) -> Result<ChatRequest, RelayError> {
        WireRequest::parse(Front::Responses, body.to_string().as_bytes()).map(|w| w.request)
    }

    #[test]
    fn items_become_messages_calls_and_results() {
        let request = parse(
            json!({"model": "gpt-5", "instructions": "be brief", "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
            {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "-3C"},
            {"type": "reasoning", "id": "rs_1", "summary": []}],
            "tools": [{"type": "function", "name": "weather", "parameters": {"type": "object"}}],
            "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}}},
            "max_output_tokens": 50}),
        )
        .unwrap();
        let roles: Vec<ChatRole> = request.messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [
                ChatRole::System,
                ChatRole::User,
                ChatRole::Assistant,
                ChatRole::Tool
            ]
        );
        assert_eq!(request.messages[2].tool_calls[0].name, "weather");
        assert_eq!(request.opaque_parts, 1);
        assert_eq!(request.max_tokens, Some(50));
        assert!(request.response_format.is_some());
    }

    #[test]
    fn malformed_inputs_and_builtin_tools_are_named() {
        for (body, expected) in [
            (json!({"model": "m"}), "`input` is required"),
            (json!({"model": "m", "input": 42}), "wrong shape"),
            (
                json!({"model": "m", "input": [{"role": "wizard", "content": "x"}]}),
                "input[0]: unknown role",
            ),
            (
                json!({"model": "m", "input": [{"type": "function_call_output", "output": "x"}]}),
                "call_id",
            ),
            (
                json!({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}),
                "built-in tools",
            ),
        ] {
            let err = parse(body.clone()).unwrap_err();
            assert!(
                matches!(&err, RelayError::InvalidRequest(m) if m.contains(expected)),
                "{body}: {err:?}"
            );
        }
    }

    #[test]
    fn a_stream_announces_items_before_their_deltas_and_completes_them() {
        let mut writer = StreamWriter::new("req_1", "m");
        let mut out = Vec::new();
        writer.begin(&mut out);
        writer.delta("Hel", &mut out);
        writer.delta("lo", &mut out);
        writer.end(
            FinishReason::Stop,
            TokenUsage {
                input: 2,
                output: 1,
            },
            &mut out,
        );
        let kinds: Vec<String> = out
            .iter()
            .map(|frame| {
                let text = String::from_utf8_lossy(frame).into_owned();
                let data = text
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .unwrap()
                    .to_owned();
                serde_json::from_str::<Value>(&data).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        let last = String::from_utf8_lossy(out.last().unwrap()).into_owned();
        assert!(last.contains(r#""text":"Hello""#), "{last}");
    }
}
