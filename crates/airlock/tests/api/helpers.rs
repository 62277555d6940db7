use std::time::Duration;

use actix_web::{App, HttpServer, web};
use airlock_console::accounts::{self, NewUser};
use airlock_console::tenant::agreements::NewAgreement;
use airlock_console::tenant::keys::NewKey;
use airlock_console::tenant::limits::{EnvDefaultsInput, KeyLimits, KeyLimitsInput};
use airlock_console::tenant::members::NewMember;
use airlock_console::tenant::policies::NewPolicy;
use airlock_console::tenant::providers::{NewRoute, ProviderInput};
use airlock_console::tenant::{self, Actor, AuditKey, NewTenant, Store, TenantScope};
use airlock_core::egress::EgressPolicy;
use airlock_core::envelope::MasterKeys;
use airlock_core::key::{Env, KeyHasher};
use airlock_core::money::MicroDollars;
use airlock_core::provider::ProviderKind;
use airlock_core::role::Role;
use airlock_migrations::{Migrator, MigratorTrait};
use airlock_relay::mock_upstream::{self, MockBehaviour, MockUpstream};
use airlock_relay::{RelayRuntime, RelaySettings};
use airlock_schema::entities::user;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use secrecy::SecretString;
use serde_json::Value;
use uuid::Uuid;

pub const PROVIDER_SECRET: &str = "sk-provider-CANARY-5eCr3tKeY-0001";

/// A per-test database: a temp SQLite file, or a new Postgres database that is
/// dropped when the test ends. If DATABASE_URL is postgres and unreachable, the
/// test fails (it is never skipped).
pub struct TestDb {
    pub conn: DatabaseConnection,
    /// The URL another process can open the same database with.
    pub url: String,
    pub sqlite_path: Option<std::path::PathBuf>,
    _dir: Option<tempfile::TempDir>,
    pg_admin: Option<(String, String)>,
}

impl TestDb {
    pub async fn new() -> TestDb {
        match std::env::var("DATABASE_URL") {
            Ok(url) if url.starts_with("postgres") => {
                let name = format!("airlock_t_{}", Uuid::new_v4().simple());
                let admin = airlock_schema::db::connect(&url)
                    .await
                    .expect("DATABASE_URL is set but Postgres is unreachable");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .unwrap();
                let (base, _) = url.rsplit_once('/').unwrap();
                let test_url = format!("{base}/{name}");
                let conn = airlock_schema::db::connect(&test_url).await.unwrap();
                Migrator::up(&conn, None).await.unwrap();
                TestDb {
                    conn,
                    url: test_url,
                    sqlite_path: None,
                    _dir: None,
                    pg_admin: Some((url, name)),
                }
            }
            _ => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("test.db");
                let url = format!("sqlite://{}?mode=rwc", path.display());
                let conn = airlock_schema::db::connect(&url).await.unwrap();
                Migrator::up(&conn, None).await.unwrap();
                TestDb {
                    conn,
                    url,
                    sqlite_path: Some(path),
                    _dir: Some(dir),
                    pg_admin: None,
                }
            }
        }
    }

    /// Every byte the database holds, as text: the SQLite files, or each Postgres
    /// table's rows cast to text.
    pub async fn dump(&self) -> String {
        if let Some(path) = &self.sqlite_path {
            let mut all = Vec::new();
            for suffix in ["", "-wal"] {
                if let Ok(bytes) = std::fs::read(format!("{}{suffix}", path.display())) {
                    all.extend(bytes);
                }
            }
            return String::from_utf8_lossy(&all).into_owned();
        }
        // A fresh connection: the shared pool may hold connections opened on the
        // relay's worker runtimes, which are gone once the app has stopped.
        let conn = airlock_schema::db::connect(&self.url).await.unwrap();
        let tables = conn
            .query_all_raw(sea_orm::Statement::from_string(
                self.conn.get_database_backend(),
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
            ))
            .await
            .unwrap();
        let mut out = String::new();
        for row in tables {
            let table: String = row.try_get("", "tablename").unwrap();
            let rows = conn
                .query_all_raw(sea_orm::Statement::from_string(
                    conn.get_database_backend(),
                    format!("SELECT t::text AS row FROM \"{table}\" t"),
                ))
                .await
                .unwrap();
            for r in rows {
                out.push_str(&r.try_get::<String>("", "row").unwrap());
                out.push('\n');
            }
        }
        let _ = conn.close().await;
        out
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.pg_admin.take() {
            // Best effort, on a plain thread: Drop cannot await.
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(admin) = airlock_schema::db::connect(&admin_url).await {
                        let _ = admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await;
                    }
                });
            })
            .join()
            .ok();
        }
    }
}

