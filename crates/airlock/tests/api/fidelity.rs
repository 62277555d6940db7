//! Wire fidelity: on the same wire every field an app sends reaches the provider
//! as it was sent (the official SDKs' full request types, field by field); across
//! wires each field is translated or refused by name, as `front::crossing`'s
//! tables say; and what the provider answers comes back whole.

use airlock_core::key::Env;
use airlock_relay::front::crossing::{
    ANTHROPIC_MESSAGES, Crossing, FieldRule, OPENAI_CHAT, OPENAI_EMBEDDINGS, OPENAI_RESPONSES,
};
use serde_json::{Value, json};

use crate::helpers::TestApp;

const EMAIL: &str = "maria.lopez@example.com";

async fn error_of(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let error = &body["error"];
    (
        status,
        error["code"].as_str().unwrap_or_default().to_owned(),
        error["param"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Every top-level field of the OpenAI SDK's `CompletionCreateParams` (openai
/// 3.54), with a value of its documented type, and messages that carry every
/// message field and content part the SDK defines.
fn every_chat_field() -> Value {
    json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "developer", "content": [{"type": "text", "text": "be brief"}], "name": "dev"},
            {"role": "system", "content": "stay polite", "name": "sys"},
            {"role": "user", "name": "maria", "content": [
                {"type": "text", "text": "what is in these?", "prompt_cache_breakpoint": {"mode": "explicit", "ttl": "30m"}},
                {"type": "image_url", "image_url": {"url": "https://img.example/cat.png", "detail": "low"}},
                {"type": "input_audio", "input_audio": {"data": "UklGRgAAAABXQVZF", "format": "wav"}},
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}}]},
            {"role": "assistant", "content": [{"type": "text", "text": "calling"}], "refusal": null,
             "name": "bot", "audio": {"id": "audio_1"},
             "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":1}"}},
                            {"id": "call_2", "type": "custom", "custom": {"name": "grep", "input": "x"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "42"}]},
            {"role": "user", "content": "thanks"}],
        "audio": {"format": "wav", "voice": "alloy"},
        "frequency_penalty": 0.5,
        "logit_bias": {"50256": -100},
        "logprobs": true,
        "max_completion_tokens": 300,
        "max_tokens": 300,
        "metadata": {"team": "search"},
        "modalities": ["text"],
        "moderation": {"model": "omni-moderation-latest", "policy": {"input": {"mode": "score"}}},
        "n": 1,
        "parallel_tool_calls": false,
        "prediction": {"type": "content", "content": "a draft"},
        "presence_penalty": 0.25,
        "prompt_cache_key": "tenant-a",
        "prompt_cache_options": {"mode": "implicit", "ttl": "30m"},
        "prompt_cache_retention": "24h",
        "reasoning_effort": "low",
        "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "strict": true,
            "schema": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": false}}},
        "safety_identifier": "user-1234",
        "seed": 7,
        "service_tier": "flex",
        "stop": ["END"],
        "store": false,
        "stream_options": {"include_usage": true, "include_obfuscation": false},
        "temperature": 0.3,
        "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [{"type": "function", "function": {"name": "lookup"}}]}},
        "tools": [{"type": "function", "function": {"name": "lookup", "description": "look up", "strict": true,
                    "parameters": {"type": "object", "properties": {"q": {"type": "integer"}}}}},
                  {"type": "custom", "custom": {"name": "grep", "description": "grep", "format": {"type": "text"}}}],
        "top_logprobs": 2,
        "top_p": 0.9,
        "user": "legacy-user-id",
        "verbosity": "low",
        "web_search_options": {"search_context_size": "low"},
    })
}

#[actix_web::test]
async fn every_chat_completions_field_reaches_an_openai_provider_as_sent() {
    let app = TestApp::spawn().await;
    let key = app.key(Env::Dev).await;
    let sent = every_chat_field();
    app.clear_received().await;
    let response = app.post("/v1/chat/completions", &key, sent.clone()).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let received = app.received().await;
    let body = &received.last().unwrap()["body"];
    for (field, value) in sent.as_object().unwrap() {
        assert_eq!(&body[field], value, "{field} arrived changed");
    }
    let extra: Vec<&String> = body
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| sent.get(k.as_str()).is_none())
        .collect();
    assert!(extra.is_empty(), "the relay added {extra:?}");

    // The legacy function-calling fields are refused by name, not dropped.
    for legacy in ["functions", "function_call"] {
        let mut body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
        body[legacy] = if legacy == "functions" {
            json!([{"name": "f"}])
        } else {
            json!("auto")
        };
        let (status, code, _) = error_of(app.post("/v1/chat/completions", &key, body).await).await;
        assert_eq!(
            (status, code.as_str()),
            (400, "invalid_request"),
            "{legacy}"
        );
    }
}

