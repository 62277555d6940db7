//! Budget alerts on a real database (SQLite, and PostgreSQL when DATABASE_URL
//! says so) through the real console and a local SMTP sink: each threshold fires
//! once per period and scope and reaches the right people; mail failures are
//! retried and shown; acknowledging and thresholds follow the roles; the job
//! lease lets one instance run a job per tick.

use airlock_console::jobs::{Job, Jobs, try_lease};
use airlock_core::role::Role;
use airlock_schema::entities::{alert, relay_key};
use chrono::{Duration, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};

use crate::console::{create_key, spawn_console_with_mail, team};
use crate::helpers::TestDb;
use crate::smtp_sink::SmtpSink;

/// Spends `micros` on `key` now, as the relay's usage writer would record it.
async fn spend(db: &TestDb, key: &relay_key::Model, micros: i64) {
    let record = crate::helpers::spend_record(key, micros, Utc::now());
    airlock_schema::rollup::write_usage_batch(&db.conn, &[record])
        .await
        .unwrap();
}

async fn key_named(db: &TestDb, name: &str) -> relay_key::Model {
    relay_key::Entity::find()
        .filter(relay_key::Column::Name.eq(name))
        .one(&db.conn)
        .await
        .unwrap()
        .unwrap()
}

fn mailer(url: &str) -> airlock_console::mail::Mailer {
    airlock_console::mail::Mailer::new(url, "Airlock <airlock@acme.test>").unwrap()
}

/// The mails the sink received, with folded header lines unfolded.
fn received(sink: &SmtpSink) -> Vec<String> {
    sink.messages()
        .iter()
        .map(|m| m.replace("\r\n", "\n").replace("\n ", " "))
        .collect()
}

/// The `To:` addresses of a mail, sorted.
fn recipients(mail: &str) -> Vec<String> {
    let text = mail.replace("\r\n", "\n");
    let line = text
        .lines()
        .find(|l| l.starts_with("To: "))
        .unwrap_or_else(|| panic!("no To: in {mail}"));
    let mut out: Vec<String> = line[4..]
        .split(',')
        .map(|a| a.trim().trim_matches(['<', '>']).to_owned())
        .collect();
    out.sort();
    out
}

