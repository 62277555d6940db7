//! Same-wire answers: the provider's own JSON or SSE events, passed on with only
//! what the policy must change (placeholders restored, a withheld answer
//! replaced) and what the relay must read (usage, finish). Every other field the
//! provider sent — logprobs, fingerprints, citations, thinking blocks — reaches
//! the app as the provider wrote it.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use airlock_core::mock_reply::estimate_tokens;
use airlock_core::money::MicroDollars;
use airlock_core::output_check::OutputFindings;
use airlock_core::pricing::{Price, cost};
use bytes::Bytes;
use futures_util::Stream;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::canonical::{ChatResponse, FinishReason, TokenUsage};
use crate::error::RelayError;
use crate::front::{Front, FrontOptions, SseWriter, sse_frame};
use crate::policy::{AnswerGuard, MAX_HELD, StreamGuard, ToolPiece, withheld_text};
use crate::providers::sse::{SseEvent, SseEvents};
use crate::providers::{anthropic, openai};
use crate::splice::{First, Key, Members, Splice, is_object, span, string_of};
use crate::state::RelayState;
use crate::stream::Batch;
use crate::ticket::{Accounting, Ticket};

/// What the relay learned from an answer it passed on.
pub(crate) struct Outcome {
    pub usage: TokenUsage,
    pub findings: OutputFindings,
    pub replaced: bool,
    pub output_chars: u64,
}

/// The extension field that tells the app what a call cost, in US dollars.
pub const COST_FIELD: &str = "airlock_cost_usd";

/// A cost in micro-dollars as the dollars an app reads.
pub fn dollars(cost: MicroDollars) -> f64 {
    // Micro-dollars of one call fit an f64 exactly far beyond any real cost.
    cost.as_micros() as f64 / 1_000_000.0
}

/// Edits a complete same-wire answer in place: output checks on its text and
/// tool calls together, then either the placeholders restored in every text, or
/// the answer withheld in the API's own shape.
pub(crate) fn edit_complete(
    front: Front,
    body: &mut Value,
    model: &str,
    guard: &AnswerGuard,
) -> Result<Outcome, RelayError> {
    let read: ChatResponse = match front {
        Front::OpenAi => openai::parse_response(body, model)?,
        Front::Anthropic => anthropic::parse_response(body, model)?,
        Front::Responses => read_response_object(body, model)?,
        // Their answers carry no text to guard; they never come here.
        Front::Embeddings | Front::CountTokens => return Err(RelayError::Internal),
    };
    let (findings, withhold) = guard.verdict(&read.text, &read.tool_calls);
    let usage = read.usage.clamped();
    if withhold {
        let text = withheld_text(&findings);
        let output_chars = text.chars().count() as u64;
        match front {
            Front::OpenAi => {
                if let Some(choice) = body["choices"].get_mut(0) {
                    choice["message"] =
                        json!({"role": "assistant", "content": text, "refusal": null});
                    choice["finish_reason"] = json!("content_filter");
                    choice["logprobs"] = Value::Null;
                }
            }
            Front::Anthropic => {
                body["content"] = json!([{"type": "text", "text": text}]);
                body["stop_reason"] = json!("refusal");
            }
            Front::Responses => {
                body["output"] = json!([{"type": "message", "id": "msg_withheld", "status": "completed",
                    "role": "assistant", "content": [{"type": "output_text", "text": text, "annotations": []}]}]);
                body["status"] = json!("incomplete");
                body["incomplete_details"] = json!({"reason": "content_filter"});
            }
            Front::Embeddings | Front::CountTokens => {}
        }
        return Ok(Outcome {
            usage,
            findings,
            replaced: true,
            output_chars,
        });
    }
    let mut output_chars = 0;
    let mut restore = |text: &mut String| {
        if let std::borrow::Cow::Owned(restored) = guard.restore_text(text) {
            *text = restored;
        }
        output_chars += text.chars().count() as u64;
    };
    match front {
        Front::OpenAi => {
            for choice in body["choices"].as_array_mut().into_iter().flatten() {
                let message = &mut choice["message"];
                for field in ["content", "refusal"] {
                    if let Value::String(text) = &mut message[field] {
                        restore(text);
                    }
                }
                for call in message["tool_calls"].as_array_mut().into_iter().flatten() {
                    if let Value::String(arguments) = &mut call["function"]["arguments"]
                        && let std::borrow::Cow::Owned(restored) =
                            guard.restore_arguments(arguments)
                    {
                        *arguments = restored;
                    }
                }
            }
        }
        Front::Anthropic => {
            for block in body["content"].as_array_mut().into_iter().flatten() {
                match block["type"].as_str() {
                    Some("text") => {
                        if let Value::String(text) = &mut block["text"] {
                            restore(text);
                        }
                    }
                    Some("tool_use") => guard.restore_value(&mut block["input"]),
                    // Thinking is signed by the provider and sent back by the app
                    // as it was: left as written.
                    _ => {}
                }
            }
        }
        Front::Responses => {
            output_chars = restore_response_output(&mut body["output"], guard);
        }
        Front::Embeddings | Front::CountTokens => {}
    }
    Ok(Outcome {
        usage,
        findings,
        replaced: false,
        output_chars,
    })
}