/// The password of every user the tests make.
pub const PASSWORD: &str = "correct horse battery staple";
/// The session secret of the tests' consoles (the audit key derives from it).
pub const JWT_SECRET: &str = "console-test-jwt-secret-0123456789abcdef";

pub fn secrets() -> (KeyHasher, MasterKeys) {
    (
        KeyHasher::new(&[7u8; 32]).unwrap(),
        MasterKeys::new(1, [9u8; 32]),
    )
}

/// The audit key of the tests' consoles and CLI.
pub fn audit_key() -> AuditKey {
    AuditKey::derive(JWT_SECRET.as_bytes()).unwrap()
}

/// The tenant layer's store over a test database.
pub fn store(db: &TestDb) -> Store {
    Store::new(db.conn.clone(), audit_key())
}

/// A tenant made through the tenant layer, with the operator's scope, and the
/// setup a test asks for (members, providers, keys, limits), each step the same
/// function the console and the CLI call.
pub struct TestTenant {
    pub store: Store,
    pub scope: TenantScope,
    pub actor: Actor,
    /// What base URLs may point at (the tests' upstreams are on loopback).
    pub egress: EgressPolicy,
}

impl TestTenant {
    pub async fn new(db: &TestDb, slug: &str) -> TestTenant {
        let store = store(db);
        let actor = Actor::cli();
        tenant::create(
            &store,
            &actor,
            None,
            NewTenant {
                slug: slug.into(),
                name: slug.into(),
            },
        )
        .await
        .unwrap();
        let scope = TenantScope::operator(store.db(), slug).await.unwrap();
        TestTenant {
            store,
            scope,
            actor,
            egress: EgressPolicy::parse(["127.0.0.0/8"], false).unwrap(),
        }
    }

    /// The operator's hand on a tenant made some other way (in the console).
    pub async fn existing(db: &TestDb, slug: &str) -> TestTenant {
        let store = store(db);
        let scope = TenantScope::operator(store.db(), slug).await.unwrap();
        TestTenant {
            store,
            scope,
            actor: Actor::cli(),
            egress: EgressPolicy::parse(["127.0.0.0/8"], false).unwrap(),
        }
    }

    pub fn id(&self) -> Uuid {
        self.scope.tenant_id()
    }

    /// A member with `role`: the account with `email`, made (with [`PASSWORD`],
    /// address confirmed) unless it exists.
    pub async fn with_member(self, email: &str, role: Role) -> Self {
        self.member(email, role).await;
        self
    }

    pub async fn member(&self, email: &str, role: Role) -> user::Model {
        let user = match accounts::find_by_email(self.store.db(), email)
            .await
            .unwrap()
        {
            Some(user) => user,
            None => user_with_password(self.store.db(), email).await,
        };
        tenant::members::add(
            &self.store,
            &self.scope,
            &self.actor,
            NewMember {
                user_id: user.id,
                role,
            },
        )
        .await
        .unwrap();
        user
    }