#[actix_web::test]
async fn each_budget_threshold_fires_once_per_period_and_reaches_the_right_people() {
    let db = TestDb::new().await;
    let (sink, smtp_url) = SmtpSink::start().await;
    let console = spawn_console_with_mail(&db.conn, Some(mailer(&smtp_url))).await;
    let mut team = team(&db, &console).await;
    let developer = team.get_mut(&Role::Developer).unwrap();
    let created = create_key(developer, "acme", "dev", "spender").await;
    let secret = crate::console::shown_key(&created);
    let key = key_named(&db, "spender").await;
    let mut limited: relay_key::ActiveModel = key.clone().into();
    limited.monthly_budget_micros = Set(Some(1_000_000));
    limited.update(&db.conn).await.unwrap();
    // The tenant's own monthly budget: $10.
    let acme = airlock_schema::entities::tenant::Entity::find()
        .one(&db.conn)
        .await
        .unwrap()
        .unwrap();
    let mut capped: airlock_schema::entities::tenant::ActiveModel = acme.into();
    capped.monthly_budget_micros = Set(Some(10_000_000));
    capped.update(&db.conn).await.unwrap();
    let jobs = Jobs::new(
        db.conn.clone(),
        Some(mailer(&smtp_url)),
        Some(console.url.clone()),
    );
    let run = |job| jobs.run(job, Utc::now());

    // 60 % of the key's $1: its 50 % alert, once.
    spend(&db, &key, 600_000).await;
    assert_eq!(
        run(Job::BudgetAlerts).await.unwrap(),
        "budget-alerts: 1 tenants checked, 1 alerts fired"
    );
    assert_eq!(
        run(Job::BudgetAlerts).await.unwrap(),
        "budget-alerts: 1 tenants checked, 0 alerts fired"
    );
    assert_eq!(
        run(Job::AlertMail).await.unwrap(),
        "alert-mail: 1 mails sent, 0 failed (retried later)"
    );
    let mails = received(&sink);
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].contains("Subject: [Airlock] acme: the budget of the key spender (dev_"),
        "{}",
        mails[0]
    );
    assert!(
        mails[0].contains("at 60 % ($0.60 of $1.00)"),
        "{}",
        mails[0]
    );
    // A key's budget: owners, admins and the key's owner; not finance, not viewers.
    assert_eq!(
        recipients(&mails[0]),
        ["admin@acme.test", "developer@acme.test", "owner@acme.test"]
    );
    assert!(mails[0].contains(&format!("{}/t/acme/alerts", console.url)));
    assert!(!mails[0].contains(&secret), "never the key in a mail");
    // A text part and an HTML part with the same words.
    assert!(
        mails[0].contains("multipart/alternative") && mails[0].contains("text/html"),
        "{}",
        mails[0]
    );

    // The admin turns budget mail off on the account page: no more of it for them.
    let admin = team.get_mut(&Role::Admin).unwrap();
    let page = admin.get("/account/tokens").await;
    assert!(page.body.contains(r#"name="budget" checked"#));
    let saved = admin
        .post(
            "/account/notifications",
            &[("rotation", "on"), ("anomaly", "on"), ("incident", "on")],
        )
        .await;
    let page = admin.follow(saved).await;
    assert!(
        page.body
            .contains("Saved: Airlock mails you what is ticked")
    );
    assert!(!page.body.contains(r#"name="budget" checked"#));
    assert!(page.body.contains(r#"name="rotation" checked"#));

    // Past 100 % of the key and of the dev environment's $5 at once: each fires
    // its highest threshold only (100), and 80 never comes for the key; the
    // tenant's $10 is at 51 %: its 50 % alert.
    spend(&db, &key, 4_500_000).await;
    assert_eq!(
        run(Job::BudgetAlerts).await.unwrap(),
        "budget-alerts: 1 tenants checked, 3 alerts fired"
    );
    assert_eq!(
        run(Job::BudgetAlerts).await.unwrap(),
        "budget-alerts: 1 tenants checked, 0 alerts fired"
    );
    run(Job::AlertMail).await.unwrap();
    let mails = received(&sink);
    assert_eq!(mails.len(), 4);
    let tenant_mail = mails
        .iter()
        .find(|m| m.contains("the tenant's budget at 51 %"))
        .expect("the tenant's alert");
    assert_eq!(
        recipients(tenant_mail),
        ["finance@acme.test", "owner@acme.test"]
    );
    let env_mail = mails
        .iter()
        .find(|m| m.contains("the dev budget at 102 %"))
        .expect("the environment's alert");
    // An environment's budget: finance too; the key's owner is not named for it.
    assert_eq!(
        recipients(env_mail),
        ["finance@acme.test", "owner@acme.test"],
        "the admin turned budget mail off"
    );
    assert!(env_mail.contains("now refuses requests"), "{env_mail}");
    let thresholds: Vec<i32> = alert::Entity::find()
        .all(&db.conn)
        .await
        .unwrap()
        .iter()
        .map(|a| a.threshold)
        .collect();
    assert_eq!(thresholds.iter().filter(|t| **t == 100).count(), 2);
    assert!(!thresholds.contains(&80));

    // The console: every member sees them and the bell; finance acknowledges.
    let viewer = team.get_mut(&Role::Viewer).unwrap();
    let page = viewer.get("/t/acme/alerts").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.body.matches("<li class=\"").count(),
        4,
        "{}",
        page.body
    );
    assert!(page.body.contains("aria-label=\"4 not acknowledged\""));
    assert!(page.body.contains("Mailed "));
    assert!(!page.body.contains(">Acknowledge<"), "viewers only read");
    let first = alert::Entity::find().one(&db.conn).await.unwrap().unwrap();
    let refused = viewer
        .post(&format!("/t/acme/alerts/{}/acknowledge", first.id), &[])
        .await;
    assert_eq!(refused.status, 403);
    let finance = team.get_mut(&Role::Finance).unwrap();
    finance.get("/t/acme/alerts").await;
    let done = finance
        .post(&format!("/t/acme/alerts/{}/acknowledge", first.id), &[])
        .await;
    let page = finance.follow(done).await;
    assert!(page.body.contains("Alert acknowledged."));
    assert!(page.body.contains("aria-label=\"3 not acknowledged\""));
    let audit = team
        .get_mut(&Role::Owner)
        .unwrap()
        .get("/t/acme/audit")
        .await;
    assert!(audit.body.contains("alert.acknowledge"));
}

#[actix_web::test]
async fn thresholds_are_checked_kept_when_wrong_and_set_by_owners_and_admins() {
    let db = TestDb::new().await;
    let console = spawn_console_with_mail(&db.conn, None).await;
    let mut team = team(&db, &console).await;
    let owner = team.get_mut(&Role::Owner).unwrap();
    let page = owner.get("/t/acme/alerts").await;
    assert!(
        page.body.contains(r#"value="50, 80, 100""#),
        "{}",
        page.body
    );
    for (typed, says) in [
        ("0, 80", "0 is outside 1–100"),
        ("50, lots", "`lots` is not a whole number"),
        ("", "none given"),
        ("10,20,30,40,50,60", "at most 5"),
    ] {
        let bad = owner
            .post("/t/acme/alerts/thresholds", &[("budget_thresholds", typed)])
            .await;
        assert_eq!(bad.status, 400, "{typed}");
        assert!(bad.body.contains(says), "{typed}: {}", bad.body);
        assert!(
            bad.body.contains(&format!(r#"value="{typed}""#)),
            "{typed} kept"
        );
    }
    let saved = owner
        .post(
            "/t/acme/alerts/thresholds",
            &[("budget_thresholds", "75%, 25")],
        )
        .await;
    assert_eq!(saved.status, 303);
    let page = owner.follow(saved).await;
    assert!(page.body.contains(r#"value="25, 75""#));
    let developer = team.get_mut(&Role::Developer).unwrap();
    developer.get("/t/acme/alerts").await;
    let refused = developer
        .post("/t/acme/alerts/thresholds", &[("budget_thresholds", "90")])
        .await;
    assert_eq!(refused.status, 403);

    // The new thresholds are the ones that fire; without a mail server the alert
    // says so.
    let owner = team.get_mut(&Role::Owner).unwrap();
    create_key(owner, "acme", "dev", "small").await;
    let key = key_named(&db, "small").await;
    // 30 % of dev's $5, and of the key's own $5 (a new key gets its
    // environment's budget): both fire at 25 %.
    spend(&db, &key, 1_500_000).await;
    let jobs = Jobs::new(db.conn.clone(), None, None);
    jobs.run(Job::BudgetAlerts, Utc::now()).await.unwrap();
    let fired = alert::Entity::find().all(&db.conn).await.unwrap();
    assert_eq!(fired.len(), 2);
    for alert in &fired {
        assert_eq!((alert.threshold, alert.mail_state.as_str()), (25, "none"));
    }
    let page = owner.get("/t/acme/alerts").await;
    assert!(page.body.contains("no mail server is configured"));
}

#[actix_web::test]
async fn a_mail_that_fails_is_retried_later_and_the_console_says_why() {
    let db = TestDb::new().await;
    let console = spawn_console_with_mail(&db.conn, None).await;
    let mut team = team(&db, &console).await;
    let owner = team.get_mut(&Role::Owner).unwrap();
    create_key(owner, "acme", "dev", "busy").await;
    let key = key_named(&db, "busy").await;
    spend(&db, &key, 4_100_000).await; // 82 % of dev's $5 and of the key's $5
    // Nothing listens on this port: the mail server is down.
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        format!("smtp://127.0.0.1:{port}")
    };
    let now = Utc::now();
    let failing = Jobs::new(db.conn.clone(), Some(mailer(&down)), None);
    failing.run(Job::BudgetAlerts, now).await.unwrap();
    assert_eq!(
        failing.run(Job::AlertMail, now).await.unwrap(),
        "alert-mail: 0 mails sent, 2 failed (retried later)"
    );
    for pending in alert::Entity::find().all(&db.conn).await.unwrap() {
        assert_eq!(
            (pending.mail_state.as_str(), pending.mail_attempts),
            ("pending", 1)
        );
        assert!(pending.mail_error.is_some());
        assert!(pending.next_mail_at.unwrap() > now);
    }
    let page = owner.get("/t/acme/alerts").await;
    assert!(
        page.body.contains("Not mailed yet: try 1 failed"),
        "{}",
        page.body
    );
    // Not before its time, even with the server back.
    let (sink, smtp_url) = SmtpSink::start().await;
    let working = Jobs::new(db.conn.clone(), Some(mailer(&smtp_url)), None);
    working.run(Job::AlertMail, now).await.unwrap();
    assert!(sink.messages().is_empty());
    working
        .run(Job::AlertMail, now + Duration::minutes(2))
        .await
        .unwrap();
    assert_eq!(sink.messages().len(), 2);
    for sent in alert::Entity::find().all(&db.conn).await.unwrap() {
        assert_eq!((sent.mail_state.as_str(), sent.mail_attempts), ("sent", 2));
    }
    // Sent means sent: another run sends nothing more.
    working
        .run(Job::AlertMail, now + Duration::minutes(10))
        .await
        .unwrap();
    assert_eq!(sink.messages().len(), 2);
}

/// Several instances on one database: per tick one of them runs a job.
#[actix_web::test]
async fn one_instance_holds_a_job_per_tick() {
    let db = TestDb::new().await;
    let now = Utc::now();
    let until = now + Duration::seconds(54);
    let (a, b) = tokio::join!(
        try_lease(&db.conn, "budget-alerts", "instance-a", now, until),
        try_lease(&db.conn, "budget-alerts", "instance-b", now, until),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(
        a ^ b,
        "exactly one instance takes the lease (a: {a}, b: {b})"
    );
    // Another job is free; the same job is taken again only after the lease ends.
    assert!(
        try_lease(&db.conn, "alert-mail", "instance-b", now, until)
            .await
            .unwrap()
    );
    assert!(
        !try_lease(
            &db.conn,
            "budget-alerts",
            "instance-c",
            now + Duration::seconds(30),
            until
        )
        .await
        .unwrap()
    );
    assert!(
        try_lease(
            &db.conn,
            "budget-alerts",
            "instance-c",
            until,
            until + Duration::seconds(54)
        )
        .await
        .unwrap()
    );
    assert_eq!(
        airlock_schema::entities::job_lease::Entity::find()
            .count(&db.conn)
            .await
            .unwrap(),
        2
    );
}

/// A key near its expiry reminds its owner and the admins at 14 days, at 3 and
/// on the day, once each; revoked keys and keys long expired stay quiet.
#[actix_web::test]
async fn keys_near_their_expiry_are_reminded_at_14_and_3_days_and_on_the_day() {
    let db = TestDb::new().await;
    let (sink, smtp_url) = SmtpSink::start().await;
    let console = spawn_console_with_mail(&db.conn, Some(mailer(&smtp_url))).await;
    let mut team = team(&db, &console).await;
    let developer = team.get_mut(&Role::Developer).unwrap();
    for name in ["aging", "gone", "ancient", "young"] {
        create_key(developer, "acme", "dev", name).await;
    }
    let now = Utc::now();
    let expire = |key: relay_key::Model, at: chrono::DateTime<Utc>, revoked: bool| {
        let db = &db;
        async move {
            let mut row: relay_key::ActiveModel = key.into();
            row.expires_at = Set(Some(at));
            if revoked {
                row.revoked_at = Set(Some(Utc::now()));
            }
            row.update(&db.conn).await.unwrap();
        }
    };
    expire(
        key_named(&db, "aging").await,
        now + Duration::days(10),
        false,
    )
    .await;
    expire(key_named(&db, "gone").await, now + Duration::days(5), true).await;
    expire(
        key_named(&db, "ancient").await,
        now - Duration::days(30),
        false,
    )
    .await;
    // "young" keeps its 90 days.
    let jobs = Jobs::new(
        db.conn.clone(),
        Some(mailer(&smtp_url)),
        Some(console.url.clone()),
    );
    let at = |days: i64| now + Duration::days(days);

    assert_eq!(
        jobs.run(Job::RotationReminders, at(0)).await.unwrap(),
        "rotation-reminders: 1 keys near their deadline, 1 reminders fired"
    );
    assert_eq!(
        jobs.run(Job::RotationReminders, at(1)).await.unwrap(),
        "rotation-reminders: 1 keys near their deadline, 0 reminders fired"
    );
    jobs.run(Job::AlertMail, at(1)).await.unwrap();
    let mails = received(&sink);
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].contains("rotate the key aging (dev_")
            && mails[0].contains(": it expires in 10 days"),
        "{}",
        mails[0]
    );
    // A key's reminder: its owner and the admins, not finance.
    assert_eq!(
        recipients(&mails[0]),
        ["admin@acme.test", "developer@acme.test", "owner@acme.test"]
    );
    let page = team
        .get_mut(&Role::Owner)
        .unwrap()
        .get("/t/acme/keys?env=dev")
        .await;
    assert_eq!(
        page.body.matches(">rotate now</span>").count(),
        1,
        "only the aging key"
    );

    // Two days before: the 3-day reminder; on the day: the last one.
    jobs.run(Job::RotationReminders, at(8)).await.unwrap();
    jobs.run(Job::RotationReminders, at(10) + Duration::hours(1))
        .await
        .unwrap();
    jobs.run(Job::RotationReminders, at(11)).await.unwrap();
    let stages: Vec<(i32, String)> = alert::Entity::find()
        .filter(alert::Column::Kind.eq("rotation"))
        .order_by_asc(alert::Column::CreatedAt)
        .all(&db.conn)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.threshold, a.severity))
        .collect();
    assert_eq!(
        stages,
        [
            (14, "info".to_owned()),
            (3, "warning".to_owned()),
            (0, "critical".to_owned())
        ]
    );
    jobs.run(Job::AlertMail, at(11)).await.unwrap();
    let mails = received(&sink);
    assert_eq!(mails.len(), 3);
    assert!(
        mails
            .iter()
            .any(|m| m.contains("the key aging (dev_") && m.contains("has expired"))
    );
}

/// A key's usual hour: 14 days of about 20 requests at this hour, one model, one
/// network; then `records` for the current hour.
async fn history_and_hour(
    db: &TestDb,
    key: &relay_key::Model,
    current: Vec<airlock_schema::entities::usage_record::Model>,
) {
    let now = Utc::now();
    let mut batch = Vec::new();
    for day in 1..=14 {
        for i in 0..(18 + day % 5) {
            let mut record = crate::helpers::spend_record(
                key,
                1_000,
                now - Duration::days(day) - Duration::minutes(20 + i),
            );
            record.model = Some("gpt-4o-mini".into());
            record.client_ip = Some("203.0.113.5".into());
            batch.push(record);
        }
    }
    batch.extend(current);
    airlock_schema::rollup::write_usage_batch(&db.conn, &batch)
        .await
        .unwrap();
}

fn now_record(
    key: &relay_key::Model,
    model: &str,
    ip: &str,
    status: i32,
    minutes_ago: i64,
) -> airlock_schema::entities::usage_record::Model {
    let mut record =
        crate::helpers::spend_record(key, 1_000, Utc::now() - Duration::minutes(minutes_ago));
    record.model = Some(model.into());
    record.client_ip = Some(ip.into());
    record.status_code = status;
    record
}

async fn aged_key(
    tenant: &crate::helpers::TestTenant,
    db: &TestDb,
    env: airlock_core::key::Env,
) -> relay_key::Model {
    let (_, prefix) = tenant.key(env).await;
    let row = relay_key::Entity::find()
        .filter(relay_key::Column::DisplayPrefix.eq(prefix))
        .one(&db.conn)
        .await
        .unwrap()
        .unwrap();
    let mut aged: relay_key::ActiveModel = row.into();
    aged.created_at = Set(Utc::now() - Duration::days(20));
    aged.update(&db.conn).await.unwrap()
}

/// Normal traffic raises nothing; a burst, a new model, a new network and a
/// refusal burst each raise their alert with the numbers; in an environment set
/// to suspend, the key is suspended at once (and audited).
#[actix_web::test]
async fn anomalies_fire_on_planted_patterns_not_on_normal_traffic_and_can_suspend() {
    use airlock_core::key::Env;
    let db = TestDb::new().await;
    let tenant = crate::helpers::TestTenant::new(&db, "acme").await;
    let steady = aged_key(&tenant, &db, Env::Dev).await;
    let stolen = aged_key(&tenant, &db, Env::Dev).await;
    let probed = aged_key(&tenant, &db, Env::Prod).await;
    let upgraded = aged_key(&tenant, &db, Env::Dev).await;
    // Same model names as always, each request 40 times the usual cost.
    let pricier: Vec<_> = (0..25)
        .map(|i| {
            let mut record = now_record(&upgraded, "gpt-4o-mini", "203.0.113.5", 200, i);
            record.cost_micros = 40_000;
            record
        })
        .collect();
    history_and_hour(&db, &upgraded, pricier).await;
    history_and_hour(
        &db,
        &steady,
        (0..22)
            .map(|i| now_record(&steady, "gpt-4o-mini", "203.0.113.9", 200, i))
            .collect(),
    )
    .await;
    let mut burst: Vec<_> = (0..600)
        .map(|i| now_record(&stolen, "gpt-4o-mini", "203.0.113.5", 200, i % 50))
        .collect();
    burst.push(now_record(&stolen, "claude-opus-4", "198.51.100.7", 200, 3));
    history_and_hour(&db, &stolen, burst).await;
    history_and_hour(
        &db,
        &probed,
        (0..80)
            .map(|i| now_record(&probed, "gpt-4o-mini", "203.0.113.5", 429, i % 50))
            .collect(),
    )
    .await;
    airlock_console::tenant::anomalies::save_suspend_envs(
        &tenant.store,
        &tenant.scope,
        &tenant.actor,
        vec![Env::Prod],
    )
    .await
    .unwrap();

    let jobs = Jobs::new(db.conn.clone(), None, None).with_store(tenant.store.clone());
    assert_eq!(
        jobs.run(Job::AnomalyDetection, Utc::now()).await.unwrap(),
        "anomaly-detection: 4 keys checked, 5 anomalies, 1 keys suspended"
    );
    let alerts = alert::Entity::find()
        .filter(alert::Column::Kind.eq("anomaly"))
        .all(&db.conn)
        .await
        .unwrap();
    let of = |key: &relay_key::Model| -> Vec<String> {
        let mut subjects: Vec<String> = alerts
            .iter()
            .filter(|a| a.key_id == Some(key.id))
            .map(|a| a.subject.rsplit(": ").next().unwrap_or_default().to_owned())
            .collect();
        subjects.sort();
        subjects
    };
    assert!(
        of(&steady).is_empty(),
        "normal traffic (a new address in a known /24 too) raises nothing"
    );
    assert_eq!(of(&stolen), ["new model", "new network", "request spike"]);
    assert_eq!(of(&probed), ["refusal spike"]);
    assert_eq!(of(&upgraded), ["pricier requests"]);
    let pricier = alerts
        .iter()
        .find(|a| a.subject.ends_with("pricier requests"))
        .unwrap();
    assert!(
        pricier
            .body
            .contains("paid $0.04 a request in the last hour, 40 times its usual $0.001"),
        "{}",
        pricier.body
    );
    let spike = alerts
        .iter()
        .find(|a| a.subject.ends_with("request spike"))
        .unwrap();
    assert!(
        spike
            .body
            .contains(") made 601 requests in the last hour; usually 20"),
        "{}",
        spike.body
    );
    assert!(spike.body.contains("Nothing was stopped"));
    let model = alerts
        .iter()
        .find(|a| a.subject.ends_with("new model"))
        .unwrap();
    assert!(
        model.body.contains(
            "called claude-opus-4 for the first time in 30 days (it used gpt-4o-mini before)"
        ),
        "{}",
        model.body
    );
    let network = alerts
        .iter()
        .find(|a| a.subject.ends_with("new network"))
        .unwrap();
    assert!(network.body.contains("198.51.100.0/24"), "{}", network.body);

    // Prod suspends: the probed key is held, and the audit log says by whom.
    let held = relay_key::Entity::find_by_id(probed.id)
        .one(&db.conn)
        .await
        .unwrap()
        .unwrap();
    assert!(held.suspended_at.is_some());
    let free = relay_key::Entity::find_by_id(stolen.id)
        .one(&db.conn)
        .await
        .unwrap()
        .unwrap();
    assert!(free.suspended_at.is_none(), "dev only alerts");
    let events = airlock_schema::entities::audit_event::Entity::find()
        .filter(airlock_schema::entities::audit_event::Column::Action.eq("anomaly.suspend"))
        .all(&db.conn)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor_label, "airlock:anomaly-detection");

    // Once per key, kind and hour.
    assert_eq!(
        jobs.run(Job::AnomalyDetection, Utc::now()).await.unwrap(),
        "anomaly-detection: 4 keys checked, 0 anomalies, 0 keys suspended"
    );
}

/// An environment that enforces its maximum key age: no key is made or extended
/// past it (shortening and other edits stay possible, also for keys made before).
#[actix_web::test]
async fn an_enforced_maximum_age_bounds_new_keys_and_extensions() {
    use airlock_console::ConsoleError;
    use airlock_console::tenant::Change;
    use airlock_console::tenant::keys::{self, NewKey};
    use airlock_console::tenant::limits::{self, EnvDefaultsInput, KeyLimits, KeyLimitsInput};
    use airlock_core::key::Env;
    let db = TestDb::new().await;
    let t = crate::helpers::TestTenant::new(&db, "acme").await;
    let (_, legacy_prefix) = t.key(Env::Dev).await; // 90 days, made before the rule
    let rule = |enforce| EnvDefaultsInput {
        env: Env::Dev,
        rpm: 10,
        tpm: Change::Keep,
        monthly_budget: airlock_core::money::MicroDollars::new(5_000_000),
        max_key_age_days: 30,
        enforce_max_age: Some(enforce),
    };
    limits::save_env_defaults(&t.store, &t.scope, &t.actor, rule(true))
        .await
        .unwrap();
    let (hasher, _) = crate::helpers::secrets();
    let make = |expires_at| NewKey {
        hasher: &hasher,
        env: Env::Dev,
        name: "bounded".into(),
        allowed_models: vec![],
        expires_at,
    };
    let too_late = keys::create(
        &t.store,
        &t.scope,
        &t.actor,
        make(Some(Utc::now() + Duration::days(40))),
    )
    .await;
    let Err(ConsoleError::InvalidParam("expires_at", message)) = too_late else {
        panic!("a key past the enforced age was made");
    };
    assert!(
        message.contains("the dev environment enforces a maximum key age of 30 days"),
        "{message}"
    );
    let made = keys::create(&t.store, &t.scope, &t.actor, make(None))
        .await
        .unwrap();
    let expires = made.row.expires_at.unwrap();
    assert!(expires <= Utc::now() + Duration::days(30));

    let change = |key_id, expires_at| KeyLimitsInput {
        key_id,
        limits: KeyLimits {
            expires_at,
            ..KeyLimits::default()
        },
    };
    let save = |input| limits::save_key_limits(&t.store, &t.scope, &t.actor, input);
    assert!(
        save(change(
            made.row.id,
            Change::Set(Utc::now() + Duration::days(60))
        ))
        .await
        .is_err(),
        "extended"
    );
    assert!(
        save(change(made.row.id, Change::Clear)).await.is_err(),
        "expiry removed"
    );
    save(change(
        made.row.id,
        Change::Set(Utc::now() + Duration::days(10)),
    ))
    .await
    .unwrap();
    // A key from before the rule keeps its expiry and stays editable.
    let legacy = keys::by_prefix(&t.store, &t.scope, &legacy_prefix)
        .await
        .unwrap();
    let other = KeyLimitsInput {
        key_id: legacy.id,
        limits: KeyLimits {
            rpm: Change::Set(5),
            ..KeyLimits::default()
        },
    };
    save(other).await.unwrap();
    // Turned off, extensions are allowed again.
    limits::save_env_defaults(&t.store, &t.scope, &t.actor, rule(false))
        .await
        .unwrap();
    save(change(
        made.row.id,
        Change::Set(Utc::now() + Duration::days(60)),
    ))
    .await
    .unwrap();
}

/// Two console instances on one database tick at the same moment: each job runs
/// in one of them, so a crossed budget fires once and is mailed once.
#[actix_web::test]
async fn two_instances_ticking_together_run_each_job_once() {
    let db = TestDb::new().await;
    let (sink, smtp_url) = SmtpSink::start().await;
    let console = spawn_console_with_mail(&db.conn, None).await;
    let mut team = team(&db, &console).await;
    let owner = team.get_mut(&Role::Owner).unwrap();
    create_key(owner, "acme", "dev", "shared").await;
    let key = key_named(&db, "shared").await;
    spend(&db, &key, 4_500_000).await; // 90 % of the key's and dev's $5
    let a = Jobs::new(db.conn.clone(), Some(mailer(&smtp_url)), None);
    let b = Jobs::new(db.conn.clone(), Some(mailer(&smtp_url)), None);
    let interval = std::time::Duration::from_secs(60);
    tokio::join!(a.tick(interval), b.tick(interval));
    let holders: Vec<String> = airlock_schema::entities::job_lease::Entity::find()
        .all(&db.conn)
        .await
        .unwrap()
        .into_iter()
        .map(|lease| lease.holder)
        .collect();
    assert_eq!(holders.len(), 4, "every job was taken");
    assert!(holders.iter().all(|h| *h == a.holder || *h == b.holder));
    assert_eq!(
        alert::Entity::find().count(&db.conn).await.unwrap(),
        2,
        "the key's and dev's 80 % alerts, once each"
    );
    // The mail job may have run in the other instance before the alerts were
    // in (each job runs once a tick, in whichever instance holds it); the next
    // mail run sends what is pending, and nothing is ever sent twice.
    a.run(Job::AlertMail, Utc::now()).await.unwrap();
    b.run(Job::AlertMail, Utc::now()).await.unwrap();
    assert_eq!(sink.messages().len(), 2, "each mailed once");
    // A second tick within the interval finds every lease held: nothing runs.
    spend(&db, &key, 1_000_000).await; // 110 %: would fire the 100 % alerts
    tokio::join!(a.tick(interval), b.tick(interval));
    assert_eq!(alert::Entity::find().count(&db.conn).await.unwrap(), 2);
}
