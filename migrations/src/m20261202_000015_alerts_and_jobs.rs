//! Alerts that fire once, the settings that say when, and the leases of the job
//! runner.
//!
//! - `alerts` is rebuilt in the shape the alert job writes: which budget it is
//!   about (`scope`: `tenant`, `env:prod`, `key:<id>`), the period it counts
//!   (`2026-12` or `2026-12-02`) and the threshold crossed, unique together, so an
//!   alert fires once per scope, period and threshold however many job runners
//!   race; and its mail's state (pending, sent, retrying with the last error,
//!   failed, none without a mail server). The old table was never written (no
//!   code read or wrote it), so nothing is carried over.
//! - `alert_settings`: a tenant's budget thresholds (percent; a tenant without a
//!   row uses 50, 80 and 100).
//! - `job_leases`: one row per periodic job; an instance runs a job only while it
//!   holds the lease, so several servers on one database run each job once a tick.

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
            .drop_table(Table::drop().table(Alerts::Table).to_owned())
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alerts::Table)
                    .col(pk_uuid(Alerts::Id))
                    .col(uuid(Alerts::TenantId))
                    .col(string_len(Alerts::Kind, 32))
                    .col(string_len(Alerts::Severity, 16))
                    .col(string_len(Alerts::Scope, 64))
                    .col(string_len(Alerts::Period, 16))
                    .col(integer(Alerts::Threshold))
                    .col(string(Alerts::Subject))
                    .col(text(Alerts::Body))
                    .col(uuid_null(Alerts::KeyId))
                    .col(timestamp_with_time_zone(Alerts::CreatedAt))
                    .col(timestamp_with_time_zone_null(Alerts::AcknowledgedAt))
                    .col(uuid_null(Alerts::AcknowledgedBy))
                    .col(string_len(Alerts::MailState, 16))
                    .col(integer(Alerts::MailAttempts).default(0))
                    .col(string_null(Alerts::MailError))
                    .col(timestamp_with_time_zone_null(Alerts::NextMailAt))
                    .col(timestamp_with_time_zone_null(Alerts::EmailedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_alerts_tenant_id")
                            .from(Alerts::Table, Alerts::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_alerts_key_id")
                            .from(Alerts::Table, Alerts::KeyId)
                            .to(RelayKeys::Table, RelayKeys::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_alerts_acknowledged_by")
                            .from(Alerts::Table, Alerts::AcknowledgedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_alerts_once")
                    .table(Alerts::Table)
                    .col(Alerts::TenantId)
                    .col(Alerts::Kind)
                    .col(Alerts::Scope)
                    .col(Alerts::Period)
                    .col(Alerts::Threshold)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_alerts_tenant_created")
                    .table(Alerts::Table)
                    .col(Alerts::TenantId)
                    .col(Alerts::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_alerts_mail_state")
                    .table(Alerts::Table)
                    .col(Alerts::MailState)
                    .col(Alerts::NextMailAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AlertSettings::Table)
                    .col(pk_uuid(AlertSettings::TenantId))
                    .col(string_len(AlertSettings::BudgetThresholds, 64))
                    .col(timestamp_with_time_zone(AlertSettings::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_alert_settings_tenant_id")
                            .from(AlertSettings::Table, AlertSettings::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(JobLeases::Table)
                    .col(string_len(JobLeases::Name, 64).primary_key())
                    .col(string_len(JobLeases::Holder, 64))
                    .col(timestamp_with_time_zone(JobLeases::LeasedUntil))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(JobLeases::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(AlertSettings::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Alerts::Table).to_owned())
            .await?;
        // The table as the first migration made it.
        manager
            .create_table(
                Table::create()
                    .table(Alerts::Table)
                    .col(pk_uuid(Alerts::Id))
                    .col(uuid(Alerts::TenantId))
                    .col(string(Alerts::Kind))
                    .col(string(Alerts::Severity))
                    .col(string(Alerts::Subject))
                    .col(string(Alerts::Body))
                    .col(uuid_null(Alerts::KeyId))
                    .col(timestamp_with_time_zone(Alerts::CreatedAt))
                    .col(timestamp_with_time_zone_null(Alerts::AcknowledgedAt))
                    .col(timestamp_with_time_zone_null(Alerts::EmailedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_alerts_tenant_id")
                            .from(Alerts::Table, Alerts::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_alerts_key_id")
                            .from(Alerts::Table, Alerts::KeyId)
                            .to(RelayKeys::Table, RelayKeys::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Alerts {
    Table,
    Id,
    TenantId,
    Kind,
    Severity,
    Scope,
    Period,
    Threshold,
    Subject,
    Body,
    KeyId,
    CreatedAt,
    AcknowledgedAt,
    AcknowledgedBy,
    MailState,
    MailAttempts,
    MailError,
    NextMailAt,
    EmailedAt,
}

#[derive(DeriveIden)]
enum AlertSettings {
    Table,
    TenantId,
    BudgetThresholds,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum JobLeases {
    Table,
    Name,
    Holder,
    LeasedUntil,
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

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
