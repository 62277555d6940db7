//! Stripe metered billing against a local Stripe fake: usage reaches Stripe
//! exactly once through failures, retries and a lost answer; reconcile finds a
//! planted difference; signed webhooks suspend and restore a tenant's keys on
//! the relay; the billing page and API keep to the role matrix and show Stripe's
//! problems as messages, not error pages.

use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock_console::ConsoleSettings;
use airlock_console::billing::webhook::sign;
use airlock_console::billing::{
    Billing, BillingSettings, BillingStatus, StripeApi, marked_up, reconcile, sync,
};
use airlock_console::tenant::TenantScope;
use airlock_console::tenant::billing::{BillingInput, configure_as_operator};
use airlock_core::key::Env;
use airlock_core::role::Role;
use airlock_schema::entities::{billing_report, tenant_billing, usage_daily};
use chrono::{Datelike, Utc};
use rand::{Rng, SeedableRng};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::console::{Browser, Console, member, spawn_console_with};
use crate::helpers::{PASSWORD, TestApp};
use crate::management_api::Api;
use crate::stripe_fake::{self, Mode, StripeFake};

const WEBHOOK_SECRET: &str = "whsec_test_airlock_fake";

fn billing_at(api_base: &str, suspend_when: &[BillingStatus]) -> Arc<Billing> {
    Arc::new(Billing {
        api: StripeApi::new(stripe_fake::SECRET_KEY, api_base, "airlock_usage").unwrap(),
        settings: BillingSettings {
            api_base: api_base.to_owned(),
            meter_event_name: "airlock_usage".into(),
            suspend_when: suspend_when.to_vec(),
            webhook_secret: Some(SecretString::from(WEBHOOK_SECRET.to_owned())),
        },
    })
}

async fn console_with_billing(app: &TestApp, billing: Arc<Billing>) -> Console {
    spawn_console_with(
        &app.db.conn,
        None,
        ConsoleSettings {
            billing: Some(billing),
            ..ConsoleSettings::default()
        },
    )
    .await
}

/// Random priced traffic through the relay; returns once the usage is written.
async fn traffic(app: &TestApp, keys: &[String], requests: usize, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let models = ["gpt-4o-mini", "claude-3-5-haiku-latest", "gpt-4o"];
    for _ in 0..requests {
        let key = &keys[rng.gen_range(0..keys.len())];
        let model = models[rng.gen_range(0..models.len())];
        let words = "lorem ipsum ".repeat(rng.gen_range(1..200));
        let _ = app
            .post(
                "/v1/chat/completions",
                key,
                json!({"model": model, "messages": [{"role": "user", "content": words}]}),
            )
            .await;
    }
    app.usage_records().await;
}

async fn tenant_cost(app: &TestApp) -> i64 {
    usage_daily::Entity::find()
        .filter(usage_daily::Column::TenantId.eq(app.tenant_id))
        .all(&app.db.conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.cost_micros)
        .sum()
}

async fn billing_row(app: &TestApp) -> tenant_billing::Model {
    tenant_billing::Entity::find_by_id(app.tenant_id)
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap()
}

/// One sync of the app's tenant at `at` (a later `at` is past a report's backoff).
async fn sync_at(app: &TestApp, billing: &Billing, at: chrono::DateTime<Utc>) -> sync::TenantSync {
    sync::sync_tenant(
        &app.db.conn,
        &billing.api,
        &billing_row(app).await,
        "acme",
        at,
    )
    .await
}