/// A Responses `response` object as the canonical answer: its message texts,
/// its function calls, its usage and why it ended.
fn read_response_object(body: &Value, model: &str) -> Result<ChatResponse, RelayError> {
    let output = body["output"]
        .as_array()
        .ok_or(RelayError::UpstreamProtocol)?;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for item in output {
        match item["type"].as_str() {
            Some("message") => {
                for part in item["content"].as_array().into_iter().flatten() {
                    text.push_str(
                        part["text"]
                            .as_str()
                            .or(part["refusal"].as_str())
                            .unwrap_or_default(),
                    );
                }
            }
            Some("function_call") => tool_calls.push(crate::canonical::ToolCall {
                id: item["call_id"].as_str().unwrap_or_default().to_owned(),
                name: item["name"].as_str().unwrap_or_default().to_owned(),
                arguments: item["arguments"].as_str().unwrap_or_default().to_owned(),
            }),
            _ => {}
        }
    }
    let finish = match (
        body["status"].as_str(),
        body["incomplete_details"]["reason"].as_str(),
    ) {
        (Some("incomplete"), Some("max_output_tokens")) => FinishReason::Length,
        (Some("incomplete"), _) => FinishReason::ContentFilter,
        _ if !tool_calls.is_empty() => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    };
    Ok(ChatResponse {
        model: body["model"].as_str().unwrap_or(model).to_owned(),
        text,
        tool_calls,
        finish,
        usage: TokenUsage {
            input: body["usage"]["input_tokens"].as_u64().unwrap_or(0),
            output: body["usage"]["output_tokens"].as_u64().unwrap_or(0),
        },
    })
}

/// Restores the placeholders in every text of a Responses `output` list (and of a
/// single item); returns the characters of text it holds.
fn restore_response_output(output: &mut Value, guard: &AnswerGuard) -> u64 {
    let mut chars = 0;
    let items: Vec<&mut Value> = match output {
        Value::Array(items) => items.iter_mut().collect(),
        item @ Value::Object(_) => vec![item],
        _ => Vec::new(),
    };
    for item in items {
        match item["type"].as_str() {
            Some("message") => {
                for part in item["content"].as_array_mut().into_iter().flatten() {
                    for field in ["text", "refusal"] {
                        if let Value::String(text) = &mut part[field] {
                            if let std::borrow::Cow::Owned(restored) = guard.restore_text(text) {
                                *text = restored;
                            }
                            chars += text.chars().count() as u64;
                        }
                    }
                }
            }
            Some("function_call") => {
                if let Value::String(arguments) = &mut item["arguments"]
                    && let std::borrow::Cow::Owned(restored) = guard.restore_arguments(arguments)
                {
                    *arguments = restored;
                }
            }
            _ => {}
        }
    }
    chars
}

// ---------------------------------------------------------------------------
// Streams

/// What the frame editors share with the stream: the guard, and what the
/// answer reported so far.
pub(crate) struct Progress {
    guard: Option<StreamGuard>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    delivered_chars: u64,
    written_tokens: u64,
    finish: Option<FinishReason>,
    /// The price of the model, for the cost reported in the final usage.
    price: Option<Price>,
    include_usage: bool,
}

impl Progress {
    pub(crate) fn new(guard: AnswerGuard, price: Option<Price>, include_usage: bool) -> Progress {
        Progress {
            guard: (!guard.is_passthrough()).then(|| guard.into_stream()),
            input_tokens: None,
            output_tokens: None,
            delivered_chars: 0,
            written_tokens: 0,
            finish: None,
            price,
            include_usage,
        }
    }

    fn text<'t>(&mut self, piece: &'t str) -> Result<std::borrow::Cow<'t, str>, RelayError> {
        self.written_tokens += estimate_tokens(piece);
        let ready = match self.guard.as_mut() {
            Some(guard) => guard.piece(piece)?,
            None => std::borrow::Cow::Borrowed(piece),
        };
        self.delivered_chars += ready.chars().count() as u64;
        Ok(ready)
    }

    fn tool(&mut self, index: u32, arguments: &str) -> Result<String, RelayError> {
        self.written_tokens += estimate_tokens(arguments);
        let piece = ToolPiece {
            index,
            id: None,
            name: None,
            arguments: arguments.to_owned(),
        };
        let ready = match self.guard.as_mut() {
            Some(guard) => guard
                .tool_piece(piece)?
                .map(|p| p.arguments)
                .unwrap_or_default(),
            None => piece.arguments,
        };
        self.delivered_chars += ready.chars().count() as u64;
        Ok(ready)
    }

    fn flush_text(&mut self) -> String {
        let rest = self
            .guard
            .as_mut()
            .map(StreamGuard::flush_text)
            .unwrap_or_default();
        self.delivered_chars += rest.chars().count() as u64;
        rest
    }

    fn flush_tool(&mut self, index: u32) -> String {
        let rest = self
            .guard
            .as_mut()
            .map(|g| g.flush_tool(index))
            .unwrap_or_default();
        self.delivered_chars += rest.chars().count() as u64;
        rest
    }

    fn usage(&self, estimated_input: u64) -> TokenUsage {
        TokenUsage {
            input: self.input_tokens.unwrap_or(estimated_input),
            output: self.output_tokens.unwrap_or(self.written_tokens),
        }
        .clamped()
    }

    fn cost_usd(&self, estimated_input: u64) -> Option<f64> {
        let usage = self.usage(estimated_input);
        self.price
            .map(|price| dollars(cost(price, usage.input, usage.output)))
    }
}

/// Edits one wire's events. `edit` pushes the frames to send for an upstream
/// event (none, when it is held back); `finish` pushes what was held back when the
/// provider's stream ended.
pub(crate) trait FrameEditor: Send {
    fn edit(
        &mut self,
        event: SseEvent,
        progress: &mut Progress,
        out: &mut Vec<Bytes>,
    ) -> Result<(), RelayError>;
    fn finish(&mut self, progress: &mut Progress, estimated_input: u64, out: &mut Vec<Bytes>);
    /// The provider's own end marker has arrived.
    fn ended(&self) -> bool;
}

fn json_of(event: &SseEvent) -> Result<Value, RelayError> {
    serde_json::from_str(&event.data).map_err(|_| RelayError::UpstreamProtocol)
}

fn data_frame(value: &Value) -> Bytes {
    sse_frame(None, &value.to_string())
}

