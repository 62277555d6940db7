//! Settings the relay policy needs that the first schema did not have:
//! tenant-wide rate limits, a per-key `max_tokens` ceiling, the "no code in
//! answers" switch of a class policy, and the output-check flags and image count
//! of a usage record.
//!
//! Every column is nullable or has a default, so relays of the previous release keep
//! working against the migrated schema. One column per `ALTER TABLE`: SQLite takes
//! one change per statement.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, mut column) in new_columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        // The relay polls these tables by `updated_at` every 250 ms.
        for (name, table) in UPDATED_AT_INDEXES {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Alias::new(table))
                        .col(Alias::new("updated_at"))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in UPDATED_AT_INDEXES {
            manager
                .drop_index(Index::drop().name(name).table(Alias::new(table)).to_owned())
                .await?;
        }
        for (table, column) in new_columns().into_iter().rev() {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(Alias::new(column.get_column_name()))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

/// The columns this migration adds, in order (`down` drops them in reverse).
fn new_columns() -> Vec<(DynIden, ColumnDef)> {
    vec![
        (
            Tenants::Table.into_iden(),
            ColumnDef::new(Tenants::RpmLimit)
                .integer()
                .null()
                .to_owned(),
        ),
        (
            Tenants::Table.into_iden(),
            ColumnDef::new(Tenants::TpmLimit)
                .integer()
                .null()
                .to_owned(),
        ),
        (
            RelayKeys::Table.into_iden(),
            ColumnDef::new(RelayKeys::MaxTokensCeiling)
                .integer()
                .null()
                .to_owned(),
        ),
        (
            RelayKeys::Table.into_iden(),
            ColumnDef::new(RelayKeys::RejectOverCeiling)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
        ),
        (
            ClassificationPolicies::Table.into_iden(),
            ColumnDef::new(ClassificationPolicies::BlockCode)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
        ),
        (
            UsageRecords::Table.into_iden(),
            ColumnDef::new(UsageRecords::OutputFlags)
                .integer()
                .not_null()
                .default(0)
                .to_owned(),
        ),
        (
            UsageRecords::Table.into_iden(),
            ColumnDef::new(UsageRecords::InputImages)
                .integer()
                .not_null()
                .default(0)
                .to_owned(),
        ),
    ]
}

const UPDATED_AT_INDEXES: [(&str, &str); 4] = [
    (
        "idx_classification_policies_updated_at",
        "classification_policies",
    ),
    ("idx_provider_agreements_updated_at", "provider_agreements"),
    ("idx_env_defaults_updated_at", "env_defaults"),
    ("idx_tenants_updated_at", "tenants"),
];

#[derive(DeriveIden)]
enum Tenants {
    Table,
    RpmLimit,
    TpmLimit,
}

#[derive(DeriveIden)]
enum RelayKeys {
    Table,
    MaxTokensCeiling,
    RejectOverCeiling,
}

#[derive(DeriveIden)]
enum ClassificationPolicies {
    Table,
    BlockCode,
}

#[derive(DeriveIden)]
enum UsageRecords {
    Table,
    OutputFlags,
    InputImages,
}