#[actix_web::test]
async fn usage_reaches_stripe_exactly_once_through_failures_retries_and_a_lost_answer() {
    let app = TestApp::spawn().await;
    let fake = StripeFake::spawn("airlock_usage");
    let billing = billing_at(&fake.url, &[BillingStatus::Canceled]);
    let scope = TenantScope::operator(&app.db.conn, "acme").await.unwrap();
    let saved = configure_as_operator(
        &app.db.conn,
        &scope,
        &billing,
        BillingInput {
            enabled: true,
            customer: None,
            markup_percent: Some("12.5".into()),
            billing_email: Some("finance@acme.test".into()),
        },
    )
    .await
    .unwrap();
    let customer = saved.stripe_customer_id.clone().unwrap();
    assert_eq!(customer, "cus_fake1", "a customer is created in Stripe");
    assert_eq!(saved.markup_basis_points, 1250);
    let keys = vec![app.key(Env::Dev).await, app.key(Env::Prod).await];

    traffic(&app, &keys, 25, 1).await;
    let cost = tenant_cost(&app).await;
    assert!(cost > 0, "the traffic is priced");
    let first = sync_at(&app, &billing, Utc::now()).await;
    assert_eq!(first.error, None);
    assert!(first.sent >= 1);
    assert_eq!(fake.total(&customer), marked_up(cost, 1250));
    assert_eq!(first.sent_value_micros, marked_up(cost, 1250));

    // Nothing new: a second sync reports nothing.
    let requests = fake.event_requests();
    let second = sync_at(&app, &billing, Utc::now()).await;
    assert_eq!(
        (second.planned, second.sent, second.error.clone()),
        (0, 0, None)
    );
    assert_eq!(fake.event_requests(), requests);

    // Stripe fails mid-sync: the usage waits, surfaced on the row, not lost.
    traffic(&app, &keys, 15, 2).await;
    fake.set_mode(Mode::FailAfter(0));
    let failed = sync_at(&app, &billing, Utc::now()).await;
    assert!(
        failed.error.as_deref().unwrap().contains("Stripe"),
        "{failed:?}"
    );
    assert!(failed.unsent >= 1);
    assert_eq!(
        fake.total(&customer),
        marked_up(cost, 1250),
        "nothing half-counted"
    );
    assert!(billing_row(&app).await.last_sync_error.is_some());
    // Waiting for its backoff: a sync right away does not hammer Stripe.
    fake.set_mode(Mode::Normal);
    let requests = fake.event_requests();
    let early = sync_at(&app, &billing, Utc::now()).await;
    assert_eq!(early.sent, 0);
    assert_eq!(fake.event_requests(), requests);

    // Stripe takes the event but the answer is lost: the retry repeats the
    // same identifier, and Stripe counts it once.
    fake.set_mode(Mode::AcceptThenFail);
    let later = Utc::now() + chrono::Duration::minutes(2);
    let retried = sync_at(&app, &billing, later).await;
    assert_eq!(retried.error, None, "{retried:?}");
    assert_eq!(retried.unsent, 0);
    let cost = tenant_cost(&app).await;
    assert_eq!(fake.total(&customer), marked_up(cost, 1250));
    assert!(
        fake.event_requests() > fake.events().len(),
        "a repeat was sent and ignored"
    );

    // More usage, a clean sync: still exact, and every identifier is a distinct range.
    traffic(&app, &keys, 10, 3).await;
    let results = sync::sync_all(&app.db.conn, &billing.api).await.unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].error, None);
    let cost = tenant_cost(&app).await;
    assert_eq!(fake.total(&customer), marked_up(cost, 1250));
    let reports = billing_report::Entity::find()
        .all(&app.db.conn)
        .await
        .unwrap();
    assert!(reports.iter().all(|r| r.sent_at.is_some()));
    assert_eq!(
        reports.len(),
        fake.events().len(),
        "one event per report, none under two names"
    );
    for r in &reports {
        assert!(
            fake.events()
                .iter()
                .any(|e| e.identifier == r.identifier && e.value == r.value_micros)
        );
    }
    assert!(
        fake.state
            .lock()
            .unwrap()
            .authorizations
            .iter()
            .all(|a| a == &format!("Bearer {}", stripe_fake::SECRET_KEY))
    );

    // Reconcile agrees, then finds a day where Stripe holds something else.
    let month = Utc::now().date_naive().with_day(1).unwrap();
    let clean = reconcile::reconcile(&app.db.conn, &billing.api, app.tenant_id, month)
        .await
        .unwrap();
    assert!(clean.meter_found);
    assert_eq!(clean.differences(), Vec::new());
    let tampered = fake.events()[0].clone();
    fake.tamper(&tampered.identifier, tampered.value + 1);
    let found = reconcile::reconcile(&app.db.conn, &billing.api, app.tenant_id, month)
        .await
        .unwrap();
    let differences = found.differences();
    assert_eq!(differences.len(), 1, "{differences:?}");
    assert!(differences[0].1.contains("Stripe holds"), "{differences:?}");
}