/// OpenAI `chat.completion.chunk` events. The chunk with `finish_reason` is held
/// until the stream ends, so text the guard still holds (the start of what may be
/// a placeholder) goes out before it; the usage chunk goes out only if the app
/// asked for it (the relay always does), with the call's cost beside the counts.
///
/// A text chunk is read in place ([`crate::splice`]) and written back as the
/// provider wrote it, its delta text spliced in only when the guard changed it;
/// a chunk with tool calls (rare, and edited in several places) goes through a
/// `serde_json::Value`.
#[derive(Default)]
pub(crate) struct OpenAiFrames {
    /// A chunk's envelope (id, object, created, model…) for the chunks the relay
    /// writes itself.
    envelope: Option<Map<String, Value>>,
    /// The chunk with `finish_reason`, ready to send.
    finish_chunk: Option<Bytes>,
    usage_chunk: Option<Value>,
    tool_indexes: Vec<u32>,
    done: bool,
}

/// The first choice of a chunk, as written.
#[derive(Deserialize)]
struct ChoiceView<'a> {
    #[serde(borrow, default)]
    delta: Option<DeltaView<'a>>,
    #[serde(borrow, default)]
    finish_reason: Option<&'a RawValue>,
    #[serde(borrow, default)]
    logprobs: Option<&'a RawValue>,
}

/// A choice's `delta`: its `content` as written, and whether it has anything else.
#[derive(Default)]
struct DeltaView<'a> {
    content: Option<&'a RawValue>,
    tool_calls: bool,
    /// A member other than `content` and `tool_calls` (`role`, `refusal`,
    /// a provider's `reasoning_content`…).
    other: bool,
}

impl<'de: 'a, 'a> Deserialize<'de> for DeltaView<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DeltaVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for DeltaVisitor<'a> {
            type Value = DeltaView<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a delta object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<DeltaView<'a>, A::Error> {
                let mut delta = DeltaView::default();
                while let Some(Key(key)) = map.next_key()? {
                    match key.as_ref() {
                        "content" => delta.content = Some(map.next_value()?),
                        "tool_calls" => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                            delta.tool_calls = true;
                        }
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                            delta.other = true;
                        }
                    }
                }
                Ok(delta)
            }
        }
        deserializer.deserialize_map(DeltaVisitor(std::marker::PhantomData))
    }
}

impl OpenAiFrames {
    fn chunk_with(&self, delta: Value) -> Value {
        let mut chunk = Value::Object(self.envelope.clone().unwrap_or_default());
        chunk["choices"] = json!([{"index": 0, "delta": delta, "finish_reason": null}]);
        chunk
    }

    /// A chunk with tool calls, edited as a tree.
    fn edit_tree(
        &mut self,
        data: &str,
        progress: &mut Progress,
        out: &mut Vec<Bytes>,
    ) -> Result<(), RelayError> {
        let mut chunk: Value =
            serde_json::from_str(data).map_err(|_| RelayError::UpstreamProtocol)?;
        if !progress.include_usage
            && let Value::Object(map) = &mut chunk
        {
            map.remove("usage");
        }
        let choice = &mut chunk["choices"][0];
        if let Value::String(text) = &mut choice["delta"]["content"]
            && !text.is_empty()
        {
            *text = progress.text(text)?.into_owned();
        }
        for call in choice["delta"]["tool_calls"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            let index = u32::try_from(call["index"].as_u64().unwrap_or(0)).unwrap_or(0);
            if !self.tool_indexes.contains(&index) {
                self.tool_indexes.push(index);
            }
            if let Value::String(arguments) = &mut call["function"]["arguments"] {
                *arguments = progress.tool(index, arguments)?;
            }
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            progress.finish = Some(openai::finish_reason(reason));
            self.finish_chunk = Some(data_frame(&chunk));
            return Ok(());
        }
        out.push(data_frame(&chunk));
        Ok(())
    }
}

impl FrameEditor for OpenAiFrames {
    fn edit(
        &mut self,
        event: SseEvent,
        progress: &mut Progress,
        out: &mut Vec<Bytes>,
    ) -> Result<(), RelayError> {
        let data = event.data.as_str();
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let chunk = Members::parse(data).ok_or(RelayError::UpstreamProtocol)?;
        if chunk.get("error").is_some() {
            return Err(RelayError::UpstreamCut);
        }
        if self.envelope.is_none() {
            let mut envelope: Map<String, Value> =
                serde_json::from_str(data).map_err(|_| RelayError::UpstreamProtocol)?;
            envelope.remove("choices");
            envelope.remove("usage");
            self.envelope = Some(envelope);
        }
        let usage = chunk.get("usage");
        if let Some(counts) = usage.and_then(|raw| Members::parse(raw.get())) {
            progress.input_tokens = counts.number("prompt_tokens").or(progress.input_tokens);
            progress.output_tokens = counts
                .number("completion_tokens")
                .or(progress.output_tokens);
        }
        let choice = match chunk.get("choices") {
            Some(choices) => {
                serde_json::from_str::<First<ChoiceView>>(choices.get())
                    .map_err(|_| RelayError::UpstreamProtocol)?
                    .0
            }
            None => None,
        };
        let Some(choice) = choice else {
            // The usage chunk (no choices): the last before [DONE].
            if usage.is_some_and(is_object) {
                self.usage_chunk =
                    Some(serde_json::from_str(data).map_err(|_| RelayError::UpstreamProtocol)?);
            }
            return Ok(());
        };
        if choice.delta.as_ref().is_some_and(|d| d.tool_calls) {
            return self.edit_tree(data, progress, out);
        }
        let mut splice = Splice::new(data);
        if !progress.include_usage
            && let Some(range) = chunk.removal(data, "usage")
        {
            splice.replace(range, "");
        }
        let mut carried = false;
        let mut content_empty = true;
        if let Some(raw) = choice.delta.as_ref().and_then(|d| d.content) {
            match string_of(raw) {
                Some(text) if !text.is_empty() => {
                    let ready = progress.text(&text)?;
                    carried = !ready.is_empty();
                    content_empty = ready.is_empty();
                    if ready != text {
                        let range = span(data, raw.get()).ok_or(RelayError::Internal)?;
                        splice.replace_string(range, &ready);
                    }
                }
                Some(_) => {}
                // `null` or another type: not an empty text.
                None => content_empty = false,
            }
        }
        if let Some(reason) = choice.finish_reason.and_then(string_of) {
            progress.finish = Some(openai::finish_reason(&reason));
            self.finish_chunk = Some(splice.frame(None));
            return Ok(());
        }
        // A chunk whose only text the guard is holding says nothing yet.
        let empty_delta = choice
            .delta
            .as_ref()
            .is_some_and(|d| !d.other && content_empty);
        if carried || !empty_delta || choice.logprobs.is_some_and(is_object) {
            out.push(splice.frame(None));
        }
        Ok(())
    }

