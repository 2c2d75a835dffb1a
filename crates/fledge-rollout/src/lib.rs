//! fledge-rollout: plans, the rollout state machine, the controller and persistence.
#![forbid(unsafe_code)]

pub mod control;
#[cfg(feature = "tokio")]
pub mod driver;
pub mod duration;
mod gates;
pub mod machine;
pub mod plan;
pub mod registry;
pub mod store;

pub use control::{Controller, Routing};
