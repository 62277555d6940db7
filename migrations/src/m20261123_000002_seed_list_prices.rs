//! Seed data: the list prices built into `airlock_core`, as `model_prices` rows with
//! `tenant_id` NULL. Tenants override them with their own rows. `down` removes every
//! list-price row (tenant rows stay).
//!
//! Later price changes belong in new migrations (or the console's prices page), not in
//! edits to this one: it has already run on existing databases. The list is therefore
//! frozen here as it was; `m20261201_000007_price_aliases` brings it up to date.

use airlock_core::pricing::family_of;
use sea_orm_migration::prelude::*;

/// Family recorded for a built-in model `family_of` does not recognise.
const UNKNOWN_FAMILY: &str = "unknown";

/// The list as of this migration: model, micro-dollars per million input and output tokens.
const LIST_PRICES: &[(&str, i64, i64)] = &[
    ("claude-3-5-haiku", 800_000, 4_000_000),
    ("claude-3-7-sonnet", 3_000_000, 15_000_000),
    ("claude-haiku-4-5", 1_000_000, 5_000_000),
    ("claude-opus-4", 15_000_000, 75_000_000),
    ("claude-opus-4-1", 15_000_000, 75_000_000),
    ("claude-sonnet-4", 3_000_000, 15_000_000),
    ("claude-sonnet-4-5", 3_000_000, 15_000_000),
    ("deepseek-chat", 280_000, 420_000),
    ("deepseek-reasoner", 280_000, 420_000),
    ("gemini-2.0-flash", 100_000, 400_000),
    ("gemini-2.5-flash", 300_000, 2_500_000),
    ("gemini-2.5-flash-lite", 100_000, 400_000),
    ("gemini-2.5-pro", 1_250_000, 10_000_000),
    ("gpt-4.1", 2_000_000, 8_000_000),
    ("gpt-4.1-mini", 400_000, 1_600_000),
    ("gpt-4.1-nano", 100_000, 400_000),
    ("gpt-4o", 2_500_000, 10_000_000),
    ("gpt-4o-mini", 150_000, 600_000),
    ("gpt-5", 1_250_000, 10_000_000),
    ("gpt-5-mini", 250_000, 2_000_000),
    ("gpt-5-nano", 50_000, 400_000),
    ("mock", 1_000_000, 2_000_000),
    ("o1", 15_000_000, 60_000_000),
    ("o3", 2_000_000, 8_000_000),
    ("o3-mini", 1_100_000, 4_400_000),
    ("o4-mini", 1_100_000, 4_400_000),
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let now = chrono::Utc::now();
        let mut insert = Query::insert();
        insert.into_table(ModelPrices::Table).columns([
            ModelPrices::Id,
            ModelPrices::TenantId,
            ModelPrices::Model,
            ModelPrices::ProviderFamily,
            ModelPrices::InputPerMtokMicros,
            ModelPrices::OutputPerMtokMicros,
            ModelPrices::CreatedAt,
            ModelPrices::UpdatedAt,
        ]);
        let mut rows = 0_usize;
        for &(model, input, output) in LIST_PRICES {
            let family = family_of(model).unwrap_or(UNKNOWN_FAMILY);
            insert
                .values([
                    uuid::Uuid::now_v7().into(),
                    Option::<uuid::Uuid>::None.into(),
                    model.to_owned().into(),
                    family.to_owned().into(),
                    input.into(),
                    output.into(),
                    now.into(),
                    now.into(),
                ])
                .map_err(|e| DbErr::Migration(format!("building the list-price insert: {e}")))?;
            rows += 1;
        }
        if rows > 0 {
            manager.exec_stmt(insert).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .exec_stmt(
                Query::delete()
                    .from_table(ModelPrices::Table)
                    .and_where(Expr::col(ModelPrices::TenantId).is_null())
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
    CreatedAt,
    UpdatedAt,
}
