//! Integration tests: the real relay on a random port, its own database (a
//! SQLite file, or a fresh PostgreSQL database when DATABASE_URL is postgres),
//! and `mock-upstream` over HTTP standing in for the providers.

// A test harness fails by panicking; the request-path lints do not apply here.
#![recursion_limit = "256"]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)]

mod accounts;
mod alerts;
mod billing;
mod binary;
mod boundary;
mod console;
mod console_settings;
mod endpoints;
mod fidelity;
mod helpers;
mod hostile;
mod incidents;
mod injection;
mod leak;
mod management_api;
mod policy;
mod relay;
mod rollups;
mod shared;
mod smtp_sink;
mod stripe_fake;
mod tools;
mod usage;
