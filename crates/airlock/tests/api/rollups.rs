//! The daily rollups equal a fresh aggregate of the usage records: after random
//! traffic through the real relay (the usage writer keeps them in the batch's
//! transaction), after batches written for earlier days, and after a rebuild. So do
//! the two coarser grains (per key, per model), each for its own grouping.

use std::collections::BTreeMap;

use airlock_core::key::Env;
use airlock_schema::entities::usage_daily::Grain;
use airlock_schema::entities::{relay_key, usage_daily, usage_record};
use airlock_schema::rollup;
use chrono::{Duration, NaiveDate, Utc};
use rand::{Rng, SeedableRng};
use sea_orm::EntityTrait;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::TestApp;

type Grouping = (
    Uuid,
    NaiveDate,
    String,
    Option<Uuid>,
    Option<Uuid>,
    String,
    String,
);
type Sums = [i64; 7];

/// What a grain's rollups should hold, computed here from the records.
async fn expected(app: &TestApp, grain: Grain) -> BTreeMap<Grouping, Sums> {
    let owners: BTreeMap<Uuid, Option<Uuid>> = relay_key::Entity::find()
        .all(&app.db.conn)
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.id, k.owner_user_id))
        .collect();
    let mut out: BTreeMap<Grouping, Sums> = BTreeMap::new();
    for r in app.usage_records().await {
        let Some(tenant) = r.tenant_id else { continue };
        let mut grouping = (
            tenant,
            r.created_at.date_naive(),
            r.env.map(|e| e.0.to_string()).unwrap_or_default(),
            r.key_id,
            r.key_id.and_then(|k| owners.get(&k).copied().flatten()),
            r.provider.unwrap_or_default(),
            r.model.unwrap_or_default(),
        );
        match grain {
            Grain::Full => {}
            Grain::Keys => (grouping.5, grouping.6) = (String::new(), String::new()),
            Grain::Models => (grouping.3, grouping.4) = (None, None),
        }
        let sums = out.entry(grouping).or_default();
        sums[0] += 1;
        sums[1] += i64::from(r.status_code >= 400);
        sums[2] += r.input_tokens;
        sums[3] += r.output_tokens;
        sums[4] += i64::from(r.input_images);
        sums[5] += r.cost_micros;
        sums[6] += i64::from(!r.priced);
    }
    out
}

async fn rollups(app: &TestApp, grain: Grain) -> BTreeMap<Grouping, Sums> {
    let mut out = BTreeMap::new();
    for r in grain.find().all(&app.db.conn).await.unwrap() {
        assert_eq!(
            r.dims,
            usage_daily::dims_digest(&r.env, r.key_id, r.member_id, &r.provider, &r.model)
        );
        let previous = out.insert(
            (
                r.tenant_id,
                r.day,
                r.env,
                r.key_id,
                r.member_id,
                r.provider,
                r.model,
            ),
            [
                r.requests,
                r.errors,
                r.input_tokens,
                r.output_tokens,
                r.images,
                r.cost_micros,
                r.unpriced_requests,
            ],
        );
        assert!(
            previous.is_none(),
            "two {grain:?} rollup rows for one grouping"
        );
    }
    out
}

/// Every grain equals its aggregate of the records; returns the full grain's.
async fn assert_every_grain_is_exact(app: &TestApp) -> BTreeMap<Grouping, Sums> {
    // The records first: reading them waits for the relay's writer to flush.
    let full = expected(app, Grain::Full).await;
    assert_eq!(rollups(app, Grain::Full).await, full);
    for grain in [Grain::Keys, Grain::Models] {
        let want = expected(app, grain).await;
        assert_eq!(rollups(app, grain).await, want, "{grain:?}");
    }
    full
}

