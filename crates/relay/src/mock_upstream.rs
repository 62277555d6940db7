//! `airlock mock-upstream`: an HTTP stand-in for the providers, speaking the
//! OpenAI, Anthropic and Gemini wire formats, streamed and not. Its answers are
//! deterministic (`airlock_core::mock_reply`, the same as the in-process `mock`
//! provider), it can be slowed down or made to fail, and it keeps the requests it
//! received so tests can see exactly what left the relay (`GET /__received`).
//!
//! It is a test tool: it records headers, credentials included, on purpose.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use airlock_core::mock_reply;
use bytes::Bytes;
use futures_util::stream;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// How many received requests are kept (oldest dropped first), so a benchmark
/// against the mock does not grow without bound.
const RECEIVED_CAPACITY: usize = 1000;

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct MockBehaviour {
    /// Wait this long before answering.
    #[serde(default)]
    pub delay_ms: u64,
    /// Answer every request with this HTTP status and a provider-shaped error.
    #[serde(default)]
    pub error_status: Option<u16>,
    /// End streams after this many content chunks, without the end marker.
    #[serde(default)]
    pub cut_after: Option<usize>,
    /// Answer with this text instead of echoing the last user message (to test
    /// what the relay does with an answer: leaked PII, code, a system prompt).
    #[serde(default)]
    pub reply: Option<String>,
    /// Stream the answer in pieces of this many bytes (cut on character
    /// boundaries) instead of four words, so pieces split words and placeholders.
    #[serde(default)]
    pub chunk_bytes: Option<usize>,
    /// Answer with a call of this function instead of text, its arguments
    /// `{"echo": <the answer text>}`, in the shape of the wire asked (OpenAI and
    /// Anthropic stream the arguments in pieces like text; Gemini sends a call whole).
    #[serde(default)]
    pub tool_call: Option<String>,
    /// Report this many completion tokens instead of counting the answer's, so a
    /// test can make a request cost exactly what the relay reserved for it.
    #[serde(default)]
    pub completion_tokens: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ReceivedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: BTreeMap<String, String>,
    pub body: Value,
}

#[derive(Default)]
pub struct MockUpstream {
    behaviour: Mutex<MockBehaviour>,
    received: Mutex<VecDeque<ReceivedRequest>>,
}

impl MockUpstream {
    pub fn new(behaviour: MockBehaviour) -> Self {
        Self {
            behaviour: Mutex::new(behaviour),
            received: Mutex::new(VecDeque::new()),
        }
    }

    fn behaviour(&self) -> MockBehaviour {
        self.behaviour.lock().map(|b| b.clone()).unwrap_or_default()
    }

    fn keep(&self, req: &HttpRequest, body: &Value) {
        let headers = req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or("<binary>").to_owned(),
                )
            })
            .collect();
        if let Ok(mut received) = self.received.lock() {
            if received.len() >= RECEIVED_CAPACITY {
                received.pop_front();
            }
            received.push_back(ReceivedRequest {
                method: req.method().to_string(),
                path: req.path().to_owned(),
                query: req.query_string().to_owned(),
                headers,
                body: body.clone(),
            });
        }
    }
}

/// Registers the mock's routes on an actix `App`.
pub fn configure(state: web::Data<MockUpstream>) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(state.clone())
            .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
            .route("/v1/chat/completions", web::post().to(openai))
            .route("/chat/completions", web::post().to(openai))
            .route("/v1/messages", web::post().to(anthropic))
            .route("/v1beta/models/{target}", web::post().to(gemini))
            .route("/__received", web::get().to(received))
            .route("/__received", web::delete().to(clear_received))
            .route("/__config", web::post().to(set_behaviour))
            .route(
                "/healthz",
                web::get().to(|| async { HttpResponse::Ok().json(json!({"status": "ok"})) }),
            );
    }
}

async fn received(state: web::Data<MockUpstream>) -> HttpResponse {
    let list: Vec<ReceivedRequest> = state
        .received
        .lock()
        .map(|r| r.iter().cloned().collect())
        .unwrap_or_default();
    HttpResponse::Ok().json(list)
}

async fn clear_received(state: web::Data<MockUpstream>) -> HttpResponse {
    if let Ok(mut r) = state.received.lock() {
        r.clear();
    }
    HttpResponse::NoContent().finish()
}

