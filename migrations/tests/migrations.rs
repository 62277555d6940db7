//! The migrations against real databases: a fresh SQLite file always, and a fresh
//! PostgreSQL database when `DATABASE_URL` points at one (CI sets it; if it is set and the
//! server can't be reached, the test fails rather than skips).
//!
//! On each backend: migrate up, check every entity against its table (same column set,
//! queryable, a full row round-trips), check the seed, the constraints and the foreign-key
//! actions, roll the seed back alone, roll everything back, and migrate up again.

// clippy.toml's allow-*-in-tests covers `#[test]` functions, not the helpers of an
// integration-test crate; here a failed unwrap is a failed test, as intended.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test by panicking"
)]

use std::collections::BTreeSet;

use airlock_core::class::DataClass;
use airlock_core::key::Env;
use airlock_core::policy::{CheckAction, InjectionAction};
use airlock_core::pricing::PriceTable;
use airlock_core::provider::ProviderKind;
use airlock_core::redact::ContentAction;
use airlock_core::role::Role;
use airlock_migrations::{Migrator, MigratorTrait, SchemaManager};
use airlock_schema::entities::usage_daily::Grain;
use airlock_schema::entities::{
    alert, alert_setting, api_token, audit_event, audit_head, billing_report,
    classification_policy, env_default, invitation, job_lease, membership, model_price,
    model_route, notification_setting, provider_agreement, provider_credential, relay_key,
    shown_once, stripe_webhook_event, tenant, tenant_billing, usage_daily, usage_record, user,
    user_token,
};
use airlock_schema::stored::Stored;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use sea_orm_migration::sea_orm::{
    ActiveModelTrait, ColumnTrait, ColumnType, ConnectionTrait, DatabaseBackend,
    DatabaseConnection, EntityTrait, IdenStatic, IntoActiveModel, Iterable, ModelTrait,
    PaginatorTrait, QueryFilter, QuerySelect, Statement, sea_query::StringLen,
};
use serde_json::json;
use uuid::Uuid;

/// Every column `usage_records` may have. A column that could carry prompt or completion
/// text (prompt, completion, body, content, messages, …) must never be added here.
const USAGE_RECORD_ALLOWED_COLUMNS: &[&str] = &[
    "id",
    "request_id",
    "tenant_id",
    "key_id",
    "env",
    "endpoint",
    "provider",
    "model",
    "created_at",
    "latency_ms",
    "upstream_latency_ms",
    "status_code",
    "error_code",
    "input_tokens",
    "output_tokens",
    "cost_micros",
    "priced",
    "message_count",
    "input_chars",
    "output_chars",
    "redactions",
    "injection_flags",
    // The injection screen's scores (0–1000) and the name of its deciding layer.
    "injection_score_milli",
    "injection_indirect_milli",
    "injection_layer",
    "output_flags",
    "input_images",
    "data_class",
    "input_hash",
    "streamed",
    "client_disconnected",
    "client_ip",
];

const TABLES: [&str; 27] = [
    "api_tokens",
    "audit_heads",
    "user_tokens",
    "invitations",
    "tenants",
    "users",
    "memberships",
    "relay_keys",
    "env_defaults",
    "provider_credentials",
    "model_routes",
    "provider_agreements",
    "classification_policies",
    "model_prices",
    "usage_records",
    "usage_daily",
    "usage_daily_keys",
    "usage_daily_models",
    "shown_once",
    "tenant_billing",
    "billing_reports",
    "stripe_webhook_events",
    "audit_events",
    "alerts",
    "alert_settings",
    "job_leases",
    "notification_settings",
];

// ---------------------------------------------------------------------------------------
// Tests without a database
// ---------------------------------------------------------------------------------------

#[test]
fn migrator_lists_every_migration_file_in_date_order() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('m') && name.ends_with(".rs"))
        .map(|name| name.trim_end_matches(".rs").to_owned())
        .collect();
    files.sort();
    assert!(!files.is_empty());

    let listed: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    assert_eq!(
        listed, files,
        "Migrator::migrations() must list src/m*.rs in order"
    );
}

#[test]
fn usage_records_columns_are_exactly_the_metadata_allow_list() {
    let columns: BTreeSet<&str> = usage_record::Column::iter().map(|c| c.as_str()).collect();
    let allowed: BTreeSet<&str> = USAGE_RECORD_ALLOWED_COLUMNS.iter().copied().collect();
    let unexpected: Vec<_> = columns.difference(&allowed).collect();
    assert!(
        unexpected.is_empty(),
        "usage_records may hold metadata only, never prompt or completion text; \
         columns not on the allow-list: {unexpected:?}"
    );
    assert_eq!(columns, allowed);
}

