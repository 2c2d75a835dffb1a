//! The routing decision: [`Settings`] (what the user configures) joined with
//! a routing source into a [`Decider`] (what the request path runs).

mod decider;
mod settings;

pub use decider::Decider;
pub use settings::{DEFAULT_VERSION_HEADER, Settings};