/// A record as the relay writes it, for an earlier day.
fn record(
    tenant: Uuid,
    key: Uuid,
    env: Env,
    at: chrono::DateTime<Utc>,
    model: &str,
    cost: i64,
    status: i32,
) -> usage_record::Model {
    usage_record::Model {
        id: Uuid::now_v7(),
        request_id: format!("req_{}", Uuid::new_v4().simple()),
        tenant_id: Some(tenant),
        key_id: Some(key),
        env: Some(env.into()),
        endpoint: "chat_completions".into(),
        provider: Some("openai".into()),
        model: Some(model.into()),
        created_at: at,
        latency_ms: 12,
        upstream_latency_ms: Some(10),
        status_code: status,
        error_code: None,
        input_tokens: 100,
        output_tokens: 20,
        cost_micros: cost,
        priced: cost > 0,
        message_count: 1,
        input_chars: 400,
        input_images: 1,
        output_chars: 80,
        redactions: json!({}),
        injection_flags: 0,
        injection_score_milli: 0,
        injection_indirect_milli: 0,
        injection_layer: None,
        output_flags: 0,
        data_class: None,
        input_hash: None,
        streamed: false,
        client_disconnected: false,
        client_ip: Some("203.0.113.9".into()),
    }
}

#[actix_web::test]
async fn rollups_equal_a_fresh_aggregate_after_random_traffic_and_after_a_rebuild() {
    let app = TestApp::spawn().await;
    let dev = app.key(Env::Dev).await;
    let prod = app.key(Env::Prod).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let models = [
        "mock",
        "gpt-4o-mini",
        "claude-3-5-haiku-latest",
        "no-such-model",
    ];
    for _ in 0..40 {
        let key = if rng.gen_bool(0.5) { &dev } else { &prod };
        let model = models[rng.gen_range(0..models.len())];
        let body = if rng.gen_bool(0.1) {
            // Refused before routing: a tenant's error without a provider.
            json!({"model": model, "messages": []})
        } else {
            json!({"model": model, "messages": [{"role": "user", "content": format!("hello {}", rng.gen_range(0..1000))}]})
        };
        let _ = app.post("/v1/chat/completions", key, body).await;
    }
    // A request with no valid key: recorded, never rolled up (no tenant).
    let _ = app
        .post(
            "/v1/chat/completions",
            "dev_not-a-key",
            json!({"model": "mock", "messages": []}),
        )
        .await;
    let live = assert_every_grain_is_exact(&app).await;
    assert!(
        live.len() >= 4,
        "traffic should spread over groups: {live:?}"
    );

    // Batches for earlier days go through the same writer function.
    let key = relay_key::Entity::find().all(&app.db.conn).await.unwrap();
    let key = &key[0];
    let now = Utc::now();
    let batch: Vec<usage_record::Model> = (0..30)
        .map(|i| {
            record(
                app.tenant_id,
                key.id,
                *key.env,
                now - Duration::days(i % 3 + 1) - Duration::minutes(i),
                if i % 2 == 0 { "gpt-4o" } else { "gpt-4o-mini" },
                if i % 5 == 0 { 0 } else { 1_000 + i },
                if i % 7 == 0 { 429 } else { 200 },
            )
        })
        .collect();
    rollup::write_usage_batch(&app.db.conn, &batch[..10])
        .await
        .unwrap();
    rollup::write_usage_batch(&app.db.conn, &batch[10..])
        .await
        .unwrap();
    let with_history = assert_every_grain_is_exact(&app).await;

    // A rebuild from the records gives the same rows.
    let from = now.date_naive() - chrono::Days::new(5);
    let report = rollup::rebuild_from(&app.db.conn, from).await.unwrap();
    assert_eq!(report.days, 6);
    assert_eq!(assert_every_grain_is_exact(&app).await, with_history);

    // And corrects rollups that drifted (a row lost, a row inflated).
    use sea_orm::{ActiveModelTrait, IntoActiveModel, ModelTrait, Set};
    let rows = usage_daily::Entity::find().all(&app.db.conn).await.unwrap();
    rows[0].clone().delete(&app.db.conn).await.unwrap();
    let mut inflated = rows[1].clone().into_active_model();
    inflated.cost_micros = Set(rows[1].cost_micros + 999);
    inflated.update(&app.db.conn).await.unwrap();
    assert_ne!(rollups(&app, Grain::Full).await, with_history);
    // A coarse grain drifted too: its table has no entity of its own, so by SQL.
    use sea_orm::ConnectionTrait;
    app.db
        .conn
        .execute_unprepared("UPDATE usage_daily_models SET requests = requests + 5")
        .await
        .unwrap();
    assert_ne!(
        rollups(&app, Grain::Models).await,
        expected(&app, Grain::Models).await
    );
    rollup::rebuild_from(&app.db.conn, from).await.unwrap();
    assert_eq!(assert_every_grain_is_exact(&app).await, with_history);
}
