//! Integration tests: the real relay on a random port, its own database (a
//! SQLite file, or a fresh PostgreSQL database when DATABASE_URL is postgres),
//! and `mock-upstream` over HTTP standing in for the providers.

mod binary;
mod helpers;
mod leak;
mod relay;