#[test]
fn usage_records_string_columns_all_have_a_length_cap() {
    for column in usage_record::Column::iter() {
        match column.def().get_column_type() {
            ColumnType::String(StringLen::N(n)) => assert!(*n <= 128, "{}", column.as_str()),
            ColumnType::String(_) | ColumnType::Text | ColumnType::Char(_) => panic!(
                "usage_records.{} is an uncapped text column; it could hold prompt text",
                column.as_str()
            ),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tests per backend
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn sqlite_migrates_up_down_and_up_again() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("airlock.db").display()
    );
    let db = airlock_schema::db::connect(&url).await.unwrap();
    assert_eq!(airlock_schema::db::backend_name(&db), "sqlite");
    exercise_backend(db).await;
}

#[tokio::test]
async fn postgres_migrates_up_down_and_up_again() {
    let Ok(admin_url) = std::env::var("DATABASE_URL") else {
        eprintln!("DATABASE_URL is not set: PostgreSQL migration test skipped");
        return;
    };
    if !admin_url.starts_with("postgres") {
        eprintln!("DATABASE_URL is not PostgreSQL: PostgreSQL migration test skipped");
        return;
    }

    // A fresh database per test run, dropped afterwards (also when the checks fail).
    let admin = airlock_schema::db::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("DATABASE_URL is set but PostgreSQL is unreachable: {e:?}"));
    let name = format!("airlock_mig_{}", Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();

    let url = with_database(&admin_url, &name);
    let outcome = tokio::spawn(async move {
        let db = airlock_schema::db::connect(&url).await.unwrap();
        assert_eq!(airlock_schema::db::backend_name(&db), "postgres");
        exercise_backend(db.clone()).await;
        db.close().await.unwrap();
    })
    .await;

    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// `url` with its database name replaced by `name`, keeping any query string.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    format!("{base}/{name}{query}")
}

#[test]
fn with_database_replaces_only_the_database_name() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgresql://u:p@h/test?sslmode=disable", "x"),
        "postgresql://u:p@h/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
}

async fn exercise_backend(db: DatabaseConnection) {
    // Up from empty.
    Migrator::up(&db, None).await.unwrap();
    assert!(
        Migrator::get_pending_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        Migrator::get_applied_migrations(&db).await.unwrap().len(),
        Migrator::migrations().len()
    );
    every_entity_matches_its_table(&db).await;
    list_prices_are_seeded(&db).await;
    coarse_rollups_are_filled_on_upgrade(&db).await;
    family_routing_is_written_down_on_upgrade(&db).await;

    // Rows of every table round-trip through the entities; constraints and FK actions
    // behave the same on both backends.
    rows_round_trip_and_constraints_hold(&db).await;

    // Rolling back every migration but the first (the seed last) removes list
    // prices and keeps tenant prices
    // (and the dropped columns go without taking rows with them). Only columns the
    // first schema had are selected: later ones are gone by then.
    let override_tenant = insert_tenant(&db, "after-seed").await;
    insert_tenant_price(&db, override_tenant.id).await;
    let after_the_first = u32::try_from(Migrator::migrations().len() - 1).unwrap();
    Migrator::down(&db, Some(after_the_first)).await.unwrap();
    let list_prices = model_price::Entity::find()
        .select_only()
        .column(model_price::Column::Id)
        .filter(model_price::Column::TenantId.is_null())
        .count(&db)
        .await
        .unwrap();
    assert_eq!(list_prices, 0);
    let tenant_prices = model_price::Entity::find()
        .select_only()
        .column(model_price::Column::Id)
        .filter(model_price::Column::TenantId.eq(override_tenant.id))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(tenant_prices, 1);

    // All the way down: every table is gone.
    Migrator::down(&db, None).await.unwrap();
    let manager = SchemaManager::new(&db);
    for table in TABLES {
        assert!(
            !manager.has_table(table).await.unwrap(),
            "{table} survived down"
        );
    }
    assert!(
        Migrator::get_applied_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );

    // And up again.
    Migrator::up(&db, None).await.unwrap();
    every_entity_matches_its_table(&db).await;
    list_prices_are_seeded(&db).await;
    assert_eq!(tenant::Entity::find().count(&db).await.unwrap(), 0);
}

