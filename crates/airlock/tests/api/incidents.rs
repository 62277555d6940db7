//! Incident response on the real relay and console: containing an environment
//! or a person stops their keys within a second, releasing restores suspended
//! ones, each step is audited, and only owners and admins may do it.

use std::time::{Duration, Instant};

use airlock_console::tenant::incidents::{self, Containment, Target};
use airlock_core::key::{Env, RelayKey};
use airlock_core::role::Role;
use airlock_schema::entities::{audit_event, relay_key};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use crate::console::{create_key, spawn_console, team};
use crate::helpers::{TestApp, TestDb};

fn chat() -> Value {
    json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
}

/// The relay's answer to `key`: 200, or the error code.
async fn answer(app: &TestApp, key: &str) -> String {
    let response = app.post("/v1/chat/completions", key, chat()).await;
    if response.status() == 200 {
        return "ok".to_owned();
    }
    let body: Value = response.json().await.unwrap();
    body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Waits (at most a second) until the relay answers `key` with `expected`.
async fn within_a_second(app: &TestApp, key: &str, expected: &str) {
    let started = Instant::now();
    loop {
        let seen = answer(app, key).await;
        if seen == expected {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "after a second the relay still answers {seen}, not {expected}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn containing_an_environment_or_a_person_stops_their_keys_and_release_restores_them() {
    let app = TestApp::spawn().await;
    let t = &app.tenant;
    let (dev_a, dev_b, prod) = (
        app.key(Env::Dev).await,
        app.key(Env::Dev).await,
        app.key(Env::Prod).await,
    );
    let mallorys = app.key(Env::Prod).await;
    let mallory = t.member("mallory@acme.test", Role::Developer).await;
    let prefix = RelayKey::parse(&mallorys).unwrap().display_prefix();
    let row = relay_key::Entity::find()
        .filter(relay_key::Column::DisplayPrefix.eq(prefix))
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    let mut owned: relay_key::ActiveModel = row.into();
    owned.owner_user_id = Set(Some(mallory.id));
    owned.update(&app.db.conn).await.unwrap();
    for key in [&dev_a, &dev_b, &prod, &mallorys] {
        assert_eq!(answer(&app, key).await, "ok");
    }

    // The dev environment: two keys, suspended, then released.
    let dev = Target::Env(Env::Dev);
    assert_eq!(
        incidents::preview(&t.store, &t.scope, &dev)
            .await
            .unwrap()
            .len(),
        2
    );
    let stopped = incidents::contain(
        &t.store,
        &t.scope,
        &t.actor,
        &dev,
        Containment::Suspend,
        Some("leaked in a CI log".into()),
    )
    .await
    .unwrap();
    assert_eq!(stopped, 2);
    within_a_second(&app, &dev_a, "key_suspended").await;
    within_a_second(&app, &dev_b, "key_suspended").await;
    assert_eq!(
        answer(&app, &prod).await,
        "ok",
        "other environments keep working"
    );
    assert!(
        incidents::preview(&t.store, &t.scope, &dev)
            .await
            .unwrap()
            .is_empty()
    );
    let again = incidents::contain(
        &t.store,
        &t.scope,
        &t.actor,
        &dev,
        Containment::Suspend,
        None,
    )
    .await
    .unwrap();
    assert_eq!(again, 0, "already suspended");
    let released = incidents::release(
        &t.store,
        &t.scope,
        &t.actor,
        &dev,
        Some("keys rotated".into()),
    )
    .await
    .unwrap();
    assert_eq!(released, 2);
    within_a_second(&app, &dev_a, "ok").await;

    // One person, revoked for good (a release does not bring revoked keys back).
    let person = Target::Member("Mallory@acme.test".into());
    let revoked = incidents::contain(
        &t.store,
        &t.scope,
        &t.actor,
        &person,
        Containment::Revoke,
        None,
    )
    .await
    .unwrap();
    assert_eq!(revoked, 1);
    within_a_second(&app, &mallorys, "key_revoked").await;
    assert_eq!(answer(&app, &prod).await, "ok");
    assert_eq!(
        incidents::release(&t.store, &t.scope, &t.actor, &person, None)
            .await
            .unwrap(),
        0
    );
    assert_eq!(answer(&app, &mallorys).await, "key_revoked");

    // An address with no account matches nothing, and says no more than that.
    let nobody = Target::Member("nobody@acme.test".into());
    assert!(
        incidents::preview(&t.store, &t.scope, &nobody)
            .await
            .unwrap()
            .is_empty()
    );
    let bad =
        incidents::preview(&t.store, &t.scope, &Target::Member("not an address".into())).await;
    assert!(matches!(
        bad,
        Err(airlock_console::ConsoleError::InvalidParam("member", _))
    ));

    let actions: Vec<String> = audit_event::Entity::find()
        .filter(audit_event::Column::Action.starts_with("incident."))
        .order_by_asc(audit_event::Column::Seq)
        .all(&app.db.conn)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            "incident.contain",
            "incident.contain",
            "incident.release",
            "incident.contain",
            "incident.release"
        ]
    );
}

#[actix_web::test]
async fn the_incidents_page_shows_how_many_keys_before_it_stops_them() {
    let db = TestDb::new().await;
    let console = spawn_console(&db.conn).await;
    let mut team = team(&db, &console).await;
    let owner = team.get_mut(&Role::Owner).unwrap();
    create_key(owner, "acme", "dev", "one").await;
    create_key(owner, "acme", "dev", "two").await;
    create_key(owner, "acme", "prod", "three").await;
    let page = owner.get("/t/acme/incidents").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("No key is suspended."));

    let long_note = "n".repeat(501);
    let bad = owner
        .post(
            "/t/acme/incidents/preview",
            &[
                ("scope", "env"),
                ("env", "dev"),
                ("action", "suspend"),
                ("note", &long_note),
            ],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("note: at most 500 characters"),
        "{}",
        bad.body
    );
    assert!(
        bad.body.contains(&format!(r#"value="{long_note}""#)),
        "what was typed is kept"
    );

    let preview = owner
        .post(
            "/t/acme/incidents/preview",
            &[
                ("scope", "env"),
                ("env", "dev"),
                ("action", "suspend"),
                ("note", "leak"),
            ],
        )
        .await;
    assert_eq!(preview.status, 200);
    assert!(
        preview
            .body
            .contains("This will suspend every dev key: <strong>2 keys</strong>"),
        "{}",
        preview.body
    );
    assert!(preview.body.contains(">Suspend 2 keys</button>"));
    let done = owner
        .post(
            "/t/acme/incidents/contain",
            &[
                ("scope", "env"),
                ("env", "dev"),
                ("action", "suspend"),
                ("note", "leak"),
            ],
        )
        .await;
    assert_eq!(
        done.location.as_deref(),
        Some("/t/acme/incidents?done=keys-suspended")
    );
    let page = owner.follow(done).await;
    assert!(page.body.contains("Keys suspended"));
    assert_eq!(
        page.body.matches("<tr><td><code>dev_").count(),
        2,
        "{}",
        page.body
    );
    let keys = owner.get("/t/acme/keys?env=dev").await;
    assert_eq!(keys.body.matches("status suspended").count(), 2);
    let audit = owner.get("/t/acme/audit").await;
    assert!(
        audit
            .body
            .contains("Suspended every dev key in an incident (2 keys)"),
        "{}",
        audit.body
    );
    assert!(audit.body.contains("Note: leak"));

    let released = owner
        .post(
            "/t/acme/incidents/release",
            &[("scope", "all"), ("note", "rotated")],
        )
        .await;
    assert_eq!(
        released.location.as_deref(),
        Some("/t/acme/incidents?done=keys-released")
    );
    let page = owner.follow(released).await;
    assert!(page.body.contains("No key is suspended."));

    // Rotate-all: new keys for the dev keys, shown once; the old ones stop now.
    let preview = owner
        .post(
            "/t/acme/incidents/preview",
            &[("scope", "env"), ("env", "dev"), ("action", "rotate")],
        )
        .await;
    assert!(
        preview.body.contains(">Rotate 2 keys</button>"),
        "{}",
        preview.body
    );
    let rotated = owner
        .post(
            "/t/acme/incidents/contain",
            &[("scope", "env"), ("env", "dev"), ("action", "rotate")],
        )
        .await;
    let location = rotated.location.clone().unwrap_or_default();
    assert!(
        location.starts_with("/t/acme/incidents/rotated/"),
        "{location}"
    );
    let shown = owner.follow(rotated).await;
    assert_eq!(
        shown.body.matches(r#"<code id="new-key-"#).count(),
        2,
        "{}",
        shown.body
    );
    assert!(shown.body.contains(">dev_"));
    let again = owner.get(&location).await;
    assert!(again.body.contains("already shown") && !again.body.contains(r#"<code id="new-key-"#));
    let keys = owner.get("/t/acme/keys?env=dev&status=all").await;
    assert_eq!(
        keys.body.matches("status active").count(),
        2,
        "the successors"
    );
    assert_eq!(
        keys.body.matches("status expired").count(),
        2,
        "the old keys stopped"
    );
    let audit = owner.get("/t/acme/audit").await;
    assert!(
        audit
            .body
            .contains("Replaced every dev key in an incident (2 keys)"),
        "{}",
        audit.body
    );

    // Owners and admins only; nobody else sees the page or can post to it.
    for role in [Role::Developer, Role::Finance, Role::Viewer] {
        let member = team.get_mut(&role).unwrap();
        member.get("/t/acme/keys").await;
        assert_eq!(member.get("/t/acme/incidents").await.status, 403, "{role}");
        let refused = member
            .post(
                "/t/acme/incidents/contain",
                &[("scope", "all"), ("action", "revoke")],
            )
            .await;
        assert_eq!(refused.status, 403, "{role}");
        assert!(
            !member
                .get("/t/acme/keys")
                .await
                .body
                .contains(">Incidents</a>")
        );
    }
    let admin = team.get_mut(&Role::Admin).unwrap();
    assert_eq!(admin.get("/t/acme/incidents").await.status, 200);
}

/// The assess and notify steps: a window's report as a page, CSV and JSON, its
/// limits, and the summary mailed to owners, admins and finance (audited).
#[actix_web::test]
async fn an_incident_window_is_reported_exported_and_mailed() {
    let db = TestDb::new().await;
    let (sink, smtp_url) = crate::smtp_sink::SmtpSink::start().await;
    let mailer =
        airlock_console::mail::Mailer::new(&smtp_url, "Airlock <airlock@acme.test>").unwrap();
    let console = crate::console::spawn_console_with_mail(&db.conn, Some(mailer)).await;
    let mut team = team(&db, &console).await;
    let owner = team.get_mut(&Role::Owner).unwrap();
    let created = create_key(owner, "acme", "dev", "leaky").await;
    let secret = crate::console::shown_key(&created);
    let key = relay_key::Entity::find()
        .filter(relay_key::Column::Name.eq("leaky"))
        .one(&db.conn)
        .await
        .unwrap()
        .unwrap();
    let now = chrono::Utc::now();
    let mut batch = Vec::new();
    for (i, status) in [200, 200, 429, 403].into_iter().enumerate() {
        let mut record = crate::helpers::spend_record(
            &key,
            250_000,
            now - chrono::Duration::minutes(10 + i as i64),
        );
        record.status_code = status;
        record.client_ip = Some("198.51.100.23".into());
        record.model = Some("gpt-4o".into());
        batch.push(record);
    }
    airlock_schema::rollup::write_usage_batch(&db.conn, &batch)
        .await
        .unwrap();

    let page = owner
        .get("/t/acme/incidents/report?scope=env&env=dev")
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("every dev key"), "{}", page.body);
    assert!(
        page.body
            .contains("<strong>4</strong> requests, <strong>2</strong> refused"),
        "{}",
        page.body
    );
    assert!(page.body.contains("$1.00"));
    assert!(page.body.contains("198.51.100.0/24") && page.body.contains("gpt-4o"));
    assert!(
        page.body.contains("key.create"),
        "the window's audit events"
    );
    assert!(!page.body.contains(&secret));

    let csv = owner
        .get("/t/acme/incidents/report?scope=env&env=dev&format=csv")
        .await;
    assert_eq!(csv.status, 200);
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(
        lines[0],
        "key_prefix,name,env,state,requests,refusals,cost_usd,models,networks,first_request,last_request"
    );
    assert!(
        lines[1].contains(",leaky,dev,active,4,2,1.000000,gpt-4o,198.51.100.0/24,"),
        "{}",
        lines[1]
    );
    let json = owner
        .get("/t/acme/incidents/report?scope=all&format=json")
        .await;
    let report: Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(report["keys"][0]["requests"], 4);
    assert_eq!(report["keys"][0]["cost_micros"], 1_000_000);
    assert!(
        report["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "key.create")
    );

    // Windows that cannot be: the message by the form, not an error page.
    let backwards = owner
        .get("/t/acme/incidents/report?scope=all&from=2026-12-02T10:00&to=2026-12-01T10:00")
        .await;
    assert_eq!(backwards.status, 400);
    assert!(
        backwards
            .body
            .contains("to: the window must end after it starts")
    );
    let too_long = owner
        .get("/t/acme/incidents/report?scope=all&from=2026-01-01&to=2026-12-01")
        .await;
    assert_eq!(too_long.status, 400);
    assert!(
        too_long
            .body
            .contains("from: a window covers at most 90 days")
    );
    let garbled = owner
        .get("/t/acme/incidents/report?scope=all&from=yesterday")
        .await;
    assert_eq!(garbled.status, 400);
    assert!(
        garbled
            .body
            .contains("from: write a UTC time like 2026-12-02T13:05")
    );

    // Notify: one mail to owners, admins and finance; in the audit log.
    owner
        .get("/t/acme/incidents/report?scope=env&env=dev")
        .await;
    let sent = owner
        .post(
            "/t/acme/incidents/notify",
            &[("scope", "env"), ("env", "dev")],
        )
        .await;
    assert_eq!(
        sent.status, 303,
        "post-redirect-get: a reload sends nothing again"
    );
    let shown = owner.follow(sent).await;
    assert!(shown.body.contains("Summary sent"), "{}", shown.body);
    assert!(shown.body.contains("every dev key"));
    let mails: Vec<String> = sink
        .messages()
        .iter()
        .map(|m| m.replace("\r\n", "\n").replace("\n ", " "))
        .collect();
    let mail = mails
        .iter()
        .find(|m| m.contains("incident report"))
        .expect("the summary mail");
    let to_line = mail.lines().find(|l| l.starts_with("To: ")).unwrap();
    for who in ["owner@acme.test", "admin@acme.test", "finance@acme.test"] {
        assert!(to_line.contains(who), "{to_line}");
    }
    assert!(!to_line.contains("developer@") && !to_line.contains("viewer@"));
    assert!(!mail.contains(&secret), "never the key in a mail");
    let audit = owner.get("/t/acme/audit").await;
    assert!(audit.body.contains("incident.notify"));
}

/// An anomaly in an environment set to suspend: the relay refuses the key within
/// a second of the job, and a release restores it.
#[actix_web::test]
async fn an_anomaly_suspends_the_key_on_the_relay_and_a_release_restores_it() {
    use airlock_console::jobs::{Job, Jobs};
    let app = TestApp::spawn().await;
    let t = &app.tenant;
    let key = app.key(Env::Prod).await;
    let prefix = RelayKey::parse(&key).unwrap().display_prefix();
    let row = relay_key::Entity::find()
        .filter(relay_key::Column::DisplayPrefix.eq(prefix))
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer(&app, &key).await, "ok");
    // 200 refusals in the last hour from a key with no history: a probe.
    let batch: Vec<_> = (0..200)
        .map(|i| {
            let mut record = crate::helpers::spend_record(
                &row,
                0,
                chrono::Utc::now() - chrono::Duration::seconds(i),
            );
            record.status_code = 403;
            record
        })
        .collect();
    airlock_schema::rollup::write_usage_batch(&app.db.conn, &batch)
        .await
        .unwrap();
    airlock_console::tenant::anomalies::save_suspend_envs(
        &t.store,
        &t.scope,
        &t.actor,
        vec![Env::Prod],
    )
    .await
    .unwrap();
    let jobs = Jobs::new(app.db.conn.clone(), None, None).with_store(t.store.clone());
    let ran = jobs
        .run(Job::AnomalyDetection, chrono::Utc::now())
        .await
        .unwrap();
    assert!(ran.ends_with("1 keys suspended"), "{ran}");
    within_a_second(&app, &key, "key_suspended").await;
    let released = incidents::release(
        &t.store,
        &t.scope,
        &t.actor,
        &Target::Env(Env::Prod),
        Some("checked: a test suite".into()),
    )
    .await
    .unwrap();
    assert_eq!(released, 1);
    within_a_second(&app, &key, "ok").await;
}