/// Posts a Stripe event to the console's webhook, signed with `secret` at `at`.
async fn webhook(console: &Console, event: &Value, secret: &str, at: i64) -> (u16, Value) {
    let body = serde_json::to_vec(event).unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/stripe/webhook", console.url))
        .header("stripe-signature", sign(secret.as_bytes(), at, &body))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn event(id: &str, kind: &str, customer: &str, created: i64) -> Value {
    json!({"id": id, "object": "event", "type": kind, "created": created,
           "data": {"object": {"object": "invoice", "customer": customer}}})
}

async fn relay_status_within(app: &TestApp, key: &str, want: u16, limit: Duration) -> Value {
    let started = Instant::now();
    loop {
        let response = app
            .post(
                "/v1/chat/completions",
                key,
                json!({"model": "mock", "messages": [{"role": "user", "content": "hi"}]}),
            )
            .await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status == want {
            return body;
        }
        assert!(
            started.elapsed() < limit,
            "still {status}, wanted {want}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn signed_webhooks_suspend_and_restore_the_tenant_and_members_are_told() {
    let app = TestApp::spawn().await;
    let fake = StripeFake::spawn("airlock_usage");
    let billing = billing_at(
        &fake.url,
        &[BillingStatus::PastDue, BillingStatus::Canceled],
    );
    let console = console_with_billing(&app, billing.clone()).await;
    let scope = TenantScope::operator(&app.db.conn, "acme").await.unwrap();
    let saved = configure_as_operator(
        &app.db.conn,
        &scope,
        &billing,
        BillingInput {
            enabled: true,
            ..BillingInput::default()
        },
    )
    .await
    .unwrap();
    let customer = saved.stripe_customer_id.unwrap();
    let key = app.key(Env::Dev).await;
    relay_status_within(&app, &key, 200, Duration::from_secs(2)).await;
    let now = Utc::now().timestamp();

    // Refused: a wrong secret, a stale signature, no signature, not an event.
    let failed = event("evt_1", "invoice.payment_failed", &customer, now);
    assert_eq!(webhook(&console, &failed, "whsec_wrong", now).await.0, 400);
    let (status, body) = webhook(&console, &failed, WEBHOOK_SECRET, now - 301).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_signature");
    let unsigned = reqwest::Client::new()
        .post(format!("{}/stripe/webhook", console.url))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 400);
    assert_eq!(
        webhook(&console, &json!({"hello": 1}), WEBHOOK_SECRET, now)
            .await
            .0,
        400
    );
    relay_status_within(&app, &key, 200, Duration::from_secs(1)).await;

    // A failed payment suspends the keys within a second.
    let (status, body) = webhook(&console, &failed, WEBHOOK_SECRET, now).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("applied")));
    let refused = relay_status_within(&app, &key, 402, Duration::from_secs(1)).await;
    assert_eq!(refused["error"]["code"], "billing_suspended");
    // The same event again changes nothing.
    let (status, body) = webhook(&console, &failed, WEBHOOK_SECRET, now).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("replay")));

    // Owners and finance are told on every page; developers are not shown billing.
    let mut finance = member(&app, &console, Role::Finance).await;
    let page = finance.get("/t/acme/keys").await;
    assert!(
        page.body.contains("billing-suspended-banner"),
        "{}",
        page.body
    );
    let page = finance.get("/t/acme/billing").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"billing-suspended\"") && page.body.contains("past_due"));
    let mut developer = member(&app, &console, Role::Developer).await;
    let page = developer.get("/t/acme/keys").await;
    assert!(!page.body.contains("billing-suspended-banner"));
    assert!(!page.body.contains("/t/acme/billing"));

    // An older event arriving late does not undo the newer status.
    let old_paid = event("evt_0", "invoice.paid", &customer, now - 60);
    let (_, body) = webhook(&console, &old_paid, WEBHOOK_SECRET, now).await;
    assert_eq!(body["outcome"], "outdated");
    // Paid: the keys work again within a second.
    let paid = event("evt_2", "invoice.paid", &customer, now + 1);
    let (_, body) = webhook(&console, &paid, WEBHOOK_SECRET, now).await;
    assert_eq!(body["outcome"], "applied");
    relay_status_within(&app, &key, 200, Duration::from_secs(1)).await;
    let page = finance.get("/t/acme/keys").await;
    assert!(!page.body.contains("billing-suspended-banner"));
    // An event for a customer Airlock does not bill is acknowledged and ignored.
    let stranger = event(
        "evt_3",
        "invoice.payment_failed",
        "cus_someone_else",
        now + 2,
    );
    assert_eq!(
        webhook(&console, &stranger, WEBHOOK_SECRET, now).await.1["outcome"],
        "ignored"
    );
    relay_status_within(&app, &key, 200, Duration::from_secs(1)).await;
}

