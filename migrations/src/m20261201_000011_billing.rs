//! Finance and billing.
//!
//! - `usage_daily` takes the shape the usage pages read: one row per tenant, UTC day
//!   and grouping (environment, key, the key's owner, provider, model), kept current by
//!   the usage writer with an upsert in the same transaction as each batch. The old
//!   table was created by the initial migration but never written or read by any
//!   release, so it is dropped and created again rather than altered. The upsert
//!   targets `(tenant_id, day, dims)`, where `dims` is a digest of the grouping:
//!   a unique index over the grouping columns themselves would not deduplicate rows
//!   whose key or owner is NULL (SQL treats NULLs as distinct).
//! - `tenant_billing`: per tenant, whether usage is billed through Stripe, the
//!   customer, the markup, the billing email and the status Stripe's webhooks set.
//!   `tenants.billing_suspended` is what the relay reads (it polls `tenants`).
//! - `billing_reports`: every Billing Meter Event Airlock sends, written (with its
//!   identifier) before it is sent. The newest `range_to_micros` of a tenant's day is
//!   that day's watermark, so writing the report advances it in one transaction; the
//!   unique `(tenant_id, day, range_from_micros)` keeps two concurrent syncs from
//!   reporting the same range twice.
//! - `stripe_webhook_events`: the ids of webhook events already applied (idempotency).
//! - `usage_records.client_ip`: the client's address as the relay saw it, for a key's
//!   activity view (capped at 45 characters, the longest textual IPv6 address).

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
            .drop_table(Table::drop().table(UsageDaily::Table).to_owned())
            .await?;
        manager.create_table(usage_daily()).await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_usage_daily_tenant_day_dims")
                    .table(UsageDaily::Table)
                    .col(UsageDaily::TenantId)
                    .col(UsageDaily::Day)
                    .col(UsageDaily::Dims)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .add_column(boolean(Tenants::BillingSuspended).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(UsageRecords::Table)
                    .add_column(
                        ColumnDef::new(UsageRecords::ClientIp)
                            .string_len(45)
                            .null()
                            .check(Expr::cust("length(client_ip) <= 45")),
                    )
                    .to_owned(),
            )
            .await?;
        manager.create_table(tenant_billing()).await?;
        manager.create_table(billing_reports()).await?;
        for index in [
            Index::create()
                .name("uq_billing_reports_identifier")
                .table(BillingReports::Table)
                .col(BillingReports::Identifier)
                .unique()
                .to_owned(),
            Index::create()
                .name("uq_billing_reports_tenant_day_from")
                .table(BillingReports::Table)
                .col(BillingReports::TenantId)
                .col(BillingReports::Day)
                .col(BillingReports::RangeFromMicros)
                .unique()
                .to_owned(),
            Index::create()
                .name("ix_billing_reports_unsent")
                .table(BillingReports::Table)
                .col(BillingReports::SentAt)
                .col(BillingReports::TenantId)
                .to_owned(),
        ] {
            manager.create_index(index).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(StripeWebhookEvents::Table)
                    .col(string_len(StripeWebhookEvents::Id, 255).primary_key())
                    .col(string_len(StripeWebhookEvents::EventType, 64))
                    .col(timestamp_with_time_zone(StripeWebhookEvents::ReceivedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            StripeWebhookEvents::Table.into_iden(),
            BillingReports::Table.into_iden(),
            TenantBilling::Table.into_iden(),
            UsageDaily::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .drop_column(Tenants::BillingSuspended)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(UsageRecords::Table)
                    .drop_column(UsageRecords::ClientIp)
                    .to_owned(),
            )
            .await?;
        manager.create_table(old_usage_daily()).await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_usage_daily_tenant_key_model_day")
                    .table(UsageDaily::Table)
                    .col(UsageDaily::TenantId)
                    .col(UsageDaily::KeyId)
                    .col(UsageDaily::Model)
                    .col(UsageDaily::Day)
                    .unique()
                    .to_owned(),
            )
            .await
    }
}

