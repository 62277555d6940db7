// Hand-maintained to match migrations/ (there is no codegen). When a column changes,
// change the migration and this file together; airlock_migrations' tests compare the
// two on SQLite and PostgreSQL.

//! `usage_records`: one row per relay request, metadata only. Finance bills from it.
//!
//! This table must never be able to hold prompt or completion text. Every string column
//! is a short identifier with a length cap that the database enforces on both backends
//! (`varchar(n)` plus a `CHECK (length(..) <= n)`, which SQLite needs because it ignores
//! `varchar` lengths). The caps are in [`max_len`]; the relay clamps to them before
//! writing, so one odd model name cannot fail a whole batch. The migrations test keeps an
//! explicit allow-list of columns, so adding a free-text column fails CI.

use airlock_core::class::DataClass;
use airlock_core::key::Env;
use sea_orm::entity::prelude::*;

use crate::stored::Stored;

/// Length caps (in characters) of the string columns, as enforced by the database.
pub mod max_len {
    pub const REQUEST_ID: usize = 64;
    pub const ENV: usize = 8;
    pub const ENDPOINT: usize = 32;
    pub const PROVIDER: usize = 64;
    pub const MODEL: usize = 128;
    pub const ERROR_CODE: usize = 64;
    pub const DATA_CLASS: usize = 32;
    pub const INPUT_HASH: usize = 128;
    pub const CLIENT_IP: usize = 45;
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_records")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The `X-Airlock-Request-Id` returned to the client.
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub request_id: String,
    /// NULL when the key was not valid, so no tenant is known.
    pub tenant_id: Option<Uuid>,
    pub key_id: Option<Uuid>,
    #[sea_orm(column_type = "String(StringLen::N(8))", nullable)]
    pub env: Option<Stored<Env>>,
    /// e.g. `chat_completions`, `messages`, `models`.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub endpoint: String,
    #[sea_orm(column_type = "String(StringLen::N(64))", nullable)]
    pub provider: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(128))", nullable)]
    pub model: Option<String>,
    pub created_at: DateTimeUtc,
    pub latency_ms: i64,
    pub upstream_latency_ms: Option<i64>,
    pub status_code: i32,
    /// The stable error `code` of the response, if any.
    #[sea_orm(column_type = "String(StringLen::N(64))", nullable)]
    pub error_code: Option<String>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
    /// False when the model had no price, so `cost_micros` is 0 for want of a price.
    pub priced: bool,
    pub message_count: i32,
    pub input_chars: i64,
    /// Image parts in the request (counted, never stored or inspected).
    pub input_images: i32,
    pub output_chars: i64,
    /// JSON object: redaction kind → count, e.g. `{"email": 2}`.
    pub redactions: Json,
    pub injection_flags: i32,
    /// The injection screen's attack score of the request's own words, 0–1000.
    pub injection_score_milli: i32,
    /// Its score of documents in the request (tool results, quoted material), 0–1000.
    pub injection_indirect_milli: i32,
    /// The screen's layer that decided: rules | learned | decoded | judge.
    #[sea_orm(column_type = "String(StringLen::N(16))", nullable)]
    pub injection_layer: Option<String>,
    pub output_flags: i32,
    #[sea_orm(column_type = "String(StringLen::N(32))", nullable)]
    pub data_class: Option<Stored<DataClass>>,
    /// Keyed hex digest of the input (for duplicate and abuse detection), never the input.
    #[sea_orm(column_type = "String(StringLen::N(128))", nullable)]
    pub input_hash: Option<String>,
    pub streamed: bool,
    pub client_disconnected: bool,
    /// The client's IP address as the relay saw it (after trusted proxies): what a
    /// key's activity view shows and what new-address alerts compare.
    #[sea_orm(column_type = "String(StringLen::N(45))", nullable)]
    pub client_ip: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::tenant::Entity",
        from = "Column::TenantId",
        to = "super::tenant::Column::Id",
        on_delete = "Cascade"
    )]
    Tenant,
    #[sea_orm(
        belongs_to = "super::relay_key::Entity",
        from = "Column::KeyId",
        to = "super::relay_key::Column::Id",
        on_delete = "SetNull"
    )]
    RelayKey,
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl Related<super::relay_key::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::RelayKey.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
