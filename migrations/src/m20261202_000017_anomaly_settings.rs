//! `alert_settings.suspend_on_anomaly`: the environments (comma-separated) where
//! an anomaly suspends the key at once instead of only alerting. Empty (notify
//! only) for every tenant until an admin chooses.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AlertSettings::Table)
                    .add_column(string_len(AlertSettings::SuspendOnAnomaly, 32).default(""))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AlertSettings::Table)
                    .drop_column(AlertSettings::SuspendOnAnomaly)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum AlertSettings {
    Table,
    SuspendOnAnomaly,
}
