//! A/B/n tests: [`AbConfig`] and [`AbBuilder`] say what to test (`config`),
//! [`AbTest`] runs it (`engine`).

mod config;
mod engine;

pub use config::{AbBuilder, AbConfig, VariantShare};
pub use engine::AbTest;
