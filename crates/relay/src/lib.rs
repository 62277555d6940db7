//! Airlock's data plane: OpenAI- and Anthropic-compatible endpoints that
//! authenticate a relay key, enforce the tenant's settings, forward to the
//! provider and record metadata-only usage. See `DESIGN.md` for the pipeline.

#[doc(hidden)]
pub mod bench;
pub mod budget;
pub mod cache;
pub mod canonical;
pub mod error;
pub mod front;
pub mod judge;
pub mod limits;
pub mod metrics;
pub mod mock_upstream;
pub(crate) mod native;
pub mod pipeline;
pub mod policy;
pub mod prices;
pub mod providers;
pub mod routing;
pub mod server;
mod splice;
pub mod state;
mod stream;
mod ticket;
pub mod usage;

pub use server::RelayRuntime;
pub use state::RelaySettings;
