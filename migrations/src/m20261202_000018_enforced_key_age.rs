//! `env_defaults.enforce_max_age`: when set, no key of the environment may be
//! made or extended past the environment's maximum key age. Off for every
//! existing environment.

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
                    .table(EnvDefaults::Table)
                    .add_column(boolean(EnvDefaults::EnforceMaxAge).default(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(EnvDefaults::Table)
                    .drop_column(EnvDefaults::EnforceMaxAge)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum EnvDefaults {
    Table,
    EnforceMaxAge,
}