/// Migration 14 writes down, as routes, where the old family rule sent each
/// family, so no traffic moves on upgrade; the default provider keeps its own.
async fn family_routing_is_written_down_on_upgrade(db: &DatabaseConnection) {
    let steps = Migrator::migrations()
        .iter()
        .rev()
        .position(|m| m.name() == "m20261202_000014_explicit_routing")
        .unwrap()
        + 1;
    Migrator::down(db, Some(u32::try_from(steps).unwrap()))
        .await
        .unwrap();
    let tenant = insert_tenant(db, "family-routing").await;
    let mut with_default = tenant.clone().into_active_model();
    with_default.default_provider = sea_orm_migration::sea_orm::Set(Some("mock".to_owned()));
    with_default.update(db).await.unwrap();
    for (minutes, name, kind) in [
        (0, "mock", ProviderKind::Mock),
        (1, "azure-eu", ProviderKind::OpenAi),
        (2, "azure-us", ProviderKind::OpenAi),
        (3, "claude-prod", ProviderKind::Anthropic),
        (4, "gemini", ProviderKind::Gemini),
    ] {
        provider_credential::ActiveModel {
            id: sea_orm_migration::sea_orm::Set(Uuid::now_v7()),
            tenant_id: sea_orm_migration::sea_orm::Set(tenant.id),
            name: sea_orm_migration::sea_orm::Set(name.to_owned()),
            kind: sea_orm_migration::sea_orm::Set(Stored(kind)),
            self_hosted: sea_orm_migration::sea_orm::Set(false),
            created_at: sea_orm_migration::sea_orm::Set(at(minutes)),
            updated_at: sea_orm_migration::sea_orm::Set(at(minutes)),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
    }
    // A route the admin made stays as it was.
    model_route::ActiveModel {
        id: sea_orm_migration::sea_orm::Set(Uuid::now_v7()),
        tenant_id: sea_orm_migration::sea_orm::Set(tenant.id),
        model: sea_orm_migration::sea_orm::Set("gemini-*".to_owned()),
        provider_name: sea_orm_migration::sea_orm::Set("azure-us".to_owned()),
        upstream_model: sea_orm_migration::sea_orm::Set(None),
        created_at: sea_orm_migration::sea_orm::Set(at(5)),
        updated_at: sea_orm_migration::sea_orm::Set(at(5)),
    }
    .insert(db)
    .await
    .unwrap();
    Migrator::up(db, None).await.unwrap();

    let routes: BTreeSet<(String, String)> = model_route::Entity::find()
        .filter(model_route::Column::TenantId.eq(tenant.id))
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.model, r.provider_name))
        .collect();
    let expected: BTreeSet<(String, String)> = [
        // The oldest provider of the OpenAI kind (none is named `openai`).
        ("gpt-*", "azure-eu"),
        ("chatgpt-*", "azure-eu"),
        ("text-embedding-*", "azure-eu"),
        ("o1", "azure-eu"),
        ("o1-*", "azure-eu"),
        ("o3", "azure-eu"),
        ("o3-*", "azure-eu"),
        ("o4", "azure-eu"),
        ("o4-*", "azure-eu"),
        ("claude-*", "claude-prod"),
        // The admin's own route wins over the provider named `gemini`; `mock` is
        // the default and needs no route.
        ("gemini-*", "azure-us"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_owned(), p.to_owned()))
    .collect();
    assert_eq!(routes, expected);
    tenant.delete(db).await.unwrap();
}

/// A rollup row as the upgrade check compares it: day, env, owner, provider, model,
/// requests, cost.
type RollupLine = (NaiveDate, String, Option<Uuid>, String, String, i64, i64);

