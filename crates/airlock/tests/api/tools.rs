//! Tool calls and images across both front-ends and every provider shape: what
//! the provider received (`mock-upstream`'s record) and what the app got back.
//! Placeholders never leave in a tool turn and come back inside tool arguments.

use airlock_core::key::Env;
use serde_json::{Value, json};

use crate::helpers::TestApp;

const EMAIL: &str = "maria.lopez@example.com";
const PHONE: &str = "+44 20 7946 0958";
const OPENAI_KEY: &str = "sk-proj-Zx8Qm2Lr9Tb4Vn7Kp1Ws6Yd3Hc5Jf0Ga";
const PNG: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/x8AAwMCAO+ip1sAAAAASUVORK5CYII=";

/// An OpenAI-shaped conversation with a finished tool round and PII in every turn.
fn openai_tool_request(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "stream": stream,
        "tools": [{"type": "function", "function": {"name": "send_email", "description": "Send an e-mail",
                   "parameters": {"type": "object", "properties": {"echo": {"type": "string"}}}}}],
        "tool_choice": "auto",
        "messages": [
            {"role": "user", "content": format!("Look up {EMAIL}")},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "lookup", "arguments": format!("{{\"phone\": \"{PHONE}\"}}")}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": format!("found {EMAIL}, key {OPENAI_KEY}")},
            {"role": "user", "content": format!("now write to {EMAIL}")},
        ],
    })
}

/// The same conversation in Anthropic's shape.
fn anthropic_tool_request(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "max_tokens": 256,
        "stream": stream,
        "tools": [{"name": "send_email", "description": "Send an e-mail",
                   "input_schema": {"type": "object", "properties": {"echo": {"type": "string"}}}}],
        "tool_choice": {"type": "auto"},
        "messages": [
            {"role": "user", "content": format!("Look up {EMAIL}")},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Looking."},
                {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"phone": PHONE}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": format!("found {EMAIL}, key {OPENAI_KEY}")},
                {"type": "text", "text": format!("now write to {EMAIL}")}]},
        ],
    })
}

fn data_lines(body: &str) -> impl Iterator<Item = Value> + '_ {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
}

/// Name and joined arguments of the first tool call in an OpenAI SSE body.
fn openai_streamed_call(body: &str) -> (String, String) {
    let (mut name, mut arguments) = (String::new(), String::new());
    for chunk in data_lines(body) {
        for call in chunk["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            name.push_str(call["function"]["name"].as_str().unwrap_or_default());
            arguments.push_str(call["function"]["arguments"].as_str().unwrap_or_default());
        }
    }
    (name, arguments)
}

/// Name and joined `partial_json` of the first `tool_use` block in an Anthropic SSE body.
fn anthropic_streamed_call(body: &str) -> (String, String) {
    let (mut name, mut arguments) = (String::new(), String::new());
    for event in data_lines(body) {
        match event["type"].as_str() {
            Some("content_block_start") if event["content_block"]["type"] == "tool_use" => {
                name.push_str(event["content_block"]["name"].as_str().unwrap_or_default());
            }
            Some("content_block_delta") if event["delta"]["type"] == "input_json_delta" => {
                arguments.push_str(event["delta"]["partial_json"].as_str().unwrap_or_default());
            }
            _ => {}
        }
    }
    (name, arguments)
}

fn assert_nothing_leaked(received: &[Value]) {
    let all = Value::from(received.to_vec()).to_string();
    for value in [EMAIL, PHONE, OPENAI_KEY] {
        assert!(!all.contains(value), "{value} reached the provider: {all}");
    }
}

