//! Storage of Airlock: the SeaORM entities both planes use ([`entities`]) and opening a
//! database connection ([`db`]).
//!
//! The same code serves SQLite (the embedded default) and PostgreSQL (production); the
//! schema itself is created by the `airlock_migrations` crate, and the entities here are
//! kept in step with it by hand.

pub mod db;
pub mod entities;
pub mod queries;