/// Migration 12 fills the coarse rollups from `usage_daily`, and the usage writer
/// then adds to the rows it wrote (the same digests), never beside them.
async fn coarse_rollups_are_filled_on_upgrade(db: &DatabaseConnection) {
    let steps = Migrator::migrations()
        .iter()
        .rev()
        .position(|m| m.name() == "m20261202_000012_rollup_grains")
        .unwrap()
        + 1;
    Migrator::down(db, Some(u32::try_from(steps).unwrap()))
        .await
        .unwrap();
    let tenant = insert_tenant(db, "before-grains").await;
    let member = Uuid::now_v7();
    let (d1, d2) = (day(3), day(4));
    let rows = [
        (d1, "prod", Some(member), "openai", "gpt-4o", 2, 100),
        (d1, "prod", Some(member), "openai", "gpt-4o-mini", 3, 10),
        (d1, "dev", None, "anthropic", "claude-sonnet-4", 1, 5),
        (d2, "prod", Some(member), "openai", "gpt-4o", 4, 40),
    ];
    for (day, env, member_id, provider, model, requests, cost) in rows {
        usage_daily::Model {
            id: Uuid::now_v7(),
            tenant_id: tenant.id,
            day,
            dims: usage_daily::dims_digest(env, None, member_id, provider, model),
            env: env.to_owned(),
            key_id: None,
            member_id,
            provider: provider.to_owned(),
            model: model.to_owned(),
            requests,
            errors: 0,
            input_tokens: requests * 10,
            output_tokens: requests,
            images: 0,
            cost_micros: cost,
            unpriced_requests: 0,
            updated_at: at(0),
        }
        .into_active_model()
        .insert(db)
        .await
        .unwrap();
    }
    Migrator::up(db, None).await.unwrap();

    let tenant_id = tenant.id;
    let read = |grain: Grain| async move {
        let mut out: Vec<RollupLine> = grain
            .find()
            .filter(usage_daily::Column::TenantId.eq(tenant_id))
            .all(db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| {
                assert_eq!(
                    r.dims,
                    usage_daily::dims_digest(&r.env, r.key_id, r.member_id, &r.provider, &r.model)
                );
                assert_eq!(r.input_tokens, r.requests * 10);
                (
                    r.day,
                    r.env,
                    r.member_id,
                    r.provider,
                    r.model,
                    r.requests,
                    r.cost_micros,
                )
            })
            .collect();
        out.sort();
        out
    };
    let s = |v: &str| v.to_owned();
    assert_eq!(
        read(Grain::Keys).await,
        vec![
            (d1, s("dev"), None, s(""), s(""), 1, 5),
            (d1, s("prod"), Some(member), s(""), s(""), 5, 110),
            (d2, s("prod"), Some(member), s(""), s(""), 4, 40),
        ]
    );
    let models = vec![
        (
            d1,
            s("dev"),
            None,
            s("anthropic"),
            s("claude-sonnet-4"),
            1,
            5,
        ),
        (d1, s("prod"), None, s("openai"), s("gpt-4o"), 2, 100),
        (d1, s("prod"), None, s("openai"), s("gpt-4o-mini"), 3, 10),
        (d2, s("prod"), None, s("openai"), s("gpt-4o"), 4, 40),
    ];
    assert_eq!(read(Grain::Models).await, models);

    // The writer lands on the migrated row of (d2, prod, openai, gpt-4o).
    let at_d2 = Utc.from_utc_datetime(&d2.and_hms_opt(12, 0, 0).unwrap());
    let record = usage_record::Model {
        id: Uuid::now_v7(),
        request_id: "req_after_upgrade".to_owned(),
        tenant_id: Some(tenant.id),
        key_id: None,
        env: Some(Stored(Env::Prod)),
        endpoint: "chat_completions".to_owned(),
        provider: Some(s("openai")),
        model: Some(s("gpt-4o")),
        created_at: at_d2,
        latency_ms: 5,
        upstream_latency_ms: None,
        status_code: 200,
        error_code: None,
        input_tokens: 10,
        output_tokens: 1,
        cost_micros: 7,
        priced: true,
        message_count: 1,
        input_chars: 1,
        input_images: 0,
        output_chars: 1,
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
        client_ip: None,
    };
    airlock_schema::rollup::write_usage_batch(db, &[record])
        .await
        .unwrap();
    let mut after = models;
    after[3] = (d2, s("prod"), None, s("openai"), s("gpt-4o"), 5, 47);
    assert_eq!(read(Grain::Models).await, after);

    // Deleting the tenant takes its rollups of every grain with it.
    usage_record::Entity::delete_many().exec(db).await.unwrap();
    tenant.delete(db).await.unwrap();
    for grain in [Grain::Full, Grain::Keys, Grain::Models] {
        let left = grain
            .find()
            .filter(usage_daily::Column::TenantId.eq(tenant_id))
            .count(db)
            .await
            .unwrap();
        assert_eq!(left, 0, "{grain:?}");
    }
}

async fn every_entity_matches_its_table(db: &DatabaseConnection) {
    let manager = SchemaManager::new(db);
    for table in TABLES {
        assert!(
            manager.has_table(table).await.unwrap(),
            "{table} is missing"
        );
    }
    entity_matches_table(db, tenant::Entity).await;
    entity_matches_table(db, user::Entity).await;
    entity_matches_table(db, membership::Entity).await;
    entity_matches_table(db, relay_key::Entity).await;
    entity_matches_table(db, env_default::Entity).await;
    entity_matches_table(db, provider_credential::Entity).await;
    entity_matches_table(db, model_route::Entity).await;
    entity_matches_table(db, provider_agreement::Entity).await;
    entity_matches_table(db, classification_policy::Entity).await;
    entity_matches_table(db, model_price::Entity).await;
    entity_matches_table(db, usage_record::Entity).await;
    entity_matches_table(db, usage_daily::Entity).await;
    for grain in [Grain::Keys, Grain::Models] {
        // No entity of their own: `usage_daily`'s reads them (see `Grain::find`).
        grain.find().all(db).await.unwrap();
        assert_eq!(
            table_columns(db, grain.table()).await,
            table_columns(db, "usage_daily").await,
            "{} must have usage_daily's shape",
            grain.table()
        );
    }
    entity_matches_table(db, tenant_billing::Entity).await;
    entity_matches_table(db, billing_report::Entity).await;
    entity_matches_table(db, stripe_webhook_event::Entity).await;
    entity_matches_table(db, audit_event::Entity).await;
    entity_matches_table(db, alert::Entity).await;
    entity_matches_table(db, alert_setting::Entity).await;
    entity_matches_table(db, job_lease::Entity).await;
    entity_matches_table(db, notification_setting::Entity).await;
    entity_matches_table(db, invitation::Entity).await;
    entity_matches_table(db, api_token::Entity).await;
    entity_matches_table(db, audit_head::Entity).await;
    entity_matches_table(db, user_token::Entity).await;
    entity_matches_table(db, shown_once::Entity).await;

    // The database itself, not only the entity, holds no extra usage column.
    let allowed: BTreeSet<String> = USAGE_RECORD_ALLOWED_COLUMNS
        .iter()
        .map(|c| (*c).to_owned())
        .collect();
    assert_eq!(table_columns(db, "usage_records").await, allowed);
}

