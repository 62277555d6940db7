//! The console's configuration pages on a real server and database: providers,
//! routes, agreements, policies with their preview, budgets and key limits; who
//! may change them; what is never shown; and the relay obeying each change.

use std::time::{Duration, Instant};

use airlock_core::role::Role;
use airlock_schema::entities::{audit_event, provider_credential};
use chrono::Utc;
use sea_orm::EntityTrait;
use serde_json::json;

use crate::console::{Browser, Page, create_key, key_ids, shown_key, spawn_console, team};
use crate::helpers::{TestApp, TestDb, user_by_email};

/// The text of the preview cell of `provider` × `class`.
fn preview_cell(page: &Page, provider: &str, class: &str) -> String {
    let row_start = page
        .body
        .find(&format!(r#"<tr data-provider="{provider}">"#))
        .unwrap_or_else(|| panic!("no preview row for {provider}"));
    let row = &page.body[row_start..];
    let row = &row[..row.find("</tr>").unwrap()];
    let cell = &row[row.find(&format!(r#"data-class="{class}">"#)).unwrap()..];
    cell[cell.find('>').unwrap() + 1..cell.find("</td>").unwrap()].to_owned()
}

async fn owner_of_new_tenant(console: &crate::console::Console, slug: &str) -> Browser {
    let mut owner = Browser::new(console);
    owner.sign_up(&format!("owner@{slug}.test")).await;
    owner.get("/tenants").await;
    owner
        .post("/tenants", &[("name", slug), ("slug", slug)])
        .await;
    owner
}

#[actix_web::test]
async fn credentials_show_only_their_last_four_characters_anywhere() {
    let db = TestDb::new().await;
    let console = spawn_console(&db.conn).await;
    let mut owner = owner_of_new_tenant(&console, "creds").await;
    let secret = "sk-live-THIS-MUST-NOT-LEAK-9f3a";

    let page = owner.get("/t/creds/providers").await;
    assert!(page.body.contains("No provider yet"), "empty state");
    let saved = owner
        .post(
            "/t/creds/providers",
            &[
                ("name", "deepseek"),
                ("kind", "openai"),
                ("base_url", "https://api.deepseek.com/v1"),
                ("api_key", secret),
            ],
        )
        .await;
    assert_eq!(saved.status, 303);
    let page = owner.get("/t/creds/providers?saved=1").await;
    assert!(page.body.contains("••••9f3a"), "{}", page.body);
    assert!(page.body.contains("https://api.deepseek.com/v1"));
    assert!(
        page.body.contains("default"),
        "the first provider is the default"
    );
    assert!(!page.body.contains(secret) && !page.body.contains("THIS-MUST"));

    // Replacing the key (rotation) keeps one row and shows the new last 4.
    owner
        .post(
            "/t/creds/providers",
            &[
                ("name", "deepseek"),
                ("kind", "openai"),
                ("base_url", "https://api.deepseek.com/v1"),
                ("api_key", "sk-rotated-7777"),
            ],
        )
        .await;
    let page = owner.get("/t/creds/providers").await;
    assert!(page.body.contains("••••7777") && !page.body.contains("••••9f3a"));

    // Neither the stored row nor the audit log holds the key in clear.
    let rows = provider_credential::Entity::find()
        .all(&db.conn)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let sealed = rows[0].ciphertext.clone().unwrap();
    assert!(!sealed.windows(4).any(|w| w == b"7777"));
    let events = audit_event::Entity::find().all(&db.conn).await.unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"provider.create") && actions.contains(&"provider.replace"));
    for event in &events {
        let text = format!("{:?} {:?}", event.before, event.after);
        assert!(!text.contains("THIS-MUST") && !text.contains("sk-rotated"));
    }

    // Bad input: a clear message next to the form, what was typed kept, no key echoed.
    let bad = owner
        .post(
            "/t/creds/providers",
            &[
                ("name", "Bad Name!"),
                ("kind", "openai"),
                ("api_key", secret),
            ],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("a provider name is 2–40 characters"));
    assert!(!bad.body.contains(secret));
    let bad = owner
        .post(
            "/t/creds/providers",
            &[("name", "claude"), ("kind", "anthropic")],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("needs an API key"));
    assert!(bad.body.contains(r#"value="claude""#), "the name is kept");
    let bad = owner
        .post("/t/creds/providers", &[("name", "x1"), ("kind", "azure")])
        .await;
    assert_eq!(bad.status, 400);

    // Routes name a provider of the tenant.
    let route = owner
        .post(
            "/t/creds/routes",
            &[("model", "gpt-4o"), ("provider", "nope")],
        )
        .await;
    assert_eq!(route.status, 400);
    assert!(route.body.contains("the tenant has no provider `nope`"));
    let route = owner
        .post(
            "/t/creds/routes",
            &[
                ("model", "gpt-4o"),
                ("provider", "deepseek"),
                ("upstream_model", "deepseek-chat"),
            ],
        )
        .await;
    assert_eq!(route.status, 303);
    let page = owner.get("/t/creds/providers").await;
    assert!(page.body.contains(r#"data-route="gpt-4o""#) && page.body.contains("deepseek-chat"));
}

#[actix_web::test]
async fn the_preview_follows_agreements_and_policies() {
    let db = TestDb::new().await;
    let console = spawn_console(&db.conn).await;
    let mut owner = owner_of_new_tenant(&console, "prev").await;
    owner.get("/t/prev/providers").await;
    owner
        .post(
            "/t/prev/providers",
            &[
                ("name", "openai"),
                ("kind", "openai"),
                ("api_key", "sk-1234"),
            ],
        )
        .await;
    owner
        .post("/t/prev/providers", &[("name", "local"), ("kind", "mock")])
        .await;

    // Default policies: internal needs a DPA; the mock runs in-process (self-hosted).
    let page = owner.get("/t/prev/policies").await;
    assert!(preview_cell(&page, "openai", "public").contains("allowed"));
    assert!(preview_cell(&page, "openai", "internal").contains("missing DPA"));
    assert!(preview_cell(&page, "openai", "restricted").contains("not self-hosted"));
    assert!(preview_cell(&page, "local", "restricted").contains("allowed"));

    // A DPA signed yesterday: internal may go; confidential still needs ZDR.
    let yesterday = (Utc::now().date_naive() - chrono::Days::new(1)).to_string();
    let saved = owner
        .post(
            "/t/prev/agreements",
            &[
                ("provider", "openai"),
                ("dpa_signed_on", &yesterday),
                ("dpa_reference", "MSA-2026-17"),
                ("region", "eu"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303);
    let page = owner.get("/t/prev/policies").await;
    assert!(preview_cell(&page, "openai", "internal").contains("allowed"));
    assert!(preview_cell(&page, "openai", "confidential").contains("missing zero data retention"));
    let agreements = owner.get("/t/prev/agreements").await;
    assert!(agreements.body.contains("MSA-2026-17"));

    // Soon-expiring and expired agreements are flagged; an expired one counts as none.
    let soon = (Utc::now().date_naive() + chrono::Days::new(10)).to_string();
    owner
        .post(
            "/t/prev/agreements",
            &[
                ("provider", "openai"),
                ("dpa_signed_on", &yesterday),
                ("expires_on", &soon),
                ("zero_data_retention", "on"),
            ],
        )
        .await;
    let agreements = owner.get("/t/prev/agreements").await;
    assert!(agreements.body.contains("expires soon"));
    let page = owner.get("/t/prev/policies").await;
    assert!(preview_cell(&page, "openai", "confidential").contains("allowed"));
    let bad = owner
        .post(
            "/t/prev/agreements",
            &[
                ("provider", "openai"),
                ("dpa_signed_on", &yesterday),
                ("expires_on", "2020-01-01"),
            ],
        )
        .await;
    assert_eq!(bad.status, 400, "expiring before signing is refused");
    assert!(bad.body.contains("expires before it was signed"));
    let bad = owner
        .post(
            "/t/prev/agreements",
            &[("provider", "openai"), ("dpa_signed_on", "2026-02-30")],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("The DPA signing date is a date like"));

    // A policy that lists only the mock: openai drops off the list for internal.
    let saved = owner
        .post(
            "/t/prev/policies/internal",
            &[
                ("allowed_providers", "local"),
                ("require_dpa", "on"),
                ("pii", "redact"),
                ("secrets", "block"),
                ("injection", "block"),
                ("output", "flag"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303);
    let page = owner.get("/t/prev/policies").await;
    assert!(preview_cell(&page, "openai", "internal").contains("not on the allowed list"));
    assert!(preview_cell(&page, "local", "internal").contains("allowed"));
    assert!(
        page.body.contains(r#"value="local""#),
        "the form shows the saved list"
    );
    let bad = owner
        .post(
            "/t/prev/policies/internal",
            &[
                ("pii", "shred"),
                ("secrets", "block"),
                ("injection", "off"),
                ("output", "off"),
            ],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body
            .contains("The action on personal data is one of allow, redact or block")
    );
    assert_eq!(owner.post("/t/prev/policies/secret", &[]).await.status, 404);

    // The judge: refused without a failure mode, saved and shown with one.
    let judge = |on_failure: &'static str| {
        vec![
            ("pii", "redact"),
            ("secrets", "redact"),
            ("injection", "judge"),
            ("judge_provider", "local"),
            ("judge_model", "judge-1"),
            ("judge_timeout_ms", "1500"),
            ("judge_on_failure", on_failure),
            ("output", "flag"),
        ]
    };
    let bad = owner.post("/t/prev/policies/public", &judge("")).await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body
            .contains("When the judge does not answer is one of closed")
    );
    let saved = owner
        .post("/t/prev/policies/public", &judge("closed"))
        .await;
    assert_eq!(saved.status, 303);
    let page = owner.get("/t/prev/policies").await;
    assert!(page.body.contains(r#"value="judge-1""#) && page.body.contains(r#"value="1500""#));
    assert!(page.body.contains(r#"<option value="closed" selected>"#));
}

#[actix_web::test]
async fn budgets_and_key_limits_validate_and_are_audited() {
    let db = TestDb::new().await;
    let console = spawn_console(&db.conn).await;
    let mut owner = owner_of_new_tenant(&console, "limits").await;

    // The defaults a new tenant starts with, pre-filled.
    let page = owner.get("/t/limits/limits").await;
    for (env, rpm, budget) in [
        ("dev", "10", "5.00"),
        ("stg", "100", "50.00"),
        ("prod", "600", "500.00"),
        ("ci", "50", "20.00"),
    ] {
        let form = &page.body[page.body.find(&format!(r#"id="env-{env}""#)).unwrap()..];
        let form = &form[..form.find("</form>").unwrap()];
        assert!(
            form.contains(&format!(r#"name="rpm" inputmode="numeric" value="{rpm}""#)),
            "{env}: {form}"
        );
        assert!(form.contains(&format!(r#"value="{budget}""#)), "{env}");
    }
    let saved = owner
        .post(
            "/t/limits/limits/env/dev",
            &[
                ("rpm", "20"),
                ("tpm", ""),
                ("monthly_budget", "7.5"),
                ("max_key_age_days", "30"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303);
    let page = owner.get("/t/limits/limits").await;
    assert!(page.body.contains(r#"value="7.50""#));
    let bad = owner
        .post(
            "/t/limits/limits/env/dev",
            &[
                ("rpm", "0"),
                ("monthly_budget", "5"),
                ("max_key_age_days", "30"),
            ],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("rpm must be between 1 and"));
    let bad = owner
        .post(
            "/t/limits/limits/tenant",
            &[("rpm", ""), ("tpm", ""), ("monthly_budget", "-3")],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("must not be negative"));
    assert_eq!(
        owner
            .post("/t/limits/limits/tenant", &[("monthly_budget", "1000")])
            .await
            .status,
        303
    );

    // One key's settings.
    let created = create_key(&mut owner, "limits", "dev", "tuned").await;
    assert!(shown_key(&created).starts_with("dev_"));
    let id = key_ids(&owner.get("/t/limits/keys?env=dev").await)[0].clone();
    let page = owner.get(&format!("/t/limits/keys/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Save key settings"));
    let next_year = (Utc::now().date_naive() + chrono::Days::new(365)).to_string();
    let fields = [
        ("rpm", "30"),
        ("tpm", "5000"),
        ("daily_budget", "1"),
        ("monthly_budget", "12.25"),
        ("per_request_cap", "0.10"),
        ("allowed_models", "gpt-4o-mini, mock"),
        ("ip_allowlist", "203.0.113.0/24, 2001:db8::1"),
        ("max_data_class", "confidential"),
        ("default_data_class", "internal"),
        ("max_tokens_ceiling", "2048"),
        ("expires_on", next_year.as_str()),
    ];
    let saved = owner
        .post(&format!("/t/limits/keys/{id}/limits"), &fields)
        .await;
    assert_eq!(saved.status, 303);
    let page = owner.get(&format!("/t/limits/keys/{id}")).await;
    for shown in [
        "12.25",
        "0.10",
        "gpt-4o-mini, mock",
        "203.0.113.0/24, 2001:db8::1",
        &next_year,
    ] {
        assert!(page.body.contains(shown), "{shown} not shown again");
    }
    for (field, value, message) in [
        ("ip_allowlist", "300.1.1.1", "300.1.1.1"),
        (
            "default_data_class",
            "restricted",
            "must not be above the highest allowed",
        ),
        ("expires_on", "2001-01-01", "the expiry date is in the past"),
        ("monthly_budget", "1.0000001", "more than 6 decimal places"),
    ] {
        let mut bad = fields.to_vec();
        bad.retain(|(f, _)| *f != field);
        bad.push((field, value));
        let page = owner
            .post(&format!("/t/limits/keys/{id}/limits"), &bad)
            .await;
        assert_eq!(page.status, 400, "{field}={value}");
        assert!(
            page.body.contains(message),
            "{field}={value}: {}",
            page.body
        );
    }
    let actions: Vec<String> = audit_event::Entity::find()
        .all(&db.conn)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    for action in ["budget.env_defaults", "budget.tenant_limits", "key.limits"] {
        assert!(actions.iter().any(|a| a == action), "{action} not audited");
    }
}

#[actix_web::test]
async fn only_owners_and_admins_change_configuration_and_finance_does_not_see_it() {
    let db = TestDb::new().await;
    let console = spawn_console(&db.conn).await;
    let mut team = team(&db, &console).await;
    let owner = team.get_mut(&Role::Owner).unwrap();
    owner
        .post("/t/acme/providers", &[("name", "mock"), ("kind", "mock")])
        .await;
    create_key(owner, "acme", "dev", "k").await;
    let key = key_ids(&owner.get("/t/acme/keys?env=dev").await)[0].clone();

    let changes: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "/t/acme/providers".into(),
            vec![("name", "p2"), ("kind", "mock")],
        ),
        (
            "/t/acme/routes".into(),
            vec![("model", "m"), ("provider", "mock")],
        ),
        (
            "/t/acme/providers/default".into(),
            vec![("provider", "mock")],
        ),
        (
            "/t/acme/agreements".into(),
            vec![("provider", "mock"), ("baa", "on")],
        ),
        (
            "/t/acme/policies/public".into(),
            vec![
                ("pii", "allow"),
                ("secrets", "block"),
                ("injection", "off"),
                ("output", "off"),
            ],
        ),
        (
            "/t/acme/limits/env/dev".into(),
            vec![
                ("rpm", "11"),
                ("monthly_budget", "5"),
                ("max_key_age_days", "90"),
            ],
        ),
        ("/t/acme/limits/tenant".into(), vec![("rpm", "100")]),
        (
            format!("/t/acme/keys/{key}/limits"),
            vec![
                ("max_data_class", "internal"),
                ("default_data_class", "internal"),
            ],
        ),
    ];
    for role in Role::ALL {
        let browser = team.get_mut(&role).unwrap();
        let manages = matches!(role, Role::Owner | Role::Admin);
        browser.get("/t/acme/keys").await; // a page with this session's CSRF token
        for (path, fields) in &changes {
            let page = browser.post(path, fields).await;
            let expected = if manages { 303 } else { 403 };
            assert_eq!(page.status, expected, "{role} POST {path}: {}", page.body);
        }
        for page in ["providers", "agreements", "policies", "limits"] {
            // Finance reads budgets and limits (read-only), not the data settings.
            let reads = !matches!(role, Role::Finance) || page == "limits";
            let got = browser.get(&format!("/t/acme/{page}")).await;
            assert_eq!(
                got.status,
                if reads { 200 } else { 403 },
                "{role} GET {page}"
            );
            if reads && !manages {
                assert!(
                    !got.body.contains("type=\"submit\">Save"),
                    "{role} sees a save button on {page}"
                );
            }
        }
    }
}

#[actix_web::test]
async fn the_relay_obeys_what_the_console_sets() {
    let app = TestApp::spawn().await;
    let console = spawn_console(&app.db.conn).await;
    let mut admin = Browser::new(&console);
    admin.sign_up("admin@example.com").await;
    app.tenant.member("admin@example.com", Role::Admin).await;
    let key = shown_key(&create_key(&mut admin, "acme", "dev", "obeyed").await);
    let id = key_ids(&admin.get("/t/acme/keys?env=dev").await)[0].clone();
    let chat = json!({"model": "mock", "messages": [{"role": "user", "content": "hi"}]});
    let wait_for = |code: &'static str| {
        let (app, key, chat) = (&app, key.clone(), chat.clone());
        async move {
            let started = Instant::now();
            loop {
                let response = app.post("/v1/chat/completions", &key, chat.clone()).await;
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                let got = if status == 200 {
                    "ok".to_owned()
                } else {
                    body["error"]["code"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                };
                if got == code {
                    return;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(2),
                    "still {got}, wanted {code}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    wait_for("ok").await;

    // The IP allowlist: the relay sees 127.0.0.1, which is not in it.
    let limits = |allowlist: &'static str| {
        vec![
            ("ip_allowlist", allowlist),
            ("max_data_class", "internal"),
            ("default_data_class", "internal"),
        ]
    };
    let path = format!("/t/acme/keys/{id}/limits");
    assert_eq!(admin.post(&path, &limits("10.0.0.0/8")).await.status, 303);
    wait_for("ip_not_allowed").await;
    assert_eq!(admin.post(&path, &limits("127.0.0.0/8")).await.status, 303);
    wait_for("ok").await;

    // A policy that keeps internal data away from the mock provider.
    let policy = [
        ("allowed_providers", "openai"),
        ("pii", "redact"),
        ("secrets", "redact"),
        ("injection", "flag"),
        ("output", "flag"),
    ];
    assert_eq!(
        admin
            .post("/t/acme/policies/internal", &policy)
            .await
            .status,
        303
    );
    wait_for("classification_blocked").await;
}

#[actix_web::test]
async fn members_change_roles_and_leave_but_a_tenant_keeps_an_owner() {
    let db = TestDb::new().await;
    let console = spawn_console(&db.conn).await;
    let mut team = team(&db, &console).await;
    let id_of = |email: &'static str| {
        let db = &db;
        async move { user_by_email(&db.conn, email).await.id }
    };
    let owner_id = id_of("owner@acme.test").await;
    let viewer_id = id_of("viewer@acme.test").await;
    let developer_id = id_of("developer@acme.test").await;

    // The only owner can neither leave nor step down.
    let owner = team.get_mut(&Role::Owner).unwrap();
    owner.get("/t/acme/members").await;
    let page = owner
        .post(
            &format!("/t/acme/members/{owner_id}/role"),
            &[("role", "admin")],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("a tenant keeps at least one owner"));
    let page = owner
        .post(&format!("/t/acme/members/{owner_id}/remove"), &[])
        .await;
    assert_eq!(page.status, 400);

    // An owner promotes the viewer to developer; the developer's new power shows.
    let page = owner
        .post(
            &format!("/t/acme/members/{viewer_id}/role"),
            &[("role", "developer")],
        )
        .await;
    assert_eq!(page.status, 303);
    let viewer = team.get_mut(&Role::Viewer).unwrap();
    viewer.get("/t/acme/keys").await;
    assert_eq!(
        create_key(viewer, "acme", "dev", "now-allowed")
            .await
            .status,
        200
    );

    // An admin manages members but cannot make an owner or touch one.
    let admin = team.get_mut(&Role::Admin).unwrap();
    admin.get("/t/acme/members").await;
    for (path, fields) in [
        (
            format!("/t/acme/members/{developer_id}/role"),
            vec![("role", "owner")],
        ),
        (
            format!("/t/acme/members/{owner_id}/role"),
            vec![("role", "viewer")],
        ),
        (format!("/t/acme/members/{owner_id}/remove"), vec![]),
    ] {
        assert_eq!(admin.post(&path, &fields).await.status, 403, "admin {path}");
    }
    let bad = admin
        .post(
            &format!("/t/acme/members/{developer_id}/role"),
            &[("role", "root")],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("The role is one of owner, admin"));
    let removed = admin
        .post(&format!("/t/acme/members/{developer_id}/remove"), &[])
        .await;
    assert_eq!(removed.status, 303);

    // The removed developer no longer sees the tenant; others cannot manage members.
    let developer = team.get_mut(&Role::Developer).unwrap();
    assert_eq!(developer.get("/t/acme/keys").await.status, 404);
    let finance = team.get_mut(&Role::Finance).unwrap();
    finance.get("/t/acme/members").await;
    let denied = finance
        .post(
            &format!("/t/acme/members/{viewer_id}/role"),
            &[("role", "admin")],
        )
        .await;
    assert_eq!(denied.status, 403);
    let events = audit_event::Entity::find().all(&db.conn).await.unwrap();
    assert!(events.iter().any(|e| e.action == "member.role"));
    assert!(events.iter().any(|e| e.action == "member.remove"));
}

#[actix_web::test]
async fn htmx_comes_from_the_console_itself_and_sends_the_csrf_token_as_a_header() {
    let db = TestDb::new().await;
    let console = spawn_console(&db.conn).await;
    let mut owner = owner_of_new_tenant(&console, "hx").await;
    let page = owner.get("/t/hx/audit").await;
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    assert!(
        page.body
            .contains(r#"<script src="/static/htmx.min.js" defer></script>"#)
    );
    assert!(!page.body.contains("<script>"), "no inline script");
    let token = owner.csrf.clone();
    assert!(
        page.body
            .contains(&format!(r#"hx-headers='{{"X-CSRF-Token": "{token}"}}'"#))
    );
    assert!(page.body.contains(r#"hx-post="/t/hx/audit/verify""#));
    for script in ["/static/htmx.min.js", "/static/airlock.js"] {
        let response = reqwest::get(format!("{}{script}", console.url))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/javascript")
        );
        assert!(response.text().await.unwrap().len() > 100);
    }
}

/// The invitation link in a mail (quoted-printable soft breaks undone).
fn invitation_link(mail: &str) -> String {
    let text = mail.replace("=\n", "");
    let start = text.find("/invite/").expect("a link in the mail");
    let token: String = text[start + 8..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    assert_eq!(token.len(), 64, "{mail}");
    format!("/invite/{token}")
}

#[actix_web::test]
async fn invitations_arrive_by_mail_and_make_only_the_invited_address_a_member() {
    let db = TestDb::new().await;
    let (sink, smtp_url) = crate::smtp_sink::SmtpSink::start().await;
    let mailer =
        airlock_console::mail::Mailer::new(&smtp_url, "Airlock <airlock@acme.test>").unwrap();
    let console = crate::console::spawn_console_with_mail(&db.conn, Some(mailer)).await;
    let mut team = team(&db, &console).await;

    let admin = team.get_mut(&Role::Admin).unwrap();
    admin.get("/t/acme/members").await;
    let bad = admin
        .post(
            "/t/acme/invitations",
            &[("email", "not-an-address"), ("role", "developer")],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("enter an email address like"));
    let owner_invite = admin
        .post(
            "/t/acme/invitations",
            &[("email", "boss@acme.test"), ("role", "owner")],
        )
        .await;
    assert_eq!(owner_invite.status, 403, "only owners invite owners");
    let posted = admin
        .post(
            "/t/acme/invitations",
            &[("email", "New.Dev@Acme.test"), ("role", "developer")],
        )
        .await;
    assert_eq!(posted.status, 303, "{}", posted.body);
    let location = posted.location.clone().unwrap_or_default();
    let sent = admin.follow(posted).await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert!(sent.body.contains("Invitation sent to New.Dev@Acme.test"));
    assert!(
        sent.body.contains(r#"data-invitation="new.dev@acme.test""#),
        "listed as pending"
    );
    assert!(
        !sent.body.contains("/invite/"),
        "the link goes only to the mailbox"
    );
    // A reload says so and sends nothing more.
    let reloaded = admin.get(&location).await;
    assert!(reloaded.body.contains("already shown"), "{}", reloaded.body);

    let mails = sink.messages();
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].contains("To: new.dev@acme.test") || mails[0].contains("To: <new.dev@acme.test>"),
        "{}",
        mails[0]
    );
    assert!(
        mails[0].contains("Subject: [Airlock] You are invited to Acme"),
        "{}",
        mails[0]
    );
    let link = invitation_link(&mails[0]);

    // Someone else, signed in, cannot use it.
    let viewer = team.get_mut(&Role::Viewer).unwrap();
    let page = viewer.get(&link).await;
    assert!(
        page.body
            .contains("This invitation is for new.dev@acme.test")
    );
    assert_eq!(
        viewer.post(&format!("{link}/accept"), &[]).await.status,
        400
    );

    // The invited address signs up, opens the link and accepts.
    let mut newcomer = Browser::new(&console);
    newcomer.sign_up("new.dev@acme.test").await;
    assert_eq!(
        newcomer.get("/t/acme/keys").await.status,
        404,
        "not a member yet"
    );
    let page = newcomer.get(&link).await;
    assert!(page.body.contains("as <strong>developer</strong>"));
    let accepted = newcomer.post(&format!("{link}/accept"), &[]).await;
    assert_eq!(accepted.status, 303);
    assert_eq!(
        accepted.location.as_deref(),
        Some("/t/acme/keys?done=joined")
    );
    assert_eq!(
        create_key(&mut newcomer, "acme", "dev", "mine")
            .await
            .status,
        200
    );
    assert_eq!(
        create_key(&mut newcomer, "acme", "prod", "not-mine")
            .await
            .status,
        403
    );

    // Used once: the link is gone, like a made-up one.
    assert_eq!(newcomer.get(&link).await.status, 404);
    assert_eq!(
        newcomer
            .get(&format!("/invite/{}", "0".repeat(64)))
            .await
            .status,
        404
    );
    assert_eq!(newcomer.get("/invite/short").await.status, 404);

    // Without a mail server the inviter is shown the link to pass on.
    let plain = spawn_console(&db.conn).await;
    let mut owner = Browser::new(&plain);
    owner.sign_up("solo@plain.test").await;
    owner.get("/tenants").await;
    owner
        .post("/tenants", &[("name", "Plain"), ("slug", "plain")])
        .await;
    owner.get("/t/plain/members").await;
    let posted = owner
        .post(
            "/t/plain/invitations",
            &[("email", "friend@plain.test"), ("role", "viewer")],
        )
        .await;
    let location = posted.location.clone().unwrap_or_default();
    let shown = owner.follow(posted).await;
    assert!(shown.body.contains("No mail server is configured"));
    assert!(shown.body.contains(&format!("{}/invite/", plain.url)));
    // The link is shown once: a reload shows the notice, not the link.
    let reloaded = owner.get(&location).await;
    assert!(reloaded.body.contains("already shown"));
    assert!(!reloaded.body.contains("/invite/"));
    let actions: Vec<String> = audit_event::Entity::find()
        .all(&db.conn)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(
        actions.iter().any(|a| a == "member.invite") && actions.iter().any(|a| a == "member.join")
    );
}

#[actix_web::test]
async fn the_keys_page_shows_what_each_key_spent_this_month() {
    use airlock_schema::entities::{relay_key, usage_record};
    let db = TestDb::new().await;
    let console = spawn_console(&db.conn).await;
    let mut owner = owner_of_new_tenant(&console, "spend").await;
    create_key(&mut owner, "spend", "dev", "spender").await;
    let key = relay_key::Entity::find()
        .one(&db.conn)
        .await
        .unwrap()
        .unwrap();
    // Two requests this month and one last month (which does not count).
    let now = Utc::now();
    // Written the way the relay's usage writer writes them: records and rollups
    // in one transaction (the page reads the rollups).
    let batch: Vec<usage_record::Model> = [
        (1_250_000, now),
        (500_000, now),
        (9_000_000, now - chrono::Duration::days(40)),
    ]
    .into_iter()
    .map(|(cost, at)| crate::helpers::spend_record(&key, cost, at))
    .collect();
    airlock_schema::rollup::write_usage_batch(&db.conn, &batch)
        .await
        .unwrap();
    let page = owner.get("/t/spend/keys?env=dev").await;
    // 40 days back is always in an earlier month, so only the first two count.
    assert!(
        page.body.contains("$1.75 of $5.00 this month"),
        "{}",
        page.body
    );
}

/// The issue's story: a tenant answered by its default provider; an admin adds
/// an OpenAI-compatible provider whose key does not work yet. The relay used to
/// send every `gpt-*` request to it because of its kind (502s); now nothing moves
/// until a route or the default says so, and the providers page shows where each
/// model goes and why.
#[actix_web::test]
async fn adding_a_provider_of_the_same_kind_moves_no_traffic_and_the_page_shows_where_models_go() {
    let app = TestApp::spawn().await;
    let console = spawn_console(&app.db.conn).await;
    let mut admin = owner_of_new_tenant(&console, "fresh").await;
    admin.get("/t/fresh/providers").await;
    let saved = admin
        .post("/t/fresh/providers", &[("name", "mock"), ("kind", "mock")])
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let saved = admin
        .post("/t/fresh/providers/default", &[("provider", "mock")])
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let key = shown_key(&create_key(&mut admin, "fresh", "dev", "app").await);
    let served_by = |model: &'static str| {
        let app = &app;
        let key = key.clone();
        async move {
            let answer = app
                .post(
                    "/v1/chat/completions",
                    &key,
                    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}),
                )
                .await;
            assert_eq!(answer.status(), 200, "{model}");
            let records = app.usage_records().await;
            records
                .last()
                .and_then(|r| r.provider.clone())
                .unwrap_or_default()
        }
    };
    let started = Instant::now();
    while app
        .post(
            "/v1/chat/completions",
            &key,
            json!({"model": "mock", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await
        .status()
        != 200
    {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the key never worked"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(served_by("gpt-4o-mini").await, "mock");

    admin.get("/t/fresh/providers").await;
    let added = admin
        .post(
            "/t/fresh/providers",
            &[
                ("name", "azure-eu"),
                ("kind", "openai"),
                ("base_url", "http://127.0.0.1:9/v1"),
                ("api_key", "sk-not-working-yet-1234"),
            ],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    // Give the relay more than its refresh interval to see the new provider.
    tokio::time::sleep(Duration::from_millis(400)).await;
    for _ in 0..3 {
        assert_eq!(served_by("gpt-4o-mini").await, "mock");
    }

    let page = admin.get("/t/fresh/providers").await;
    assert!(
        page.body
            .contains("No routes: every model goes to the default provider.")
    );
    // The current section is marked in the navigation.
    assert!(page.body.contains(r#"aria-current="page">Providers</a>"#));
    assert!(!page.body.contains(r#"aria-current="page">Keys</a>"#));
    let row = |model: &str| {
        let start = page
            .body
            .find(&format!(r#"<tr data-effective="{model}">"#))
            .unwrap_or_else(|| panic!("no effective-route row for {model}"));
        let rest = &page.body[start..];
        rest[..rest.find("</tr>").unwrap()].to_owned()
    };
    let used = row("gpt-4o-mini");
    assert!(
        used.contains("<td>mock</td>") && used.contains("the default provider"),
        "{used}"
    );
    assert!(row("any other model").contains("<td>mock</td>"));

    // The route tester.
    let tested = admin
        .get("/t/fresh/providers/route?model=azure-eu%2Fgpt-4o")
        .await;
    assert!(
        tested
            .body
            .contains("goes to <strong>azure-eu</strong> as <code>gpt-4o</code>"),
        "{}",
        tested.body
    );
    let tested = admin.get("/t/fresh/providers/route?model=gpt-4.1").await;
    assert!(tested.body.contains("goes to <strong>mock</strong>"));

    // Routing a family is an explicit act, checked, and the relay follows it.
    admin.get("/t/fresh/providers").await;
    let bad = admin
        .post(
            "/t/fresh/routes",
            &[("model", "gp*t"), ("provider", "azure-eu")],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("one `*` at the end"));
    let bad = admin
        .post(
            "/t/fresh/routes",
            &[
                ("model", "gpt-*"),
                ("provider", "azure-eu"),
                ("upstream_model", "x"),
            ],
        )
        .await;
    assert_eq!(bad.status, 400);
    let routed = admin
        .post(
            "/t/fresh/routes",
            &[("model", "gpt-4.1*"), ("provider", "azure-eu")],
        )
        .await;
    assert_eq!(routed.status, 303, "{}", routed.body);
    let page = admin.get("/t/fresh/providers").await;
    assert!(page.body.contains(r#"<tr data-effective="gpt-4.1*">"#));
    let tested = admin
        .get("/t/fresh/providers/route?model=gpt-4.1-mini")
        .await;
    assert!(tested.body.contains("goes to <strong>azure-eu</strong>"));
    assert!(tested.body.contains("the route gpt-4.1*"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(served_by("gpt-4o-mini").await, "mock");
}

/// After each change the page says what was done; a pending invitation can be
/// cancelled (its link then leads nowhere); and the audit log tells all of it in
/// words: keys by prefix and name, people by email, never a bare id.
#[actix_web::test]
async fn changes_are_confirmed_and_the_audit_log_names_what_changed() {
    let db = TestDb::new().await;
    let console = spawn_console(&db.conn).await;
    let mut owner = owner_of_new_tenant(&console, "words").await;

    // Invite, then cancel the invitation.
    owner.get("/t/words/members").await;
    let posted = owner
        .post(
            "/t/words/invitations",
            &[("email", "friend@words.test"), ("role", "viewer")],
        )
        .await;
    let shown = owner.follow(posted).await;
    let start = shown.body.find("/invite/").expect("the link is shown");
    let link: String = shown.body[start..].chars().take(8 + 64).collect();
    let invitation = airlock_schema::entities::invitation::Entity::find()
        .all(&db.conn)
        .await
        .unwrap()[0]
        .id;
    let cancelled = owner
        .post(&format!("/t/words/invitations/{invitation}/cancel"), &[])
        .await;
    assert_eq!(
        cancelled.location.as_deref(),
        Some("/t/words/members?done=invitation-cancelled")
    );
    let page = owner.follow(cancelled).await;
    assert!(page.body.contains("Invitation cancelled"), "{}", page.body);
    assert!(!page.body.contains("data-invitation=\"friend@words.test\""));
    // Cancelling it again: it is gone.
    let again = owner
        .post(&format!("/t/words/invitations/{invitation}/cancel"), &[])
        .await;
    assert_eq!(again.status, 404);
    let mut friend = Browser::new(&console);
    friend.sign_up("friend@words.test").await;
    assert_eq!(friend.get(&link).await.status, 404, "a cancelled link");

    // Mistakes come back by their form with what was typed.
    owner.get("/t/words/members").await;
    let bad_invite = owner
        .post(
            "/t/words/invitations",
            &[("email", "friend-at-words.test"), ("role", "finance")],
        )
        .await;
    assert_eq!(bad_invite.status, 400);
    assert!(
        bad_invite.body.contains(r#"id="invite-error""#),
        "{}",
        bad_invite.body
    );
    assert!(bad_invite.body.contains(r#"value="friend-at-words.test""#));
    assert!(
        bad_invite
            .body
            .contains(r#"<option value="finance" selected>"#)
    );
    owner.get("/t/words/keys?env=dev").await;
    let long_name = "n".repeat(101);
    let bad_key = owner
        .post("/t/words/keys", &[("env", "dev"), ("name", &long_name)])
        .await;
    assert_eq!(bad_key.status, 400);
    assert!(
        bad_key.body.contains(r#"id="create-error""#),
        "{}",
        bad_key.body
    );
    assert!(
        bad_key
            .body
            .contains("A key needs a name of 1–100 printable characters.")
    );
    assert!(bad_key.body.contains(&format!(r#"value="{long_name}""#)));
    owner.get("/account/tokens").await;
    let bad_token = owner
        .post(
            "/account/tokens",
            &[("name", "deploy-bot"), ("days", "soon")],
        )
        .await;
    assert_eq!(bad_token.status, 400);
    assert!(bad_token.body.contains(r#"value="deploy-bot""#));

    // A key, its limits, and its revocation.
    let created = create_key(&mut owner, "words", "dev", "audited").await;
    let key = shown_key(&created);
    let id = key_ids(&owner.get("/t/words/keys?env=dev").await)[0].clone();
    owner.get(&format!("/t/words/keys/{id}")).await;
    owner
        .post(
            &format!("/t/words/keys/{id}/limits"),
            &[
                ("monthly_budget", "12.345678"),
                ("rpm", "10"),
                ("max_data_class", "internal"),
                ("default_data_class", "internal"),
            ],
        )
        .await;
    let revoked = owner.post(&format!("/t/words/keys/{id}/revoke"), &[]).await;
    let page = owner.follow(revoked).await;
    assert!(page.body.contains("Key revoked"), "{}", page.body);

    let audit = owner.get("/t/words/audit").await;
    assert_eq!(audit.status, 200);
    let prefix = &key[..key.find('_').unwrap() + 5];
    for words in [
        "Cancelled the invitation of friend@words.test",
        "Invited friend@words.test as viewer",
        &format!("Created the dev key {prefix}"),
        &format!("Revoked the key {prefix}"),
        "“audited”",
        "Changed the limits of the key",
        "Monthly budget: $5.00 → $12.35",
        "Created the tenant words",
    ] {
        assert!(
            audit.body.contains(words),
            "the audit log says {words:?}:\n{}",
            audit.body
        );
    }
    assert!(!audit.body.contains(&id), "a key is named, not shown by id");
    assert!(!audit.body.contains(&key), "never the key itself");

    // Every form posts to an absolute address, so a page shown at a deeper path
    // (after an invitation, a route test or a form error) posts where it should.
    let bad_limits = owner
        .post(&format!("/t/words/keys/{id}/limits"), &[("rpm", "lots")])
        .await;
    assert_eq!(bad_limits.status, 400);
    let route_test = owner.get("/t/words/providers/route?model=gpt-4o").await;
    for page in [&bad_limits, &route_test, &audit, &shown] {
        for attribute in [" action=\"", " hx-post=\"", " hx-get=\""] {
            for (at, _) in page.body.match_indices(attribute) {
                let target = &page.body[at + attribute.len()..];
                assert!(
                    target.starts_with('/'),
                    "a relative {attribute}…: {}",
                    &target[..target.find('"').unwrap_or(0)]
                );
            }
        }
    }
}

/// An agreement is changed from what is on file (nothing retyped), a mistake
/// keeps what was typed, and deleting one says so and is audited.
#[actix_web::test]
async fn agreements_are_edited_from_what_is_on_file_and_deleted_with_a_notice() {
    let db = TestDb::new().await;
    let console = spawn_console(&db.conn).await;
    let mut owner = owner_of_new_tenant(&console, "papers").await;
    owner.get("/t/papers/providers").await;
    owner
        .post("/t/papers/providers", &[("name", "mock"), ("kind", "mock")])
        .await;
    owner.get("/t/papers/agreements").await;
    let saved = owner
        .post(
            "/t/papers/agreements",
            &[
                ("provider", "mock"),
                ("dpa_signed_on", "2025-03-14"),
                ("dpa_reference", "DPA-7"),
                ("region", "eu-west"),
                ("baa", "on"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);

    let edit = owner.get("/t/papers/agreements?edit=mock").await;
    assert_eq!(edit.status, 200);
    assert!(edit.body.contains("Change the agreement with mock"));
    for kept in [
        r#"name="dpa_signed_on" type="date" value="2025-03-14""#,
        r#"value="DPA-7""#,
        r#"value="eu-west""#,
        r#"name="baa" checked"#,
        r#"<option value="mock" selected>"#,
    ] {
        assert!(
            edit.body.contains(kept),
            "the form holds {kept}:\n{}",
            edit.body
        );
    }
    assert!(!edit.body.contains(r#"name="training_opt_out" checked"#));
    assert_eq!(
        owner.get("/t/papers/agreements?edit=nobody").await.status,
        404
    );

    // A bad date: the message by the form, and nothing typed is lost.
    let bad = owner
        .post(
            "/t/papers/agreements",
            &[
                ("provider", "mock"),
                ("dpa_signed_on", "14/03/2025"),
                ("dpa_reference", "DPA-8"),
                ("training_opt_out", "on"),
            ],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains(r#"value="14/03/2025""#), "{}", bad.body);
    assert!(bad.body.contains(r#"value="DPA-8""#));
    assert!(bad.body.contains(r#"name="training_opt_out" checked"#));

    let deleted = owner.post("/t/papers/agreements/mock/delete", &[]).await;
    let page = owner.follow(deleted).await;
    assert!(page.body.contains("Agreement deleted"), "{}", page.body);
    assert!(!page.body.contains(r#"data-agreement="mock""#));
    let audit = owner.get("/t/papers/audit").await;
    assert!(audit.body.contains("Deleted the agreement with mock"));
    assert!(
        audit.body.contains("DPA reference was DPA-7"),
        "{}",
        audit.body
    );
}
