//! Airlock's control plane: the web console (askama pages, sessions, CSRF) and
//! the management API over one service layer, [`tenant`], which the `airlock
//! admin` CLI calls too. Accounts (sign-up, address verification, password
//! reset) are in [`accounts`].
//!
//! The public surface is what the binary needs: [`web`] to serve, [`ConsoleState`]
//! to build, [`tenant`] and [`accounts`] for the CLI, [`mail::Mailer`] and
//! [`session::SessionKeys`] for the secrets and settings. Everything else is the
//! crate's own.

pub mod accounts;
pub(crate) mod api;
pub(crate) mod api_tokens;
pub(crate) mod auth;
pub mod billing;
pub mod error;
pub mod jobs;
pub mod mail;
pub mod notifications;
pub(crate) mod pages;
pub(crate) mod password;
pub(crate) mod secret_token;
pub mod session;
pub(crate) mod shown_once;
pub mod state;
pub mod tenant;
pub(crate) mod throttle;
pub mod web;

pub use error::ConsoleError;
pub use state::{ConsoleSecrets, ConsoleSettings, ConsoleState};