    pub async fn provider(&self, name: &str, kind: ProviderKind, base_url: Option<&str>) {
        let (_, master_keys) = secrets();
        let input = ProviderInput {
            master_keys: &master_keys,
            egress: &self.egress,
            name: name.into(),
            kind,
            base_url: base_url.map(str::to_owned),
            api_key: kind
                .needs_credential()
                .then(|| SecretString::from(format!("{PROVIDER_SECRET}-{name}"))),
        };
        tenant::providers::save(&self.store, &self.scope, &self.actor, input)
            .await
            .unwrap();
    }

    pub async fn route(&self, model: &str, provider: &str, upstream: Option<&str>) {
        let route = NewRoute {
            model: model.into(),
            provider: provider.into(),
            upstream_model: upstream.map(str::to_owned),
        };
        tenant::providers::save_route(&self.store, &self.scope, &self.actor, route)
            .await
            .unwrap();
    }

    pub async fn agreement(&self, agreement: NewAgreement) {
        tenant::agreements::save(&self.store, &self.scope, &self.actor, agreement)
            .await
            .unwrap();
    }

    pub async fn policy(&self, policy: NewPolicy) {
        tenant::policies::save(&self.store, &self.scope, &self.actor, policy)
            .await
            .unwrap();
    }

    /// An environment's defaults, changing only what is given.
    pub async fn env_defaults(
        &self,
        env: Env,
        rpm: Option<u32>,
        monthly_budget: Option<MicroDollars>,
    ) {
        let current = tenant::limits::env_defaults(&self.store, &self.scope)
            .await
            .unwrap()
            .into_iter()
            .find(|row| *row.env == env)
            .unwrap();
        let input = EnvDefaultsInput {
            env,
            rpm: rpm.unwrap_or(u32::try_from(current.rpm_limit).unwrap()),
            tpm: Default::default(),
            monthly_budget: monthly_budget
                .unwrap_or(MicroDollars::new(current.monthly_budget_micros)),
            max_key_age_days: u32::try_from(current.max_key_age_days).unwrap(),
            enforce_max_age: None,
        };
        tenant::limits::save_env_defaults(&self.store, &self.scope, &self.actor, input)
            .await
            .unwrap();
    }

    /// A key of the environment; returns the key and its display prefix.
    pub async fn key(&self, env: Env) -> (String, String) {
        let (hasher, _) = secrets();
        let new = NewKey {
            hasher: &hasher,
            env,
            name: "test".into(),
            allowed_models: vec![],
            expires_at: None,
        };
        let created = tenant::keys::create(&self.store, &self.scope, &self.actor, new)
            .await
            .unwrap();
        (created.key.expose().to_owned(), created.row.display_prefix)
    }

    /// Changes a key's limits (found by its display prefix).
    pub async fn key_limits(&self, prefix: &str, limits: KeyLimits) {
        let key = tenant::keys::by_prefix(&self.store, &self.scope, prefix)
            .await
            .unwrap();
        let input = KeyLimitsInput {
            key_id: key.id,
            limits,
        };
        tenant::limits::save_key_limits(&self.store, &self.scope, &self.actor, input)
            .await
            .unwrap();
    }

    pub async fn revoke(&self, prefix: &str) {
        let key = tenant::keys::by_prefix(&self.store, &self.scope, prefix)
            .await
            .unwrap();
        tenant::keys::revoke(&self.store, &self.scope, &self.actor, key.id)
            .await
            .unwrap();
    }
}

/// An account with [`PASSWORD`] and a confirmed address.
pub async fn user_with_password(db: &DatabaseConnection, email: &str) -> user::Model {
    accounts::create_user(
        db,
        NewUser {
            email: email.into(),
            display_name: "Test".into(),
            password: SecretString::from(PASSWORD),
            verified: true,
        },
    )
    .await
    .unwrap()
}

/// The account with this address (made by a test, in the console or here).
pub async fn user_by_email(db: &DatabaseConnection, email: &str) -> user::Model {
    accounts::find_by_email(db, email).await.unwrap().unwrap()
}

