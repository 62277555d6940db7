//! Opening the database: which URLs are accepted and how the pool is set up per backend.
//!
//! Only SQLite (`sqlite:`) and PostgreSQL (`postgres:` / `postgresql:`) are supported;
//! the migrations and the tests run on exactly these two.

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseBackend, DatabaseConnection, DbErr};

/// Connections of the PostgreSQL pool of one process (relay or console).
const POSTGRES_MAX_CONNECTIONS: u32 = 16;
/// Connections of a file-backed SQLite pool. WAL lets readers run beside the one writer.
const SQLITE_FILE_MAX_CONNECTIONS: u32 = 8;
/// How long a SQLite statement waits for the write lock before failing with "busy".
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
const IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// Statements slower than this are logged at WARN.
const SLOW_STATEMENT: Duration = Duration::from_secs(1);

/// Why [`connect`] failed. Messages never contain the URL, which may carry a password.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(
        "unsupported database URL scheme `{scheme}`: Airlock supports `sqlite:` \
         (e.g. sqlite://airlock.db?mode=rwc) and `postgres:` or `postgresql:` \
         (e.g. postgres://airlock@localhost/airlock); fix the database URL setting"
    )]
    UnsupportedScheme { scheme: String },
    #[error("the {backend} database URL is malformed: {reason}; fix the database URL setting")]
    InvalidUrl {
        backend: &'static str,
        reason: String,
    },
    #[error("could not connect to the {backend} database")]
    Connect {
        backend: &'static str,
        #[source]
        source: DbErr,
    },
}

/// The two backends we accept, decided from the URL scheme alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn from_url(url: &str) -> Result<Self, DbError> {
        let scheme = url.split_once(':').map(|(scheme, _)| scheme);
        match scheme.map(str::to_ascii_lowercase).as_deref() {
            Some("sqlite") => Ok(Self::Sqlite),
            Some("postgres" | "postgresql") => Ok(Self::Postgres),
            _ => Err(DbError::UnsupportedScheme {
                scheme: printable_scheme(scheme),
            }),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// The scheme as typed, if it looks like one; otherwise a placeholder, so that a URL
/// without a scheme (say `user:password@host`) doesn't put its password in the error.
fn printable_scheme(scheme: Option<&str>) -> String {
    match scheme {
        Some(s)
            if !s.is_empty()
                && s.len() <= 16
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            s.to_owned()
        }
        _ => "(none)".to_owned(),
    }
}

/// True for SQLite URLs whose database lives in memory and vanishes with its last
/// connection.
fn is_sqlite_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// Opens a pool for `url`, which must start with `sqlite:`, `postgres:` or `postgresql:`.
///
/// SQLite files run in WAL mode with `synchronous=NORMAL`, a busy timeout and foreign
/// keys on, so the usage writer and the readers don't fail on each other's locks. An
/// in-memory SQLite database gets exactly one connection that is never recycled, because
/// every new connection would see a new, empty database.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbError> {
    let backend = Backend::from_url(url)?;
    let mut options = ConnectOptions::new(url);
    options
        .connect_timeout(CONNECT_TIMEOUT)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .sqlx_logging(true)
        .sqlx_logging_level(log::LevelFilter::Debug)
        .sqlx_slow_statements_logging_settings(log::LevelFilter::Warn, SLOW_STATEMENT);

    match backend {
        Backend::Sqlite => {
            // Parse here first: sea-orm's own parse error would echo the whole URL.
            url.parse::<SqliteConnectOptions>()
                .map_err(|e| DbError::InvalidUrl {
                    backend: backend.name(),
                    reason: e.to_string(),
                })?;
            if is_sqlite_memory(url) {
                options
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None);
                options.map_sqlx_sqlite_opts(|o| {
                    o.foreign_keys(true).busy_timeout(SQLITE_BUSY_TIMEOUT)
                });
            } else {
                options
                    .max_connections(SQLITE_FILE_MAX_CONNECTIONS)
                    .min_connections(1)
                    .idle_timeout(IDLE_TIMEOUT);
                options.map_sqlx_sqlite_opts(|o| {
                    o.journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                        .busy_timeout(SQLITE_BUSY_TIMEOUT)
                        .foreign_keys(true)
                });
            }
        }
        Backend::Postgres => {
            url.parse::<sea_orm::sqlx::postgres::PgConnectOptions>()
                .map_err(|e| DbError::InvalidUrl {
                    backend: backend.name(),
                    reason: e.to_string(),
                })?;
            options
                .max_connections(POSTGRES_MAX_CONNECTIONS)
                .min_connections(1)
                .idle_timeout(IDLE_TIMEOUT)
                .set_application_name("airlock");
        }
    }

    Database::connect(options)
        .await
        .map_err(|source| DbError::Connect {
            backend: backend.name(),
            source,
        })
}

/// `"sqlite"` or `"postgres"` (or `"mysql"`, which [`connect`] never opens), for logs,
/// `/readyz` and the few places where SQL differs by backend.
pub fn backend_name(db: &DatabaseConnection) -> &'static str {
    match db.get_database_backend() {
        DatabaseBackend::Sqlite => "sqlite",
        DatabaseBackend::Postgres => "postgres",
        DatabaseBackend::MySql => "mysql",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{ConnectionTrait, Statement};

    #[tokio::test]
    async fn a_mysql_url_is_refused_naming_the_supported_schemes() {
        let err = connect("mysql://root:hunter2@localhost/airlock")
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DbError::UnsupportedScheme { .. }));
        assert!(msg.contains("`mysql`"), "{msg}");
        assert!(msg.contains("sqlite:"), "{msg}");
        assert!(msg.contains("postgres:"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[tokio::test]
    async fn a_url_without_scheme_does_not_leak_its_password() {
        let err = connect("admin:hunter2@db.internal/airlock")
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`admin`"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");

        let err = connect("db.internal/airlock").await.unwrap_err();
        assert!(err.to_string().contains("`(none)`"), "{err}");
    }

    #[tokio::test]
    async fn a_malformed_postgres_url_does_not_leak_its_password() {
        let err = connect("postgres://admin:hunter2@db.internal:notaport/airlock")
            .await
            .unwrap_err();
        let msg = format!("{err} {err:?}");
        assert!(matches!(err, DbError::InvalidUrl { .. }), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[tokio::test]
    async fn memory_sqlite_keeps_its_data_on_the_single_connection() {
        let db = connect("sqlite::memory:").await.unwrap();
        assert_eq!(backend_name(&db), "sqlite");
        db.execute_unprepared("CREATE TABLE t (x INTEGER)")
            .await
            .unwrap();
        db.execute_unprepared("INSERT INTO t VALUES (1)")
            .await
            .unwrap();
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM t",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<i64>("", "n").unwrap(), 1);
    }

    #[tokio::test]
    async fn file_sqlite_runs_in_wal_mode_with_foreign_keys_on() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
        let db = connect(&url).await.unwrap();
        let backend = db.get_database_backend();
        let mode = db
            .query_one_raw(Statement::from_string(backend, "PRAGMA journal_mode"))
            .await
            .unwrap()
            .unwrap()
            .try_get::<String>("", "journal_mode")
            .unwrap();
        assert_eq!(mode, "wal");
        let fk = db
            .query_one_raw(Statement::from_string(backend, "PRAGMA foreign_keys"))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i32>("", "foreign_keys")
            .unwrap();
        assert_eq!(fk, 1);
    }
}