/// Every top-level field of the Anthropic SDK's `MessageCreateParams` (anthropic
/// 2.12), the sampling fields older SDKs send, and every block type.
fn every_messages_field() -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 512,
        "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "read this", "citations": []},
                {"type": "image", "source": {"type": "url", "url": "https://img.example/cat.png"}},
                {"type": "document", "title": "Q3", "context": "finance", "citations": {"enabled": true},
                 "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}},
                {"type": "search_result", "source": "https://docs.example", "title": "Docs",
                 "content": [{"type": "text", "text": "found"}]}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "let me see", "signature": "c2lnbmF0dXJl"},
                {"type": "redacted_thinking", "data": "b3BhcXVl"},
                {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": 1}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": false, "content": [{"type": "text", "text": "42"}]}]}],
        "cache_control": {"type": "ephemeral"},
        "container": "container_1",
        "diagnostics": {"cache": true},
        "inference_geo": "eu",
        "metadata": {"user_id": "user-1234"},
        "output_config": {"effort": "low", "format": {"type": "json_schema", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}},
        "service_tier": "auto",
        "speed": "standard",
        "stop_sequences": ["END"],
        "thinking": {"type": "enabled", "budget_tokens": 1024, "display": "summarized"},
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
        "tools": [{"name": "lookup", "description": "look up", "strict": true, "cache_control": {"type": "ephemeral"},
                   "input_schema": {"type": "object", "properties": {"q": {"type": "integer"}}}}],
        "user_profile_id": "prof_1",
        "workspace_id": "wrkspc_1",
        "temperature": 1.0,
        "top_p": 0.9,
        "top_k": 40,
    })
}

#[actix_web::test]
async fn every_messages_field_reaches_an_anthropic_provider_as_sent() {
    let app = TestApp::spawn().await;
    let key = app.key(Env::Dev).await;
    let sent = every_messages_field();
    app.clear_received().await;
    let response = app
        .client
        .post(format!("{}/v1/messages", app.relay_url))
        .bearer_auth(&key)
        .header("anthropic-version", "2026-10-21")
        .header("anthropic-beta", "files-api-2025-04-14")
        .json(&sent)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    assert_eq!(response.headers()["request-id"], "req_mock_1");
    let received = app.received().await;
    let last = received.last().unwrap();
    for (field, value) in sent.as_object().unwrap() {
        assert_eq!(&last["body"][field], value, "{field} arrived changed");
    }
    assert_eq!(last["headers"]["anthropic-version"], "2026-10-21");
    assert_eq!(last["headers"]["anthropic-beta"], "files-api-2025-04-14");
    assert!(last["headers"].get("x-stainless-lang").is_none());
}

/// A value for a field, for the table test: one the field takes (for fields
/// accepted only in part, an accepted one first and a refused one second).
fn samples(name: &str) -> (Value, Option<Value>) {
    let one = |v: Value| (v, None);
    match name {
        "messages" | "input" | "model" | "max_tokens" | "system" | "stream" | "instructions" => {
            one(Value::Null)
        }
        "max_completion_tokens" | "max_output_tokens" => one(json!(50)),
        "temperature" | "top_p" | "presence_penalty" | "frequency_penalty" => one(json!(0.5)),
        "stop" | "stop_sequences" => one(json!(["END"])),
        "tools" => one(Value::Null),
        "tool_choice" => one(Value::Null),
        "response_format" => one(json!({"type": "json_object"})),
        "text" => one(json!({"format": {"type": "json_object"}})),
        "reasoning_effort" => one(json!("low")),
        "reasoning" => one(json!({"effort": "low"})),
        "output_config" => one(json!({"effort": "low"})),
        "thinking" => (
            json!({"type": "enabled", "budget_tokens": 1024}),
            Some(json!({"type": "between_tools"})),
        ),
        "seed" => one(json!(7)),
        "top_k" => one(json!(40)),
        "user" | "safety_identifier" => one(json!("user-1")),
        "metadata" => one(json!({"user_id": "user-1"})),
        "parallel_tool_calls" => (json!(true), Some(json!(false))),
        "n" => (json!(1), Some(json!(2))),
        "store" => (json!(false), Some(json!(true))),
        "modalities" => (json!(["text"]), Some(json!(["text", "audio"]))),
        "stream_options" => one(json!({"include_usage": false})),
        "dimensions" => one(json!(4)),
        "encoding_format" => one(json!("float")),
        "cache_control" => one(json!({"type": "ephemeral"})),
        "prompt_cache_key" => one(json!("k")),
        "prompt_cache_options" => one(json!({"mode": "implicit"})),
        "prompt_cache_retention" => one(json!("24h")),
        _ => one(json!("x")),
    }
}