async fn set_behaviour(
    state: web::Data<MockUpstream>,
    body: web::Json<MockBehaviour>,
) -> HttpResponse {
    if let Ok(mut b) = state.behaviour.lock() {
        *b = body.into_inner();
    }
    HttpResponse::Ok().json(state.behaviour())
}

/// Text of an OpenAI content (string or parts) or an Anthropic content (string or blocks).
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        _ => String::new(),
    }
}

struct Exchange {
    behaviour: MockBehaviour,
    reply: String,
    usage: (u64, u64),
    stream: bool,
}

/// Common front matter of every wire format: record, parse, delay, error mode.
async fn begin(
    state: &MockUpstream,
    req: &HttpRequest,
    body: &[u8],
) -> Result<(Value, MockBehaviour), HttpResponse> {
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return Err(
            HttpResponse::BadRequest().json(json!({"error": {"message": "body is not JSON"}}))
        );
    };
    state.keep(req, &json);
    let behaviour = state.behaviour();
    if behaviour.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(behaviour.delay_ms)).await;
    }
    Ok((json, behaviour))
}

fn error_response(status: u16) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status).json(json!({
        "error": {"message": "mock upstream error mode", "type": "mock_error", "code": status.as_u16()}
    }))
}

fn sse(frames: Vec<String>) -> HttpResponse {
    let frames: Vec<Result<Bytes, actix_web::Error>> =
        frames.into_iter().map(|f| Ok(Bytes::from(f))).collect();
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .streaming(stream::iter(frames))
}

fn data(value: &Value) -> String {
    format!("data: {value}\n\n")
}

fn event(name: &str, value: &Value) -> String {
    format!("event: {name}\ndata: {value}\n\n")
}

/// Applies `cut_after`: keep the first N content chunks and drop the rest,
/// including the end marker.
fn cut(reply: &str, behaviour: &MockBehaviour) -> (Vec<String>, bool) {
    let chunks = match behaviour.chunk_bytes.filter(|n| *n > 0) {
        Some(n) => byte_chunks(reply, n),
        None => mock_reply::stream_chunks(reply),
    };
    match behaviour.cut_after {
        Some(n) if n < chunks.len() => (
            chunks.into_iter().take(n).map(str::to_owned).collect(),
            true,
        ),
        _ => (chunks.into_iter().map(str::to_owned).collect(), false),
    }
}

/// `text` in pieces of about `n` bytes, each ending on a character boundary.
fn byte_chunks(text: &str, n: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + n).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        out.push(&text[start..end]);
        start = end;
    }
    out
}

fn exchange(
    behaviour: MockBehaviour,
    last_user: &str,
    inputs: &[String],
    stream: bool,
) -> Exchange {
    let reply = behaviour
        .reply
        .clone()
        .unwrap_or_else(|| mock_reply::reply_text(last_user));
    let input_refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let mut usage = mock_reply::usage(&input_refs, &reply);
    if let Some(completion) = behaviour.completion_tokens {
        usage.1 = completion;
    }
    Exchange {
        behaviour,
        reply,
        usage,
        stream,
    }
}

async fn openai(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<MockUpstream>,
) -> HttpResponse {
    let (json, behaviour) = match begin(&state, &req, &body).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    if let Some(status) = behaviour.error_status {
        return error_response(status);
    }
    let messages = json["messages"].as_array().cloned().unwrap_or_default();
    let inputs: Vec<String> = messages
        .iter()
        .map(|m| content_text(&m["content"]))
        .collect();
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .map(|m| content_text(&m["content"]))
        .unwrap_or_default();
    let model = json["model"].as_str().unwrap_or("mock").to_owned();
    let x = exchange(behaviour, &last_user, &inputs, json["stream"] == true);
    let usage = json!({"prompt_tokens": x.usage.0, "completion_tokens": x.usage.1, "total_tokens": x.usage.0 + x.usage.1});
    if let Some(name) = x.behaviour.tool_call.clone() {
        return openai_tool_call(&x, &name, &model, usage);
    }
    if !x.stream {
        return HttpResponse::Ok().json(json!({
            "id": "chatcmpl-mock", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": x.reply}, "finish_reason": "stop"}],
            "usage": usage,
        }));
    }
    let chunk = |delta: Value, finish: Value| {
        data(
            &json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}),
        )
    };
    let (pieces, was_cut) = cut(&x.reply, &x.behaviour);
    let mut frames = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    frames.extend(
        pieces
            .iter()
            .map(|p| chunk(json!({"content": p}), Value::Null)),
    );
    if !was_cut {
        frames.push(chunk(json!({}), json!("stop")));
        if json["stream_options"]["include_usage"] == true {
            frames.push(data(
                &json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 0,
                "model": model, "choices": [], "usage": usage}),
            ));
        }
        frames.push("data: [DONE]\n\n".to_owned());
    }
    sse(frames)
}

