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
