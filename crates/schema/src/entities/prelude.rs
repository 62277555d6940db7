//! The entities under short names, for `use airlock_schema::entities::prelude::*`.

pub use super::alert::Entity as Alert;
pub use super::audit_event::Entity as AuditEvent;
pub use super::classification_policy::Entity as ClassificationPolicy;
pub use super::env_default::Entity as EnvDefault;
pub use super::membership::Entity as Membership;
pub use super::model_price::Entity as ModelPrice;
pub use super::model_route::Entity as ModelRoute;
pub use super::provider_agreement::Entity as ProviderAgreement;
pub use super::provider_credential::Entity as ProviderCredential;
pub use super::relay_key::Entity as RelayKey;
pub use super::tenant::Entity as Tenant;
pub use super::usage_daily::Entity as UsageDaily;
pub use super::usage_record::Entity as UsageRecord;
pub use super::user::Entity as User;
