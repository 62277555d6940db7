//! What the relay keeps in memory so that a request for a known key reads
//! nothing from the database: relay keys by keyed hash, and each tenant's
//! runtime configuration (providers with decrypted credentials, model routes).
//! A poller applies database changes within a fraction of a second.

pub mod keys;
pub mod refresh;
pub mod tenants;

pub use keys::{CachedKey, KeyCache};
pub use tenants::{ModelRoute, TenantCache, TenantRuntime};