/// An OpenAI-shaped answer that calls `name` with `{"echo": reply}`.
fn openai_tool_call(x: &Exchange, name: &str, model: &str, usage: Value) -> HttpResponse {
    let arguments = json!({"echo": x.reply}).to_string();
    if !x.stream {
        return HttpResponse::Ok().json(json!({
            "id": "chatcmpl-mock", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
                "tool_calls": [{"id": "call_mock_1", "type": "function", "function": {"name": name, "arguments": arguments}}]}}],
            "usage": usage,
        }));
    }
    let chunk = |delta: Value, finish: Value| {
        data(
            &json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}),
        )
    };
    let mut frames = vec![chunk(
        json!({"role": "assistant", "content": null, "tool_calls": [{"index": 0, "id": "call_mock_1", "type": "function",
            "function": {"name": name, "arguments": ""}}]}),
        Value::Null,
    )];
    let (pieces, was_cut) = cut(&arguments, &x.behaviour);
    frames.extend(pieces.iter().map(|p| {
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}),
            Value::Null,
        )
    }));
    if !was_cut {
        frames.push(chunk(json!({}), json!("tool_calls")));
        frames.push(data(
            &json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 0,
            "model": model, "choices": [], "usage": usage}),
        ));
        frames.push("data: [DONE]\n\n".to_owned());
    }
    sse(frames)
}

async fn anthropic(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<MockUpstream>,
) -> HttpResponse {
    let (json, behaviour) = match begin(&state, &req, &body).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    if let Some(status) = behaviour.error_status {
        return error_response(status);
    }
    let messages = json["messages"].as_array().cloned().unwrap_or_default();
    let mut inputs: Vec<String> = Vec::new();
    if !json["system"].is_null() {
        inputs.push(content_text(&json["system"]));
    }
    inputs.extend(messages.iter().map(|m| content_text(&m["content"])));
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .map(|m| content_text(&m["content"]))
        .unwrap_or_default();
    let model = json["model"].as_str().unwrap_or("mock").to_owned();
    let x = exchange(behaviour, &last_user, &inputs, json["stream"] == true);
    if let Some(name) = x.behaviour.tool_call.clone() {
        return anthropic_tool_call(&x, &name, &model);
    }
    if !x.stream {
        return HttpResponse::Ok().json(json!({
            "id": "msg_mock", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": x.reply}], "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": x.usage.0, "output_tokens": x.usage.1},
        }));
    }
    let (pieces, was_cut) = cut(&x.reply, &x.behaviour);
    anthropic_stream(
        &x,
        &model,
        json!({"type": "text", "text": ""}),
        pieces
            .iter()
            .map(|p| json!({"type": "text_delta", "text": p}))
            .collect(),
        "end_turn",
        was_cut,
    )
}

/// An Anthropic SSE answer with one content block: `message_start`, the block's
/// start and its deltas, then (unless the stream is cut) its stop, `message_delta`
/// with `stop_reason`, and `message_stop`.
fn anthropic_stream(
    x: &Exchange,
    model: &str,
    block: Value,
    deltas: Vec<Value>,
    stop_reason: &str,
    was_cut: bool,
) -> HttpResponse {
    let mut frames = vec![
        event(
            "message_start",
            &json!({"type": "message_start", "message": {
            "id": "msg_mock", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": x.usage.0, "output_tokens": 1}}}),
        ),
        event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": 0, "content_block": block}),
        ),
        event("ping", &json!({"type": "ping"})),
    ];
    frames.extend(deltas.into_iter().map(|delta| {
        event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0, "delta": delta}),
        )
    }));
    if !was_cut {
        frames.push(event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": 0}),
        ));
        frames.push(event("message_delta", &json!({"type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": {"output_tokens": x.usage.1}})));
        frames.push(event("message_stop", &json!({"type": "message_stop"})));
    }
    sse(frames)
}

