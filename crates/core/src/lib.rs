#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod class;
pub mod envelope;
pub mod key;
pub mod mock_reply;
pub mod money;
pub mod pricing;
pub mod provider;
pub mod role;
