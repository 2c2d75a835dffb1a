//! The one error type of this crate.

/// What is wrong with a weight, a version id, a split, or a publish.
///
/// Every constructor in this crate checks its input and returns this error
/// instead of panicking; the version names the problem.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectError {
    /// A weight in basis points above 10 000 (100 %).
    #[error("weight {bps} bps is out of range: a weight is 0..=10000 basis points")]
    WeightOutOfRange {
        /// The rejected value, in basis points.
        bps: u64,
    },
    /// A percentage that is not a finite number in `0..=100`.
    #[error("weight {percent}% is out of range: a percentage is a finite number in 0..=100")]
    PercentOutOfRange {
        /// The rejected percentage.
        percent: f64,
    },
    /// A percentage finer than one basis point (0.01 %).
    #[error("weight {percent}% is not a whole number of basis points (0.01%)")]
    PercentNotWholeBps {
        /// The rejected percentage.
        percent: f64,
    },
    /// Weights that do not sum to exactly 10 000 basis points.
    #[error("weights sum to {sum} bps; a split's weights must sum to exactly 10000")]
    WrongSum {
        /// The sum that was found, in basis points.
        sum: u64,
    },
    /// The same version id listed twice in one split.
    #[error("version id {id:?} appears more than once in the split")]
    DuplicateId {
        /// The repeated id.
        id: String,
    },
    /// A split with no version.
    #[error("a split needs at least one version")]
    Empty,
    /// A split with more than [`MAX_VERSIONS`](crate::MAX_VERSIONS) versions.
    #[error("a split holds at most 64 versions, got {count}")]
    TooManyVariants {
        /// How many versions were given.
        count: usize,
    },
    /// A version id that breaks the naming rule (see [`VersionId`](crate::VersionId)).
    #[error("invalid version id {id:?}: {reason}")]
    InvalidId {
        /// The rejected id.
        id: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A split published to a [`Selector`](crate::Selector) whose ids or order
    /// differ from the ones the selector was built with.
    #[error(
        "version set mismatch on publish: the selector has [{expected}], the split has [{published}]"
    )]
    VariantSetMismatch {
        /// The selector's ids, in order, comma separated.
        expected: String,
        /// The published split's ids, in order, comma separated.
        published: String,
    },
}
