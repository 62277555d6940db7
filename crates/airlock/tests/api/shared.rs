//! Two real relay processes sharing one Redis: a rate limit of N per minute
//! holds across both, and concurrent requests to both cannot overshoot a budget.
//!
//! Needs `REDIS_URL`. Without it the tests say so and pass, except under CI
//! (`CI` set), where a missing Redis fails them: CI must run them.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use airlock_console::tenant::agreements::NewAgreement;
use airlock_console::tenant::limits::KeyLimits;
use airlock_console::tenant::providers::ProviderInput;
use airlock_console::tenant::{self, Change};
use airlock_core::key::{Env, KeyHasher};
use airlock_core::money::MicroDollars;
use airlock_core::provider::ProviderKind;
use serde_json::json;

use airlock_relay::mock_upstream::MockBehaviour;

use crate::helpers::{TestDb, TestTenant, spawn_mock_upstream};

const PEPPER: &str = "shared-relay-test-pepper-0123456789abcdef";
const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const JWT: &str = "shared-relay-test-jwt-secret-0123456789abcdef";

fn redis_url() -> Option<String> {
    match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!("REDIS_URL must be set in CI"),
        _ => {
            eprintln!("REDIS_URL is not set: skipping the shared-Redis test");
            None
        }
    }
}

/// A running `airlock relay` and the URL it listens on.
struct Relay {
    child: Child,
    url: String,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_relay(db_url: &str, redis_url: &str) -> Relay {
    let mut child = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["relay", "--relay-addr", "127.0.0.1:0"])
        .env("DATABASE_URL", db_url)
        .env("REDIS_URL", redis_url)
        .env("AIRLOCK_MASTER_KEY", MASTER_KEY)
        .env("AIRLOCK_KEY_PEPPER", PEPPER)
        .env("AIRLOCK_JWT_SECRET", JWT)
        .env("AIRLOCK_AUTO_MIGRATE", "false")
        .env("AIRLOCK_RELAY__CACHE_REFRESH_MS", "100")
        .env("AIRLOCK_METRICS_ADDR", "")
        // The tests' mock upstream is on loopback, which is refused unless allowed.
        .env("AIRLOCK_RELAY__EGRESS_ALLOW", "127.0.0.0/8")
        .env_remove("AIRLOCK_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let url = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "relay exited before listening"
        );
        if let Some(url) = line.trim().strip_prefix("relay listening on ") {
            break url.to_owned();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in stderr.lines() {});
    Relay { child, url }
}

/// A tenant with the in-process mock as its provider, and one prod key (hashed
/// and sealed with the secrets the relay processes get).
async fn tenant_and_key(db: &TestDb) -> (TestTenant, String, String) {
    let tenant = TestTenant::new(db, "shared").await;
    tenant.provider("mock", ProviderKind::Mock, None).await;
    let master_keys = airlock_core::envelope::MasterKeys::parse(MASTER_KEY).unwrap();
    // `gpt-4o` goes to an OpenAI-compatible mock-upstream that answers slowly, so
    // concurrent requests really are in flight together, and reports 1000
    // completion tokens, so an answer costs what its `max_tokens: 1000`
    // reserved: settling releases (almost) nothing, and how many requests fit
    // does not depend on how fast a busy machine gets them through.
    let mock_url = format!(
        "{}/v1",
        spawn_mock_upstream(MockBehaviour {
            delay_ms: 400,
            completion_tokens: Some(1000),
            ..MockBehaviour::default()
        })
    );
    let input = ProviderInput {
        master_keys: &master_keys,
        egress: &tenant.egress,
        name: "openai".into(),
        kind: ProviderKind::OpenAi,
        base_url: Some(mock_url),
        api_key: Some(secrecy::SecretString::from("sk-upstream-test".to_owned())),
    };
    tenant::providers::save(&tenant.store, &tenant.scope, &tenant.actor, input)
        .await
        .unwrap();
    // The mock stays the default; `gpt-*` is routed to the slow upstream.
    tenant.route("gpt-*", "openai", None).await;
    tenant
        .agreement(NewAgreement {
            provider: "openai".into(),
            dpa_signed_on: chrono::NaiveDate::from_ymd_opt(2026, 1, 1),
            ..Default::default()
        })
        .await;
    let hasher = KeyHasher::new(PEPPER.as_bytes()).unwrap();
    let new = tenant::keys::NewKey {
        hasher: &hasher,
        env: Env::Prod,
        name: "shared".into(),
        allowed_models: vec![],
        expires_at: None,
    };
    let created = tenant::keys::create(&tenant.store, &tenant.scope, &tenant.actor, new)
        .await
        .unwrap();
    (
        tenant,
        created.key.expose().to_owned(),
        created.row.display_prefix,
    )
}