    fn finish(&mut self, progress: &mut Progress, estimated_input: u64, out: &mut Vec<Bytes>) {
        let rest = progress.flush_text();
        if !rest.is_empty() {
            out.push(data_frame(&self.chunk_with(json!({"content": rest}))));
        }
        for index in self.tool_indexes.clone() {
            let rest = progress.flush_tool(index);
            if !rest.is_empty() {
                let delta =
                    json!({"tool_calls": [{"index": index, "function": {"arguments": rest}}]});
                out.push(data_frame(&self.chunk_with(delta)));
            }
        }
        if let Some(chunk) = self.finish_chunk.take() {
            out.push(chunk);
        }
        if progress.include_usage {
            let mut chunk = self.usage_chunk.take().unwrap_or_else(|| {
                let mut chunk = self.chunk_with(Value::Null);
                chunk["choices"] = json!([]);
                chunk
            });
            let usage = progress.usage(estimated_input);
            if !chunk["usage"].is_object() {
                chunk["usage"] = json!({
                    "prompt_tokens": usage.input,
                    "completion_tokens": usage.output,
                    "total_tokens": usage.input + usage.output,
                });
            }
            if let Some(cost) = progress.cost_usd(estimated_input) {
                chunk["usage"][COST_FIELD] = json!(cost);
            }
            out.push(data_frame(&chunk));
        }
        out.push(sse_frame(None, "[DONE]"));
    }

    fn ended(&self) -> bool {
        self.done || self.finish_chunk.is_some()
    }
}

/// Anthropic Messages events, read in place and passed on as the provider wrote
/// them. Text and tool-input deltas go through the guard (spliced in only when it
/// changed them); what it holds at the end of a block goes out as one more delta
/// before the block's `content_block_stop`. The final `message_delta` carries the
/// cost beside its counts.
#[derive(Default)]
struct AnthropicFrames {
    /// Content block index → it is a tool_use block (else text or other).
    tool_blocks: Vec<u32>,
    done: bool,
}

impl FrameEditor for AnthropicFrames {
    fn edit(
        &mut self,
        event: SseEvent,
        progress: &mut Progress,
        out: &mut Vec<Bytes>,
    ) -> Result<(), RelayError> {
        let data = event.data.as_str();
        let members = Members::parse(data).ok_or(RelayError::UpstreamProtocol)?;
        let kind = members.get("type").and_then(string_of);
        let kind = kind
            .as_deref()
            .or(event.event.as_deref())
            .unwrap_or_default();
        let index = members
            .number("index")
            .map_or(0, |i| u32::try_from(i).unwrap_or(0));
        let object = |key: &str| members.get(key).and_then(|raw| Members::parse(raw.get()));
        let mut splice = Splice::new(data);
        match kind {
            "error" => return Err(RelayError::UpstreamCut),
            "message_start" => {
                let usage = object("message").and_then(|m| m.get("usage"));
                let usage = usage.and_then(|raw| Members::parse(raw.get()));
                progress.input_tokens = usage
                    .as_ref()
                    .and_then(anthropic_input)
                    .or(progress.input_tokens);
            }
            "content_block_start" => {
                let block = object("content_block");
                let block_kind = block
                    .as_ref()
                    .and_then(|b| b.get("type"))
                    .and_then(string_of);
                if block_kind.as_deref() == Some("tool_use") {
                    self.tool_blocks.push(index);
                }
            }
            "content_block_delta" => {
                let fields = object("delta").ok_or(RelayError::UpstreamProtocol)?;
                let (field, tool) = match fields.get("type").and_then(string_of).as_deref() {
                    Some("text_delta") => ("text", false),
                    Some("input_json_delta") => ("partial_json", true),
                    _ => ("", false),
                };
                if let Some(raw) = fields.get(field)
                    && let Some(text) = string_of(raw)
                {
                    let ready = if tool {
                        std::borrow::Cow::Owned(progress.tool(index, &text)?)
                    } else {
                        progress.text(&text)?
                    };
                    if ready != text {
                        let range = span(data, raw.get()).ok_or(RelayError::Internal)?;
                        splice.replace_string(range, &ready);
                    }
                }
            }
            "content_block_stop" => {
                let (rest, kind, field) = if self.tool_blocks.contains(&index) {
                    (
                        progress.flush_tool(index),
                        "input_json_delta",
                        "partial_json",
                    )
                } else {
                    (progress.flush_text(), "text_delta", "text")
                };
                if !rest.is_empty() {
                    let delta = json!({"type": "content_block_delta", "index": index,
                        "delta": {"type": kind, field: rest}});
                    out.push(sse_frame(Some("content_block_delta"), &delta.to_string()));
                }
            }
            "message_delta" => {
                let reason = object("delta").and_then(|d| d.get("stop_reason").and_then(string_of));
                if let Some(reason) = reason {
                    progress.finish = Some(anthropic::finish_reason(&reason));
                }
                let usage = object("usage");
                if let Some(usage) = &usage {
                    progress.output_tokens =
                        usage.number("output_tokens").or(progress.output_tokens);
                    progress.input_tokens = anthropic_input(usage).or(progress.input_tokens);
                }
                if let Some(cost) = progress.cost_usd(0) {
                    let cost = format!("\"{COST_FIELD}\":{}", json!(cost));
                    add_cost(&mut splice, data, &members, usage.as_ref(), cost)?;
                }
            }
            "message_stop" => self.done = true,
            _ => {}
        }
        out.push(splice.frame(event.event.as_deref()));
        Ok(())
    }