async fn entity_matches_table<E: EntityTrait>(db: &DatabaseConnection, entity: E) {
    let table = entity.table_name();
    E::find()
        .all(db)
        .await
        .unwrap_or_else(|e| panic!("querying {table} through its entity failed: {e}"));
    let in_entity: BTreeSet<String> = E::Column::iter().map(|c| c.as_str().to_owned()).collect();
    assert_eq!(
        table_columns(db, table).await,
        in_entity,
        "columns of table {table} (left) and its entity (right) differ"
    );
}

async fn table_columns(db: &DatabaseConnection, table: &str) -> BTreeSet<String> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Sqlite => format!("SELECT name FROM pragma_table_info('{table}')"),
        _ => format!(
            "SELECT column_name::text AS name FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{table}'"
        ),
    };
    db.query_all_raw(Statement::from_string(backend, sql))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", "name").unwrap())
        .collect()
}

async fn list_prices_are_seeded(db: &DatabaseConnection) {
    let builtin = PriceTable::builtin();
    let rows = model_price::Entity::find()
        .filter(model_price::Column::TenantId.is_null())
        .all(db)
        .await
        .unwrap();
    assert!(!rows.is_empty(), "no list prices were seeded");
    assert_eq!(rows.len(), builtin.entries().count());
    // Every built-in alias arrived with its model.
    for entry in airlock_core::pricing::BUILTIN {
        let row = rows.iter().find(|r| r.model == entry.model).unwrap();
        assert_eq!(
            row.aliases,
            serde_json::json!(entry.aliases),
            "{}",
            entry.model
        );
    }
    for row in rows {
        let price = builtin
            .lookup(&row.model)
            .unwrap_or_else(|| panic!("seeded {} is not in the built-in table", row.model));
        assert_eq!(row.input_per_mtok_micros, price.input_per_mtok.as_micros());
        assert_eq!(
            row.output_per_mtok_micros,
            price.output_per_mtok.as_micros()
        );
        assert!(!row.provider_family.is_empty());
    }
}

/// A fixed instant with microsecond precision, which both backends store exactly.
fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()
        + Duration::minutes(minutes)
        + Duration::microseconds(123_456)
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

/// Inserts `model`, then checks that both the returned row and a fresh read equal it.
async fn round_trip<M>(db: &DatabaseConnection, model: M) -> M
where
    M: ModelTrait
        + IntoActiveModel<<<M as ModelTrait>::Entity as EntityTrait>::ActiveModel>
        + PartialEq
        + std::fmt::Debug
        + Clone,
    <<M as ModelTrait>::Entity as EntityTrait>::ActiveModel:
        ActiveModelTrait<Entity = M::Entity> + Send,
    <M as ModelTrait>::Entity: EntityTrait<Model = M>,
{
    let inserted = model.clone().into_active_model().insert(db).await.unwrap();
    assert_eq!(inserted, model);
    let all = <M::Entity as EntityTrait>::find().all(db).await.unwrap();
    assert!(
        all.contains(&model),
        "read back differs: {all:?} vs {model:?}"
    );
    model
}

async fn insert_tenant(db: &DatabaseConnection, slug: &str) -> tenant::Model {
    round_trip(
        db,
        tenant::Model {
            id: Uuid::now_v7(),
            slug: slug.to_owned(),
            name: format!("Tenant {slug}"),
            default_provider: Some("mock".to_owned()),
            monthly_budget_micros: Some(500_000_000),
            rpm_limit: None,
            tpm_limit: Some(100_000),
            billing_suspended: false,
            created_at: at(0),
            updated_at: at(1),
        },
    )
    .await
}