async fn post(client: &reqwest::Client, relay: &str, key: &str, body: &serde_json::Value) -> u16 {
    client
        .post(format!("{relay}/v1/chat/completions"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[actix_web::test]
async fn a_rate_limit_holds_across_two_relays() {
    let Some(redis) = redis_url() else { return };
    let db = TestDb::new().await;
    let (tenant, key, prefix) = tenant_and_key(&db).await;
    const LIMIT: u32 = 40;
    tenant
        .key_limits(
            &prefix,
            KeyLimits {
                rpm: Change::Set(LIMIT),
                ..KeyLimits::default()
            },
        )
        .await;
    let (a, b) = (start_relay(&db.url, &redis), start_relay(&db.url, &redis));
    let client = reqwest::Client::new();
    let body = json!({"model": "mock", "messages": [{"role": "user", "content": "hi"}]});
    let mut admitted = 0;
    for i in 0..(LIMIT * 2) {
        let relay = if i % 2 == 0 { &a.url } else { &b.url };
        match post(&client, relay, &key, &body).await {
            200 => admitted += 1,
            429 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    // N ± 5 %: the burst is exactly N; a request or two may refill during the test.
    let (low, high) = (LIMIT * 95 / 100, LIMIT * 105 / 100);
    assert!(
        (low..=high).contains(&admitted),
        "{admitted} admitted for a limit of {LIMIT}"
    );
}

#[actix_web::test]
async fn concurrent_requests_to_two_relays_cannot_overshoot_a_budget() {
    let Some(redis) = redis_url() else { return };
    let db = TestDb::new().await;
    let (tenant, key, prefix) = tenant_and_key(&db).await;
    // Each gpt-4o request reserves about $0.01 (1000 output tokens) and the
    // upstream takes 400 ms, so all 24 are in flight together; the budget holds six
    // reservations.
    tenant
        .key_limits(
            &prefix,
            KeyLimits {
                daily_budget: Change::Set(MicroDollars::new(62_000)),
                ..KeyLimits::default()
            },
        )
        .await;
    let (a, b) = (start_relay(&db.url, &redis), start_relay(&db.url, &redis));
    let client = reqwest::Client::new();
    // Warm both relays (key and tenant loaded, counters in Redis) with a request
    // to the in-process mock, so the 24 below really start together.
    let warm =
        json!({"model": "mock", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
    for relay in [&a.url, &b.url] {
        assert_eq!(post(&client, relay, &key, &warm).await, 200);
    }
    let body = json!({"model": "gpt-4o", "max_tokens": 1000, "messages": [{"role": "user", "content": "hi"}]});
    let requests = (0..24).map(|i| {
        let relay = if i % 2 == 0 {
            a.url.clone()
        } else {
            b.url.clone()
        };
        let (client, key, body) = (client.clone(), key.clone(), body.clone());
        async move { post(&client, &relay, &key, &body).await }
    });
    let statuses = futures_util::future::join_all(requests).await;
    let admitted = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(admitted, 6, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    // The relays write usage in batches; give them a moment, then check the record.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let spent = airlock_schema::queries::spent_since(
        &db.conn,
        tenant.id(),
        None,
        None,
        (chrono::Utc::now() - chrono::Duration::days(1)).date_naive(),
    )
    .await
    .unwrap();
    assert!(spent > 0 && spent <= 62_000, "spent {spent}");
    drop((a, b));
}

/// Containment reaches every relay: a person's keys revoked and an environment
/// suspended are refused by both relays within a second, and a release lets
/// the suspended ones back in on both.
#[actix_web::test]
async fn containment_is_obeyed_by_two_relays_within_a_second() {
    use airlock_console::tenant::incidents::{self, Containment, Target};
    use airlock_core::role::Role;
    let Some(redis) = redis_url() else { return };
    let db = TestDb::new().await;
    let (tenant, prod_key, _) = tenant_and_key(&db).await;
    let hasher = KeyHasher::new(PEPPER.as_bytes()).unwrap();
    // Two dev keys owned by a person (with room for the test's polling).
    tenant
        .env_defaults(
            Env::Dev,
            Some(100_000),
            Some(MicroDollars::new(1_000_000_000)),
        )
        .await;
    let mallory = tenant.member("mallory@shared.test", Role::Developer).await;
    let mut dev_keys = Vec::new();
    for name in ["m-one", "m-two"] {
        let created = tenant::keys::create(
            &tenant.store,
            &tenant.scope,
            &tenant.actor,
            tenant::keys::NewKey {
                hasher: &hasher,
                env: Env::Dev,
                name: name.into(),
                allowed_models: vec![],
                expires_at: None,
            },
        )
        .await
        .unwrap();
        use sea_orm::{ActiveModelTrait, ActiveValue::Set};
        let mut row: airlock_schema::entities::relay_key::ActiveModel = created.row.into();
        row.owner_user_id = Set(Some(mallory.id));
        row.update(&db.conn).await.unwrap();
        dev_keys.push(created.key.expose().to_owned());
    }
    let relays = [start_relay(&db.url, &redis), start_relay(&db.url, &redis)];
    let client = reqwest::Client::new();
    let body = json!({"model": "mock", "messages": [{"role": "user", "content": "hi"}]});
    let every = |keys: Vec<String>, expected: u16| {
        let (client, relays, body) = (&client, &relays, &body);
        async move {
            let started = std::time::Instant::now();
            for key in &keys {
                for relay in relays {
                    loop {
                        let status = post(client, &relay.url, key, body).await;
                        if status == expected {
                            break;
                        }
                        assert!(
                            started.elapsed() < std::time::Duration::from_secs(1),
                            "a relay still answers {status}, not {expected}, after a second"
                        );
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                }
            }
        }
    };
    every(dev_keys.clone(), 200).await;

    let dev = Target::Env(Env::Dev);
    let stopped = incidents::contain(
        &tenant.store,
        &tenant.scope,
        &tenant.actor,
        &dev,
        Containment::Suspend,
        None,
    )
    .await
    .unwrap();
    assert_eq!(stopped, 2);
    every(dev_keys.clone(), 401).await;
    every(vec![prod_key.clone()], 200).await;
    incidents::release(&tenant.store, &tenant.scope, &tenant.actor, &dev, None)
        .await
        .unwrap();
    every(dev_keys.clone(), 200).await;

    let person = Target::Member("mallory@shared.test".into());
    let revoked = incidents::contain(
        &tenant.store,
        &tenant.scope,
        &tenant.actor,
        &person,
        Containment::Revoke,
        None,
    )
    .await
    .unwrap();
    assert_eq!(revoked, 2);
    every(dev_keys, 401).await;
    every(vec![prod_key], 200).await;
}