    fn finish(&mut self, _: &mut Progress, _: u64, _: &mut Vec<Bytes>) {}

    fn ended(&self) -> bool {
        self.done
    }
}

/// Puts `member` (`"airlock_cost_usd":…`) into the event's `usage` object: beside
/// its counts, or as a new `usage` where the event has none (or one that is not
/// an object).
fn add_cost(
    splice: &mut Splice<'_>,
    data: &str,
    event: &Members<'_>,
    usage: Option<&Members<'_>>,
    member: String,
) -> Result<(), RelayError> {
    let raw = event.get("usage");
    match (raw, usage) {
        (Some(raw), Some(usage)) => {
            let close = span(data, raw.get()).ok_or(RelayError::Internal)?.end - 1;
            let comma = if usage.items.is_empty() { "" } else { "," };
            splice.replace(close..close, format!("{comma}{member}"));
        }
        (Some(raw), None) => {
            let range = span(data, raw.get()).ok_or(RelayError::Internal)?;
            splice.replace(range, format!("{{{member}}}"));
        }
        (None, _) => {
            let close = data.rfind('}').ok_or(RelayError::UpstreamProtocol)?;
            let comma = if event.items.is_empty() { "" } else { "," };
            splice.replace(close..close, format!("{comma}\"usage\":{{{member}}}"));
        }
    }
    Ok(())
}

/// Anthropic's input count: uncached input plus what the cache wrote and read.
fn anthropic_input(usage: &Members<'_>) -> Option<u64> {
    let fresh = usage.number("input_tokens")?;
    let cached = ["cache_creation_input_tokens", "cache_read_input_tokens"]
        .iter()
        .filter_map(|field| usage.number(field))
        .sum::<u64>();
    Some(fresh + cached)
}

/// OpenAI Responses events. Text and argument deltas go through the guard; the
/// `…done` events and `response.completed` repeat whole texts, which are restored
/// whole (what the guard still holds of a delta goes out as one more delta
/// first, so the deltas add up to the done text).
#[derive(Default)]
struct ResponsesFrames {
    done: bool,
}

impl ResponsesFrames {
    fn extra_delta(event: &Value, kind: &str, delta: String, out: &mut Vec<Bytes>) {
        let mut extra = json!({"type": kind, "delta": delta,
            "output_index": event["output_index"], "item_id": event["item_id"],
            "sequence_number": event["sequence_number"]});
        if kind == "response.output_text.delta" {
            extra["content_index"] = event["content_index"].clone();
            extra["logprobs"] = json!([]);
        }
        out.push(sse_frame(Some(kind), &extra.to_string()));
    }
}

impl FrameEditor for ResponsesFrames {
    fn edit(
        &mut self,
        event: SseEvent,
        progress: &mut Progress,
        out: &mut Vec<Bytes>,
    ) -> Result<(), RelayError> {
        let mut data = json_of(&event)?;
        let kind = data["type"].as_str().unwrap_or_default().to_owned();
        let index = u32::try_from(data["output_index"].as_u64().unwrap_or(0)).unwrap_or(0);
        let restore_whole = |progress: &Progress, text: &mut Value, arguments: bool| {
            let Some(guard) = progress.guard.as_ref() else {
                return;
            };
            if let Value::String(value) = text {
                let restored = if arguments {
                    guard.answer().restore_arguments(value)
                } else {
                    guard.answer().restore_text(value)
                };
                if let std::borrow::Cow::Owned(restored) = restored {
                    *value = restored;
                }
            }
        };
        match kind.as_str() {
            "error" => return Err(RelayError::UpstreamCut),
            "response.output_text.delta" | "response.refusal.delta" => {
                if let Value::String(delta) = &mut data["delta"] {
                    *delta = progress.text(delta)?.into_owned();
                }
            }
            "response.function_call_arguments.delta" => {
                if let Value::String(delta) = &mut data["delta"] {
                    *delta = progress.tool(index, delta)?;
                }
            }
            "response.output_text.done" | "response.refusal.done" => {
                let rest = progress.flush_text();
                if !rest.is_empty() {
                    let delta_kind = kind.replace(".done", ".delta");
                    Self::extra_delta(&data, &delta_kind, rest, out);
                }
                let field = if kind == "response.output_text.done" {
                    "text"
                } else {
                    "refusal"
                };
                restore_whole(progress, &mut data[field], false);
            }
            "response.function_call_arguments.done" => {
                let rest = progress.flush_tool(index);
                if !rest.is_empty() {
                    Self::extra_delta(&data, "response.function_call_arguments.delta", rest, out);
                }
                restore_whole(progress, &mut data["arguments"], true);
            }
            "response.content_part.done" => {
                restore_whole(progress, &mut data["part"]["text"], false);
            }
            "response.output_item.done" => {
                if let Some(guard) = progress.guard.as_ref() {
                    restore_response_output(&mut data["item"], guard.answer());
                }
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                let response = &mut data["response"];
                progress.input_tokens = response["usage"]["input_tokens"]
                    .as_u64()
                    .or(progress.input_tokens);
                progress.output_tokens = response["usage"]["output_tokens"]
                    .as_u64()
                    .or(progress.output_tokens);
                if let Some(guard) = progress.guard.as_ref() {
                    restore_response_output(&mut response["output"], guard.answer());
                }
                if let Some(cost) = progress.cost_usd(0)
                    && response["usage"].is_object()
                {
                    response["usage"][COST_FIELD] = json!(cost);
                }
                progress.finish = Some(match kind.as_str() {
                    "response.completed" => FinishReason::Stop,
                    _ => FinishReason::Other,
                });
                self.done = true;
            }
            _ => {}
        }
        out.push(sse_frame(
            event.event.as_deref().or(Some(kind.as_str())),
            &data.to_string(),
        ));
        Ok(())
    }

