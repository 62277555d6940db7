//! SeaORM entities, one module per table. They are hand-maintained to match the
//! migrations in `migrations/` (there is no codegen); `airlock_migrations`' tests check
//! that every entity's columns equal its table's columns on SQLite and PostgreSQL.
//!
//! Enums (env, role, data class, actions, kinds) are stored as lowercase words and
//! read as `airlock_core` types through [`crate::stored::Stored`]; money is `i64` micro-dollars in columns
//! ending `_micros`; times are UTC; lists are JSON arrays of strings.
//!
//! Entity models are storage rows, not response shapes: the console and the API build
//! their own view types from them.

pub mod prelude;

pub mod alert;
pub mod alert_setting;
pub mod api_token;
pub mod audit_event;
pub mod audit_head;
pub mod billing_report;
pub mod classification_policy;
pub mod env_default;
pub mod invitation;
pub mod job_lease;
pub mod membership;
pub mod model_price;
pub mod model_route;
pub mod notification_setting;
pub mod provider_agreement;
pub mod provider_credential;
pub mod relay_key;
pub mod shown_once;
pub mod stripe_webhook_event;
pub mod tenant;
pub mod tenant_billing;
pub mod usage_daily;
pub mod usage_record;
pub mod user;
pub mod user_token;
