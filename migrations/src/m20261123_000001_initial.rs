//! The initial schema: all fourteen tables, their foreign keys, indexes and unique
//! constraints.
//!
//! Portable by construction: UUID primary keys (never auto-increment), `timestamp with
//! time zone` for instants, `date` for calendar days, `bigint` micro-dollars for money and
//! JSON for lists. Unique constraints are named unique indexes, which both backends
//! accept and `ON CONFLICT` can target. Foreign keys are declared inside `CREATE TABLE`
//! because SQLite cannot add them later.
//!
//! No timestamp column has a server-side default on purpose: SQLite's
//! `CURRENT_TIMESTAMP` is `YYYY-MM-DD HH:MM:SS`, while sqlx writes RFC 3339
//! (`YYYY-MM-DDTHH:MM:SS…+00:00`), and SQLite compares the two as text, so a mix would
//! break `updated_at > watermark`. The application always sets the times.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in tables() {
            manager.create_table(table).await?;
        }
        for index in indexes() {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Children first; the indexes go with their tables.
        let tables: [DynIden; 14] = [
            Alerts::Table.into_iden(),
            AuditEvents::Table.into_iden(),
            UsageDaily::Table.into_iden(),
            UsageRecords::Table.into_iden(),
            ModelPrices::Table.into_iden(),
            ClassificationPolicies::Table.into_iden(),
            ProviderAgreements::Table.into_iden(),
            ModelRoutes::Table.into_iden(),
            ProviderCredentials::Table.into_iden(),
            EnvDefaults::Table.into_iden(),
            RelayKeys::Table.into_iden(),
            Memberships::Table.into_iden(),
            Users::Table.into_iden(),
            Tenants::Table.into_iden(),
        ];
        for table in tables {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// `tenant_id → tenants.id ON DELETE CASCADE`: a tenant takes its rows with it.
fn tenant_fk(
    name: &'static str,
    table: impl IntoIden,
    column: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, column)
        .to(Tenants::Table, Tenants::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

/// `key_id → relay_keys.id ON DELETE SET NULL`: usage and alerts outlive a deleted key.
fn key_fk(
    name: &'static str,
    table: impl IntoIden,
    column: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, column)
        .to(RelayKeys::Table, RelayKeys::Id)
        .on_delete(ForeignKeyAction::SetNull)
        .to_owned()
}

/// `varchar(n)` plus `CHECK (length(col) <= n)`: PostgreSQL enforces the first, SQLite
/// only the second. Used where a column must not be able to hold free text.
fn max_len_check(name: &'static str, column: &'static str, max: u32) -> Check {
    Check::named(name, Expr::cust(format!("length(\"{column}\") <= {max}")))
}

fn tables() -> Vec<TableCreateStatement> {
    vec![
        Table::create()
            .table(Tenants::Table)
            .col(pk_uuid(Tenants::Id))
            .col(string(Tenants::Slug))
            .col(string(Tenants::Name))
            .col(string_null(Tenants::DefaultProvider))
            .col(big_integer_null(Tenants::MonthlyBudgetMicros))
            .col(timestamp_with_time_zone(Tenants::CreatedAt))
            .col(timestamp_with_time_zone(Tenants::UpdatedAt))
            .to_owned(),
        Table::create()
            .table(Users::Table)
            .col(pk_uuid(Users::Id))
            .col(string(Users::Email))
            .col(string(Users::PasswordHash))
            .col(string(Users::DisplayName))
            .col(integer(Users::SessionVersion).default(0))
            .col(boolean(Users::Disabled).default(false))
            .col(timestamp_with_time_zone(Users::CreatedAt))
            .col(timestamp_with_time_zone(Users::UpdatedAt))
            .to_owned(),
        Table::create()
            .table(Memberships::Table)
            .col(pk_uuid(Memberships::Id))
            .col(uuid(Memberships::TenantId))
            .col(uuid(Memberships::UserId))
            .col(string(Memberships::Role))
            .col(timestamp_with_time_zone(Memberships::CreatedAt))
            .foreign_key(&mut tenant_fk(
                "fk_memberships_tenant_id",
                Memberships::Table,
                Memberships::TenantId,
            ))
            .foreign_key(
                ForeignKey::create()
                    .name("fk_memberships_user_id")
                    .from(Memberships::Table, Memberships::UserId)
                    .to(Users::Table, Users::Id)
                    .on_delete(ForeignKeyAction::Cascade),
            )
            .to_owned(),
        Table::create()
            .table(RelayKeys::Table)
            .col(pk_uuid(RelayKeys::Id))
            .col(uuid(RelayKeys::TenantId))
            .col(string(RelayKeys::Env))
            .col(string(RelayKeys::Name))
            .col(string(RelayKeys::DisplayPrefix))
            .col(string_len(RelayKeys::KeyHash, 64))
            .col(uuid_null(RelayKeys::OwnerUserId))
            .col(timestamp_with_time_zone(RelayKeys::CreatedAt))
            .col(timestamp_with_time_zone(RelayKeys::UpdatedAt))
            .col(timestamp_with_time_zone_null(RelayKeys::ExpiresAt))
            .col(timestamp_with_time_zone_null(RelayKeys::RevokedAt))
            .col(timestamp_with_time_zone_null(RelayKeys::LastUsedAt))
            .col(uuid_null(RelayKeys::RotatedFromId))
            .col(timestamp_with_time_zone_null(RelayKeys::GraceUntil))
            .col(integer_null(RelayKeys::RpmLimit))
            .col(integer_null(RelayKeys::TpmLimit))
            .col(big_integer_null(RelayKeys::DailyBudgetMicros))
            .col(big_integer_null(RelayKeys::MonthlyBudgetMicros))
            .col(big_integer_null(RelayKeys::PerRequestCapMicros))
            .col(json(RelayKeys::AllowedModels))
            .col(json(RelayKeys::IpAllowlist))
            .col(string(RelayKeys::MaxDataClass).default("internal"))
            .col(string(RelayKeys::DefaultDataClass).default("internal"))
            .foreign_key(&mut tenant_fk(
                "fk_relay_keys_tenant_id",
                RelayKeys::Table,
                RelayKeys::TenantId,
            ))
            .foreign_key(
                ForeignKey::create()
                    .name("fk_relay_keys_owner_user_id")
                    .from(RelayKeys::Table, RelayKeys::OwnerUserId)
                    .to(Users::Table, Users::Id)
                    .on_delete(ForeignKeyAction::SetNull),
            )
            .foreign_key(
                ForeignKey::create()
                    .name("fk_relay_keys_rotated_from_id")
                    .from(RelayKeys::Table, RelayKeys::RotatedFromId)
                    .to(RelayKeys::Table, RelayKeys::Id)
                    .on_delete(ForeignKeyAction::SetNull),
            )
            .to_owned(),
        Table::create()
            .table(EnvDefaults::Table)
            .col(pk_uuid(EnvDefaults::Id))
            .col(uuid(EnvDefaults::TenantId))
            .col(string(EnvDefaults::Env))
            .col(integer(EnvDefaults::RpmLimit))
            .col(integer_null(EnvDefaults::TpmLimit))
            .col(big_integer(EnvDefaults::MonthlyBudgetMicros))
            .col(integer(EnvDefaults::MaxKeyAgeDays))
            .col(timestamp_with_time_zone(EnvDefaults::UpdatedAt))
            .foreign_key(&mut tenant_fk(
                "fk_env_defaults_tenant_id",
                EnvDefaults::Table,
                EnvDefaults::TenantId,
            ))
            .to_owned(),
        Table::create()
            .table(ProviderCredentials::Table)
            .col(pk_uuid(ProviderCredentials::Id))
            .col(uuid(ProviderCredentials::TenantId))
            .col(string(ProviderCredentials::Name))
            .col(string(ProviderCredentials::Kind))
            .col(string_null(ProviderCredentials::BaseUrl))
            .col(blob_null(ProviderCredentials::Ciphertext))
            .col(blob_null(ProviderCredentials::Nonce))
            .col(integer_null(ProviderCredentials::KeyVersion))
            .col(string_null(ProviderCredentials::Last4))
            .col(boolean(ProviderCredentials::SelfHosted).default(false))
            .col(timestamp_with_time_zone(ProviderCredentials::CreatedAt))
            .col(timestamp_with_time_zone(ProviderCredentials::UpdatedAt))
            .col(timestamp_with_time_zone_null(
                ProviderCredentials::RotatedAt,
            ))
            .foreign_key(&mut tenant_fk(
                "fk_provider_credentials_tenant_id",
                ProviderCredentials::Table,
                ProviderCredentials::TenantId,
            ))
            .to_owned(),
        Table::create()
            .table(ModelRoutes::Table)
            .col(pk_uuid(ModelRoutes::Id))
            .col(uuid(ModelRoutes::TenantId))
            .col(string(ModelRoutes::Model))
            .col(string(ModelRoutes::ProviderName))
            .col(string_null(ModelRoutes::UpstreamModel))
            .col(timestamp_with_time_zone(ModelRoutes::CreatedAt))
            .col(timestamp_with_time_zone(ModelRoutes::UpdatedAt))
            .foreign_key(&mut tenant_fk(
                "fk_model_routes_tenant_id",
                ModelRoutes::Table,
                ModelRoutes::TenantId,
            ))
            .to_owned(),
        Table::create()
            .table(ProviderAgreements::Table)
            .col(pk_uuid(ProviderAgreements::Id))
            .col(uuid(ProviderAgreements::TenantId))
            .col(string(ProviderAgreements::ProviderName))
            .col(date_null(ProviderAgreements::DpaSignedOn))
            .col(string_null(ProviderAgreements::DpaReference))
            .col(boolean(ProviderAgreements::Baa).default(false))
            .col(boolean(ProviderAgreements::ZeroDataRetention).default(false))
            .col(boolean(ProviderAgreements::TrainingOptOut).default(false))
            .col(string_null(ProviderAgreements::Region))
            .col(date_null(ProviderAgreements::ExpiresOn))
            .col(timestamp_with_time_zone(ProviderAgreements::CreatedAt))
            .col(timestamp_with_time_zone(ProviderAgreements::UpdatedAt))
            .foreign_key(&mut tenant_fk(
                "fk_provider_agreements_tenant_id",
                ProviderAgreements::Table,
                ProviderAgreements::TenantId,
            ))
            .to_owned(),
        Table::create()
            .table(ClassificationPolicies::Table)
            .col(pk_uuid(ClassificationPolicies::Id))
            .col(uuid(ClassificationPolicies::TenantId))
            .col(string(ClassificationPolicies::DataClass))
            .col(json(ClassificationPolicies::AllowedProviders))
            .col(boolean(ClassificationPolicies::RequireDpa).default(false))
            .col(boolean(ClassificationPolicies::RequireZdr).default(false))
            .col(boolean(ClassificationPolicies::RequireBaa).default(false))
            .col(string(ClassificationPolicies::PiiAction))
            .col(string(ClassificationPolicies::SecretAction))
            .col(string(ClassificationPolicies::InjectionAction))
            .col(string(ClassificationPolicies::OutputAction))
            .col(timestamp_with_time_zone(ClassificationPolicies::UpdatedAt))
            .foreign_key(&mut tenant_fk(
                "fk_classification_policies_tenant_id",
                ClassificationPolicies::Table,
                ClassificationPolicies::TenantId,
            ))
            .to_owned(),
        Table::create()
            .table(ModelPrices::Table)
            .col(pk_uuid(ModelPrices::Id))
            .col(uuid_null(ModelPrices::TenantId))
            .col(string(ModelPrices::Model))
            .col(string(ModelPrices::ProviderFamily))
            .col(big_integer(ModelPrices::InputPerMtokMicros))
            .col(big_integer(ModelPrices::OutputPerMtokMicros))
            .col(timestamp_with_time_zone(ModelPrices::CreatedAt))
            .col(timestamp_with_time_zone(ModelPrices::UpdatedAt))
            .foreign_key(&mut tenant_fk(
                "fk_model_prices_tenant_id",
                ModelPrices::Table,
                ModelPrices::TenantId,
            ))
            .to_owned(),
        usage_records(),
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
                "fk_usage_daily_tenant_id",
                UsageDaily::Table,
                UsageDaily::TenantId,
            ))
            .foreign_key(&mut key_fk(
                "fk_usage_daily_key_id",
                UsageDaily::Table,
                UsageDaily::KeyId,
            ))
            .to_owned(),
        // `actor_user_id` has no foreign key: deleting a user must not rewrite history
        // (SET NULL would also break the hash chain).
        Table::create()
            .table(AuditEvents::Table)
            .col(pk_uuid(AuditEvents::Id))
            .col(uuid_null(AuditEvents::TenantId))
            .col(big_integer(AuditEvents::Seq))
            .col(uuid_null(AuditEvents::ActorUserId))
            .col(string(AuditEvents::ActorLabel))
            .col(string(AuditEvents::Action))
            .col(string(AuditEvents::TargetType))
            .col(string_null(AuditEvents::TargetId))
            .col(string_null(AuditEvents::Ip))
            .col(json_null(AuditEvents::Before))
            .col(json_null(AuditEvents::After))
            .col(timestamp_with_time_zone(AuditEvents::CreatedAt))
            .col(string(AuditEvents::PrevHash))
            .col(string(AuditEvents::Hash))
            .foreign_key(&mut tenant_fk(
                "fk_audit_events_tenant_id",
                AuditEvents::Table,
                AuditEvents::TenantId,
            ))
            .to_owned(),
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
            .foreign_key(&mut tenant_fk(
                "fk_alerts_tenant_id",
                Alerts::Table,
                Alerts::TenantId,
            ))
            .foreign_key(&mut key_fk(
                "fk_alerts_key_id",
                Alerts::Table,
                Alerts::KeyId,
            ))
            .to_owned(),
    ]
}

