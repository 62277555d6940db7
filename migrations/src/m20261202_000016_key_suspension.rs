//! `relay_keys.suspended_at`: a key held in an incident (refused with
//! `key_suspended` until a person releases it). Null for every existing key.

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
                    .table(RelayKeys::Table)
                    .add_column(timestamp_with_time_zone_null(RelayKeys::SuspendedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(RelayKeys::Table)
                    .drop_column(RelayKeys::SuspendedAt)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum RelayKeys {
    Table,
    SuspendedAt,
}