async fn insert_tenant_price(db: &DatabaseConnection, tenant_id: Uuid) -> model_price::Model {
    round_trip(
        db,
        model_price::Model {
            id: Uuid::now_v7(),
            tenant_id: Some(tenant_id),
            model: "gpt-4o".to_owned(),
            provider_family: "openai".to_owned(),
            input_per_mtok_micros: 2_000_000,
            output_per_mtok_micros: 8_000_000,
            aliases: serde_json::json!(["custom-{date}"]),
            created_at: at(0),
            updated_at: at(0),
        },
    )
    .await
}

fn usage_record_for(tenant_id: Uuid, key_id: Uuid) -> usage_record::Model {
    usage_record::Model {
        id: Uuid::now_v7(),
        request_id: "r".repeat(usage_record::max_len::REQUEST_ID),
        tenant_id: Some(tenant_id),
        key_id: Some(key_id),
        env: Some(Stored(Env::Prod)),
        endpoint: "chat_completions".to_owned(),
        provider: Some("openai".to_owned()),
        model: Some("m".repeat(usage_record::max_len::MODEL)),
        created_at: at(5),
        latency_ms: 812,
        upstream_latency_ms: Some(790),
        status_code: 200,
        error_code: None,
        input_tokens: 1_200,
        output_tokens: 345,
        cost_micros: 6_210,
        priced: true,
        message_count: 3,
        input_chars: 4_800,
        output_chars: 1_400,
        redactions: json!({"email": 2, "phone": 1}),
        injection_flags: 32,
        injection_score_milli: 912,
        injection_indirect_milli: 40,
        injection_layer: Some("learned".into()),
        output_flags: 0,
        input_images: 1,
        data_class: Some(Stored(DataClass::Internal)),
        input_hash: Some("ab".repeat(32)),
        streamed: true,
        client_disconnected: false,
        client_ip: Some("203.0.113.7".to_owned()),
    }
}

