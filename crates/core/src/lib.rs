#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod budget;
pub mod class;
pub mod egress;
pub mod envelope;
pub mod injection;
pub mod jsonl;
pub mod key;
pub mod mock_reply;
pub mod money;
pub mod netaddr;
pub mod output_check;
pub mod policy;
pub mod pricing;
pub mod provider;
pub mod rate;
pub mod redact;
pub mod role;
pub mod routing;
pub mod scan;
pub mod tokens;
