//! Checks: what to compare ([`CheckSpec`]) and what came out ([`CheckResult`]).
//!
//! A check reads one metric from the canary's and the baseline's
//! [`Window`](crate::Window)s and answers Pass, Fail or Inconclusive, with an
//! explanation. Checks are combined by the [`Judge`](crate::Judge).
//!
//! One job per file:
//!
//! | file | job |
//! |---|---|
//! | `kind.rs` | [`CheckKind`] and [`Test`]: which test a check runs, with its parameters |
//! | `spec.rs` | [`CheckSpec`]: one check (metric, test, weight, criticality) and its defaults |
//! | `raw.rs` | the serde form of a [`CheckSpec`]: a flat table whose fields are checked against the kind |
//! | `validate.rs` | [`CheckSpec::validate`]: the metric suits the test, every number is in range |
//! | `error.rs` | [`SpecError`]: why a spec was rejected, naming the check and the field |
//! | `result.rs` | [`Outcome`], [`CheckResult`]: what a check answers |
//! | `evaluate.rs` | evaluating one check: a fresh result, then the kind's function |
//! | `threshold.rs`, `relative.rs`, `mann_whitney.rs`, `proportion.rs`, `t_test.rs`, `sequential.rs` | one check kind each (`sequential.rs` also keeps its state across looks) |
//! | `ks.rs`, `psi.rs`, `chi_square.rs`, `output_mean.rs` | one output-drift check kind each (see the crate docs' *Output drift gates*) |
//! | `read.rs` | reading a metric's value, sample count and moments from a window; a model output of the right kind |
//! | `decide.rs` | rules the kinds share: the minimum sample size, significance in a direction, alpha spent per look |

mod chi_square;
mod decide;
mod error;
mod evaluate;
mod kind;
mod ks;
mod mann_whitney;
mod output_mean;
mod proportion;
mod psi;
mod raw;
mod read;
mod relative;
mod result;
mod sequential;
mod spec;
mod t_test;
mod threshold;
mod validate;

pub use crate::metric::{MetricParseError, MetricRef};
pub use error::SpecError;
pub use kind::{CheckKind, Test};
pub use result::{CheckResult, Outcome};
pub use spec::{
    CheckSpec, DEFAULT_MIN_SAMPLES, DEFAULT_PSI_BINS, DEFAULT_PSI_THRESHOLD,
    DEFAULT_THRESHOLD_CONFIDENCE,
};

pub(crate) use evaluate::evaluate;
pub(crate) use sequential::CheckState;
