//! Two coarser rollups beside `usage_daily`, so the usage views of a large tenant
//! read hundreds of rows instead of hundreds of thousands:
//!
//! - `usage_daily_keys`: per tenant, UTC day, environment, key and the key's owner
//!   (provider and model left `""`);
//! - `usage_daily_models`: per tenant, UTC day, environment, provider and model
//!   (key and owner left NULL).
//!
//! Both have exactly the columns of `usage_daily` (one shape, one entity reads all
//! three) and the same unique `(tenant_id, day, dims)`, `dims` being the digest of
//! the grouping with the unused parts empty, plus an index on `(tenant_id, day)`
//! that includes the grouping and the totals, so a period's report is an
//! index-only scan on PostgreSQL; and on the keys grain, the same by key and by
//! owner, so grouping by either is a streaming aggregate. The usage writer keeps all three in the
//! one transaction of each batch. This migration fills the new tables from
//! `usage_daily`, so an upgraded installation shows the same figures at once.
//!
//! The digest is computed here with its own copy of the function (a migration
//! must keep doing what it did when it shipped); `airlock_migrations`' tests check
//! that the usage writer then lands on the rows this migration wrote.

use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};
use sea_orm_migration::{prelude::*, schema::*};
use sha2::{Digest, Sha256};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Rows per INSERT while filling (18 values each: well under SQLite's limit).
const FILL_CHUNK: usize = 500;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for grain in [Grain::Keys, Grain::Models] {
            manager.create_table(grain.table()).await?;
            manager
                .create_index(
                    Index::create()
                        .name(format!("uq_{}_tenant_day_dims", grain.name()))
                        .table(Alias::new(grain.name()))
                        .col(UsageDaily::TenantId)
                        .col(UsageDaily::Day)
                        .col(UsageDaily::Dims)
                        .unique()
                        .to_owned(),
                )
                .await?;
            // What the views read, in the index itself: a tenant's period is one
            // index range, read without the table (PostgreSQL; SQLite has no
            // INCLUDE and gets the plain (tenant_id, day) index).
            let mut covering = Index::create();
            covering
                .name(format!("ix_{}_tenant_day_covering", grain.name()))
                .table(Alias::new(grain.name()))
                .col(UsageDaily::TenantId)
                .col(UsageDaily::Day);
            for column in grain.grouping().split(", ").chain(TOTALS) {
                covering.include(Alias::new(column));
            }
            manager.create_index(covering.to_owned()).await?;
            fill(manager, grain).await?;
        }
        // Grouped by key or by owner (the usage page's heaviest reports), a
        // tenant's rows come in group order from the index itself, so PostgreSQL
        // sums them as they stream instead of hashing 47,000 rows.
        for (column, name, other) in [
            (UsageDaily::KeyId, "key_id", "member_id"),
            (UsageDaily::MemberId, "member_id", "key_id"),
        ] {
            let mut index = Index::create();
            index
                .name(format!("ix_usage_daily_keys_tenant_{name}_day"))
                .table(Alias::new(Grain::Keys.name()))
                .col(UsageDaily::TenantId)
                .col(column)
                .col(UsageDaily::Day);
            for column in ["env", other].into_iter().chain(TOTALS) {
                index.include(Alias::new(column));
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for grain in [Grain::Models, Grain::Keys] {
            manager
                .drop_table(Table::drop().table(Alias::new(grain.name())).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Grain {
    Keys,
    Models,
}

impl Grain {
    fn name(self) -> &'static str {
        match self {
            Grain::Keys => "usage_daily_keys",
            Grain::Models => "usage_daily_models",
        }
    }

    /// The grouping columns this grain keeps, as `usage_daily` names them.
    fn grouping(self) -> &'static str {
        match self {
            Grain::Keys => "env, key_id, member_id",
            Grain::Models => "env, provider, model",
        }
    }

    /// `usage_daily`'s shape under another name.
    fn table(self) -> TableCreateStatement {
        let table = Alias::new(self.name());
        let mut create = Table::create();
        create
            .table(table.clone())
            .col(pk_uuid(UsageDaily::Id))
            .col(uuid(UsageDaily::TenantId))
            .col(date(UsageDaily::Day))
            .col(string_len(UsageDaily::Dims, 64))
            .col(string_len(UsageDaily::Env, 8))
            .col(uuid_null(UsageDaily::KeyId))
            .col(uuid_null(UsageDaily::MemberId))
            .col(string_len(UsageDaily::Provider, 64))
            .col(string_len(UsageDaily::Model, 128))
            .col(big_integer(UsageDaily::Requests))
            .col(big_integer(UsageDaily::Errors))
            .col(big_integer(UsageDaily::InputTokens))
            .col(big_integer(UsageDaily::OutputTokens))
            .col(big_integer(UsageDaily::Images))
            .col(big_integer(UsageDaily::CostMicros))
            .col(big_integer(UsageDaily::UnpricedRequests))
            .col(timestamp_with_time_zone(UsageDaily::UpdatedAt))
            .foreign_key(
                ForeignKey::create()
                    .name(format!("fk_{}_tenant_id", self.name()))
                    .from(table.clone(), UsageDaily::TenantId)
                    .to(Tenants::Table, Tenants::Id)
                    .on_delete(ForeignKeyAction::Cascade),
            );
        if let Grain::Keys = self {
            create.foreign_key(
                ForeignKey::create()
                    .name(format!("fk_{}_key_id", self.name()))
                    .from(table, UsageDaily::KeyId)
                    .to(RelayKeys::Table, RelayKeys::Id)
                    .on_delete(ForeignKeyAction::SetNull),
            );
        }
        create.to_owned()
    }
}

/// Fills a grain from `usage_daily`: one grouped SELECT, the digests computed here,
/// INSERTs in chunks.
async fn fill(manager: &SchemaManager<'_>, grain: Grain) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let backend = db.get_database_backend();
    let sum = |column: &str| format!("CAST(COALESCE(SUM({column}), 0) AS BIGINT) AS {column}");
    let totals = TOTALS.map(sum).join(", ");
    let grouping = grain.grouping();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            format!(
                "SELECT tenant_id, day, {grouping}, {totals} FROM usage_daily \
                 GROUP BY tenant_id, day, {grouping}"
            ),
        ))
        .await?;
    let now = chrono::Utc::now();
    for chunk in rows.chunks(FILL_CHUNK) {
        let mut insert = Query::insert();
        insert.into_table(Alias::new(grain.name())).columns(
            [
                "id",
                "tenant_id",
                "day",
                "dims",
                "env",
                "key_id",
                "member_id",
                "provider",
                "model",
            ]
            .into_iter()
            .chain(TOTALS)
            .chain(["updated_at"])
            .map(Alias::new),
        );
        for row in chunk {
            let env: String = row.try_get("", "env")?;
            let (key_id, member_id, provider, model) = match grain {
                Grain::Keys => (
                    row.try_get::<Option<uuid::Uuid>>("", "key_id")?,
                    row.try_get::<Option<uuid::Uuid>>("", "member_id")?,
                    String::new(),
                    String::new(),
                ),
                Grain::Models => (
                    None,
                    None,
                    row.try_get::<String>("", "provider")?,
                    row.try_get::<String>("", "model")?,
                ),
            };
            let mut values: Vec<SimpleExpr> = vec![
                uuid::Uuid::now_v7().into(),
                row.try_get::<uuid::Uuid>("", "tenant_id")?.into(),
                row.try_get::<chrono::NaiveDate>("", "day")?.into(),
                dims_digest(&env, key_id, member_id, &provider, &model).into(),
                env.into(),
                key_id.into(),
                member_id.into(),
                provider.into(),
                model.into(),
            ];
            for column in TOTALS {
                values.push(row.try_get::<i64>("", column)?.into());
            }
            values.push(now.into());
            insert
                .values(values)
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        manager.exec_stmt(insert).await?;
    }
    Ok(())
}

const TOTALS: [&str; 7] = [
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "images",
    "cost_micros",
    "unpriced_requests",
];

/// The grouping digest as `airlock_schema::entities::usage_daily::dims_digest`
/// computed it when this migration shipped.
fn dims_digest(
    env: &str,
    key_id: Option<uuid::Uuid>,
    member_id: Option<uuid::Uuid>,
    provider: &str,
    model: &str,
) -> String {
    let mut hasher = Sha256::new();
    for part in [
        env,
        &key_id.map(|k| k.to_string()).unwrap_or_default(),
        &member_id.map(|m| m.to_string()).unwrap_or_default(),
        provider,
        model,
    ] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

#[derive(DeriveIden)]
enum UsageDaily {
    Id,
    TenantId,
    Day,
    Dims,
    Env,
    KeyId,
    MemberId,
    Provider,
    Model,
    Requests,
    Errors,
    InputTokens,
    OutputTokens,
    Images,
    CostMicros,
    UnpricedRequests,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum RelayKeys {
    Table,
    Id,
}
