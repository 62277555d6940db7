//! List prices for the embedding models the relay now serves (`/v1/embeddings`):
//! OpenAI's `text-embedding-3-small`, `-3-large` and `ada-002`, and Gemini's
//! `gemini-embedding-001`, in micro-dollars per million input tokens (an
//! embedding has no output). Rows that exist keep their price (a fresh database
//! got them from the built-in list already; an operator may have set others).
//! The list is written out here, not read from `airlock_core`, so this migration
//! does the same thing whatever the code of a later release says.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

const EMBEDDING_PRICES: [(&str, &str, i64); 4] = [
    ("text-embedding-3-small", "openai", 20_000),
    ("text-embedding-3-large", "openai", 130_000),
    ("text-embedding-ada-002", "openai", 100_000),
    ("gemini-embedding-001", "gemini", 150_000),
];

#[derive(DeriveIden)]
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

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let now = chrono::Utc::now();
        for (model, family, input) in EMBEDDING_PRICES {
            let existing = Query::select()
                .column(ModelPrices::Id)
                .from(ModelPrices::Table)
                .and_where(Expr::col(ModelPrices::TenantId).is_null())
                .and_where(Expr::col(ModelPrices::Model).eq(model))
                .to_owned();
            if db.query_one(&existing).await?.is_some() {
                continue;
            }
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
                    ModelPrices::CreatedAt,
                    ModelPrices::UpdatedAt,
                ])
                .values([
                    uuid::Uuid::now_v7().into(),
                    Option::<uuid::Uuid>::None.into(),
                    model.into(),
                    family.into(),
                    input.into(),
                    0i64.into(),
                    now.into(),
                    now.into(),
                ])
                .map_err(|e| DbErr::Migration(format!("building a list-price insert: {e}")))?;
            db.execute(&insert).await?;
        }
        Ok(())
    }

    /// The rows stay: removing list prices would make those models unpriced.
    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