fn tenant_fk(table: impl IntoIden, name: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, Alias::new("tenant_id"))
        .to(Tenants::Table, Tenants::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

fn usage_daily() -> TableCreateStatement {
    Table::create()
        .table(UsageDaily::Table)
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
        .foreign_key(&mut tenant_fk(
            UsageDaily::Table,
            "fk_usage_daily_tenant_id",
        ))
        .foreign_key(
            &mut ForeignKey::create()
                .name("fk_usage_daily_key_id")
                .from(UsageDaily::Table, UsageDaily::KeyId)
                .to(RelayKeys::Table, RelayKeys::Id)
                .on_delete(ForeignKeyAction::SetNull)
                .to_owned(),
        )
        .to_owned()
}

/// The shape the initial migration created, for `down`.
fn old_usage_daily() -> TableCreateStatement {
    Table::create()
        .table(UsageDaily::Table)
        .col(pk_uuid(UsageDaily::Id))
        .col(uuid(UsageDaily::TenantId))
        .col(uuid_null(UsageDaily::KeyId))
        .col(string_null(UsageDaily::Env))
        .col(string(UsageDaily::Model))
        .col(date(UsageDaily::Day))
        .col(big_integer(UsageDaily::Requests))
        .col(big_integer(UsageDaily::Errors))
        .col(big_integer(UsageDaily::InputTokens))
        .col(big_integer(UsageDaily::OutputTokens))
        .col(big_integer(UsageDaily::CostMicros))
        .col(timestamp_with_time_zone(UsageDaily::UpdatedAt))
        .foreign_key(&mut tenant_fk(
            UsageDaily::Table,
            "fk_usage_daily_tenant_id",
        ))
        .foreign_key(
            &mut ForeignKey::create()
                .name("fk_usage_daily_key_id")
                .from(UsageDaily::Table, UsageDaily::KeyId)
                .to(RelayKeys::Table, RelayKeys::Id)
                .on_delete(ForeignKeyAction::SetNull)
                .to_owned(),
        )
        .to_owned()
}

fn tenant_billing() -> TableCreateStatement {
    Table::create()
        .table(TenantBilling::Table)
        .col(uuid(TenantBilling::TenantId).primary_key())
        .col(boolean(TenantBilling::Enabled))
        .col(string_len_null(TenantBilling::StripeCustomerId, 64))
        .col(integer(TenantBilling::MarkupBasisPoints))
        .col(string_len_null(TenantBilling::BillingEmail, 254))
        .col(date_null(TenantBilling::BillFrom))
        .col(string_len(TenantBilling::Status, 32))
        .col(timestamp_with_time_zone_null(
            TenantBilling::StatusChangedAt,
        ))
        .col(timestamp_with_time_zone_null(TenantBilling::LastSyncAt))
        .col(string_len_null(TenantBilling::LastSyncError, 500))
        .col(timestamp_with_time_zone(TenantBilling::CreatedAt))
        .col(timestamp_with_time_zone(TenantBilling::UpdatedAt))
        .foreign_key(&mut tenant_fk(
            TenantBilling::Table,
            "fk_tenant_billing_tenant_id",
        ))
        .to_owned()
}

fn billing_reports() -> TableCreateStatement {
    Table::create()
        .table(BillingReports::Table)
        .col(pk_uuid(BillingReports::Id))
        .col(uuid(BillingReports::TenantId))
        .col(date(BillingReports::Day))
        .col(big_integer(BillingReports::RangeFromMicros))
        .col(big_integer(BillingReports::RangeToMicros))
        .col(big_integer(BillingReports::ValueMicros))
        .col(string_len(BillingReports::Identifier, 100))
        .col(string_len(BillingReports::CustomerId, 64))
        .col(timestamp_with_time_zone(BillingReports::EventTimestamp))
        .col(timestamp_with_time_zone(BillingReports::CreatedAt))
        .col(timestamp_with_time_zone_null(BillingReports::SentAt))
        .col(integer(BillingReports::Attempts))
        .col(string_len_null(BillingReports::LastError, 500))
        .col(timestamp_with_time_zone_null(BillingReports::NextAttemptAt))
        .foreign_key(&mut tenant_fk(
            BillingReports::Table,
            "fk_billing_reports_tenant_id",
        ))
        .to_owned()
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    BillingSuspended,
}

#[derive(DeriveIden)]
enum UsageRecords {
    Table,
    ClientIp,
}

#[derive(DeriveIden)]
enum RelayKeys {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum UsageDaily {
    #[sea_orm(iden = "usage_daily")]
    Table,
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
enum TenantBilling {
    #[sea_orm(iden = "tenant_billing")]
    Table,
    TenantId,
    Enabled,
    StripeCustomerId,
    MarkupBasisPoints,
    BillingEmail,
    BillFrom,
    Status,
    StatusChangedAt,
    LastSyncAt,
    LastSyncError,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum BillingReports {
    Table,
    Id,
    TenantId,
    Day,
    RangeFromMicros,
    RangeToMicros,
    ValueMicros,
    Identifier,
    CustomerId,
    EventTimestamp,
    CreatedAt,
    SentAt,
    Attempts,
    LastError,
    NextAttemptAt,
}

#[derive(DeriveIden)]
enum StripeWebhookEvents {
    Table,
    Id,
    EventType,
    ReceivedAt,
}
