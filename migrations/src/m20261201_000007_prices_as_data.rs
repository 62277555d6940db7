//! Prices become data the relay reads: each `model_prices` row gains `aliases` (other
//! names of the same model at the same price, `{date}` standing for a release date),
//! the list prices are brought up to the built-in list of `airlock_core` (models that
//! were missing are added; rows that exist keep their price, since an operator may
//! have changed it, and gain their aliases if they had none), and a usage record says
//! whether its model had a price (`priced`), so a request that cost $0 because its
//! model was unknown is never mistaken for a free one.
//!
//! Both columns have defaults, so relays of the previous release keep working.

use airlock_core::pricing::{BUILTIN, family_of};
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UNKNOWN_FAMILY: &str = "unknown";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ModelPrices::Table)
                    .add_column(
                        ColumnDef::new(ModelPrices::Aliases)
                            .json()
                            .not_null()
                            .default("[]"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(UsageRecords::Table)
                    .add_column(
                        ColumnDef::new(UsageRecords::Priced)
                            .boolean()
                            .not_null()
                            .default(true),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_model_prices_updated_at")
                    .table(ModelPrices::Table)
                    .col(ModelPrices::UpdatedAt)
                    .to_owned(),
            )
            .await?;

        list_prices_up_to_date(manager.get_connection()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_model_prices_updated_at")
                    .table(ModelPrices::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(UsageRecords::Table)
                    .drop_column(UsageRecords::Priced)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ModelPrices::Table)
                    .drop_column(ModelPrices::Aliases)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum ModelPrices {
    Table,
    Id,
    TenantId,
    Model,
    ProviderFamily,
    InputPerMtokMicros,
    OutputPerMtokMicros,
    Aliases,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum UsageRecords {
    Table,
    Priced,
}

/// Adds every built-in list price the table lacks and gives aliases to list rows
/// that have none. Prices that exist are kept (an operator may have changed
/// them).
async fn list_prices_up_to_date<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let select = Query::select()
        .columns([ModelPrices::Model, ModelPrices::Aliases])
        .from(ModelPrices::Table)
        .and_where(Expr::col(ModelPrices::TenantId).is_null())
        .to_owned();
    // (model, has aliases) of every list-price row.
    let mut existing: Vec<(String, bool)> = Vec::new();
    for row in db.query_all(&select).await? {
        let aliases: serde_json::Value = row.try_get("", "aliases")?;
        existing.push((
            row.try_get("", "model")?,
            aliases.as_array().is_some_and(|a| !a.is_empty()),
        ));
    }
    let now = chrono::Utc::now();
    for entry in BUILTIN {
        let aliases = serde_json::json!(entry.aliases);
        match existing.iter().find(|(model, _)| model == entry.model) {
            Some((_, has_aliases)) => {
                if !has_aliases && !entry.aliases.is_empty() {
                    let update = Query::update()
                        .table(ModelPrices::Table)
                        .value(ModelPrices::Aliases, aliases)
                        .value(ModelPrices::UpdatedAt, now)
                        .and_where(Expr::col(ModelPrices::TenantId).is_null())
                        .and_where(Expr::col(ModelPrices::Model).eq(entry.model))
                        .to_owned();
                    db.execute(&update).await?;
                }
            }
            None => {
                let mut insert = Query::insert();
                insert
                    .into_table(ModelPrices::Table)
                    .columns([
                        ModelPrices::Id,
                        ModelPrices::TenantId,
                        ModelPrices::Model,
                        ModelPrices::ProviderFamily,
                        ModelPrices::InputPerMtokMicros,
                        ModelPrices::OutputPerMtokMicros,
                        ModelPrices::Aliases,
                        ModelPrices::CreatedAt,
                        ModelPrices::UpdatedAt,
                    ])
                    .values([
                        uuid::Uuid::now_v7().into(),
                        Option::<uuid::Uuid>::None.into(),
                        entry.model.into(),
                        family_of(entry.model).unwrap_or(UNKNOWN_FAMILY).into(),
                        entry.input.into(),
                        entry.output.into(),
                        aliases.into(),
                        now.into(),
                        now.into(),
                    ])
                    .map_err(|e| DbErr::Migration(format!("building a list-price insert: {e}")))?;
                db.execute(&insert).await?;
            }
        }
    }
    Ok(())
}