    fn finish(&mut self, _: &mut Progress, _: u64, _: &mut Vec<Bytes>) {}

    fn ended(&self) -> bool {
        self.done
    }
}

fn editor_for(front: Front) -> Box<dyn FrameEditor> {
    match front {
        Front::OpenAi | Front::Embeddings => Box::new(OpenAiFrames::default()),
        Front::Anthropic | Front::CountTokens => Box::new(AnthropicFrames::default()),
        Front::Responses => Box::new(ResponsesFrames::default()),
    }
}

/// A same-wire stream on its way to the client: the provider's events edited
/// frame by frame, or (in block mode) held until the answer is complete and
/// checked, then released — or replaced by a refusal. Usage is settled when the
/// stream ends, fails, or the client goes away.
pub(crate) struct NativeStream {
    upstream: SseEvents,
    front: Front,
    editor: Box<dyn FrameEditor>,
    progress: Progress,
    /// Block mode: the events held until the verdict, and their size.
    held: Option<(Vec<SseEvent>, usize)>,
    /// The answer's guard kept for the release of a held stream.
    release: Option<AnswerGuard>,
    refusal: Box<dyn SseWriter>,
    ticket: Option<Ticket>,
    accounting: Option<Accounting>,
    state: Arc<RelayState>,
    request_id: String,
    estimated_input: u64,
    done: bool,
    batch: Batch,
}

pub(crate) struct NativeStreamParts {
    pub front: Front,
    pub upstream: SseEvents,
    pub guard: AnswerGuard,
    pub options: FrontOptions,
    pub ticket: Ticket,
    pub accounting: Accounting,
    pub state: Arc<RelayState>,
    pub request_id: String,
    pub estimated_input: u64,
}

impl NativeStream {
    pub(crate) fn new(parts: NativeStreamParts) -> NativeStream {
        let price = parts.ticket.price;
        let model = parts.ticket.record.model.clone().unwrap_or_default();
        let holds = parts.guard.holds_everything();
        let release = holds.then(|| parts.guard.restore_only());
        NativeStream {
            upstream: parts.upstream,
            front: parts.front,
            editor: editor_for(parts.front),
            progress: Progress::new(parts.guard, price, parts.options.include_usage),
            held: holds.then(|| (Vec::new(), 0)),
            release,
            refusal: parts.front.stream_writer(
                &parts.request_id,
                &model,
                parts.options,
                parts.estimated_input,
            ),
            ticket: Some(parts.ticket),
            accounting: Some(parts.accounting),
            state: parts.state,
            request_id: parts.request_id,
            estimated_input: parts.estimated_input,
            done: false,
            batch: Batch::default(),
        }
    }

    fn on_event(&mut self, event: SseEvent, out: &mut Vec<Bytes>) {
        let result = match &mut self.held {
            // Block mode: the editor only feeds the guard (its frames are
            // discarded); the event itself waits for the verdict.
            Some((events, size)) => {
                *size += event.data.len();
                if *size > 2 * MAX_HELD {
                    Err(RelayError::OutputTooLarge { limit: MAX_HELD })
                } else {
                    let copy = SseEvent {
                        event: event.event.clone(),
                        data: event.data.clone(),
                    };
                    events.push(copy);
                    self.editor.edit(event, &mut self.progress, &mut Vec::new())
                }
            }
            None => self.editor.edit(event, &mut self.progress, out),
        };
        if let Err(error) = result {
            self.fail(error, out);
        }
    }

    /// The provider's stream ended: a cut stream is an error; a held stream gets
    /// its verdict; what the editor held back goes out.
    fn end(&mut self, out: &mut Vec<Bytes>) {
        if !self.editor.ended() {
            return self.fail(RelayError::UpstreamCut, out);
        }
        let (findings, replaced) = match self.held.take() {
            Some((events, _)) => self.release_held(events, out),
            None => {
                let findings = self
                    .progress
                    .guard
                    .as_mut()
                    .map(|g| g.end().0.findings)
                    .unwrap_or_default();
                self.editor
                    .finish(&mut self.progress, self.estimated_input, out);
                (findings, false)
            }
        };
        if let Some(ticket) = self.ticket.as_mut() {
            ticket.record_output_flags(&findings, replaced);
        }
        self.done = true;
        self.close(200, None, false);
    }

    /// Block mode's verdict on the whole answer: released through a restore-only
    /// guard, or replaced by a refusal written in the API's shape.
    fn release_held(
        &mut self,
        events: Vec<SseEvent>,
        out: &mut Vec<Bytes>,
    ) -> (OutputFindings, bool) {
        let Some(mut guard) = self.progress.guard.take() else {
            return (OutputFindings::default(), false);
        };
        let (guarded, _) = guard.end();
        if guarded.replaced {
            let text = guarded.text;
            self.progress.delivered_chars = text.chars().count() as u64;
            self.refusal.begin(out);
            self.refusal.delta(&text, out);
            let usage = self.progress.usage(self.estimated_input);
            self.refusal.end(FinishReason::ContentFilter, usage, out);
            return (guarded.findings, true);
        }
        let release = self.release.take().unwrap_or_else(AnswerGuard::passthrough);
        let mut progress = Progress::new(release, self.progress.price, self.progress.include_usage);
        let mut editor = editor_for(self.front);
        for event in events {
            if editor.edit(event, &mut progress, out).is_err() {
                // The same events passed once already; an error now would be
                // the relay's own.
                break;
            }
        }
        editor.finish(&mut progress, self.estimated_input, out);
        self.progress = progress;
        (guarded.findings, false)
    }

    fn fail(&mut self, error: RelayError, out: &mut Vec<Bytes>) {
        if self.done {
            return;
        }
        self.refusal.error(&error, &self.request_id, out);
        self.done = true;
        self.close(error.status().as_u16(), Some(&error), false);
    }

