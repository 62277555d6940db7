//! The layered injection screen: what a usage record keeps of it (the attack
//! scores, as thousandths, and the layer that decided), and the judge a class
//! policy may name for requests the first layers are unsure of (`injection =
//! judge`: a provider of the tenant, a model, a timeout, and what to do when the
//! judge does not answer).
//!
//! Every column is nullable or has a default, so relays of the previous release
//! keep working against the migrated schema. One column per `ALTER TABLE`.

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
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
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

fn new_columns() -> Vec<(DynIden, ColumnDef)> {
    let usage = || UsageRecords::Table.into_iden();
    let policies = || ClassificationPolicies::Table.into_iden();
    vec![
        (
            usage(),
            ColumnDef::new(UsageRecords::InjectionScoreMilli)
                .integer()
                .not_null()
                .default(0)
                .to_owned(),
        ),
        (
            usage(),
            ColumnDef::new(UsageRecords::InjectionIndirectMilli)
                .integer()
                .not_null()
                .default(0)
                .to_owned(),
        ),
        (
            usage(),
            ColumnDef::new(UsageRecords::InjectionLayer)
                .string_len(16)
                .null()
                .to_owned(),
        ),
        (
            policies(),
            ColumnDef::new(ClassificationPolicies::JudgeProvider)
                .string_len(64)
                .null()
                .to_owned(),
        ),
        (
            policies(),
            ColumnDef::new(ClassificationPolicies::JudgeModel)
                .string_len(128)
                .null()
                .to_owned(),
        ),
        (
            policies(),
            ColumnDef::new(ClassificationPolicies::JudgeTimeoutMs)
                .integer()
                .null()
                .to_owned(),
        ),
        (
            policies(),
            ColumnDef::new(ClassificationPolicies::JudgeOnFailure)
                .string_len(16)
                .null()
                .to_owned(),
        ),
    ]
}

#[derive(DeriveIden)]
enum UsageRecords {
    Table,
    InjectionScoreMilli,
    InjectionIndirectMilli,
    InjectionLayer,
}

#[derive(DeriveIden)]
enum ClassificationPolicies {
    Table,
    JudgeProvider,
    JudgeModel,
    JudgeTimeoutMs,
    JudgeOnFailure,
}