/// An Anthropic-shaped answer that calls `name` with `{"echo": reply}`.
fn anthropic_tool_call(x: &Exchange, name: &str, model: &str) -> HttpResponse {
    let input = json!({"echo": x.reply});
    if !x.stream {
        return HttpResponse::Ok().json(json!({
            "id": "msg_mock", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "tool_use", "id": "toolu_mock_1", "name": name, "input": input}],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": x.usage.0, "output_tokens": x.usage.1},
        }));
    }
    let arguments = input.to_string();
    let (pieces, was_cut) = cut(&arguments, &x.behaviour);
    anthropic_stream(
        x,
        model,
        json!({"type": "tool_use", "id": "toolu_mock_1", "name": name, "input": {}}),
        pieces
            .iter()
            .map(|p| json!({"type": "input_json_delta", "partial_json": p}))
            .collect(),
        "tool_use",
        was_cut,
    )
}

async fn gemini(
    req: HttpRequest,
    target: web::Path<String>,
    body: web::Bytes,
    state: web::Data<MockUpstream>,
) -> HttpResponse {
    let (json, behaviour) = match begin(&state, &req, &body).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    if let Some(status) = behaviour.error_status {
        return error_response(status);
    }
    let Some((model, method)) = target.rsplit_once(':') else {
        return HttpResponse::NotFound()
            .json(json!({"error": {"message": "expected models/{model}:{method}"}}));
    };
    let stream = match method {
        "generateContent" => false,
        "streamGenerateContent" => true,
        _ => return HttpResponse::NotFound().json(json!({"error": {"message": "unknown method"}})),
    };
    let parts_text = |parts: &Value| -> String {
        parts
            .as_array()
            .map(|p| p.iter().filter_map(|x| x["text"].as_str()).collect())
            .unwrap_or_default()
    };
    let contents = json["contents"].as_array().cloned().unwrap_or_default();
    let mut inputs: Vec<String> = Vec::new();
    if !json["systemInstruction"].is_null() {
        inputs.push(parts_text(&json["systemInstruction"]["parts"]));
    }
    inputs.extend(contents.iter().map(|c| parts_text(&c["parts"])));
    let last_user = contents
        .iter()
        .rev()
        .find(|c| c["role"] == "user")
        .map(|c| parts_text(&c["parts"]))
        .unwrap_or_default();
    let x = exchange(behaviour, &last_user, &inputs, stream);
    let usage = json!({"promptTokenCount": x.usage.0, "candidatesTokenCount": x.usage.1, "totalTokenCount": x.usage.0 + x.usage.1});
    let candidate = |text: &str, finish: Option<&str>| {
        let mut c = json!({"content": {"parts": [{"text": text}], "role": "model"}, "index": 0});
        if let Some(f) = finish {
            c["finishReason"] = json!(f);
        }
        c
    };
    if let Some(name) = &x.behaviour.tool_call {
        // Gemini sends a function call whole, in one chunk when streaming.
        let call = json!({"content": {"role": "model", "parts": [
            {"functionCall": {"name": name, "args": {"echo": x.reply}}}]},
            "finishReason": "STOP", "index": 0});
        let answer = json!({"candidates": [call], "usageMetadata": usage, "modelVersion": model});
        return if x.stream {
            sse(vec![data(&answer)])
        } else {
            HttpResponse::Ok().json(answer)
        };
    }
    if !x.stream {
        return HttpResponse::Ok().json(json!({
            "candidates": [candidate(&x.reply, Some("STOP"))], "usageMetadata": usage, "modelVersion": model,
        }));
    }
    let (pieces, was_cut) = cut(&x.reply, &x.behaviour);
    let count = pieces.len();
    let frames = pieces
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let last = i + 1 == count && !was_cut;
            let mut chunk = json!({"candidates": [candidate(p, last.then_some("STOP"))], "modelVersion": model});
            if last {
                chunk["usageMetadata"] = usage.clone();
            }
            data(&chunk)
        })
        .collect();
    sse(frames)
}