pub struct TestApp {
    pub db: TestDb,
    pub relay_url: String,
    pub mock_url: String,
    pub tenant_id: Uuid,
    pub tenant: TestTenant,
    pub client: reqwest::Client,
    runtime: Option<RelayRuntime>,
    relay_handle: actix_web::dev::ServerHandle,
}

/// Starts `mock-upstream` on a random port; returns its base URL.
pub fn spawn_mock_upstream(behaviour: MockBehaviour) -> String {
    let mock = web::Data::new(MockUpstream::new(behaviour));
    let configure = mock_upstream::configure(mock);
    let server = HttpServer::new(move || App::new().configure(configure.clone()))
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
    let url = format!("http://{}", server.addrs()[0]);
    actix_web::rt::spawn(server.run());
    url
}

impl TestApp {
    /// A tenant with providers `openai`, `anthropic`, `gemini` (all pointing at the
    /// mock upstream over HTTP) and `mock` (in-process) as the default, and the
    /// routes an admin sets to send each family to its provider (`gpt-*`,
    /// `text-embedding-*`, `o1-*`, `claude-*`, `gemini-*`).
    pub async fn spawn() -> TestApp {
        Self::spawn_with(RelaySettings::default()).await
    }

    /// [`TestApp::spawn`] with relay settings of the test's choosing (the refresh
    /// interval is always the tests' 100 ms).
    pub async fn spawn_with(settings: RelaySettings) -> TestApp {
        let db = TestDb::new().await;
        let mock_url = spawn_mock_upstream(MockBehaviour::default());
        let (hasher, master_keys) = secrets();
        let tenant = TestTenant::new(&db, "acme").await;
        tenant.provider("mock", ProviderKind::Mock, None).await;
        for (name, kind, base) in [
            ("openai", ProviderKind::OpenAi, format!("{mock_url}/v1")),
            ("anthropic", ProviderKind::Anthropic, mock_url.clone()),
            ("gemini", ProviderKind::Gemini, mock_url.clone()),
        ] {
            tenant.provider(name, kind, Some(&base)).await;
        }
        for (pattern, provider) in [
            ("gpt-*", "openai"),
            ("text-embedding-*", "openai"),
            ("o1-*", "openai"),
            ("claude-*", "anthropic"),
            ("gemini-*", "gemini"),
        ] {
            tenant.route(pattern, provider, None).await;
        }
        // Internal data (the keys' default class) needs a DPA; confidential also
        // zero retention. The policy tests change these on purpose.
        for provider in ["openai", "anthropic", "gemini"] {
            tenant
                .agreement(NewAgreement {
                    provider: provider.into(),
                    dpa_signed_on: chrono::NaiveDate::from_ymd_opt(2026, 1, 1),
                    zero_data_retention: true,
                    ..Default::default()
                })
                .await;
        }
        // Generous environment defaults, so tests that are not about limits do
        // not trip them; the limit tests set their own.
        for env in Env::ALL {
            tenant
                .env_defaults(env, Some(100_000), Some(MicroDollars::new(1_000_000_000)))
                .await;
        }

        // The mock upstream listens on loopback, which the egress policy refuses
        // unless the operator allows it: allow exactly its port, as an operator
        // allows a self-hosted model.
        let mock_addr = mock_url.trim_start_matches("http://");
        let settings = RelaySettings {
            refresh_interval: Duration::from_millis(100),
            egress: settings
                .egress
                .clone()
                .allowing(airlock_core::egress::parse_allow_entry(mock_addr).unwrap()),
            ..settings
        };
        let runtime = RelayRuntime::start(db.conn.clone(), hasher.clone(), master_keys, settings)
            .await
            .unwrap();
        let configure = runtime.configure();
        let relay = HttpServer::new(move || App::new().configure(configure.clone()))
            .workers(2)
            .bind("127.0.0.1:0")
            .unwrap();
        let relay_url = format!("http://{}", relay.addrs()[0]);
        let relay = relay.run();
        let relay_handle = relay.handle();
        actix_web::rt::spawn(relay);
        TestApp {
            tenant_id: tenant.id(),
            tenant,
            db,
            relay_url,
            mock_url,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            runtime: Some(runtime),
            relay_handle,
        }
    }

