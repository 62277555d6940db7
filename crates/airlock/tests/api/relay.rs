use std::time::{Duration, Instant};

use airlock_core::key::Env;
use airlock_schema::entities::usage_record;
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::helpers::*;

fn chat(model: &str, prompt: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "stream_options": {"include_usage": true},
           "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": prompt}]})
}

#[actix_web::test]
async fn openai_adapter_forwards_to_an_openai_compatible_upstream_with_the_decrypted_credential() {
    let app = TestApp::spawn().await;
    let key = app.key(Env::Dev).await;

    let response = app
        .post(
            "/v1/chat/completions",
            &key,
            chat("gpt-4o-mini", "hello openai", false),
        )
        .await;

    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-airlock-request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Mock reply: hello openai"
    );
    assert!(body["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    let received = app.received().await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["path"], "/v1/chat/completions");
    assert_eq!(
        received[0]["headers"]["authorization"],
        format!("Bearer {PROVIDER_SECRET}-openai")
    );
    assert_eq!(received[0]["body"]["model"], "gpt-4o-mini");
    assert_eq!(
        received[0]["body"]["messages"][1]["content"],
        "hello openai"
    );
}

#[actix_web::test]
async fn openai_streams_end_in_done_with_usage_when_asked() {
    let app = TestApp::spawn().await;
    let key = app.key(Env::Dev).await;

    let response = app
        .post(
            "/v1/chat/completions",
            &key,
            chat("gpt-4o", "stream me please now", true),
        )
        .await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    assert_eq!(
        openai_stream_text(&text),
        "Mock reply: stream me please now"
    );
    assert!(text.trim_end().ends_with("data: [DONE]"));
    assert!(text.contains("\"total_tokens\""));
    assert_eq!(
        app.received().await[0]["body"]["stream_options"]["include_usage"],
        true
    );
}

#[actix_web::test]
async fn an_openai_shaped_request_for_claude_is_translated_to_the_anthropic_wire_and_back() {
    let app = TestApp::spawn().await;
    let key = app.key(Env::Stg).await;

    let response = app
        .post(
            "/v1/chat/completions",
            &key,
            chat("claude-sonnet-4-5", "hi claude", false),
        )
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Mock reply: hi claude"
    );

    let streamed = app
        .post(
            "/v1/chat/completions",
            &key,
            chat("claude-sonnet-4-5", "hi stream", true),
        )
        .await;
    assert_eq!(
        openai_stream_text(&streamed.text().await.unwrap()),
        "Mock reply: hi stream"
    );

    let received = app.received().await;
    assert_eq!(received[0]["path"], "/v1/messages");
    assert_eq!(
        received[0]["headers"]["x-api-key"],
        format!("{PROVIDER_SECRET}-anthropic")
    );
    assert_eq!(received[0]["headers"]["anthropic-version"], "2023-06-01");
    assert_eq!(received[0]["body"]["system"], "be brief");
    assert_eq!(received[0]["body"]["messages"].as_array().unwrap().len(), 1);
    assert_eq!(received[1]["body"]["stream"], true);
}