    fn close(&mut self, status: u16, error: Option<&RelayError>, disconnected: bool) {
        let usage = self.progress.usage(self.estimated_input);
        if let Some(mut ticket) = self.ticket.take() {
            ticket.record.output_chars = self.progress.delivered_chars;
            ticket.record.client_disconnected = disconnected;
            if let Some(finish) = self.progress.finish {
                let _ = finish;
            }
            let cost = ticket.set_tokens(usage);
            if let Some(accounting) = self.accounting.take() {
                accounting.settle(&self.state, usage, cost);
            }
            if let Some(error) = error {
                tracing::warn!(request.id = %self.request_id, code = error.code(), error = %error, "relay stream failed");
            }
            ticket.finish(&self.state, status, error);
        }
    }
}

impl Stream for NativeStream {
    type Item = Result<Bytes, actix_web::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        crate::stream::poll_frames(&mut *self, cx)
    }
}

impl crate::stream::Relayed for NativeStream {
    fn step(&mut self, cx: &mut Context<'_>, out: &mut Vec<Bytes>) -> Poll<()> {
        match self.upstream.as_mut().poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(Ok(event))) => self.on_event(event, out),
            Poll::Ready(Some(Err(error))) => self.fail(error, out),
            Poll::Ready(None) => self.end(out),
        }
        Poll::Ready(())
    }

    fn done(&self) -> bool {
        self.done
    }

    fn batch(&mut self) -> &mut Batch {
        &mut self.batch
    }
}