async fn rows_round_trip_and_constraints_hold(db: &DatabaseConnection) {
    let acme = insert_tenant(db, "acme").await;
    let ada = round_trip(
        db,
        user::Model {
            id: Uuid::now_v7(),
            email: "ada@example.com".to_owned(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
            display_name: "Ada".to_owned(),
            session_version: 0,
            disabled: false,
            email_verified_at: None,
            created_at: at(0),
            updated_at: at(0),
        },
    )
    .await;
    round_trip(
        db,
        membership::Model {
            id: Uuid::now_v7(),
            tenant_id: acme.id,
            user_id: ada.id,
            role: Stored(Role::Owner),
            created_at: at(0),
        },
    )
    .await;
    let old_key = round_trip(
        db,
        relay_key::Model {
            id: Uuid::now_v7(),
            tenant_id: acme.id,
            env: Stored(Env::Prod),
            name: "checkout".to_owned(),
            display_prefix: "prod_ab12".to_owned(),
            key_hash: "0".repeat(64),
            owner_user_id: Some(ada.id),
            created_at: at(0),
            updated_at: at(2),
            expires_at: Some(at(60 * 24 * 90)),
            revoked_at: None,
            suspended_at: Some(at(4)),
            last_used_at: Some(at(3)),
            rotated_from_id: None,
            grace_until: Some(at(60)),
            rpm_limit: Some(600),
            tpm_limit: None,
            daily_budget_micros: Some(20_000_000),
            monthly_budget_micros: Some(500_000_000),
            per_request_cap_micros: Some(1_000_000),
            allowed_models: json!(["gpt-4o", "claude-sonnet-4"]),
            ip_allowlist: json!(["10.0.0.0/8"]),
            max_data_class: Stored(DataClass::Confidential),
            default_data_class: Stored(DataClass::Internal),
            max_tokens_ceiling: Some(4096),
            reject_over_ceiling: false,
        },
    )
    .await;
    let new_key = round_trip(
        db,
        relay_key::Model {
            id: Uuid::now_v7(),
            key_hash: "1".repeat(64),
            display_prefix: "prod_cd34".to_owned(),
            rotated_from_id: Some(old_key.id),
            grace_until: None,
            allowed_models: json!([]),
            ip_allowlist: json!([]),
            ..old_key.clone()
        },
    )
    .await;
    round_trip(
        db,
        env_default::Model {
            id: Uuid::now_v7(),
            tenant_id: acme.id,
            env: Stored(Env::Dev),
            rpm_limit: 10,
            tpm_limit: None,
            monthly_budget_micros: 5_000_000,
            max_key_age_days: 90,
            enforce_max_age: true,
            updated_at: at(0),
        },
    )
    .await;
    round_trip(
        db,
        provider_credential::Model {
            id: Uuid::now_v7(),
            tenant_id: acme.id,
            name: "openai".to_owned(),
            kind: Stored(ProviderKind::OpenAi),
            base_url: Some("https://api.openai.com/v1".to_owned()),
            ciphertext: Some(vec![0, 1, 2, 254, 255]),
            nonce: Some(vec![7; 12]),
            key_version: Some(1),
            last4: Some("wxyz".to_owned()),
            self_hosted: false,
            created_at: at(0),
            updated_at: at(0),
            rotated_at: None,
        },
    )
    .await;
    round_trip(
        db,
        provider_credential::Model {
            id: Uuid::now_v7(),
            tenant_id: acme.id,
            name: "mock".to_owned(),
            kind: Stored(ProviderKind::Mock),
            base_url: None,
            ciphertext: None,
            nonce: None,
            key_version: None,
            last4: None,
            self_hosted: true,
            created_at: at(0),
            updated_at: at(0),
            rotated_at: Some(at(9)),
        },
    )
    .await;
    round_trip(
        db,
        model_route::Model {
            id: Uuid::now_v7(),
            tenant_id: acme.id,
            model: "fast".to_owned(),
            provider_name: "openai".to_owned(),
            upstream_model: Some("gpt-4o-mini".to_owned()),
            created_at: at(0),
            updated_at: at(0),
        },
    )
    .await;
    round_trip(
        db,
        provider_agreement::Model {
            id: Uuid::now_v7(),
            tenant_id: acme.id,
            provider_name: "openai".to_owned(),
            dpa_signed_on: Some(day(1)),
            dpa_reference: Some("DPA-2026-17".to_owned()),
            baa: false,
            zero_data_retention: true,
            training_opt_out: true,
            region: Some("eu".to_owned()),
            expires_on: Some(day(30)),
            created_at: at(0),
            updated_at: at(0),
        },
    )
    .await;
    round_trip(
        db,
        classification_policy::Model {
            id: Uuid::now_v7(),
            tenant_id: acme.id,
            data_class: Stored(DataClass::Confidential),
            allowed_providers: json!(["openai"]),
            require_dpa: true,
            require_zdr: true,
            require_baa: false,
            pii_action: Stored(ContentAction::Redact),
            secret_action: Stored(ContentAction::Block),
            injection_action: Stored(InjectionAction::Judge),
            output_action: Stored(CheckAction::Flag),
            block_code: true,
            judge_provider: Some("openai".into()),
            judge_model: Some("gpt-4o-mini".into()),
            judge_timeout_ms: Some(1500),
            judge_on_failure: Some("closed".into()),
            updated_at: at(0),
        },
    )
    .await;
    insert_tenant_price(db, acme.id).await;
    let usage = round_trip(db, usage_record_for(acme.id, old_key.id)).await;
    round_trip(
        db,
        usage_record::Model {
            id: Uuid::now_v7(),
            tenant_id: None,
            key_id: None,
            env: None,
            provider: None,
            model: None,
            upstream_latency_ms: None,
            status_code: 401,
            error_code: Some("invalid_api_key".to_owned()),
            redactions: json!({}),
            data_class: None,
            input_hash: None,
            streamed: false,
            ..usage.clone()
        },
    )
    .await;
    round_trip(
        db,
        usage_daily::Model {
            id: Uuid::now_v7(),
            tenant_id: acme.id,
            day: day(23),
            dims: usage_daily::dims_digest("prod", Some(old_key.id), None, "openai", "gpt-4o"),
            env: "prod".to_owned(),
            key_id: Some(old_key.id),
            member_id: None,
            provider: "openai".to_owned(),
            model: "gpt-4o".to_owned(),
            requests: 10,
            errors: 1,
            input_tokens: 12_000,
            output_tokens: 3_450,
            images: 0,
            cost_micros: 62_100,
            unpriced_requests: 0,
            updated_at: at(5),
        },
    )
    .await;
    round_trip(
        db,
        audit_event::Model {
            id: Uuid::now_v7(),
            tenant_id: Some(acme.id),
            seq: 1,
            actor_user_id: Some(ada.id),
            actor_label: "ada@example.com".to_owned(),
            action: "key.rotate".to_owned(),
            target_type: "relay_key".to_owned(),
            target_id: Some(old_key.id.to_string()),
            ip: Some("203.0.113.7".to_owned()),
            before: Some(json!({"grace_until": null})),
            after: None,
            created_at: at(4),
            prev_hash: "0".repeat(64),
            hash: "f".repeat(64),
            keyed: true,
        },
    )
    .await;
    round_trip(
        db,
        alert::Model {
            id: Uuid::now_v7(),
            tenant_id: acme.id,
            kind: "budget".to_owned(),
            severity: "warning".to_owned(),
            scope: format!("key:{}", old_key.id),
            period: "2026-12".to_owned(),
            threshold: 80,
            subject: "Budget at 80%".to_owned(),
            body: "Key prod_ab12… reached 80% of its monthly budget.".to_owned(),
            key_id: Some(old_key.id),
            created_at: at(6),
            acknowledged_at: None,
            acknowledged_by: None,
            mail_state: "sent".to_owned(),
            mail_attempts: 1,
            mail_error: None,
            next_mail_at: None,
            emailed_at: Some(at(7)),
        },
    )
    .await;
    round_trip(
        db,
        alert_setting::Model {
            tenant_id: acme.id,
            budget_thresholds: "25,75,100".to_owned(),
            suspend_on_anomaly: "prod,ci".to_owned(),
            updated_at: at(6),
        },
    )
    .await;
    round_trip(
        db,
        notification_setting::Model {
            user_id: ada.id,
            budget: true,
            rotation: false,
            anomaly: true,
            incident: false,
            updated_at: at(8),
        },
    )
    .await;
    round_trip(
        db,
        job_lease::Model {
            name: "budget-alerts".to_owned(),
            holder: "instance-1".to_owned(),
            leased_until: at(8),
        },
    )
    .await;

    // Unique constraints.
    let duplicate_slug = tenant::Model {
        id: Uuid::now_v7(),
        ..acme.clone()
    };
    assert!(
        duplicate_slug.into_active_model().insert(db).await.is_err(),
        "uq_tenants_slug"
    );
    let duplicate_hash = relay_key::Model {
        id: Uuid::now_v7(),
        rotated_from_id: None,
        ..new_key.clone()
    };
    assert!(
        duplicate_hash.into_active_model().insert(db).await.is_err(),
        "uq_relay_keys_key_hash"
    );
    let duplicate_member = membership::Model {
        id: Uuid::now_v7(),
        tenant_id: acme.id,
        user_id: ada.id,
        role: Stored(Role::Viewer),
        created_at: at(0),
    };
    assert!(
        duplicate_member
            .into_active_model()
            .insert(db)
            .await
            .is_err(),
        "uq_memberships_tenant_user"
    );

    // usage_records refuses long text, on SQLite too (which ignores varchar lengths).
    let long_model = usage_record::Model {
        id: Uuid::now_v7(),
        model: Some("x".repeat(usage_record::max_len::MODEL + 1)),
        ..usage.clone()
    };
    assert!(
        long_model.into_active_model().insert(db).await.is_err(),
        "usage_records.model accepted more than its cap"
    );

    // Foreign keys: a key pointing at another tenant's id is refused.
    let orphan = relay_key::Model {
        id: Uuid::now_v7(),
        tenant_id: Uuid::now_v7(),
        key_hash: "2".repeat(64),
        rotated_from_id: None,
        ..new_key.clone()
    };
    assert!(
        orphan.into_active_model().insert(db).await.is_err(),
        "fk_relay_keys_tenant_id"
    );

    // Deleting a user removes memberships and un-owns keys.
    ada.clone().delete(db).await.unwrap();
    let key = relay_key::Entity::find_by_id(old_key.id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(key.owner_user_id, None);
    assert_eq!(membership::Entity::find().count(db).await.unwrap(), 0);

    // Deleting the old key keeps its usage, without the key.
    old_key.clone().delete(db).await.unwrap();
    let kept = usage_record::Entity::find_by_id(usage.id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.key_id, None);
    let successor = relay_key::Entity::find_by_id(new_key.id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(successor.rotated_from_id, None);

    // Deleting the tenant takes every tenant row with it, and leaves list prices and
    // tenant-less usage alone.
    acme.clone().delete(db).await.unwrap();
    assert_eq!(relay_key::Entity::find().count(db).await.unwrap(), 0);
    assert_eq!(env_default::Entity::find().count(db).await.unwrap(), 0);
    assert_eq!(
        provider_credential::Entity::find().count(db).await.unwrap(),
        0
    );
    assert_eq!(model_route::Entity::find().count(db).await.unwrap(), 0);
    assert_eq!(
        provider_agreement::Entity::find().count(db).await.unwrap(),
        0
    );
    assert_eq!(
        classification_policy::Entity::find()
            .count(db)
            .await
            .unwrap(),
        0
    );
    assert_eq!(usage_daily::Entity::find().count(db).await.unwrap(), 0);
    assert_eq!(audit_event::Entity::find().count(db).await.unwrap(), 0);
    assert_eq!(alert::Entity::find().count(db).await.unwrap(), 0);
    assert_eq!(usage_record::Entity::find().count(db).await.unwrap(), 1);
    assert_eq!(
        model_price::Entity::find()
            .filter(model_price::Column::TenantId.is_not_null())
            .count(db)
            .await
            .unwrap(),
        0
    );
    list_prices_are_seeded(db).await;
}
