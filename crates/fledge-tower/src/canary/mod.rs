//! The canary middleware: one inner service, the version chosen per request
//! and handed to it as a [`Chosen`](crate::Chosen) extension; outcomes
//! recorded per version.

mod layer;
mod service;

pub use layer::CanaryLayer;
pub use service::CanaryService;
