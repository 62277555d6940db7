//! The endpoints beyond chat: the Responses API, embeddings, Anthropic's token
//! count and single models, each through every policy step (redaction, blocks,
//! budgets, rate limits, the usage record), on the same wire and across wires;
//! and structured outputs whose JSON stays valid when PII is restored into it.

use airlock_console::tenant::Change;
use airlock_console::tenant::limits::KeyLimits;
use airlock_console::tenant::policies::NewPolicy;
use airlock_core::class::DataClass;
use airlock_core::key::Env;
use airlock_core::money::MicroDollars;
use airlock_core::redact::ContentAction;
use airlock_schema::entities::usage_record;
use serde_json::{Value, json};

use crate::helpers::{TestApp, openai_stream_text};

const EMAIL: &str = "maria.lopez@example.com";
const AWS_KEY: &str = "AKIAQ3EGTUVWXYZ23456";

async fn error_of(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let error = &body["error"];
    (
        status,
        error["code"].as_str().unwrap_or_default().to_owned(),
        error["message"].as_str().unwrap_or_default().to_owned(),
    )
}

fn events(body: &str) -> Vec<Value> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect()
}

/// The text of a Responses stream: its output_text deltas, joined.
fn responses_stream_text(body: &str) -> String {
    events(body)
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .filter_map(|e| e["delta"].as_str().map(str::to_owned))
        .collect()
}

async fn last_record(app: &TestApp) -> usage_record::Model {
    app.usage_records().await.pop().unwrap()
}

