//! Seed data: the list prices built into `airlock_core`, as `model_prices` rows with
//! `tenant_id` NULL. Tenants override them with their own rows. `down` removes every
//! list-price row (tenant rows stay).
//!
//! Later price changes belong in new migrations (or the admin command), not in edits to
//! this one: it has already run on existing databases.

use airlock_core::pricing::{PriceTable, family_of};
use sea_orm_migration::prelude::*;

/// Family recorded for a built-in model `family_of` does not recognise.
const UNKNOWN_FAMILY: &str = "unknown";

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let now = chrono::Utc::now();
        let prices = PriceTable::builtin();
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
        for (model, price) in prices.entries() {
            let family = family_of(model).unwrap_or(UNKNOWN_FAMILY);
            insert
                .values([
                    uuid::Uuid::now_v7().into(),
                    Option::<uuid::Uuid>::None.into(),
                    model.to_owned().into(),
                    family.to_owned().into(),
                    price.input_per_mtok.as_micros().into(),
                    price.output_per_mtok.as_micros().into(),
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