/// What the provider was sent for the earlier tool round, in its own shape.
fn assert_tool_round_sent(model: &str, sent: &Value) {
    if model.starts_with("claude") {
        assert_eq!(sent["tools"][0]["name"], "send_email");
        assert_eq!(sent["tool_choice"]["type"], "auto");
        let assistant = sent["messages"][1]["content"].as_array().unwrap();
        let tool_use = assistant.iter().find(|b| b["type"] == "tool_use").unwrap();
        assert_eq!(tool_use["input"]["phone"], "[PHONE_1]");
        let result = &sent["messages"][2]["content"][0];
        assert_eq!(result["type"], "tool_result");
        assert_eq!(result["content"], "found [EMAIL_1], key [OPENAI_KEY_1]");
    } else if model.starts_with("gemini") {
        assert_eq!(
            sent["tools"][0]["functionDeclarations"][0]["name"],
            "send_email"
        );
        assert_eq!(sent["toolConfig"]["functionCallingConfig"]["mode"], "AUTO");
        let call = &sent["contents"][1]["parts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p.get("functionCall").is_some())
            .unwrap()["functionCall"];
        assert_eq!(call["args"]["phone"], "[PHONE_1]");
        let response = &sent["contents"][2]["parts"][0]["functionResponse"];
        assert_eq!(response["name"], "lookup");
        assert_eq!(
            response["response"]["result"],
            "found [EMAIL_1], key [OPENAI_KEY_1]"
        );
    } else {
        assert_eq!(sent["tools"][0]["function"]["name"], "send_email");
        let call = &sent["messages"][1]["tool_calls"][0];
        let arguments: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(arguments["phone"], "[PHONE_1]");
        let result = sent["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["role"] == "tool")
            .unwrap();
        assert_eq!(result["content"], "found [EMAIL_1], key [OPENAI_KEY_1]");
    }
}

#[actix_web::test]
async fn openai_shaped_tool_calls_reach_every_provider_shape_and_come_back_restored() {
    let app = TestApp::spawn().await;
    let key = app.key(Env::Dev).await;
    let expected_echo = format!("Mock reply: now write to {EMAIL}");
    for model in ["gpt-4o", "claude-sonnet-4-5", "gemini-2.5-flash"] {
        // Answered whole.
        app.clear_received().await;
        app.mock_behaviour(json!({"tool_call": "send_email"})).await;
        let response = app
            .post(
                "/v1/chat/completions",
                &key,
                openai_tool_request(model, false),
            )
            .await;
        assert_eq!(response.status(), 200, "{model}");
        assert_eq!(
            response.headers()["x-airlock-redactions"],
            "email=3, phone=1, openai_key=1",
            "{model}"
        );
        let body: Value = response.json().await.unwrap();
        let choice = &body["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls", "{model}: {body}");
        let call = &choice["message"]["tool_calls"][0];
        assert_eq!(call["function"]["name"], "send_email", "{model}");
        assert!(call["id"].as_str().is_some_and(|id| !id.is_empty()));
        let arguments: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(arguments["echo"], expected_echo, "{model}");
        let received = app.received().await;
        assert_tool_round_sent(model, &received[0]["body"]);
        assert_nothing_leaked(&received);

        // Streamed, in 3-byte pieces that split placeholders inside the arguments.
        app.mock_behaviour(json!({"tool_call": "send_email", "chunk_bytes": 3}))
            .await;
        let body = app
            .post(
                "/v1/chat/completions",
                &key,
                openai_tool_request(model, true),
            )
            .await
            .text()
            .await
            .unwrap();
        let (name, arguments) = openai_streamed_call(&body);
        assert_eq!(name, "send_email", "{model}: {body}");
        let arguments: Value = serde_json::from_str(&arguments).unwrap();
        assert_eq!(arguments["echo"], expected_echo, "{model}");
        assert!(body.contains("\"finish_reason\":\"tool_calls\""), "{model}");
        assert_nothing_leaked(&app.received().await);
    }
}

#[actix_web::test]
async fn the_anthropic_endpoint_speaks_tool_use_and_tool_result_to_every_provider() {
    let app = TestApp::spawn().await;
    let key = app.key(Env::Dev).await;
    let expected_echo = format!("Mock reply: now write to {EMAIL}");
    for model in ["claude-sonnet-4-5", "gpt-4o", "gemini-2.5-flash"] {
        app.clear_received().await;
        app.mock_behaviour(json!({"tool_call": "send_email"})).await;
        let response = app
            .post("/v1/messages", &key, anthropic_tool_request(model, false))
            .await;
        assert_eq!(response.status(), 200, "{model}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["stop_reason"], "tool_use", "{model}: {body}");
        let tool_use = body["content"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "tool_use")
            .unwrap();
        assert_eq!(tool_use["name"], "send_email");
        assert_eq!(tool_use["input"]["echo"], expected_echo, "{model}");
        let received = app.received().await;
        assert_tool_round_sent(model, &received[0]["body"]);
        assert_nothing_leaked(&received);

        app.mock_behaviour(json!({"tool_call": "send_email", "chunk_bytes": 3}))
            .await;
        let body = app
            .post("/v1/messages", &key, anthropic_tool_request(model, true))
            .await
            .text()
            .await
            .unwrap();
        let (name, arguments) = anthropic_streamed_call(&body);
        assert_eq!(name, "send_email", "{model}: {body}");
        let arguments: Value = serde_json::from_str(&arguments).unwrap();
        assert_eq!(arguments["echo"], expected_echo, "{model}");
        assert!(body.contains("\"stop_reason\":\"tool_use\""), "{model}");
        assert_nothing_leaked(&app.received().await);
    }
}

#[actix_web::test]
async fn bad_tool_shapes_are_clear_400s_and_nothing_is_sent() {
    let app = TestApp::spawn().await;
    let key = app.key(Env::Dev).await;
    let mut server_tool = anthropic_tool_request("claude-sonnet-4-5", false);
    server_tool["tools"] = json!([{"type": "web_search_20250305", "name": "web_search"}]);
    let mut bad_choice = anthropic_tool_request("claude-sonnet-4-5", false);
    bad_choice["tool_choice"] = json!({"type": "tool"});
    let mut misplaced = anthropic_tool_request("claude-sonnet-4-5", false);
    misplaced["messages"][0]["content"] =
        json!([{"type": "tool_use", "id": "t", "name": "x", "input": {}}]);
    let mut missing_field = anthropic_tool_request("claude-sonnet-4-5", false);
    missing_field["messages"][2]["content"][0]
        .as_object_mut()
        .unwrap()
        .remove("tool_use_id");
    let mut unknown_call = openai_tool_request("gemini-2.5-flash", false);
    unknown_call["messages"][2]["tool_call_id"] = json!("call_never_made");
    for (path, body, expected) in [
        ("/v1/messages", server_tool, "server tools"),
        ("/v1/messages", bad_choice, "tool_choice"),
        ("/v1/messages", misplaced, "assistant turns"),
        ("/v1/messages", missing_field, "tool_use_id"),
        (
            "/v1/chat/completions",
            unknown_call,
            "not in the conversation",
        ),
    ] {
        let response = app.post(path, &key, body).await;
        assert_eq!(response.status(), 400, "{expected}");
        let body: Value = response.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{expected}: {body}");
    }
    assert!(app.received().await.is_empty());
}

#[actix_web::test]
async fn image_parts_are_passed_on_in_each_provider_shape_and_counted() {
    let app = TestApp::spawn().await;
    let key = app.key(Env::Dev).await;
    let openai_images = |model: &str| {
        json!({"model": model, "messages": [{"role": "user", "content": [
            {"type": "text", "text": format!("who is {EMAIL}?")},
            {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]})
    };

    let response = app
        .post("/v1/chat/completions", &key, openai_images("gpt-4o"))
        .await;
    assert_eq!(response.status(), 200);
    let response = app
        .post(
            "/v1/chat/completions",
            &key,
            openai_images("claude-sonnet-4-5"),
        )
        .await;
    assert_eq!(response.status(), 200);
    let anthropic_front = json!({"model": "gpt-4o", "max_tokens": 64, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png",
            "data": PNG.split_once(',').unwrap().1}},
        {"type": "text", "text": "describe"}]}]});
    let response = app.post("/v1/messages", &key, anthropic_front).await;
    assert_eq!(response.status(), 200);
    let mut gemini = openai_images("gemini-2.5-flash");
    gemini["messages"][0]["content"]
        .as_array_mut()
        .unwrap()
        .truncate(2);
    let response = app.post("/v1/chat/completions", &key, gemini).await;
    assert_eq!(response.status(), 200);

    let received = app.received().await;
    assert_eq!(received.len(), 4);
    // OpenAI: the parts as sent, the text redacted.
    let parts = received[0]["body"]["messages"][0]["content"]
        .as_array()
        .unwrap();
    assert_eq!(parts[0]["text"], "who is [EMAIL_1]?");
    assert_eq!(parts[1]["image_url"]["url"], PNG);
    assert_eq!(parts[1]["image_url"]["detail"], "low");
    assert_eq!(parts[2]["image_url"]["url"], "https://example.com/cat.png");
    // Anthropic: image blocks with a base64 and a URL source.
    let blocks = received[1]["body"]["messages"][0]["content"]
        .as_array()
        .unwrap();
    assert_eq!(blocks[1]["source"]["type"], "base64");
    assert_eq!(blocks[1]["source"]["media_type"], "image/png");
    assert_eq!(blocks[2]["source"]["url"], "https://example.com/cat.png");
    // The Anthropic front's image reached an OpenAI provider as a data URL.
    assert_eq!(
        received[2]["body"]["messages"][0]["content"][1]["image_url"]["url"],
        PNG
    );
    // Gemini: inline data.
    assert_eq!(
        received[3]["body"]["contents"][0]["parts"][1]["inlineData"]["mimeType"],
        "image/png"
    );
    assert_nothing_leaked(&received);

    let records = app.usage_records().await;
    let images: Vec<i32> = records.iter().map(|r| r.input_images).collect();
    assert_eq!(images, [2, 2, 1, 1]);

    // Refused before anything is sent: an image URL to Gemini, too many images,
    // an image type no provider takes.
    app.clear_received().await;
    let too_many: Vec<Value> = (0..21)
        .map(|_| json!({"type": "image_url", "image_url": {"url": PNG}}))
        .collect();
    for (body, expected) in [
        (openai_images("gemini-2.5-flash"), "inline"),
        (
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": too_many}]}),
            "too many images",
        ),
        (
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "data:image/svg+xml;base64,PHN2Zz4="}}]}]}),
            "images must be one of",
        ),
    ] {
        let response = app.post("/v1/chat/completions", &key, body).await;
        assert_eq!(response.status(), 400, "{expected}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_request");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(expected),
            "{expected}: {body}"
        );
    }
    assert!(app.received().await.is_empty());
}