/// Metadata only: every string column is a short, length-capped identifier, so the table
/// cannot hold prompt or completion text. The caps match
/// `airlock_schema::entities::usage_record::max_len`.
fn usage_records() -> TableCreateStatement {
    Table::create()
        .table(UsageRecords::Table)
        .col(pk_uuid(UsageRecords::Id))
        .col(string_len(UsageRecords::RequestId, 64))
        .col(uuid_null(UsageRecords::TenantId))
        .col(uuid_null(UsageRecords::KeyId))
        .col(string_len_null(UsageRecords::Env, 8))
        .col(string_len(UsageRecords::Endpoint, 32))
        .col(string_len_null(UsageRecords::Provider, 64))
        .col(string_len_null(UsageRecords::Model, 128))
        .col(timestamp_with_time_zone(UsageRecords::CreatedAt))
        .col(big_integer(UsageRecords::LatencyMs))
        .col(big_integer_null(UsageRecords::UpstreamLatencyMs))
        .col(integer(UsageRecords::StatusCode))
        .col(string_len_null(UsageRecords::ErrorCode, 64))
        .col(big_integer(UsageRecords::InputTokens))
        .col(big_integer(UsageRecords::OutputTokens))
        .col(big_integer(UsageRecords::CostMicros))
        .col(integer(UsageRecords::MessageCount))
        .col(big_integer(UsageRecords::InputChars))
        .col(big_integer(UsageRecords::OutputChars))
        .col(json(UsageRecords::Redactions))
        .col(integer(UsageRecords::InjectionFlags))
        .col(string_len_null(UsageRecords::DataClass, 32))
        .col(string_len_null(UsageRecords::InputHash, 128))
        .col(boolean(UsageRecords::Streamed))
        .col(boolean(UsageRecords::ClientDisconnected))
        .check(max_len_check(
            "ck_usage_records_request_id_len",
            "request_id",
            64,
        ))
        .check(max_len_check("ck_usage_records_env_len", "env", 8))
        .check(max_len_check(
            "ck_usage_records_endpoint_len",
            "endpoint",
            32,
        ))
        .check(max_len_check(
            "ck_usage_records_provider_len",
            "provider",
            64,
        ))
        .check(max_len_check("ck_usage_records_model_len", "model", 128))
        .check(max_len_check(
            "ck_usage_records_error_code_len",
            "error_code",
            64,
        ))
        .check(max_len_check(
            "ck_usage_records_data_class_len",
            "data_class",
            32,
        ))
        .check(max_len_check(
            "ck_usage_records_input_hash_len",
            "input_hash",
            128,
        ))
        .foreign_key(&mut tenant_fk(
            "fk_usage_records_tenant_id",
            UsageRecords::Table,
            UsageRecords::TenantId,
        ))
        .foreign_key(&mut key_fk(
            "fk_usage_records_key_id",
            UsageRecords::Table,
            UsageRecords::KeyId,
        ))
        .to_owned()
}

fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        Index::create()
            .name("uq_tenants_slug")
            .table(Tenants::Table)
            .col(Tenants::Slug)
            .unique()
            .to_owned(),
        Index::create()
            .name("uq_users_email")
            .table(Users::Table)
            .col(Users::Email)
            .unique()
            .to_owned(),
        Index::create()
            .name("uq_memberships_tenant_user")
            .table(Memberships::Table)
            .col(Memberships::TenantId)
            .col(Memberships::UserId)
            .unique()
            .to_owned(),
        // "Which tenants is this user in?" runs at every sign-in.
        Index::create()
            .name("idx_memberships_user_id")
            .table(Memberships::Table)
            .col(Memberships::UserId)
            .to_owned(),
        Index::create()
            .name("uq_relay_keys_key_hash")
            .table(RelayKeys::Table)
            .col(RelayKeys::KeyHash)
            .unique()
            .to_owned(),
        Index::create()
            .name("idx_relay_keys_tenant_env")
            .table(RelayKeys::Table)
            .col(RelayKeys::TenantId)
            .col(RelayKeys::Env)
            .to_owned(),
        // The relay polls `updated_at > watermark` to invalidate its key cache.
        Index::create()
            .name("idx_relay_keys_updated_at")
            .table(RelayKeys::Table)
            .col(RelayKeys::UpdatedAt)
            .to_owned(),
        Index::create()
            .name("uq_env_defaults_tenant_env")
            .table(EnvDefaults::Table)
            .col(EnvDefaults::TenantId)
            .col(EnvDefaults::Env)
            .unique()
            .to_owned(),
        Index::create()
            .name("uq_provider_credentials_tenant_name")
            .table(ProviderCredentials::Table)
            .col(ProviderCredentials::TenantId)
            .col(ProviderCredentials::Name)
            .unique()
            .to_owned(),
        Index::create()
            .name("idx_provider_credentials_updated_at")
            .table(ProviderCredentials::Table)
            .col(ProviderCredentials::UpdatedAt)
            .to_owned(),
        Index::create()
            .name("uq_model_routes_tenant_model")
            .table(ModelRoutes::Table)
            .col(ModelRoutes::TenantId)
            .col(ModelRoutes::Model)
            .unique()
            .to_owned(),
        Index::create()
            .name("idx_model_routes_updated_at")
            .table(ModelRoutes::Table)
            .col(ModelRoutes::UpdatedAt)
            .to_owned(),
        Index::create()
            .name("uq_provider_agreements_tenant_provider")
            .table(ProviderAgreements::Table)
            .col(ProviderAgreements::TenantId)
            .col(ProviderAgreements::ProviderName)
            .unique()
            .to_owned(),
        Index::create()
            .name("uq_classification_policies_tenant_class")
            .table(ClassificationPolicies::Table)
            .col(ClassificationPolicies::TenantId)
            .col(ClassificationPolicies::DataClass)
            .unique()
            .to_owned(),
        Index::create()
            .name("idx_model_prices_tenant_model")
            .table(ModelPrices::Table)
            .col(ModelPrices::TenantId)
            .col(ModelPrices::Model)
            .to_owned(),
        Index::create()
            .name("idx_usage_records_tenant_created")
            .table(UsageRecords::Table)
            .col(UsageRecords::TenantId)
            .col(UsageRecords::CreatedAt)
            .to_owned(),
        Index::create()
            .name("idx_usage_records_key_created")
            .table(UsageRecords::Table)
            .col(UsageRecords::KeyId)
            .col(UsageRecords::CreatedAt)
            .to_owned(),
        // NULLs are distinct in SQL, so rows with `key_id` NULL are not deduplicated here.
        Index::create()
            .name("uq_usage_daily_tenant_key_model_day")
            .table(UsageDaily::Table)
            .col(UsageDaily::TenantId)
            .col(UsageDaily::KeyId)
            .col(UsageDaily::Model)
            .col(UsageDaily::Day)
            .unique()
            .to_owned(),
        Index::create()
            .name("uq_audit_events_tenant_seq")
            .table(AuditEvents::Table)
            .col(AuditEvents::TenantId)
            .col(AuditEvents::Seq)
            .unique()
            .to_owned(),
        Index::create()
            .name("idx_alerts_tenant_created")
            .table(Alerts::Table)
            .col(Alerts::TenantId)
            .col(Alerts::CreatedAt)
            .to_owned(),
    ]
}

