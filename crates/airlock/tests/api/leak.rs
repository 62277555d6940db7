use airlock_core::key::Env;
use serde_json::json;

use crate::helpers::*;

/// After traffic whose prompts and completions carry canaries, nothing of them,
/// no relay key and no provider key is anywhere in the database.
#[actix_web::test]
async fn no_prompt_completion_relay_key_or_provider_key_is_stored() {
    let mut app = TestApp::spawn().await;
    let key = app.key(Env::Dev).await;
    let canary = "CANARY-PROMPT-7f3a9e";
    for (model, stream) in [
        ("gpt-4o", false),
        ("gpt-4o", true),
        ("claude-sonnet-4-5", true),
        ("gemini-2.5-pro", false),
        ("mock-1", false),
    ] {
        let response = app.post("/v1/chat/completions", &key, json!({
            "model": model, "stream": stream,
            "messages": [{"role": "system", "content": format!("system {canary}")}, {"role": "user", "content": format!("user {canary}")}]
        })).await;
        let text = response.text().await.unwrap();
        assert!(
            text.contains(canary),
            "the completion must echo the canary for this test to mean anything"
        );
    }
    app.stop().await;

    let dump = app.db.dump().await;
    assert!(
        dump.contains("relay_keys") || dump.len() > 1000,
        "the dump must see the data"
    );
    assert!(
        !dump.contains(canary),
        "prompt/completion text reached the database"
    );
    assert!(!dump.contains(&key), "a relay key is stored in clear");
    assert!(
        !dump.contains(&key[4..20]),
        "part of a relay key's secret is stored in clear"
    );
    assert!(
        !dump.contains(PROVIDER_SECRET),
        "a provider key is stored in clear"
    );
}
