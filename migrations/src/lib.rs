//! Schema migrations of Airlock, in the order they apply. The same list runs on SQLite
//! and PostgreSQL; `airlock migrate` calls [`Migrator::up`](MigratorTrait::up).
//!
//! Rules for new migrations:
//! - name them `mYYYYMMDD_NNNNNN_what` and append them to [`Migrator::migrations`]
//!   (a test checks every module file is listed, in order);
//! - keep them safe while old relays still serve traffic: add columns nullable or with a
//!   default, backfill, and only drop in a later release (expand, then contract);
//! - schema and seed data go in separate migrations;
//! - change the matching entity in `airlock_schema` in the same commit; the tests compare
//!   every entity's columns to its table on both backends.
//!
//! Every migration runs in a transaction, on SQLite too (which has transactional DDL), so
//! a failure leaves no half-created schema behind.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_initial;
mod m20261123_000002_seed_list_prices;
mod m20261123_000003_policy_settings;
mod m20261123_000004_invitations;
mod m20261123_000005_api_tokens;
mod m20261123_000006_key_list_index;
mod m20261201_000007_prices_as_data;
mod m20261201_000008_accounts_and_keyed_audit;
mod m20261201_000009_embedding_prices;
mod m20261201_000010_injection_layers;
mod m20261201_000011_billing;
mod m20261202_000012_rollup_grains;
mod m20261202_000013_shown_once;
mod m20261202_000014_explicit_routing;
mod m20261202_000015_alerts_and_jobs;
mod m20261202_000016_key_suspension;
mod m20261202_000017_anomaly_settings;
mod m20261202_000018_enforced_key_age;
mod m20261202_000019_notification_settings;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_initial::Migration),
            Box::new(m20261123_000002_seed_list_prices::Migration),
            Box::new(m20261123_000003_policy_settings::Migration),
            Box::new(m20261123_000004_invitations::Migration),
            Box::new(m20261123_000005_api_tokens::Migration),
            Box::new(m20261123_000006_key_list_index::Migration),
            Box::new(m20261201_000007_prices_as_data::Migration),
            Box::new(m20261201_000008_accounts_and_keyed_audit::Migration),
            Box::new(m20261201_000009_embedding_prices::Migration),
            Box::new(m20261201_000010_injection_layers::Migration),
            Box::new(m20261201_000011_billing::Migration),
            Box::new(m20261202_000012_rollup_grains::Migration),
            Box::new(m20261202_000013_shown_once::Migration),
            Box::new(m20261202_000014_explicit_routing::Migration),
            Box::new(m20261202_000015_alerts_and_jobs::Migration),
            Box::new(m20261202_000016_key_suspension::Migration),
            Box::new(m20261202_000017_anomaly_settings::Migration),
            Box::new(m20261202_000018_enforced_key_age::Migration),
            Box::new(m20261202_000019_notification_settings::Migration),
        ]
    }
}
