//! The console's side of the tenant boundary: accounts that prove their address,
//! password reset by mail, invitation-only sign-up, provider base URLs checked
//! when saved, prices as data (audited, role-checked, obeyed by the relay), and
//! request bodies that must arrive in time.

use std::time::Duration;

use airlock_console::ConsoleSettings;
use airlock_core::key::Env;
use airlock_core::role::Role;
use airlock_schema::entities::audit_event;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::console::{Browser, spawn_console, spawn_console_with, spawn_console_with_mail};
use crate::helpers::{PASSWORD, TestApp, TestDb, TestTenant, user_with_password};

/// The path of the link in a mail (`/reset/…`, `/verify/…`).
fn mailed_link(mail: &str, kind: &str) -> String {
    let text = mail.replace("=\n", "");
    let start = text.find(&format!("/{kind}/")).expect("a link in the mail");
    let token: String = text[start + kind.len() + 2..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    assert_eq!(token.len(), 64, "{mail}");
    format!("/{kind}/{token}")
}

#[actix_web::test]
async fn a_password_is_reset_by_a_mailed_link_that_works_once() {
    let db = TestDb::new().await;
    let (sink, smtp_url) = crate::smtp_sink::SmtpSink::start().await;
    let mailer =
        airlock_console::mail::Mailer::new(&smtp_url, "Airlock <airlock@acme.test>").unwrap();
    let console = spawn_console_with_mail(&db.conn, Some(mailer)).await;
    user_with_password(&db.conn, "forgetful@example.com").await;
    let mut signed_in = Browser::new(&console);
    signed_in.sign_in("forgetful@example.com", PASSWORD).await;
    assert_eq!(signed_in.get("/tenants").await.status, 200);

    let mut browser = Browser::new(&console);
    browser.get("/forgot").await;
    let asked = browser
        .post("/forgot", &[("email", "Forgetful@Example.com")])
        .await;
    assert!(
        asked
            .body
            .contains("If forgetful@example.com has an account"),
        "{}",
        asked.body
    );
    // An unknown address gets the same answer, and no mail.
    browser.get("/forgot").await;
    let unknown = browser
        .post("/forgot", &[("email", "nobody@example.com")])
        .await;
    assert!(
        unknown
            .body
            .contains("If nobody@example.com has an account")
    );
    let mails = sink.messages();
    assert_eq!(mails.len(), 1, "one mail, to the account that exists");
    assert!(mails[0].contains("Subject: [Airlock] Reset your password"));
    assert!(!mails[0].contains(PASSWORD));
    let link = mailed_link(&mails[0], "reset");

    let form = browser.get(&link).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let short = browser.post(&link, &[("password", "short")]).await;
    assert_eq!(short.status, 400);
    assert!(
        short.body.contains("At least 12 characters") || short.body.contains("at least 12"),
        "{}",
        short.body
    );
    let done = browser
        .post(&link, &[("password", "a new long passphrase")])
        .await;
    assert!(done.body.contains("Your password is set"), "{}", done.body);
    // Used once; the old session ended; the new password works, the old does not.
    assert_eq!(browser.get(&link).await.status, 404);
    assert_eq!(
        signed_in.get("/tenants").await.location.as_deref(),
        Some("/signin")
    );
    let mut again = Browser::new(&console);
    assert_eq!(
        again
            .sign_in("forgetful@example.com", PASSWORD)
            .await
            .status,
        401
    );
    let ok = again
        .sign_in("forgetful@example.com", "a new long passphrase")
        .await;
    assert_eq!(ok.location.as_deref(), Some("/tenants"));
}

#[actix_web::test]
async fn without_mail_a_reset_link_is_never_shown_on_the_page() {
    let db = TestDb::new().await;
    let console = spawn_console(&db.conn).await;
    user_with_password(&db.conn, "someone@example.com").await;
    let mut browser = Browser::new(&console);
    let page = browser.get("/forgot").await;
    assert!(
        page.body.contains("airlock admin reset-password"),
        "{}",
        page.body
    );
    let answer = browser
        .post("/forgot", &[("email", "someone@example.com")])
        .await;
    assert!(!answer.body.contains("/reset/"), "{}", answer.body);
}

#[actix_web::test]
async fn with_sign_up_closed_only_an_invitation_opens_it() {
    let db = TestDb::new().await;
    let console = spawn_console_with(
        &db.conn,
        None,
        ConsoleSettings {
            allow_signup: false,
            ..ConsoleSettings::default()
        },
    )
    .await;
    let mut stranger = Browser::new(&console);
    let page = stranger.get("/signup").await;
    assert!(page.body.contains("made by invitation"), "{}", page.body);
    let refused = stranger.sign_up_unconfirmed("stranger@example.com").await;
    assert_eq!(refused.status, 403);
    assert!(!stranger.get("/signin").await.body.contains("/signup"));

    // An owner invites an address; its link opens sign-up for it.
    let tenant = TestTenant::new(&db, "closed").await;
    let owner = tenant.member("owner@closed.test", Role::Owner).await;
    let scope = airlock_console::tenant::TenantScope::check(&db.conn, &owner, "closed")
        .await
        .unwrap();
    let invited = airlock_console::tenant::members::invite(
        &tenant.store,
        &scope,
        &airlock_console::tenant::Actor::cli(),
        airlock_console::tenant::members::Invitation {
            email: "invited@closed.test".into(),
            role: Role::Developer,
            link_base: &console.url,
            mailer: None,
        },
    )
    .await
    .unwrap();
    let token = invited.link.rsplit('/').next().unwrap().to_owned();
    let mut invitee = Browser::new(&console);
    let landing = invitee.get(&format!("/invite/{token}")).await;
    assert!(
        landing.body.contains(&format!("/signup?invite={token}")),
        "{}",
        landing.body
    );
    invitee.get(&format!("/signup?invite={token}")).await;
    let made = invitee
        .post(
            "/signup",
            &[
                ("email", "invited@closed.test"),
                ("name", "Invited"),
                ("password", PASSWORD),
                ("invite", &token),
            ],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    invitee.get(&format!("/invite/{token}")).await;
    let accepted = invitee.post(&format!("/invite/{token}/accept"), &[]).await;
    assert_eq!(
        accepted.location.as_deref(),
        Some("/t/closed/keys?done=joined")
    );
}

#[actix_web::test]
async fn base_urls_that_point_inside_are_refused_when_saved() {
    let db = TestDb::new().await;
    // This console's operator allows nothing internal.
    let console = spawn_console_with(&db.conn, None, ConsoleSettings::default()).await;
    let _tenant = TestTenant::new(&db, "acme")
        .await
        .with_member("admin@acme.test", Role::Admin)
        .await;
    let mut admin = Browser::new(&console);
    admin.sign_in("admin@acme.test", PASSWORD).await;
    admin.get("/t/acme/providers").await;
    for (url, expected) in [
        ("http://127.0.0.1:9000/v1", "internal address"),
        ("http://169.254.169.254/latest", "internal address"),
        (
            "https://user:pass@api.example.com/v1",
            "user name or password",
        ),
        ("https://api.example.com/v1?key=x", "query"),
        ("gopher://api.example.com", "https:// or http://"),
    ] {
        let page = admin
            .post(
                "/t/acme/providers",
                &[
                    ("name", "evil"),
                    ("kind", "openai"),
                    ("base_url", url),
                    ("api_key", "sk-test-123456"),
                ],
            )
            .await;
        assert_eq!(page.status, 400, "{url}");
        assert!(page.body.contains(expected), "{url}: {}", page.body);
        assert!(
            !page.body.contains("sk-test-123456"),
            "a typed key is never shown again"
        );
    }
    let ok = admin
        .post(
            "/t/acme/providers",
            &[
                ("name", "good"),
                ("kind", "openai"),
                ("base_url", "https://api.example.com/v1"),
                ("api_key", "sk-test-123456"),
            ],
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
}

#[actix_web::test]
async fn tenant_prices_are_audited_role_checked_and_obeyed_by_the_relay() {
    let app = TestApp::spawn().await;
    let console = spawn_console(&app.db.conn).await;
    app.tenant.member("finance@acme.test", Role::Finance).await;
    app.tenant.member("dev@acme.test", Role::Developer).await;
    // A model no list knows, routed to the OpenAI-compatible upstream.
    app.tenant.route("house-llm", "openai", None).await;
    let key = app.key(Env::Dev).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let chat = json!({"model": "house-llm", "messages": [{"role": "user", "content": "hi"}]});
    let refused = app.post("/v1/chat/completions", &key, chat.clone()).await;
    assert_eq!(refused.status(), 403);

    let mut finance = Browser::new(&console);
    finance.sign_in("finance@acme.test", PASSWORD).await;
    let page = finance.get("/t/acme/prices").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("gpt-4o-mini"), "list prices are shown");
    let bad = finance
        .post(
            "/t/acme/prices",
            &[("model", "house-llm"), ("input", "-1"), ("output", "1")],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("house-llm"), "what was typed is kept");
    let saved = finance
        .post(
            "/t/acme/prices",
            &[
                ("model", "house-llm"),
                ("input", "1000"),
                ("output", "2000"),
                ("aliases", "house-llm-{date}"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let mut developer = Browser::new(&console);
    developer.sign_in("dev@acme.test", PASSWORD).await;
    developer.get("/t/acme/prices").await;
    let forbidden = developer
        .post(
            "/t/acme/prices",
            &[("model", "x"), ("input", "1"), ("output", "1")],
        )
        .await;
    assert_eq!(forbidden.status, 403);

    // The relay picks the price up and charges it.
    let mut status = 0;
    for _ in 0..20 {
        status = app
            .post("/v1/chat/completions", &key, chat.clone())
            .await
            .status()
            .as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
    let dated = json!({"model": "house-llm", "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(
        app.post("/v1/chat/completions", &key, dated).await.status(),
        200
    );
    let records = app.usage_records().await;
    let last = records.last().unwrap();
    assert!(last.priced && last.cost_micros > 0, "{last:?}");

    let events = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("price.save"))
        .all(&app.db.conn)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor_label, "finance@acme.test");
}

#[actix_web::test]
async fn a_console_body_sent_too_slowly_is_refused_with_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let db = TestDb::new().await;
    let console = spawn_console_with(
        &db.conn,
        None,
        ConsoleSettings {
            body_read_timeout: Duration::from_millis(500),
            ..ConsoleSettings::default()
        },
    )
    .await;
    let addr = console.url.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(b"POST /signin HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 100\r\n\r\nemail=")
        .await
        .unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(20), socket.read(&mut answer))
        .await
        .expect("the console answered")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
}