#[actix_web::test]
async fn the_responses_api_works_on_the_same_wire_and_across_streamed_or_not() {
    let app = TestApp::spawn().await;
    let key = app.key(Env::Dev).await;
    let expected = format!("Mock reply: write to {EMAIL}");
    for model in ["gpt-4o", "claude-sonnet-4-5", "gemini-2.5-flash"] {
        app.clear_received().await;
        let body = json!({"model": model, "instructions": "be brief", "max_output_tokens": 100,
            "input": [{"role": "user", "content": [{"type": "input_text", "text": format!("write to {EMAIL}")}]}]});
        let response = app.post("/v1/responses", &key, body.clone()).await;
        assert_eq!(response.status(), 200, "{model}");
        assert_eq!(
            response.headers()["x-airlock-redactions"],
            "email=1",
            "{model}"
        );
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["object"], "response", "{model}: {answer}");
        assert_eq!(
            answer["output"][0]["content"][0]["text"], expected,
            "{model}: {answer}"
        );
        let sent = serde_json::to_string(&app.received().await).unwrap();
        assert!(!sent.contains(EMAIL), "{model}: {sent}");
        if model == "gpt-4o" {
            // The same wire: the Responses body itself went to /responses.
            let received = app.received().await;
            assert_eq!(received[0]["path"], "/v1/responses");
            assert_eq!(received[0]["body"]["instructions"], "be brief");
        }
        let record = last_record(&app).await;
        assert_eq!(record.endpoint, "responses");
        assert!(
            record.input_tokens > 0 && record.output_tokens > 0,
            "{model}"
        );

        let mut streamed = body.clone();
        streamed["stream"] = json!(true);
        let text = app
            .post("/v1/responses", &key, streamed)
            .await
            .text()
            .await
            .unwrap();
        let kinds: Vec<String> = events(&text)
            .iter()
            .filter_map(|e| e["type"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(
            kinds.first().map(String::as_str),
            Some("response.created"),
            "{model}: {text}"
        );
        assert_eq!(
            kinds.last().map(String::as_str),
            Some("response.completed"),
            "{model}: {text}"
        );
        assert_eq!(responses_stream_text(&text), expected, "{model}");
        let completed = events(&text).pop().unwrap();
        assert_eq!(
            completed["response"]["output"][0]["content"][0]["text"], expected,
            "{model}"
        );
    }
}

#[actix_web::test]
async fn responses_refuse_what_no_route_can_honour_by_name() {
    let app = TestApp::spawn().await;
    let key = app.key(Env::Dev).await;
    let cases = [
        (
            json!({"model": "claude-sonnet-4-5", "input": "hi", "previous_response_id": "resp_1"}),
            "unsupported_parameter",
            "previous_response_id",
        ),
        (
            json!({"model": "gpt-4o", "input": "hi", "tools": [{"type": "web_search"}]}),
            "invalid_request",
            "built-in tools",
        ),
        (
            json!({"model": "gpt-4o", "input": 42}),
            "invalid_request",
            "wrong shape",
        ),
        (
            json!({"model": "gpt-4o", "input": [{"role": "wizard", "content": "x"}]}),
            "invalid_request",
            "input[0]",
        ),
        (
            json!({"model": "gpt-4o"}),
            "invalid_request",
            "`input` is required",
        ),
    ];
    app.clear_received().await;
    for (body, code, words) in cases {
        let (status, got, message) =
            error_of(app.post("/v1/responses", &key, body.clone()).await).await;
        assert_eq!((status, got.as_str()), (400, code), "{body}: {message}");
        assert!(message.contains(words), "{body}: {message}");
    }
    assert!(app.received().await.is_empty());
    // On the same wire, OpenAI keeps the conversation: the id goes through.
    let response = app
        .post(
            "/v1/responses",
            &key,
            json!({"model": "gpt-4o", "input": "hi", "previous_response_id": "resp_1"}),
        )
        .await;
    assert_eq!(response.status(), 200);
}

#[actix_web::test]
async fn embeddings_are_screened_costed_limited_and_recorded() {
    let app = TestApp::spawn().await;
    let (key, prefix) = app.key_with_prefix(Env::Dev).await;
    for model in [
        "text-embedding-3-small",
        "gemini-embedding-001",
        "mock-embed",
    ] {
        app.clear_received().await;
        let body = json!({"model": model, "input": [format!("contact {EMAIL}"), "second"], "dimensions": 8,
            "encoding_format": "base64"});
        let response = app.post("/v1/embeddings", &key, body).await;
        assert_eq!(response.status(), 200, "{model}");
        assert_eq!(
            response.headers()["x-airlock-redactions"],
            "email=1",
            "{model}"
        );
        assert!(
            response.headers().contains_key("x-airlock-cost-usd"),
            "{model}"
        );
        let answer: Value = response.json().await.unwrap();
        assert_eq!(
            answer["data"].as_array().unwrap().len(),
            2,
            "{model}: {answer}"
        );
        assert!(
            answer["data"][0]["embedding"].is_string(),
            "base64 asked: {answer}"
        );
        let received = app.received().await;
        let sent = serde_json::to_string(&received).unwrap();
        assert!(!sent.contains(EMAIL), "{model}: {sent}");
        if model == "text-embedding-3-small" {
            // The same wire: the app's body went to /embeddings as sent, redacted.
            assert_eq!(received[0]["path"], "/v1/embeddings");
            let body = &received[0]["body"];
            assert_eq!(
                (
                    body["dimensions"].as_u64(),
                    body["encoding_format"].as_str()
                ),
                (Some(8), Some("base64"))
            );
            assert_eq!(body["input"][0], "contact [EMAIL_1]");
        }
        let record = last_record(&app).await;
        assert_eq!(record.endpoint, "embeddings");
        assert!(
            record.input_tokens > 0 && record.output_tokens == 0,
            "{model}"
        );
        assert!(record.cost_micros > 0, "{model}: priced");
    }

    // Secrets in embedding inputs are refused where a chat would redact them:
    // a vector of a secret outlives any rotation.
    let (status, code, message) = error_of(
        app.post(
            "/v1/embeddings",
            &key,
            json!({"model": "text-embedding-3-small", "input": format!("key {AWS_KEY}")}),
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "pii_blocked"), "{message}");
    assert!(!message.contains(AWS_KEY));

    // Anthropic has no embeddings.
    app.tenant.route("claude-embed", "anthropic", None).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (status, code, message) = error_of(
        app.post(
            "/v1/embeddings",
            &key,
            json!({"model": "claude-embed", "input": "x"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (400, "invalid_request"),
        "{message}"
    );

    // Budgets and rate limits hold as for chats.
    app.set_key(
        &prefix,
        KeyLimits {
            per_request_cap: Change::Set(MicroDollars::new(1)),
            ..KeyLimits::default()
        },
    )
    .await;
    let long = "word ".repeat(5_000);
    let (status, code, _) = error_of(
        app.post(
            "/v1/embeddings",
            &key,
            json!({"model": "text-embedding-3-small", "input": long}),
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (429, "budget_exceeded"));
    app.set_key(
        &prefix,
        KeyLimits {
            per_request_cap: Change::Clear,
            rpm: Change::Set(1),
            ..KeyLimits::default()
        },
    )
    .await;
    let small = json!({"model": "text-embedding-3-small", "input": "x"});
    assert_eq!(
        app.post("/v1/embeddings", &key, small.clone())
            .await
            .status(),
        200
    );
    let (status, code, _) = error_of(app.post("/v1/embeddings", &key, small).await).await;
    assert_eq!((status, code.as_str()), (429, "rate_limit_exceeded"));
}

#[actix_web::test]
async fn token_arrays_are_decoded_screened_and_sent_as_text() {
    let app = TestApp::spawn().await;
    let key = app.key(Env::Dev).await;
    let ids =
        airlock_core::tokens::encode("text-embedding-3-small", &format!("mail {EMAIL}")).unwrap();
    app.clear_received().await;
    let response = app
        .post(
            "/v1/embeddings",
            &key,
            json!({"model": "text-embedding-3-small", "input": [ids]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let received = app.received().await;
    assert_eq!(received[0]["body"]["input"], json!(["mail [EMAIL_1]"]));
    let (status, _, message) = error_of(
        app.post(
            "/v1/embeddings",
            &key,
            json!({"model": "gemini-embedding-001", "input": [1, 2, 3]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("token-array input"), "{message}");
}

#[actix_web::test]
async fn count_tokens_asks_anthropic_or_counts_itself() {
    let app = TestApp::spawn().await;
    let key = app.key(Env::Dev).await;
    let body = |model: &str| {
        json!({"model": model, "system": "be brief",
        "messages": [{"role": "user", "content": format!("hello {EMAIL}")}]})
    };
    app.clear_received().await;
    let response = app
        .post("/v1/messages/count_tokens", &key, body("claude-sonnet-4-5"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["request-id"], "req_mock_1");
    let answer: Value = response.json().await.unwrap();
    assert!(answer["input_tokens"].as_u64().unwrap() > 0);
    let received = app.received().await;
    assert_eq!(received[0]["path"], "/v1/messages/count_tokens");
    assert!(
        !received[0]["body"].to_string().contains(EMAIL),
        "screened before it left"
    );
    assert!(received[0]["body"].get("max_tokens").is_none());

    let response = app
        .post("/v1/messages/count_tokens", &key, body("gpt-4o"))
        .await;
    assert_eq!(response.headers()["x-airlock-token-count"], "exact");
    let response = app
        .post("/v1/messages/count_tokens", &key, body("gemini-2.5-flash"))
        .await;
    assert_eq!(response.headers()["x-airlock-token-count"], "estimate");
    let answer: Value = response.json().await.unwrap();
    assert!(answer["input_tokens"].as_u64().unwrap() > 0);
    let record = last_record(&app).await;
    assert_eq!(
        (record.endpoint.as_str(), record.cost_micros),
        ("count_tokens", 0)
    );

    // The model allow-list holds here too.
    let (status, code, _) = error_of(
        app.post(
            "/v1/messages/count_tokens",
            &key,
            json!({"model": "", "messages": []}),
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "invalid_request"));
}

#[actix_web::test]
async fn single_models_and_unknown_endpoints_answer_in_the_apis_shape() {
    let app = TestApp::spawn().await;
    let (key, prefix) = app.key_with_prefix(Env::Dev).await;
    let get = |path: String| {
        app.client
            .get(format!("{}{path}", app.relay_url))
            .bearer_auth(&key)
            .send()
    };
    let model: Value = get("/v1/models/gpt-4o".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (model["id"].as_str(), model["owned_by"].as_str()),
        (Some("gpt-4o"), Some("openai"))
    );
    app.set_key(
        &prefix,
        KeyLimits {
            allowed_models: Some(vec!["gpt-4o".into()]),
            ..KeyLimits::default()
        },
    )
    .await;
    let (status, code, _) =
        error_of(get("/v1/models/claude-sonnet-4-5".into()).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    let (status, code, message) = error_of(
        app.client
            .post(format!("{}/v1/sk-live-looks-secret", app.relay_url))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    assert!(!message.contains("sk-live"), "{message}");
}

/// A structured answer with PII restored into its JSON strings stays valid JSON
/// and says what the app sent, on every provider shape, streamed or not.
#[actix_web::test]
async fn structured_outputs_come_back_valid_with_pii_restored() {
    let app = TestApp::spawn().await;
    let key = app.key(Env::Dev).await;
    let schema = json!({"type": "object", "properties": {"reply": {"type": "string"}, "count": {"type": "integer"}},
        "required": ["reply", "count"], "additionalProperties": false});
    for model in [
        "gpt-4o",
        "claude-sonnet-4-5",
        "gemini-2.5-flash",
        "mock-model",
    ] {
        let body = json!({"model": model,
            "messages": [{"role": "user", "content": format!("reach {EMAIL}")}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "out", "strict": true, "schema": schema}}});
        let answer: Value = app
            .post("/v1/chat/completions", &key, body.clone())
            .await
            .json()
            .await
            .unwrap();
        let content = answer["choices"][0]["message"]["content"].as_str().unwrap();
        let parsed: Value =
            serde_json::from_str(content).unwrap_or_else(|e| panic!("{model}: {e}: {content}"));
        assert_eq!(
            parsed["reply"],
            format!("Mock reply: reach {EMAIL}"),
            "{model}"
        );
        assert_eq!(parsed["count"], 1, "{model}");
        let mut streamed = body.clone();
        streamed["stream"] = json!(true);
        let text = app
            .post("/v1/chat/completions", &key, streamed)
            .await
            .text()
            .await
            .unwrap();
        let content = openai_stream_text(&text);
        let parsed: Value =
            serde_json::from_str(&content).unwrap_or_else(|e| panic!("{model}: {e}: {content}"));
        assert_eq!(
            parsed["reply"],
            format!("Mock reply: reach {EMAIL}"),
            "{model}"
        );
    }
    // The Anthropic front's own structured output, to Anthropic and across.
    for model in ["claude-sonnet-4-5", "gpt-4o"] {
        let body = json!({"model": model, "max_tokens": 100,
            "messages": [{"role": "user", "content": format!("reach {EMAIL}")}],
            "output_config": {"format": {"type": "json_schema", "schema": schema}}});
        let answer: Value = app
            .post("/v1/messages", &key, body)
            .await
            .json()
            .await
            .unwrap();
        let content = answer["content"][0]["text"].as_str().unwrap();
        let parsed: Value =
            serde_json::from_str(content).unwrap_or_else(|e| panic!("{model}: {e}: {content}"));
        assert_eq!(
            parsed["reply"],
            format!("Mock reply: reach {EMAIL}"),
            "{model}"
        );
    }
}

/// Block-mode output checks hold a same-wire stream and refuse it in the API's
/// own shape; flag mode lets it through and restores placeholders split across
/// chunks.
#[actix_web::test]
async fn same_wire_streams_are_guarded_like_translated_ones() {
    let app = TestApp::spawn().await;
    let key = app.key(Env::Dev).await;
    app.mock_behaviour(json!({"chunk_bytes": 3})).await;
    for (path, model) in [
        ("/v1/chat/completions", "gpt-4o"),
        ("/v1/messages", "claude-sonnet-4-5"),
        ("/v1/responses", "gpt-4o"),
    ] {
        let body = match path {
            "/v1/responses" => {
                json!({"model": model, "stream": true, "input": format!("to {EMAIL}")})
            }
            _ => json!({"model": model, "stream": true, "max_tokens": 100,
                "messages": [{"role": "user", "content": format!("to {EMAIL}")}]}),
        };
        let text = app.post(path, &key, body).await.text().await.unwrap();
        let joined = match path {
            "/v1/chat/completions" => openai_stream_text(&text),
            "/v1/messages" => crate::helpers::anthropic_stream_text(&text),
            _ => responses_stream_text(&text),
        };
        assert_eq!(joined, format!("Mock reply: to {EMAIL}"), "{path}: {text}");
    }

    let mut policy = NewPolicy::default_for(DataClass::Internal);
    policy.pii = ContentAction::Redact;
    policy.output = airlock_core::policy::CheckAction::Block;
    app.tenant.policy(policy).await;
    app.mock_behaviour(
        json!({"reply": "call 555-867-5309 or mail leak@example.org", "chunk_bytes": 5}),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for (path, model) in [
        ("/v1/chat/completions", "gpt-4o"),
        ("/v1/messages", "claude-sonnet-4-5"),
        ("/v1/responses", "gpt-4o"),
    ] {
        let body = match path {
            "/v1/responses" => json!({"model": model, "stream": true, "input": "hi"}),
            _ => {
                json!({"model": model, "stream": true, "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]})
            }
        };
        let text = app.post(path, &key, body).await.text().await.unwrap();
        assert!(!text.contains("leak@example.org"), "{path}: {text}");
        assert!(
            text.contains("Airlock withheld this answer"),
            "{path}: {text}"
        );
    }
}
