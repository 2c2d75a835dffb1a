//! [`ExperimentError`]: what can go wrong building or driving an experiment.

use fledge_select::SelectError;

/// Why an experiment could not be built, restored or driven.
///
/// Every variant comes from user input (a configuration value, a variant id,
/// a persisted state or an operator's command); none is a bug, and nothing
/// in this crate panics on user input. Messages say what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExperimentError {
    /// Fewer variants than the experiment needs.
    #[error("{strategy} needs at least {min} variants, got {count}: add {what}")]
    TooFewVariants {
        /// The kind of experiment (`"an A/B test"`).
        strategy: &'static str,
        /// Variants given.
        count: usize,
        /// Variants needed.
        min: usize,
        /// What to add.
        what: &'static str,
    },
    /// More variants than a split holds.
    #[error("too many variants: {count}, a split holds at most {max}")]
    TooManyVariants {
        /// Variants given.
        count: usize,
        /// The most a split holds.
        max: usize,
    },
    /// Two variants share an id.
    #[error("variant {id:?} is listed twice: every variant needs its own id")]
    DuplicateVariant {
        /// The repeated id.
        id: String,
    },
    /// A variant id is not valid.
    #[error("invalid variant id {id:?}: {source}")]
    InvalidId {
        /// The id given.
        id: String,
        /// Why it is invalid.
        #[source]
        source: SelectError,
    },
    /// A variant the strategy does not know.
    #[error("unknown variant {id:?}: the known variants are {known}")]
    UnknownVariant {
        /// The id given.
        id: String,
        /// The known ids, comma-separated.
        known: String,
    },
    /// Traffic shares that do not add up.
    #[error("the traffic shares do not work: {detail}")]
    BadShares {
        /// What is wrong and how to fix it.
        detail: String,
    },
    /// A numeric setting outside its range.
    #[error("`{field}` = {value} is out of range: {expected}")]
    OutOfRange {
        /// The setting.
        field: String,
        /// The value given.
        value: f64,
        /// What is expected instead.
        expected: &'static str,
    },
    /// No stopping rule.
    #[error(
        "no stopping rule: call .sequential(tau) or .fixed_horizon(exposures) (SampleSize tells how many)"
    )]
    NoStopping,
    /// No metric to decide on.
    #[error("no metric to decide on: add one, e.g. MetricSpec::conversion(\"purchase\")")]
    NoMetric,
    /// A metric that cannot be used.
    #[error("metric {name:?}: {problem}")]
    BadMetric {
        /// The metric.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// A segment condition that cannot match anything.
    #[error("segment[{index}]: {problem}")]
    BadCondition {
        /// Its position in the segment.
        index: usize,
        /// What is wrong.
        problem: &'static str,
    },
    /// A guard check that fledge-gate rejects.
    #[error("guard {name:?}: {message}")]
    BadGuard {
        /// The guard's label.
        name: String,
        /// fledge-gate's explanation.
        message: String,
    },
    /// The recorder could not be built.
    #[error("cannot build the recorder: {0}")]
    Recorder(String),
    /// Publishing a split failed.
    #[error("cannot publish the split: {0}")]
    Select(#[from] SelectError),
    /// The experiment has no name.
    #[error("{what} needs a name (it salts the sticky buckets)")]
    NoName {
        /// What is missing a name (`"the experiment"`).
        what: &'static str,
    },
    /// An empty sticky salt.
    #[error("the sticky salt is empty: give a non-empty salt or leave it unset")]
    EmptySalt,
    /// An unknown sticky hash mode.
    #[error("`sticky.hash` = {hash:?}: use fledge, unleash, growthbook-v1 or growthbook-v2")]
    UnknownHash {
        /// The value given.
        hash: String,
    },
    /// A saved state that cannot be restored.
    #[error("cannot restore the saved state: {problem}")]
    BadState {
        /// What is wrong with it.
        problem: String,
    },
    /// A command that does not apply in the current state.
    #[error("{0}")]
    Refused(String),
}

impl ExperimentError {
    pub(crate) fn range(field: impl Into<String>, value: f64, expected: &'static str) -> Self {
        ExperimentError::OutOfRange {
            field: field.into(),
            value,
            expected,
        }
    }
}