    pub async fn key(&self, env: Env) -> String {
        self.tenant.key(env).await.0
    }

    /// A key and its display prefix.
    pub async fn key_with_prefix(&self, env: Env) -> (String, String) {
        self.tenant.key(env).await
    }

    /// Sets a key's limits and waits until the relay has polled the change (every
    /// 100 ms in tests; 400 ms leaves room on a busy machine).
    pub async fn set_key(&self, prefix: &str, limits: KeyLimits) {
        self.tenant.key_limits(prefix, limits).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }

    /// Tells the relay which addresses are its own (the binary does this after binding).
    pub fn add_own_listeners(&self, addrs: &[std::net::SocketAddr]) {
        if let Some(runtime) = &self.runtime {
            runtime.add_own_listeners(addrs);
        }
    }

    /// Sets how `mock-upstream` answers from now on.
    pub async fn mock_behaviour(&self, behaviour: Value) {
        let response = self
            .client
            .post(format!("{}/__config", self.mock_url))
            .json(&behaviour)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
    }

    pub async fn clear_received(&self) {
        self.client
            .delete(format!("{}/__received", self.mock_url))
            .send()
            .await
            .unwrap();
    }

    /// Every usage record, oldest first, after flushing the queue.
    pub async fn usage_records(&self) -> Vec<airlock_schema::entities::usage_record::Model> {
        use sea_orm::{EntityTrait, QueryOrder};
        if let Some(runtime) = &self.runtime {
            runtime.flush_usage().await;
        }
        airlock_schema::entities::usage_record::Entity::find()
            .order_by_asc(airlock_schema::entities::usage_record::Column::CreatedAt)
            .all(&self.db.conn)
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.relay_url))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn received(&self) -> Vec<Value> {
        self.client
            .get(format!("{}/__received", self.mock_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Stops the relay gracefully and drains the usage queue.
    pub async fn stop(&mut self) {
        self.relay_handle.stop(true).await;
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown().await;
        }
    }
}

/// The concatenated text of an SSE body's OpenAI deltas.
pub fn openai_stream_text(body: &str) -> String {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

pub fn anthropic_stream_text(body: &str) -> String {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter(|v| v["type"] == "content_block_delta")
        .filter_map(|v| v["delta"]["text"].as_str().map(str::to_owned))
        .collect()
}

/// A priced chat request of `key` that cost `cost_micros` at `at`, as the
/// relay's usage writer records it (metadata only). Write it with
/// `airlock_schema::rollup::write_usage_batch`, which adds it to the rollups.
pub fn spend_record(
    key: &airlock_schema::entities::relay_key::Model,
    cost_micros: i64,
    at: chrono::DateTime<chrono::Utc>,
) -> airlock_schema::entities::usage_record::Model {
    airlock_schema::entities::usage_record::Model {
        id: Uuid::now_v7(),
        request_id: "req".into(),
        tenant_id: Some(key.tenant_id),
        key_id: Some(key.id),
        env: Some(key.env),
        endpoint: "chat_completions".into(),
        provider: Some("mock".into()),
        model: Some("mock".into()),
        created_at: at,
        latency_ms: 1,
        upstream_latency_ms: None,
        status_code: 200,
        error_code: None,
        input_tokens: 1,
        output_tokens: 1,
        cost_micros,
        priced: true,
        message_count: 1,
        input_chars: 1,
        output_chars: 1,
        redactions: serde_json::json!({}),
        injection_flags: 0,
        injection_score_milli: 0,
        injection_indirect_milli: 0,
        injection_layer: None,
        output_flags: 0,
        input_images: 0,
        data_class: Some(airlock_core::class::DataClass::Internal.into()),
        input_hash: None,
        streamed: false,
        client_disconnected: false,
        client_ip: None,
    }
}
