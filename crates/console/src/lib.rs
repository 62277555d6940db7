//! Airlock's control plane: the web console (askama pages, sessions, CSRF,
//! tenant scope, audit log) and the operations on tenants, users, keys, provider
//! credentials and policies that both the console and the `airlock admin` CLI run.

pub mod api;
pub mod api_tokens;
pub mod audit;
pub mod auth;
pub mod error;
pub mod invitations;
pub mod mail;
pub mod ops;
pub mod pages;
pub mod password;
pub mod policy_ops;
pub mod scope;
pub mod scoped;
pub mod secret_token;
pub mod session;
pub mod state;
pub mod tenant_config;
pub mod throttle;
pub mod usage;
pub mod web;

pub use state::ConsoleState;