#[actix_web::test]
async fn the_anthropic_endpoint_answers_in_anthropic_shape_from_any_provider() {
    let app = TestApp::spawn().await;
    let key = app.key(Env::Dev).await;
    let request = |model: &str, stream: bool| {
        json!({"model": model, "max_tokens": 50, "stream": stream, "system": "rules",
               "messages": [{"role": "user", "content": [{"type": "text", "text": "hello there"}]}]})
    };

    let body: Value = app
        .post("/v1/messages", &key, request("claude-haiku-4-5", false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["type"], "message");
    assert_eq!(body["content"][0]["text"], "Mock reply: hello there");
    assert_eq!(body["stop_reason"], "end_turn");

    let streamed = app
        .post("/v1/messages", &key, request("claude-haiku-4-5", true))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(anthropic_stream_text(&streamed), "Mock reply: hello there");
    assert!(streamed.contains("event: message_stop"));

    // Anthropic shape in, OpenAI wire out.
    let streamed = app
        .post("/v1/messages", &key, request("gpt-4o", true))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(anthropic_stream_text(&streamed), "Mock reply: hello there");
    assert_eq!(app.received().await[2]["path"], "/v1/chat/completions");
}

#[actix_web::test]
async fn gemini_adapter_speaks_generate_content_and_its_sse_stream() {
    let app = TestApp::spawn().await;
    let key = app.key(Env::Dev).await;

    let body: Value = app
        .post(
            "/v1/chat/completions",
            &key,
            chat("gemini-2.5-flash", "hi gemini", false),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Mock reply: hi gemini"
    );
    let streamed = app
        .post(
            "/v1/chat/completions",
            &key,
            chat("gemini-2.5-flash", "hi gemini stream", true),
        )
        .await;
    assert_eq!(
        openai_stream_text(&streamed.text().await.unwrap()),
        "Mock reply: hi gemini stream"
    );

    let received = app.received().await;
    assert_eq!(
        received[0]["path"],
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(
        received[0]["headers"]["x-goog-api-key"],
        format!("{PROVIDER_SECRET}-gemini")
    );
    assert_eq!(
        received[0]["body"]["systemInstruction"]["parts"][0]["text"],
        "be brief"
    );
    assert_eq!(
        received[1]["path"],
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    );
    assert_eq!(received[1]["query"], "alt=sse");
}

#[actix_web::test]
async fn upstream_failures_and_cut_streams_become_upstream_errors() {
    let app = TestApp::spawn().await;
    let key = app.key(Env::Dev).await;
    let configure = |behaviour: Value| {
        let client = app.client.clone();
        let url = format!("{}/__config", app.mock_url);
        async move { client.post(url).json(&behaviour).send().await.unwrap() }
    };

    configure(json!({"error_status": 503})).await;
    let response = app
        .post("/v1/chat/completions", &key, chat("gpt-4o", "x", false))
        .await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_error");
    assert!(
        !body.to_string().contains("mock upstream error mode"),
        "upstream body leaked: {body}"
    );

    configure(json!({"cut_after": 1})).await;
    let text = app
        .post(
            "/v1/chat/completions",
            &key,
            chat("gpt-4o", "a b c d e f g h i j", true),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(text.contains("\"upstream_error\""), "{text}");
    assert!(!text.contains("[DONE]"));
}

#[actix_web::test]
async fn bad_keys_are_refused_with_the_stable_codes() {
    let app = TestApp::spawn().await;
    let body = chat("gpt-4o", "x", false);

    let missing = app
        .client
        .post(format!("{}/v1/chat/completions", app.relay_url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    let typo = app
        .post(
            "/v1/chat/completions",
            "dev_notarealkeyatallnotarealkeyatall123456",
            body.clone(),
        )
        .await;
    assert_eq!(typo.status(), 401);
    let json: Value = typo.json().await.unwrap();
    assert_eq!(json["error"]["code"], "invalid_api_key");
    assert!(!json.to_string().contains("notarealkey"));

    // A well-formed key of another server (other pepper) is unknown here.
    let foreign = airlock_core::key::RelayKey::generate(Env::Prod, &mut rand::rngs::OsRng);
    let anthropic = app
        .client
        .post(format!("{}/v1/messages", app.relay_url))
        .header("x-api-key", foreign.expose())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(anthropic.status(), 401);
    let json: Value = anthropic.json().await.unwrap();
    assert_eq!(json["type"], "error");
    assert_eq!(json["error"]["type"], "authentication_error");
    assert!(
        app.received().await.is_empty(),
        "nothing may reach the provider"
    );
}

#[actix_web::test]
async fn malformed_bodies_are_400s_with_a_code() {
    let app = TestApp::spawn().await;
    let key = app.key(Env::Dev).await;
    for body in [
        "{",
        "[]",
        "{\"model\":5}",
        "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}",
    ] {
        let response = app
            .client
            .post(format!("{}/v1/chat/completions", app.relay_url))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let json: Value = response.json().await.unwrap();
        assert_eq!(json["error"]["code"], "invalid_request");
    }
    let huge = "x".repeat(5 * 1024 * 1024);
    let response = app
        .post("/v1/chat/completions", &key, chat("gpt-4o", &huge, false))
        .await;
    assert_eq!(response.status(), 413);
}

#[actix_web::test]
async fn a_revoked_key_is_refused_within_a_second() {
    let app = TestApp::spawn().await;
    let key = app.key(Env::Prod).await;
    assert_eq!(
        app.post("/v1/chat/completions", &key, chat("gpt-4o", "x", false))
            .await
            .status(),
        200
    );
    let prefix = airlock_core::key::RelayKey::parse(&key)
        .unwrap()
        .display_prefix();

    app.tenant.revoke(&prefix).await;
    let revoked_at = Instant::now();
    let mut status = 200;
    while revoked_at.elapsed() < Duration::from_secs(1) {
        let response = app
            .post("/v1/chat/completions", &key, chat("gpt-4o", "x", false))
            .await;
        status = response.status().as_u16();
        if status == 401 {
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "key_revoked");
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 401, "the revoked key still worked after 1 s");
}

#[actix_web::test]
async fn models_lists_what_the_key_may_use_and_health_endpoints_answer() {
    // Metrics on the relay's own port only when the operator opens them.
    let app = TestApp::spawn_with(airlock_relay::RelaySettings {
        metrics: airlock_relay::state::MetricsExposure::Public,
        ..airlock_relay::RelaySettings::default()
    })
    .await;
    let key = app.key(Env::Dev).await;
    let models: Value = app
        .client
        .get(format!("{}/v1/models", app.relay_url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"gpt-4o") && ids.contains(&"claude-sonnet-4-5"),
        "{ids:?}"
    );

    for path in ["/healthz", "/readyz"] {
        assert_eq!(
            app.client
                .get(format!("{}{path}", app.relay_url))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    app.post("/v1/chat/completions", &key, chat("gpt-4o", "x", false))
        .await;
    let metrics = app
        .client
        .get(format!("{}/metrics", app.relay_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "airlock_relay_requests_total{endpoint=\"chat_completions\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("airlock_relay_upstream_duration_seconds_bucket"));
}

#[actix_web::test]
async fn every_request_leaves_one_metadata_usage_record() {
    let mut app = TestApp::spawn().await;
    let key = app.key(Env::Ci).await;
    app.post(
        "/v1/chat/completions",
        &key,
        chat("gpt-4o", "count me in please", false),
    )
    .await;
    app.post(
        "/v1/chat/completions",
        &key,
        chat("gpt-4o", "and me as a stream", true),
    )
    .await
    .text()
    .await
    .unwrap();
    app.post("/v1/chat/completions", "ci_bad", chat("gpt-4o", "x", false))
        .await;
    app.stop().await;

    let mut records = usage_record::Entity::find()
        .all(&app.db.conn)
        .await
        .unwrap();
    records.sort_by_key(|r| r.created_at);
    assert_eq!(records.len(), 3);
    let ok = &records[0];
    assert_eq!(
        (ok.status_code, ok.provider.as_deref(), ok.model.as_deref()),
        (200, Some("openai"), Some("gpt-4o"))
    );
    assert_eq!(ok.env.map(|e| e.0), Some(Env::Ci));
    assert!(ok.input_tokens > 0 && ok.output_tokens > 0 && ok.cost_micros > 0);
    assert_eq!(ok.message_count, 2);
    assert!(ok.input_hash.as_deref().is_some_and(|h| h.len() == 64));
    assert!(records[1].streamed && records[1].output_tokens > 0 && records[1].error_code.is_none());
    assert_eq!(records[2].error_code.as_deref(), Some("invalid_api_key"));
    assert_eq!(records[2].tenant_id, None);
}
