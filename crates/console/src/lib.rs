//! Airlock's control plane. For now: the operations on tenants, users, keys and
//! provider credentials that the `airlock admin` CLI runs (the console pages and
//! the management API will call the same functions), password hashing, and a
//! placeholder page. The full console arrives with its own issue.

pub mod ops;
pub mod password;
pub mod policy_ops;
pub mod web;