/// What the route should answer: `Ok` for 200, `Err(param)` for a refusal naming it.
fn expected(rule: &FieldRule, crossing: Crossing, refused_value: bool) -> Result<(), String> {
    match crossing {
        Crossing::Refused => Err(rule.name.to_owned()),
        Crossing::Only(..) if refused_value => Err(rule.name.to_owned()),
        _ => Ok(()),
    }
}

/// One endpoint's table: its path, its rows, a base request, and the models (and
/// table columns) of the providers of other APIs it is sent to.
type TableCase = (
    &'static str,
    &'static [FieldRule],
    Value,
    [(&'static str, fn(&FieldRule) -> Crossing); 2],
);

/// Every row of every table, against every provider of another API: the relay
/// answers (translated, ignored, an accepted value) or refuses naming the field
/// (refused, a value it cannot honour) — exactly as the table says.
#[actix_web::test]
async fn across_wires_every_field_is_translated_or_refused_as_the_table_says() {
    let app = TestApp::spawn().await;
    let key = app.key(Env::Dev).await;
    let cases: [TableCase; 4] = [
        (
            "/v1/chat/completions",
            OPENAI_CHAT,
            json!({"messages": [{"role": "user", "content": "hi"}]}),
            [
                ("claude-sonnet-4-5", |r| r.anthropic),
                ("gemini-2.5-flash", |r| r.gemini),
            ],
        ),
        (
            "/v1/messages",
            ANTHROPIC_MESSAGES,
            json!({"max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}),
            [("gpt-4o", |r| r.openai), ("gemini-2.5-flash", |r| r.gemini)],
        ),
        (
            "/v1/responses",
            OPENAI_RESPONSES,
            json!({"input": "hi"}),
            [
                ("claude-sonnet-4-5", |r| r.anthropic),
                ("gemini-2.5-flash", |r| r.gemini),
            ],
        ),
        (
            "/v1/embeddings",
            OPENAI_EMBEDDINGS,
            json!({"input": "hi"}),
            [
                ("gemini-embedding-001", |r| r.gemini),
                ("gemini-embedding-001", |r| r.gemini),
            ],
        ),
    ];
    let mut checked = 0;
    for (path, table, base, targets) in cases {
        for rule in table {
            // Legacy function calling is refused by the parser on every route
            // (`every_chat_completions_field_…` checks it).
            if matches!(rule.name, "functions" | "function_call") {
                continue;
            }
            let (accepted, refused) = samples(rule.name);
            if accepted.is_null() {
                continue; // the base request carries it already
            }
            for (model, column) in targets {
                for (value, is_refused_value) in std::iter::once((accepted.clone(), false))
                    .chain(refused.clone().map(|v| (v, true)))
                {
                    let mut body = base.clone();
                    body["model"] = json!(model);
                    body[rule.name] = value.clone();
                    let response = app.post(path, &key, body).await;
                    let got = if response.status() == 200 {
                        Ok(())
                    } else {
                        let (status, code, param) = error_of(response).await;
                        assert_eq!(
                            (status, code.as_str()),
                            (400, "unsupported_parameter"),
                            "{path} {} → {model}",
                            rule.name
                        );
                        Err(param)
                    };
                    assert_eq!(
                        got,
                        expected(rule, column(rule), is_refused_value),
                        "{path} `{}` = {value} → {model}",
                        rule.name
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 150, "{checked}");
}

/// What a translated field becomes in each provider's own terms.
#[actix_web::test]
async fn translated_fields_arrive_in_the_targets_terms() {
    let app = TestApp::spawn().await;
    let key = app.key(Env::Dev).await;
    let request = json!({
        "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object", "properties": {"x": {"type": "string"}}}}},
        "reasoning_effort": "high", "stop": ["END"], "temperature": 0.2, "max_tokens": 64,
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "parallel_tool_calls": false, "user": "u-1",
    });
    let sent_to = |model: &str| {
        let mut body = request.clone();
        body["model"] = json!(model);
        if model.starts_with("gemini") {
            body.as_object_mut().unwrap().remove("parallel_tool_calls");
            body.as_object_mut().unwrap().remove("user");
            body["seed"] = json!(7);
        }
        body
    };
    app.clear_received().await;
    assert_eq!(
        app.post("/v1/chat/completions", &key, sent_to("claude-sonnet-4-5"))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post("/v1/chat/completions", &key, sent_to("gemini-2.5-flash"))
            .await
            .status(),
        200
    );
    let received = app.received().await;
    let claude = &received[received.len() - 2]["body"];
    assert_eq!(
        claude["output_config"]["format"]["schema"]["properties"]["x"]["type"],
        "string"
    );
    assert_eq!(claude["output_config"]["effort"], "high");
    assert_eq!(claude["stop_sequences"], json!(["END"]));
    assert_eq!(claude["metadata"]["user_id"], "u-1");
    assert_eq!(claude["tool_choice"]["disable_parallel_tool_use"], true);
    let gemini = &received[received.len() - 1]["body"]["generationConfig"];
    assert_eq!(gemini["responseMimeType"], "application/json");
    assert_eq!(
        gemini["responseJsonSchema"]["properties"]["x"]["type"],
        "string"
    );
    assert_eq!(gemini["thinkingConfig"]["thinkingBudget"], 24_576);
    assert_eq!(gemini["seed"], 7);
    assert_eq!(gemini["stopSequences"], json!(["END"]));

    // And the other way: Anthropic's fields in OpenAI's and Gemini's terms.
    let anthropic = json!({"max_tokens": 64, "messages": [{"role": "user", "content": "hi"}],
        "thinking": {"type": "enabled", "budget_tokens": 2048}, "top_k": 40,
        "output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}}});
    let mut to_openai = anthropic.clone();
    to_openai["model"] = json!("gpt-4o");
    to_openai.as_object_mut().unwrap().remove("top_k");
    to_openai["metadata"] = json!({"user_id": "u-2"});
    assert_eq!(
        app.post("/v1/messages", &key, to_openai).await.status(),
        200
    );
    let mut to_gemini = anthropic.clone();
    to_gemini["model"] = json!("gemini-2.5-flash");
    assert_eq!(
        app.post("/v1/messages", &key, to_gemini).await.status(),
        200
    );
    let received = app.received().await;
    let openai = &received[received.len() - 2]["body"];
    assert_eq!(openai["reasoning_effort"], "low");
    assert_eq!(openai["user"], "u-2");
    assert_eq!(openai["response_format"]["type"], "json_schema");
    let gemini = &received[received.len() - 1]["body"]["generationConfig"];
    assert_eq!(gemini["topK"], 40);
    assert_eq!(gemini["thinkingConfig"]["thinkingBudget"], 2048);
}

/// The answer comes back whole: fields the relay has no name for (log
/// probabilities, the system fingerprint) and the provider's request id.
#[actix_web::test]
async fn what_an_openai_provider_answers_comes_back_whole() {
    let app = TestApp::spawn().await;
    let key = app.key(Env::Dev).await;
    let body = json!({"model": "gpt-4o", "logprobs": true, "top_logprobs": 1,
        "messages": [{"role": "user", "content": format!("write to {EMAIL}")}]});
    let response = app.post("/v1/chat/completions", &key, body.clone()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "req_mock_1");
    let cost: f64 = response.headers()["x-airlock-cost-usd"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(cost > 0.0);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["system_fingerprint"], "fp_mock");
    assert_eq!(
        answer["choices"][0]["logprobs"]["content"][0]["token"],
        "Mock"
    );
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        format!("Mock reply: write to {EMAIL}"),
        "the placeholder is restored"
    );

    // Streamed: the same fields in every chunk, the usage chunk only when asked,
    // with the cost beside the counts.
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let text = app
        .post("/v1/chat/completions", &key, streamed.clone())
        .await
        .text()
        .await
        .unwrap();
    assert!(text.contains(r#""system_fingerprint":"fp_mock""#), "{text}");
    assert!(
        !text.contains(r#""usage":{"#),
        "no usage chunk unasked: {text}"
    );
    assert_eq!(
        crate::helpers::openai_stream_text(&text),
        format!("Mock reply: write to {EMAIL}")
    );
    streamed["stream_options"] = json!({"include_usage": true});
    let text = app
        .post("/v1/chat/completions", &key, streamed)
        .await
        .text()
        .await
        .unwrap();
    assert!(text.contains("airlock_cost_usd"), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");

    // A translated stream reports its cost in its final usage too, in each shape.
    for (path, body) in [
        (
            "/v1/chat/completions",
            json!({"model": "claude-sonnet-4-5", "stream": true,
            "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "hi"}]}),
        ),
        (
            "/v1/messages",
            json!({"model": "gemini-2.5-flash", "stream": true, "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"}]}),
        ),
        (
            "/v1/responses",
            json!({"model": "claude-sonnet-4-5", "stream": true, "input": "hi"}),
        ),
    ] {
        let text = app.post(path, &key, body).await.text().await.unwrap();
        assert!(text.contains("airlock_cost_usd"), "{path}: {text}");
    }
}