impl Drop for NativeStream {
    fn drop(&mut self) {
        if self.ticket.is_some() {
            self.close(200, None, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use airlock_core::class::DataClass;
    use airlock_core::policy::{CheckAction, ClassPolicy};
    use proptest::prelude::*;

    use super::*;
    use crate::front::WireRequest;
    use crate::policy::{ScreenReport, screen_request};
    use crate::providers::sse::SseParser;

    /// The guard of a request whose prompt was `prompt`, with the output checks
    /// in flag mode (they read every piece and change none).
    fn guard_for(prompt: &str) -> AnswerGuard {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": prompt}]});
        let mut wire = WireRequest::parse(Front::OpenAi, body.to_string().as_bytes()).unwrap();
        let mut policy = ClassPolicy::default_for(DataClass::Internal);
        policy.output = CheckAction::Flag;
        screen_request(&mut wire, &policy, &mut ScreenReport::default())
            .unwrap()
            .answer
    }

    fn chunk(delta: Value, finish: Value, usage_null: bool) -> String {
        let mut chunk = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk",
            "created": 1, "model": "m", "system_fingerprint": "fp_1",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
        if usage_null {
            chunk["usage"] = Value::Null;
        }
        format!("data: {chunk}\n\n")
    }

    /// An OpenAI stream as a provider writes it: a role chunk, one chunk per
    /// piece of text, the finish chunk, the usage chunk and `[DONE]`.
    fn upstream(pieces: &[String], usage_null: bool) -> (Vec<String>, Vec<u8>) {
        let mut frames = vec![chunk(
            json!({"role": "assistant", "content": ""}),
            Value::Null,
            usage_null,
        )];
        frames.extend(
            pieces
                .iter()
                .map(|p| chunk(json!({"content": p}), Value::Null, usage_null)),
        );
        frames.push(chunk(json!({}), json!("stop"), usage_null));
        frames.push(format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}})
        ));
        frames.push("data: [DONE]\n\n".to_owned());
        let wire = frames.concat().into_bytes();
        (frames, wire)
    }

    /// What the client receives for `wire` arriving cut at `cuts`.
    fn relayed(wire: &[u8], cuts: &[usize], guard: AnswerGuard, include_usage: bool) -> Vec<u8> {
        let mut parser = SseParser::new(1 << 20);
        let mut editor = OpenAiFrames::default();
        let mut progress = Progress::new(guard, None, include_usage);
        let mut out = Vec::new();
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
        cuts.sort_unstable();
        let mut at = 0;
        for cut in cuts.into_iter().chain([wire.len()]) {
            parser.push(&wire[at..cut]);
            at = cut;
            while let Some(event) = parser.next_event().unwrap() {
                editor.edit(event, &mut progress, &mut out).unwrap();
            }
        }
        assert!(editor.ended());
        editor.finish(&mut progress, 0, &mut out);
        assert_eq!(
            progress.usage(0),
            TokenUsage {
                input: 9,
                output: 4
            }
        );
        out.concat()
    }

    /// The text of the content deltas a client reads from `sent`.
    fn text_of(sent: &[u8]) -> String {
        let sent = std::str::from_utf8(sent).unwrap();
        let mut text = String::new();
        for frame in sent.split("\n\n").filter(|f| !f.is_empty()) {
            let data = frame.strip_prefix("data: ").unwrap();
            if data == "[DONE]" {
                continue;
            }
            let chunk: Value = serde_json::from_str(data).unwrap();
            assert_eq!(chunk["id"], "chatcmpl-1");
            if let Some(piece) = chunk["choices"][0]["delta"]["content"].as_str() {
                text.push_str(piece);
            }
        }
        text
    }

    /// Cuts `text` into pieces at the given character positions.
    fn pieces_of(text: &str, cuts: &[usize]) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (chars.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut pieces = Vec::new();
        let mut at = 0;
        for cut in cuts.into_iter().chain([chars.len()]) {
            if cut > at {
                pieces.push(chars[at..cut].iter().collect());
                at = cut;
            }
        }
        pieces
    }

    /// An Anthropic stream: its events pass as written, but for the text deltas
    /// the guard changed and the cost added to `message_delta`'s usage.
    #[test]
    fn anthropic_events_pass_as_written_but_for_restored_text_and_the_cost() {
        let frame = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
        let start = frame(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1",
            "type": "message", "role": "assistant", "content": [], "model": "m",
            "usage": {"input_tokens": 9, "output_tokens": 1}}}),
        );
        let block = frame(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}}),
        );
        let ping = frame("ping", json!({"type": "ping"}));
        let delta = |text: &str| {
            frame(
                "content_block_delta",
                json!({"type": "content_block_delta",
            "index": 0, "delta": {"type": "text_delta", "text": text}}),
            )
        };
        let plain = delta("Write to ");
        let wire = [
            start.clone(),
            block,
            ping.clone(),
            plain.clone(),
            delta("[EMA"),
            delta("IL_1] now"),
            frame(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ),
            frame(
                "message_delta",
                json!({"type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                "usage": {"output_tokens": 4}}),
            ),
            frame("message_stop", json!({"type": "message_stop"})),
        ]
        .concat();
        let mut parser = SseParser::new(1 << 20);
        let mut editor = AnthropicFrames::default();
        let price = Price {
            input_per_mtok: MicroDollars::new(1_000_000),
            output_per_mtok: MicroDollars::new(1_000_000),
        };
        let mut progress = Progress::new(guard_for("mail bob@example.com"), Some(price), false);
        let mut out = Vec::new();
        parser.push(wire.as_bytes());
        while let Some(event) = parser.next_event().unwrap() {
            editor.edit(event, &mut progress, &mut out).unwrap();
        }
        assert!(editor.ended());
        let sent = String::from_utf8(out.concat()).unwrap();
        assert!(sent.contains(&ping) && sent.contains(&plain), "{sent}");
        let mut text = String::new();
        let mut cost = None;
        for frame in sent.split("\n\n").filter(|f| !f.is_empty()) {
            let data: Value = serde_json::from_str(frame.split("data: ").nth(1).unwrap()).unwrap();
            if data["type"] == "content_block_delta" {
                text.push_str(data["delta"]["text"].as_str().unwrap());
            }
            if data["type"] == "message_delta" {
                cost = data["usage"][COST_FIELD].as_f64();
                assert_eq!(data["usage"]["output_tokens"], 4);
            }
        }
        assert_eq!(text, "Write to bob@example.com now");
        assert_eq!(cost, Some(0.000013));
        assert_eq!(
            progress.usage(0),
            TokenUsage {
                input: 9,
                output: 4
            }
        );
        assert_eq!(progress.finish, Some(FinishReason::Stop));
    }

    /// A `message_delta` whose `usage` is missing or not an object still gets
    /// the cost, as a `usage` object of its own, and nothing else changes.
    #[test]
    fn the_cost_finds_a_place_in_any_message_delta() {
        let price = Price {
            input_per_mtok: MicroDollars::new(1_000_000),
            output_per_mtok: MicroDollars::new(1_000_000),
        };
        for (data, usage) in [
            (
                r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"}}"#,
                json!({COST_FIELD: 0.000005}),
            ),
            (
                r#"{"type":"message_delta","usage":5}"#,
                json!({COST_FIELD: 0.000005}),
            ),
            (
                r#"{"type":"message_delta","usage":null}"#,
                json!({COST_FIELD: 0.000005}),
            ),
            (
                r#"{"type":"message_delta","usage":{}}"#,
                json!({COST_FIELD: 0.000005}),
            ),
            (
                r#"{"type":"message_delta","usage":{"output_tokens":"x"}}"#,
                json!({"output_tokens": "x", COST_FIELD: 0.000005}),
            ),
        ] {
            let mut editor = AnthropicFrames::default();
            let mut progress = Progress::new(AnswerGuard::passthrough(), Some(price), false);
            progress.written_tokens = 5;
            let mut out = Vec::new();
            let event = SseEvent {
                event: Some("message_delta".into()),
                data: data.into(),
            };
            editor.edit(event, &mut progress, &mut out).unwrap();
            let sent = String::from_utf8(out.concat()).unwrap();
            let sent: Value =
                serde_json::from_str(sent.split("data: ").nth(1).unwrap().trim()).unwrap();
            assert_eq!(sent["usage"], usage, "{data}");
            assert_eq!(sent["type"], "message_delta");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Nothing to restore: the fast path (no guard at all) and the general path
        /// (every piece through the guard's checks) send the same bytes, whatever
        /// the split, and every text chunk is the provider's own bytes.
        #[test]
        fn with_nothing_to_restore_both_paths_send_the_providers_bytes(
            pieces in proptest::collection::vec("[a-zé€😀 \"\\\\\n\t{}\\[\\]_]{1,12}", 1..12),
            cuts in proptest::collection::vec(0usize..4000, 0..12),
            usage_null in any::<bool>(),
            include_usage in any::<bool>(),
        ) {
            let (frames, wire) = upstream(&pieces, usage_null);
            let fast = relayed(&wire, &[], AnswerGuard::passthrough(), include_usage);
            let general = relayed(&wire, &cuts, guard_for("no personal data here"), include_usage);
            prop_assert_eq!(&fast, &general);
            prop_assert_eq!(text_of(&fast), pieces.concat());
            let sent = String::from_utf8(fast).unwrap();
            if include_usage || !usage_null {
                // The role chunk and every text chunk pass as written.
                prop_assert!(sent.starts_with(&frames[..=pieces.len()].concat()));
            } else {
                prop_assert!(!sent.contains("\"usage\":null"));
            }
        }

        /// Placeholders split across chunks and bytes are restored, and the
        /// deltas add up to the restored answer.
        #[test]
        fn placeholders_split_anywhere_are_restored(
            before in "[a-z ]{0,20}",
            after in "[a-z .]{0,20}",
            text_cuts in proptest::collection::vec(0usize..60, 0..10),
            cuts in proptest::collection::vec(0usize..4000, 0..12),
        ) {
            let guard = || guard_for("write to bob@example.com please");
            let answer = format!("{before}[EMAIL_1]{after} and [EMAIL_1]");
            let pieces = pieces_of(&answer, &text_cuts);
            let (_, wire) = upstream(&pieces, true);
            let whole = relayed(&wire, &[], guard(), false);
            let split = relayed(&wire, &cuts, guard(), false);
            prop_assert_eq!(&whole, &split);
            prop_assert_eq!(
                text_of(&split),
                format!("{before}bob@example.com{after} and bob@example.com")
            );
        }
    }
}
