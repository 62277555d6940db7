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
            .route("/v1/messages/count_tokens", web::post().to(count_tokens))
            .route("/v1/embeddings", web::post().to(embeddings))
            .route("/embeddings", web::post().to(embeddings))
            .route("/v1/responses", web::post().to(responses))
            .route("/responses", web::post().to(responses))
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

/// The id the mock gives every answer in its provider's request-id header.
pub const MOCK_REQUEST_ID: &str = "req_mock_1";

/// The JSON schema an answer must follow, where each wire asks for one: OpenAI's
/// `response_format` (and the Responses API's `text.format`), Anthropic's
/// `output_config.format`, Gemini's `generationConfig.responseJsonSchema` or
/// JSON mime type.
fn requested_schema(json: &Value) -> Option<Value> {
    let openai = [&json["response_format"], &json["text"]["format"]];
    for format in openai {
        match format["type"].as_str() {
            Some("json_schema") => {
                let schema = &format["json_schema"]["schema"];
                let schema = if schema.is_null() {
                    &format["schema"]
                } else {
                    schema
                };
                return Some(schema.clone());
            }
            Some("json_object") => return Some(json!({"type": "object"})),
            _ => {}
        }
    }
    if json["output_config"]["format"]["type"] == "json_schema" {
        return Some(json["output_config"]["format"]["schema"].clone());
    }
    let config = &json["generationConfig"];
    if !config["responseJsonSchema"].is_null() {
        return Some(config["responseJsonSchema"].clone());
    }
    (config["responseMimeType"] == "application/json").then(|| json!({"type": "object"}))
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

/// A response with the provider's request id header.
fn with_request_id(
    mut builder: actix_web::HttpResponseBuilder,
    header: &'static str,
) -> actix_web::HttpResponseBuilder {
    builder.insert_header((header, MOCK_REQUEST_ID));
    builder
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
    schema: Option<Value>,
) -> Exchange {
    let mut reply = behaviour
        .reply
        .clone()
        .unwrap_or_else(|| mock_reply::reply_text(last_user));
    // Asked for JSON: JSON of the schema, the reply in its strings.
    if let Some(schema) = schema {
        reply = mock_reply::json_for_schema(&schema, &reply).to_string();
    }
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
    let x = exchange(
        behaviour,
        &last_user,
        &inputs,
        json["stream"] == true,
        requested_schema(&json),
    );
    let usage = json!({"prompt_tokens": x.usage.0, "completion_tokens": x.usage.1, "total_tokens": x.usage.0 + x.usage.1});
    if let Some(name) = x.behaviour.tool_call.clone() {
        return openai_tool_call(&x, &name, &model, usage);
    }
    // Asked for log probabilities, the mock gives one entry per answer, so a test
    // can see a field the relay has no name for come back through it.
    let logprobs = if json["logprobs"] == true {
        json!({"content": [{"token": "Mock", "logprob": -0.5, "bytes": [77, 111, 99, 107], "top_logprobs": []}]})
    } else {
        Value::Null
    };
    if !x.stream {
        return with_request_id(HttpResponse::Ok(), "x-request-id").json(json!({
            "id": "chatcmpl-mock", "object": "chat.completion", "created": 0, "model": model,
            "system_fingerprint": "fp_mock",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": x.reply, "refusal": null},
                "logprobs": logprobs, "finish_reason": "stop"}],
            "usage": usage,
        }));
    }
    let chunk = |delta: Value, finish: Value| {
        data(
            &json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 0, "model": model,
            "system_fingerprint": "fp_mock",
            "choices": [{"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}]}),
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
    let x = exchange(
        behaviour,
        &last_user,
        &inputs,
        json["stream"] == true,
        requested_schema(&json),
    );
    if let Some(name) = x.behaviour.tool_call.clone() {
        return anthropic_tool_call(&x, &name, &model);
    }
    if !x.stream {
        return with_request_id(HttpResponse::Ok(), "request-id").json(json!({
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
        "embedContent" | "batchEmbedContents" => return gemini_embeddings(method, &json),
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
    let x = exchange(
        behaviour,
        &last_user,
        &inputs,
        stream,
        requested_schema(&json),
    );
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

/// The text of each system and message content of an Anthropic body.
fn anthropic_inputs(json: &Value) -> Vec<String> {
    let mut inputs = Vec::new();
    if !json["system"].is_null() {
        inputs.push(content_text(&json["system"]));
    }
    for message in json["messages"].as_array().into_iter().flatten() {
        inputs.push(content_text(&message["content"]));
    }
    inputs
}

/// Anthropic's `POST /v1/messages/count_tokens`: the input count the mock's own
/// answer to the same body would report.
async fn count_tokens(
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
    let inputs = anthropic_inputs(&json);
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let (input_tokens, _) = mock_reply::usage(&refs, "");
    with_request_id(HttpResponse::Ok(), "request-id").json(json!({"input_tokens": input_tokens}))
}

/// An embedding in the encoding asked for: floats, or base64 of little-endian
/// f32s (what the OpenAI SDK asks for by default and decodes).
fn encoded_embedding(text: &str, dimensions: usize, base64: bool) -> Value {
    use base64::Engine;
    let vector = mock_reply::embedding(text, dimensions);
    if base64 {
        let bytes: Vec<u8> = vector.iter().flat_map(|v| v.to_le_bytes()).collect();
        json!(base64::engine::general_purpose::STANDARD.encode(bytes))
    } else {
        json!(vector)
    }
}

/// OpenAI's `POST /v1/embeddings`: one deterministic vector per input (a string,
/// a list of strings, a token array or a list of token arrays).
async fn embeddings(
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
    let token_text = |tokens: &[Value]| -> Option<(String, u64)> {
        let ids: Option<Vec<u64>> = tokens.iter().map(Value::as_u64).collect();
        let ids = ids?;
        let text = ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
        Some((text, ids.len() as u64))
    };
    let inputs: Option<Vec<(String, u64)>> = match &json["input"] {
        Value::String(text) => Some(vec![(text.clone(), mock_reply::estimate_tokens(text))]),
        Value::Array(items) if items.iter().all(Value::is_string) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .map(|t| (t.to_owned(), mock_reply::estimate_tokens(t)))
                .collect(),
        ),
        Value::Array(items) if items.iter().all(Value::is_u64) => {
            token_text(items).map(|t| vec![t])
        }
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_array().and_then(|tokens| token_text(tokens)))
            .collect(),
        _ => None,
    };
    let Some(inputs) = inputs.filter(|i| !i.is_empty()) else {
        return HttpResponse::BadRequest().json(
            json!({"error": {"message": "input must be a string, strings or token arrays"}}),
        );
    };
    let dimensions = json["dimensions"]
        .as_u64()
        .map_or(mock_reply::EMBEDDING_DIMENSIONS, |d| {
            d.clamp(1, 4096) as usize
        });
    let base64 = json["encoding_format"] == "base64";
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, (text, _))| {
            json!({"object": "embedding", "index": index, "embedding": encoded_embedding(text, dimensions, base64)})
        })
        .collect();
    let tokens: u64 = inputs.iter().map(|(_, n)| n).sum();
    with_request_id(HttpResponse::Ok(), "x-request-id").json(json!({
        "object": "list", "data": data, "model": json["model"],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
}

/// Gemini's `embedContent` and `batchEmbedContents` (Gemini reports no usage).
fn gemini_embeddings(method: &str, json: &Value) -> HttpResponse {
    let embed = |request: &Value| {
        let text: String = request["content"]["parts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["text"].as_str())
            .collect();
        let dimensions = request["outputDimensionality"]
            .as_u64()
            .map_or(mock_reply::EMBEDDING_DIMENSIONS, |d| {
                d.clamp(1, 4096) as usize
            });
        json!({"values": mock_reply::embedding(&text, dimensions)})
    };
    if method == "embedContent" {
        return HttpResponse::Ok().json(json!({"embedding": embed(json)}));
    }
    let embeddings: Vec<Value> = json["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .map(embed)
        .collect();
    HttpResponse::Ok().json(json!({"embeddings": embeddings}))
}

/// The text of a Responses `input`: a string, or the texts of its message items.
fn responses_inputs(json: &Value) -> (Vec<String>, String) {
    let mut inputs = Vec::new();
    if let Some(instructions) = json["instructions"].as_str() {
        inputs.push(instructions.to_owned());
    }
    let mut last_user = String::new();
    match &json["input"] {
        Value::String(text) => {
            inputs.push(text.clone());
            last_user.clone_from(text);
        }
        Value::Array(items) => {
            for item in items {
                let text = match &item["content"] {
                    Value::String(text) => text.clone(),
                    Value::Array(parts) => {
                        parts.iter().filter_map(|p| p["text"].as_str()).collect()
                    }
                    _ => item["output"].as_str().unwrap_or_default().to_owned(),
                };
                if item["role"] == "user" {
                    last_user.clone_from(&text);
                }
                inputs.push(text);
            }
        }
        _ => {}
    }
    (inputs, last_user)
}

/// OpenAI's `POST /v1/responses`: a `message` output item with the reply (or a
/// `function_call` item in tool-call mode), streamed as the API's typed events.
async fn responses(
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
    let (inputs, last_user) = responses_inputs(&json);
    let model = json["model"].as_str().unwrap_or("mock").to_owned();
    let x = exchange(
        behaviour,
        &last_user,
        &inputs,
        json["stream"] == true,
        requested_schema(&json),
    );
    let usage = json!({"input_tokens": x.usage.0, "output_tokens": x.usage.1,
        "total_tokens": x.usage.0 + x.usage.1,
        "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}});
    let item = match &x.behaviour.tool_call {
        Some(name) => json!({"type": "function_call", "id": "fc_mock_1", "call_id": "call_mock_1",
            "name": name, "arguments": json!({"echo": x.reply}).to_string(), "status": "completed"}),
        None => {
            json!({"type": "message", "id": "msg_mock_1", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": x.reply, "annotations": [], "logprobs": []}]})
        }
    };
    let response = |status: &str, output: Value, usage: Value| {
        json!({"id": "resp_mock_1", "object": "response", "created_at": 0.0, "status": status,
            "model": model, "output": output, "usage": usage, "parallel_tool_calls": true,
            "tool_choice": "auto", "tools": [], "error": null, "incomplete_details": null,
            "instructions": null, "metadata": {}, "temperature": 1.0, "top_p": 1.0})
    };
    if !x.stream {
        return with_request_id(HttpResponse::Ok(), "x-request-id").json(response(
            "completed",
            json!([item]),
            usage,
        ));
    }
    let mut sequence = 0u64;
    let mut frames = Vec::new();
    let mut push = |name: &str, mut value: Value| {
        value["type"] = json!(name);
        value["sequence_number"] = json!(sequence);
        sequence += 1;
        frames.push(event(name, &value));
    };
    push(
        "response.created",
        json!({"response": response("in_progress", json!([]), Value::Null)}),
    );
    push(
        "response.in_progress",
        json!({"response": response("in_progress", json!([]), Value::Null)}),
    );
    let mut started = item.clone();
    let was_cut;
    if item["type"] == "function_call" {
        started["arguments"] = json!("");
        started["status"] = json!("in_progress");
        push(
            "response.output_item.added",
            json!({"output_index": 0, "item": started}),
        );
        let arguments = item["arguments"].as_str().unwrap_or_default();
        let (pieces, cut_short) = cut(arguments, &x.behaviour);
        was_cut = cut_short;
        for piece in &pieces {
            push(
                "response.function_call_arguments.delta",
                json!({"output_index": 0, "item_id": "fc_mock_1", "delta": piece}),
            );
        }
        if !was_cut {
            push(
                "response.function_call_arguments.done",
                json!({"output_index": 0, "item_id": "fc_mock_1", "arguments": arguments}),
            );
        }
    } else {
        started["content"] = json!([]);
        started["status"] = json!("in_progress");
        push(
            "response.output_item.added",
            json!({"output_index": 0, "item": started}),
        );
        let part = json!({"type": "output_text", "text": "", "annotations": [], "logprobs": []});
        push(
            "response.content_part.added",
            json!({"output_index": 0, "content_index": 0, "item_id": "msg_mock_1", "part": part}),
        );
        let (pieces, cut_short) = cut(&x.reply, &x.behaviour);
        was_cut = cut_short;
        for piece in &pieces {
            push(
                "response.output_text.delta",
                json!({"output_index": 0, "content_index": 0,
                "item_id": "msg_mock_1", "delta": piece, "logprobs": []}),
            );
        }
        if !was_cut {
            push(
                "response.output_text.done",
                json!({"output_index": 0, "content_index": 0,
                "item_id": "msg_mock_1", "text": x.reply, "logprobs": []}),
            );
            push(
                "response.content_part.done",
                json!({"output_index": 0, "content_index": 0,
                "item_id": "msg_mock_1", "part": item["content"][0]}),
            );
        }
    }
    if !was_cut {
        push(
            "response.output_item.done",
            json!({"output_index": 0, "item": item}),
        );
        push(
            "response.completed",
            json!({"response": response("completed", json!([item]), usage)}),
        );
    }
    sse(frames)
}
