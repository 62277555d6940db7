//! Storage of Airlock: the SeaORM entities both planes use ([`entities`]) and opening a
//! database connection ([`db`]).
//!
//! The same code serves SQLite (the embedded default) and PostgreSQL (production); the
//! schema itself is created by the `airlock_migrations` crate, and the entities here are
//! kept in step with it by hand.

pub mod db;
pub mod entities;
pub mod queries;
pub mod rollup;
pub mod settings;
pub mod stored;

/// The strings of a JSON array column (`allowed_models`, `ip_allowlist`,
/// `allowed_providers`); anything else in it, or a non-array, gives no strings.
pub fn json_strings(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