#[actix_web::test]
async fn the_billing_page_keeps_the_role_matrix_and_shows_stripe_problems_as_messages() {
    let app = TestApp::spawn().await;
    let fake = StripeFake::spawn("airlock_usage");
    let billing = billing_at(&fake.url, &[BillingStatus::Canceled]);
    let console = console_with_billing(&app, billing.clone()).await;
    let mut owner = member(&app, &console, Role::Owner).await;
    let mut finance = member(&app, &console, Role::Finance).await;
    let mut viewer = member(&app, &console, Role::Viewer).await;

    // Link a customer that does not exist, and one that is not a customer id.
    owner.get("/t/acme/billing").await;
    let page = owner
        .post(
            "/t/acme/billing",
            &[
                ("enabled", "on"),
                ("customer", "cus_doesnotexist"),
                ("markup_percent", "10"),
            ],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(
        page.body
            .contains("Stripe has no customer cus_doesnotexist")
    );
    let page = owner
        .post(
            "/t/acme/billing",
            &[
                ("enabled", "on"),
                ("customer", "sub_123"),
                ("markup_percent", "10"),
            ],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("cus_"));
    let page = owner
        .post(
            "/t/acme/billing",
            &[
                ("enabled", "on"),
                ("customer", ""),
                ("markup_percent", "ten"),
            ],
        )
        .await;
    assert_eq!(page.status, 400);
    assert_eq!(
        billing_row_opt(&app).await,
        None,
        "nothing saved by a refused form"
    );

    // Turn it on (a customer is created), with an invoice to list.
    let page = owner
        .post(
            "/t/acme/billing",
            &[
                ("enabled", "on"),
                ("customer", ""),
                ("markup_percent", "20"),
                ("billing_email", "ap@acme.test"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    fake.add_invoice(
        "cus_fake1",
        stripe_fake::invoice(
            "cus_fake1",
            Some("AIR-0001"),
            12_345,
            "open",
            Some("https://invoice.stripe.com/i/acct_1/test"),
        ),
    );
    fake.add_invoice(
        "cus_fake1",
        stripe_fake::invoice(
            "cus_fake1",
            Some("AIR-0002"),
            10,
            "paid",
            Some("javascript:alert(1)"),
        ),
    );
    let keys = vec![app.key(Env::Dev).await];
    traffic(&app, &keys, 5, 4).await;
    let sent = owner.post("/t/acme/billing/sync", &[]).await;
    assert_eq!(sent.location.as_deref(), Some("/t/acme/billing?sync=ok"));

    // Finance reads the page and the invoices; cannot change or sync.
    let page = finance.get("/t/acme/billing").await;
    assert_eq!(page.status, 200);
    for text in [
        "cus_fake1",
        "AIR-0001",
        "123.45 USD",
        "https://invoice.stripe.com/i/acct_1/test",
        "Upcoming invoice",
        "20 %",
    ] {
        assert!(page.body.contains(text), "finance sees {text}");
    }
    assert!(
        !page.body.contains("javascript:alert"),
        "only https links reach the page"
    );
    assert!(
        !page.body.contains("name=\"markup_percent\""),
        "finance gets no settings form"
    );
    assert_eq!(
        finance
            .post("/t/acme/billing", &[("enabled", "on")])
            .await
            .status,
        403
    );
    assert_eq!(finance.post("/t/acme/billing/sync", &[]).await.status, 403);
    // Viewers see usage, not billing.
    assert_eq!(viewer.get("/t/acme/billing").await.status, 403);
    assert_eq!(viewer.get("/t/acme/usage").await.status, 200);

    // Audited: the owner's change is in the tenant's log.
    let audit = owner.get("/t/acme/audit").await;
    assert!(audit.body.contains("billing.update"));

    // Stripe unreachable: the page says so and keeps working.
    let down = billing_at("http://127.0.0.1:9/", &[BillingStatus::Canceled]);
    let console_down = console_with_billing(&app, down).await;
    let mut owner_down = Browser::new(&console_down);
    owner_down.sign_in("owner@acme.test", PASSWORD).await;
    let page = owner_down.get("/t/acme/billing").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("id=\"invoices-error\"") && page.body.contains("could not be reached"),
        "{}",
        page.body
    );
    let page = owner_down
        .post(
            "/t/acme/billing",
            &[("enabled", "on"), ("customer", "cus_other")],
        )
        .await;
    assert_eq!(page.status, 502);
    assert!(page.body.contains("could not be reached"));
}

async fn billing_row_opt(app: &TestApp) -> Option<tenant_billing::Model> {
    tenant_billing::Entity::find_by_id(app.tenant_id)
        .one(&app.db.conn)
        .await
        .unwrap()
}

#[actix_web::test]
async fn without_a_stripe_key_billing_says_how_to_turn_it_on_and_webhooks_are_not_served() {
    let app = TestApp::spawn().await;
    let console = spawn_console_with(&app.db.conn, None, ConsoleSettings::default()).await;
    let mut owner = member(&app, &console, Role::Owner).await;
    let page = owner.get("/t/acme/billing").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("AIRLOCK_STRIPE_SECRET_KEY"));
    let page = owner.post("/t/acme/billing", &[("enabled", "on")]).await;
    assert_eq!(page.status, 400);
    let response = reqwest::Client::new()
        .post(format!("{}/stripe/webhook", console.url))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[actix_web::test]
async fn the_billing_api_twins_the_page_for_each_role() {
    use reqwest::Method;
    let app = TestApp::spawn().await;
    let fake = StripeFake::spawn("airlock_usage");
    let console =
        console_with_billing(&app, billing_at(&fake.url, &[BillingStatus::Canceled])).await;
    let mut owner = member(&app, &console, Role::Owner).await;
    let mut finance = member(&app, &console, Role::Finance).await;
    let mut viewer = member(&app, &console, Role::Viewer).await;
    let owner = crate::management_api::token_of(&mut owner, "o").await;
    let finance = crate::management_api::token_of(&mut finance, "f").await;
    let viewer = crate::management_api::token_of(&mut viewer, "v").await;
    let api = Api::new(&console);
    let path = "/api/v1/tenants/acme/billing";

    let (status, body) = api
        .call(
            Method::PUT,
            path,
            Some(&owner),
            Some(json!({"enabled": true, "stripe_customer_id": "cus_nobody"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "customer");
    let (status, body) = api
        .call(
            Method::PUT,
            path,
            Some(&owner),
            Some(json!({"enabled": true, "markup_percent": "7.25"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stripe_customer_id"], "cus_fake1");
    assert_eq!(body["markup_percent"], "7.25");

    let (status, body) = api.call(Method::GET, path, Some(&finance), None).await;
    assert_eq!((status, body["enabled"].as_bool()), (200, Some(true)));
    let (status, body) = api
        .call(
            Method::GET,
            &format!("{path}/invoices"),
            Some(&finance),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["invoices"], json!([]));
    let (status, _) = api
        .call(
            Method::PUT,
            path,
            Some(&finance),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = api
        .call(Method::POST, &format!("{path}/sync"), Some(&finance), None)
        .await;
    assert_eq!(status, 403);
    let (status, _) = api.call(Method::GET, path, Some(&viewer), None).await;
    assert_eq!(status, 403);
    let (status, _) = api
        .call(
            Method::GET,
            "/api/v1/tenants/acme/usage",
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(status, 200);

    let keys = vec![app.key(Env::Dev).await];
    traffic(&app, &keys, 5, 5).await;
    let (status, body) = api
        .call(Method::POST, &format!("{path}/sync"), Some(&owner), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["error"], Value::Null);
    assert_eq!(
        fake.total("cus_fake1"),
        marked_up(tenant_cost(&app).await, 725)
    );
}

/// Runs `airlock billing …` off the test's thread (the fake answers on it).
async fn cli(db_url: &str, stripe_url: &str, args: &[&str]) -> (bool, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"));
    for var in [
        "AIRLOCK_MASTER_KEY",
        "AIRLOCK_KEY_PEPPER",
        "AIRLOCK_JWT_SECRET",
        "AIRLOCK_CONFIG",
        "AIRLOCK_STRIPE_WEBHOOK_SECRET",
    ] {
        command.env_remove(var).env_remove(format!("{var}_FILE"));
    }
    command
        .arg("billing")
        .args(args)
        .env("DATABASE_URL", db_url)
        .env("AIRLOCK_STRIPE_SECRET_KEY", stripe_fake::SECRET_KEY)
        .env("AIRLOCK_BILLING__STRIPE_API_BASE", stripe_url);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

/// The CLI needs only the database and the Stripe settings (none of the
/// server's secrets), and says by its exit code whether every tenant synced.
#[actix_web::test]
async fn the_billing_cli_enables_syncs_and_reconciles_with_only_the_database_and_stripe() {
    let app = TestApp::spawn().await;
    let fake = StripeFake::spawn("airlock_usage");
    let (ok, out) = cli(
        &app.db.url,
        &fake.url,
        &["enable", "--tenant", "acme", "--customer", "cus_nobody"],
    )
    .await;
    assert!(
        !ok && out.contains("Stripe has no customer cus_nobody"),
        "{out}"
    );
    let (ok, out) = cli(
        &app.db.url,
        &fake.url,
        &["enable", "--tenant", "acme", "--markup-percent", "15"],
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("cus_fake1") && out.contains("15 %"), "{out}");
    assert!(
        out.contains("not in the tenant's audit log"),
        "said, not silent: {out}"
    );
    let keys = vec![app.key(Env::Dev).await];
    traffic(&app, &keys, 8, 6).await;

    let (ok, out) = cli(&app.db.url, &fake.url, &["sync"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("acme: 1 reports sent"), "{out}");
    assert_eq!(
        fake.total("cus_fake1"),
        marked_up(tenant_cost(&app).await, 1500)
    );

    traffic(&app, &keys, 3, 7).await;
    fake.set_mode(Mode::FailAfter(0));
    let (ok, out) = cli(&app.db.url, &fake.url, &["sync"]).await;
    assert!(!ok, "a failed tenant fails the command: {out}");
    assert!(out.contains("acme: FAILED"), "{out}");

    // The unsent report is accounted for, as waiting, not lost.
    let month = Utc::now().format("%Y-%m").to_string();
    let (ok, out) = cli(
        &app.db.url,
        &fake.url,
        &["reconcile", "--tenant", "acme", "--month", &month],
    )
    .await;
    assert!(ok && out.contains("no differences"), "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with(&Utc::now().date_naive().to_string()))
        .unwrap();
    assert_ne!(
        line.split_whitespace().nth(3),
        Some("$0.00"),
        "waiting: {out}"
    );
    // Stripe holding less than was sent is a difference, and fails the command.
    let first = fake.events()[0].clone();
    fake.tamper(&first.identifier, first.value - 1);
    let (ok, out) = cli(
        &app.db.url,
        &fake.url,
        &["reconcile", "--tenant", "acme", "--month", &month],
    )
    .await;
    assert!(!ok && out.contains("DIFFERENCE"), "{out}");
    fake.tamper(&first.identifier, first.value);
    fake.set_mode(Mode::Normal);
    billing_report::Entity::update_many()
        .col_expr(
            billing_report::Column::NextAttemptAt,
            sea_orm::sea_query::Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .exec(&app.db.conn)
        .await
        .unwrap();
    let (ok, out) = cli(&app.db.url, &fake.url, &["sync"]).await;
    assert!(ok, "{out}");
    let (ok, out) = cli(
        &app.db.url,
        &fake.url,
        &["reconcile", "--tenant", "acme", "--month", &month],
    )
    .await;
    assert!(ok && out.contains("no differences"), "{out}");
    let (ok, out) = cli(
        &app.db.url,
        &fake.url,
        &["reconcile", "--tenant", "acme", "--month", "2026-13"],
    )
    .await;
    assert!(!ok && out.contains("not a month"), "{out}");
}

/// Stripe that never answers in time: each call gives up at the client's
/// timeout, the sync says so, and the usage waits, unsent and not lost.
#[actix_web::test]
async fn a_stripe_that_does_not_answer_in_time_leaves_the_usage_waiting() {
    let app = TestApp::spawn().await;
    let fake = StripeFake::spawn("airlock_usage");
    let api = StripeApi::with_timeout(
        stripe_fake::SECRET_KEY,
        &fake.url,
        "airlock_usage",
        Duration::from_millis(300),
    )
    .unwrap();
    let billing = Arc::new(Billing {
        api,
        settings: billing_at(&fake.url, &[]).settings.clone(),
    });
    let scope = TenantScope::operator(&app.db.conn, "acme").await.unwrap();
    configure_as_operator(
        &app.db.conn,
        &scope,
        &billing,
        BillingInput {
            enabled: true,
            ..BillingInput::default()
        },
    )
    .await
    .unwrap();
    traffic(&app, &[app.key(Env::Dev).await], 4, 8).await;
    fake.set_mode(Mode::Stall(Duration::from_secs(3)));
    let stalled = sync_at(&app, &billing, Utc::now()).await;
    assert!(
        stalled
            .error
            .as_deref()
            .unwrap()
            .contains("did not answer in time"),
        "{stalled:?}"
    );
    assert_eq!((stalled.sent, stalled.unsent), (0, 1));
    assert_eq!(fake.total("cus_fake1"), 0);
    fake.set_mode(Mode::Normal);
    let later = Utc::now() + chrono::Duration::minutes(2);
    let sent = sync_at(&app, &billing, later).await;
    assert_eq!((sent.error.clone(), sent.unsent), (None, 0), "{sent:?}");
    assert_eq!(
        fake.total("cus_fake1"),
        marked_up(tenant_cost(&app).await, 0)
    );
}
