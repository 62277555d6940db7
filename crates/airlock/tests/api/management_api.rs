//! The management API on a real server and database: personal API tokens, the
//! same permissions and tenant isolation as the pages, the relay's error shape,
//! the OpenAPI document generated from the handlers, and the relay obeying keys
//! made and revoked through the API.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use airlock_core::role::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::console::{Browser, Console, spawn_console, team};
use crate::helpers::{TestApp, TestDb};

/// A personal API token made on the account page.
pub(super) async fn token_of(browser: &mut Browser, name: &str) -> String {
    browser.get("/account/tokens").await;
    let posted = browser
        .post("/account/tokens", &[("name", name), ("days", "30")])
        .await;
    assert_eq!(posted.status, 303, "{}", posted.body);
    let page = browser.follow(posted).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let start = page.body.find(r#"<code id="new-token">"#).unwrap() + 21;
    let rest = &page.body[start..];
    rest[..rest.find('<').unwrap()].to_owned()
}

pub(super) struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    pub(super) fn new(console: &Console) -> Api {
        Api {
            base: console.url.clone(),
            client: reqwest::Client::new(),
        }
    }

    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }
}

#[actix_web::test]
async fn tokens_authenticate_die_with_revocation_and_never_show_twice() {
    let db = TestDb::new().await;
    let console = spawn_console(&db.conn).await;
    let api = Api::new(&console);
    let mut team = team(&db, &console).await;
    let owner = team.get_mut(&Role::Owner).unwrap();
    let token = token_of(owner, "ci-job").await;
    assert!(token.starts_with("alk_") && token.len() == 68);
    let page = owner.get("/account/tokens").await;
    assert!(
        page.body.contains("ci-job") && !page.body.contains(&token),
        "shown once"
    );

    let (status, body) = api.get("/api/v1/tenants", &token).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!([{"slug": "acme", "name": "Acme", "role": "owner"}])
    );

    // No token, a made-up one, a session cookie instead: the relay's 401.
    for token in [
        None,
        Some("alk_nope"),
        Some(&*format!("alk_{}", "0".repeat(64))),
    ] {
        let (status, body) = api.call(Method::GET, "/api/v1/tenants", token, None).await;
        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], "invalid_api_key");
        assert_eq!(body["error"]["type"], "authentication_error");
    }
    let with_cookie = reqwest::Client::new()
        .get(format!("{}/api/v1/tenants", console.url))
        .header(
            "cookie",
            format!("airlock_session={}", owner.session_cookie()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(with_cookie.status(), 401, "the API takes no session cookie");

    // Revoked on the account page: dead at once.
    let page = owner.get("/account/tokens").await;
    let start = page.body.find("action=\"/account/tokens/").unwrap() + 24;
    let id = &page.body[start..start + 36];
    owner
        .post(&format!("/account/tokens/{id}/revoke"), &[])
        .await;
    assert_eq!(api.get("/api/v1/tenants", &token).await.0, 401);

    // Someone else's token id is not theirs to revoke.
    let other = token_of(team.get_mut(&Role::Viewer).unwrap(), "mine").await;
    let viewer = team.get_mut(&Role::Viewer).unwrap();
    let page = viewer.get("/account/tokens").await;
    let start = page.body.find("action=\"/account/tokens/").unwrap() + 24;
    let viewer_token_id = page.body[start..start + 36].to_owned();
    let owner = team.get_mut(&Role::Owner).unwrap();
    owner.get("/account/tokens").await;
    let denied = owner
        .post(&format!("/account/tokens/{viewer_token_id}/revoke"), &[])
        .await;
    assert_eq!(denied.status, 404);
    assert_eq!(api.get("/api/v1/tenants", &other).await.0, 200);
}

#[actix_web::test]
async fn the_api_enforces_the_same_matrix_and_answers_in_the_relays_shape() {
    let db = TestDb::new().await;
    let console = spawn_console(&db.conn).await;
    let api = Api::new(&console);
    let mut team = team(&db, &console).await;
    let mut tokens = HashMap::new();
    for role in Role::ALL {
        tokens.insert(role, token_of(team.get_mut(&role).unwrap(), "t").await);
    }
    let owner = &tokens[&Role::Owner];
    let (status, created) = api
        .call(
            Method::POST,
            "/api/v1/tenants/acme/keys",
            Some(owner),
            Some(json!({"env": "prod", "name": "api-made"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert!(created["key"].as_str().unwrap().starts_with("prod_"));
    let key_id = created["details"]["id"].as_str().unwrap().to_owned();

    let provider = json!({"kind": "openai", "api_key": "sk-api-secret-9876"});
    let policy = json!({"allowed_providers": [], "pii": "redact", "secrets": "block", "injection": "flag", "output": "flag"});
    let writes: Vec<(Method, String, Value)> = vec![
        (
            Method::PUT,
            "/api/v1/tenants/acme/providers/openai".into(),
            provider,
        ),
        (
            Method::PUT,
            "/api/v1/tenants/acme/agreements/openai".into(),
            json!({"dpa_signed_on": "2026-01-01", "zero_data_retention": true}),
        ),
        (
            Method::PUT,
            "/api/v1/tenants/acme/policies/internal".into(),
            policy,
        ),
        (
            Method::PUT,
            "/api/v1/tenants/acme/budgets/dev".into(),
            json!({"rpm_limit": 12, "monthly_budget_micros": 5_000_000, "max_key_age_days": 90}),
        ),
        (
            Method::PUT,
            "/api/v1/tenants/acme/limits".into(),
            json!({"rpm_limit": 1000}),
        ),
        (
            Method::PUT,
            format!("/api/v1/tenants/acme/keys/{key_id}/limits"),
            json!({"rpm_limit": 30, "max_data_class": "internal", "default_data_class": "internal"}),
        ),
    ];
    for role in Role::ALL {
        let manages = matches!(role, Role::Owner | Role::Admin);
        for (method, path, body) in &writes {
            let (status, answer) = api
                .call(
                    method.clone(),
                    path,
                    Some(&tokens[&role]),
                    Some(body.clone()),
                )
                .await;
            if manages {
                assert!(
                    status == 200 || status == 204,
                    "{role} {method} {path}: {status} {answer}"
                );
            } else {
                assert_eq!(status, 403, "{role} {method} {path}");
                assert_eq!(answer["error"]["code"], "forbidden");
                assert_eq!(answer["error"]["type"], "permission_error");
            }
        }
        let (status, _) = api
            .get("/api/v1/tenants/acme/providers", &tokens[&role])
            .await;
        assert_eq!(
            status,
            if role == Role::Finance { 403 } else { 200 },
            "{role} reading providers"
        );
        let (status, _) = api.get("/api/v1/tenants/acme/usage", &tokens[&role]).await;
        assert_eq!(status, 200, "{role} reading usage");
    }

    // What came back: the credential only by its last 4, the preview, the key's limits.
    let (_, providers) = api.get("/api/v1/tenants/acme/providers", owner).await;
    assert_eq!(providers["providers"][0]["last4"], "9876");
    assert!(!providers.to_string().contains("sk-api-secret"));
    let (_, policies) = api.get("/api/v1/tenants/acme/policies", owner).await;
    let openai = policies["preview"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["provider"] == "openai")
        .unwrap();
    let confidential = openai["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["class"] == "confidential")
        .unwrap();
    assert_eq!(confidential["allowed"], true, "{policies}");
    let (_, keys) = api.get("/api/v1/tenants/acme/keys?env=prod", owner).await;
    assert_eq!(keys["keys"][0]["rpm_limit"], 30);
    assert!(keys["keys"][0].get("key_hash").is_none());

    // Bad input: 400 with the field named, in the same shape.
    for (method, path, body, says) in [
        (
            Method::POST,
            "/api/v1/tenants/acme/keys",
            json!({"env": "qa", "name": "x"}),
            "env is dev, stg, prod or ci",
        ),
        (
            Method::POST,
            "/api/v1/tenants/acme/keys",
            json!({"name": 5}),
            "the JSON body is not valid",
        ),
        (
            Method::PUT,
            "/api/v1/tenants/acme/budgets/dev",
            json!({"rpm_limit": 0, "monthly_budget_micros": 1, "max_key_age_days": 1}),
            "rpm must be between",
        ),
        (
            Method::PUT,
            "/api/v1/tenants/acme/policies/internal",
            json!({"pii": "shred", "secrets": "block", "injection": "off", "output": "off"}),
            "shred",
        ),
    ] {
        let (status, answer) = api.call(method, path, Some(owner), Some(body)).await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_request");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
    let (status, answer) = api
        .get(
            "/api/v1/tenants/acme/usage?from=2026-02-01&to=2026-01-01",
            owner,
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = api.get("/api/v1/tenants/acme/nothing-here", owner).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
}

#[actix_web::test]
async fn no_api_route_reaches_another_tenants_data() {
    let db = TestDb::new().await;
    let console = spawn_console(&db.conn).await;
    let api = Api::new(&console);
    let mut b_owner = Browser::new(&console);
    b_owner.sign_up("owner@b.test").await;
    b_owner.get("/tenants").await;
    b_owner
        .post("/tenants", &[("name", "B"), ("slug", "tenant-b")])
        .await;
    let b_token = token_of(&mut b_owner, "b").await;
    let (_, created) = api
        .call(
            Method::POST,
            "/api/v1/tenants/tenant-b/keys",
            Some(&b_token),
            Some(json!({"env": "dev", "name": "b-key"})),
        )
        .await;
    let b_key = created["details"]["id"].as_str().unwrap().to_owned();
    api.call(
        Method::PUT,
        "/api/v1/tenants/tenant-b/providers/b-provider",
        Some(&b_token),
        Some(json!({"kind": "mock"})),
    )
    .await;
    let (_, route) = api
        .call(
            Method::POST,
            "/api/v1/tenants/tenant-b/routes",
            Some(&b_token),
            Some(json!({"model": "b-model", "provider": "b-provider"})),
        )
        .await;
    let b_route = route["id"].as_str().unwrap().to_owned();
    let b_user = crate::helpers::user_by_email(&db.conn, "owner@b.test")
        .await
        .id
        .to_string();

    let mut a_admin = Browser::new(&console);
    a_admin.sign_up("admin@a.test").await;
    a_admin.get("/tenants").await;
    a_admin
        .post("/tenants", &[("name", "A"), ("slug", "tenant-a")])
        .await;
    let a_token = token_of(&mut a_admin, "a").await;

    let body = json!({
        "env": "dev", "name": "x", "kind": "mock", "enabled": false, "role": "viewer", "email": "x@a.test",
        "model": "m", "provider": "b-provider", "rpm_limit": 1, "monthly_budget_micros": 1,
        "max_key_age_days": 1, "max_data_class": "internal", "default_data_class": "internal",
        "pii": "allow", "secrets": "allow", "injection": "off", "output": "off",
        "input_per_mtok_micros": 1, "output_per_mtok_micros": 1,
    });
    let mut swept = 0;
    for (method, route) in airlock_console::web::API_ROUTES {
        if !route.contains("{slug}") {
            assert_eq!(
                *route, "/api/v1/tenants",
                "{method} {route} takes no tenant"
            );
            continue;
        }
        let names_b_row = ["{key_id}", "{route_id}", "{user_id}"]
            .iter()
            .any(|id| route.contains(id));
        for slug in ["tenant-b", "tenant-a"] {
            if slug == "tenant-a" && !names_b_row {
                continue;
            }
            let path = route
                .replace("{slug}", slug)
                .replace("{key_id}", &b_key)
                .replace("{route_id}", &b_route)
                .replace("{user_id}", &b_user)
                .replace("{env}", "dev")
                .replace("{class}", "internal")
                .replace("{name}", "b-provider")
                .replace("{provider}", "b-provider")
                .replace("{model}", "b-model");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (status, answer) = api
                .call(method.clone(), &path, Some(&a_token), Some(body.clone()))
                .await;
            assert!(
                status == 403 || status == 404,
                "{method} {path} answered {status}: {answer}"
            );
            for secret in ["b-key", "b-model", "owner@b.test"] {
                assert!(
                    !answer.to_string().contains(secret),
                    "{method} {path} leaked {secret}"
                );
            }
        }
        swept += 1;
    }
    assert!(swept >= 20, "the sweep covered only {swept} API routes");
    let (_, keys) = api
        .get("/api/v1/tenants/tenant-b/keys?env=dev", &b_token)
        .await;
    assert_eq!(keys["keys"][0]["status"], "active");
    let (_, providers) = api
        .get("/api/v1/tenants/tenant-b/providers", &b_token)
        .await;
    assert_eq!(providers["routes"][0]["model"], "b-model");
}

#[actix_web::test]
async fn the_openapi_document_describes_every_route() {
    let db = TestDb::new().await;
    let console = spawn_console(&db.conn).await;
    let response = reqwest::get(format!("{}/api/openapi.json", console.url))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for (method, route) in airlock_console::web::API_ROUTES {
        let operation = &doc["paths"][route][method];
        assert!(
            operation.is_object(),
            "{method} {route} is missing from the OpenAPI document"
        );
        assert!(operation["responses"].is_object());
    }
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(
        documented,
        airlock_console::web::API_ROUTES.len(),
        "documented routes that do not exist"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["api_token"]["scheme"],
        "bearer"
    );
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
}

#[actix_web::test]
async fn keys_made_through_the_api_work_on_the_relay_and_usage_follows() {
    let app = TestApp::spawn().await;
    let console = spawn_console(&app.db.conn).await;
    let api = Api::new(&console);
    let mut admin = Browser::new(&console);
    admin.sign_up("automation@example.com").await;
    app.tenant
        .member("automation@example.com", Role::Admin)
        .await;
    let token = token_of(&mut admin, "deploy").await;

    let (status, created) = api
        .call(
            Method::POST,
            "/api/v1/tenants/acme/keys",
            Some(&token),
            Some(json!({"env": "ci", "name": "pipeline"})),
        )
        .await;
    assert_eq!(status, 201);
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["details"]["id"].as_str().unwrap().to_owned();
    let chat = json!({"model": "mock", "messages": [{"role": "user", "content": "hi"}]});
    let wait_for = |want: u16| {
        let (app, key, chat) = (&app, key.clone(), chat.clone());
        async move {
            let started = Instant::now();
            loop {
                let got = app
                    .post("/v1/chat/completions", &key, chat.clone())
                    .await
                    .status()
                    .as_u16();
                if got == want {
                    return;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(2),
                    "still {got}, wanted {want}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    wait_for(200).await;

    // Usage shows up (records are written in the background).
    let started = Instant::now();
    loop {
        let (_, usage) = api
            .get("/api/v1/tenants/acme/usage?env=ci&group=model", &token)
            .await;
        let mock = usage["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["group"]["value"] == "mock");
        if let Some(line) = mock {
            assert!(line["totals"]["requests"].as_i64().unwrap() >= 1);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no usage: {usage}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Finance's page shows the same summary.
    let page = admin.get("/t/acme/usage?group=env").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(r#"<table id="usage">"#) && page.body.contains("<td>ci</td>"));
    let bad = admin.get("/t/acme/usage?from=2026-13-01").await;
    assert_eq!(bad.status, 400);

    let (status, revoked) = api
        .call(
            Method::POST,
            &format!("/api/v1/tenants/acme/keys/{id}/revoke"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(revoked["status"], "revoked");
    wait_for(401).await;
    let page = admin.get("/t/acme/audit").await;
    assert!(
        page.body.contains("(API token alk_"),
        "the audit log names the token"
    );
}