#[derive(DeriveIden, Clone, Copy)]
enum Tenants {
    Table,
    Id,
    Slug,
    Name,
    DefaultProvider,
    MonthlyBudgetMicros,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
    Email,
    PasswordHash,
    DisplayName,
    SessionVersion,
    Disabled,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Memberships {
    Table,
    Id,
    TenantId,
    UserId,
    Role,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum RelayKeys {
    Table,
    Id,
    TenantId,
    Env,
    Name,
    DisplayPrefix,
    KeyHash,
    OwnerUserId,
    CreatedAt,
    UpdatedAt,
    ExpiresAt,
    RevokedAt,
    LastUsedAt,
    RotatedFromId,
    GraceUntil,
    RpmLimit,
    TpmLimit,
    DailyBudgetMicros,
    MonthlyBudgetMicros,
    PerRequestCapMicros,
    AllowedModels,
    IpAllowlist,
    MaxDataClass,
    DefaultDataClass,
}

#[derive(DeriveIden, Clone, Copy)]
enum EnvDefaults {
    Table,
    Id,
    TenantId,
    Env,
    RpmLimit,
    TpmLimit,
    MonthlyBudgetMicros,
    MaxKeyAgeDays,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ProviderCredentials {
    Table,
    Id,
    TenantId,
    Name,
    Kind,
    BaseUrl,
    Ciphertext,
    Nonce,
    KeyVersion,
    #[sea_orm(iden = "last4")]
    Last4,
    SelfHosted,
    CreatedAt,
    UpdatedAt,
    RotatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ModelRoutes {
    Table,
    Id,
    TenantId,
    Model,
    ProviderName,
    UpstreamModel,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ProviderAgreements {
    Table,
    Id,
    TenantId,
    ProviderName,
    DpaSignedOn,
    DpaReference,
    Baa,
    ZeroDataRetention,
    TrainingOptOut,
    Region,
    ExpiresOn,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ClassificationPolicies {
    Table,
    Id,
    TenantId,
    DataClass,
    AllowedProviders,
    RequireDpa,
    RequireZdr,
    RequireBaa,
    PiiAction,
    SecretAction,
    InjectionAction,
    OutputAction,
    UpdatedAt,
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

#[derive(DeriveIden, Clone, Copy)]
enum UsageRecords {
    Table,
    Id,
    RequestId,
    TenantId,
    KeyId,
    Env,
    Endpoint,
    Provider,
    Model,
    CreatedAt,
    LatencyMs,
    UpstreamLatencyMs,
    StatusCode,
    ErrorCode,
    InputTokens,
    OutputTokens,
    CostMicros,
    MessageCount,
    InputChars,
    OutputChars,
    Redactions,
    InjectionFlags,
    DataClass,
    InputHash,
    Streamed,
    ClientDisconnected,
}

#[derive(DeriveIden, Clone, Copy)]
enum UsageDaily {
    #[sea_orm(iden = "usage_daily")]
    Table,
    Id,
    TenantId,
    KeyId,
    Env,
    Model,
    Day,
    Requests,
    Errors,
    InputTokens,
    OutputTokens,
    CostMicros,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditEvents {
    Table,
    Id,
    TenantId,
    Seq,
    ActorUserId,
    ActorLabel,
    Action,
    TargetType,
    TargetId,
    Ip,
    Before,
    After,
    CreatedAt,
    PrevHash,
    Hash,
}

#[derive(DeriveIden, Clone, Copy)]
enum Alerts {
    Table,
    Id,
    TenantId,
    Kind,
    Severity,
    Subject,
    Body,
    KeyId,
    CreatedAt,
    AcknowledgedAt,
    EmailedAt,
}
