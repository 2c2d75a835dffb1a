//! The error type of this crate.

/// Everything that can go wrong when building, feeding or restoring a bandit.
///
/// Every variant comes from user input (a configuration value, a reward, an
/// arm index, a request id, a persisted state); none of them is a bug, and
/// nothing in this crate panics on user input. The messages say what to change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BanditError {
    /// The bandit was built without arms.
    #[error("a bandit needs at least one arm: pass one or more arm names")]
    NoArms,

    /// More arms than a traffic split can hold.
    #[error("too many arms: {count}, a split holds at most {max}")]
    TooManyArms {
        /// Number of arms given.
        count: usize,
        /// Largest number of arms allowed.
        max: usize,
    },

    /// Two arms share a name.
    #[error("duplicate arm name {name:?}: every arm needs its own name")]
    DuplicateArm {
        /// The repeated name.
        name: String,
    },

    /// Epsilon outside `[0, 1]` (or not a number).
    #[error("epsilon must be a probability in [0, 1], got {0}: try 0.1 (10 % exploration)")]
    InvalidEpsilon(f64),

    /// A negative, infinite or NaN UCB1 exploration coefficient.
    #[error(
        "the UCB1 exploration coefficient must be finite and >= 0, got {0}: 1.0 is classic UCB1 for rewards in [0, 1]"
    )]
    InvalidExploration(f64),

    /// Thompson sampling asked to estimate weights with zero Monte Carlo draws.
    #[error("Thompson sampling needs at least 1 Monte Carlo draw per tick, got 0: try 10000")]
    InvalidDraws,

    /// A discount factor outside `(0, 1]`.
    #[error(
        "the discount factor gamma must be in (0, 1], got {0}: 1 keeps all history, 0.999 forgets with a half-life of ~693 steps"
    )]
    InvalidDiscount(f64),

    /// A prior parameter that is not a positive finite number (or a non-finite prior mean).
    #[error("invalid prior: {name} must be {expected}, got {value}")]
    InvalidPrior {
        /// The parameter's name.
        name: &'static str,
        /// What was expected.
        expected: &'static str,
        /// The rejected value.
        value: f64,
    },

    /// A minimum share that, given to every arm, exceeds the whole traffic.
    #[error(
        "minimum share {min_share_bps} bps x {arms} arms = {total} bps exceeds 10000 bps (100 %): lower the minimum share to at most {max_bps} bps"
    )]
    MinShareTooLarge {
        /// The configured minimum share, in basis points.
        min_share_bps: u32,
        /// Number of arms.
        arms: usize,
        /// `min_share_bps * arms`.
        total: u64,
        /// The largest minimum share that fits.
        max_bps: u32,
    },

    /// A decision journal with no room.
    #[error(
        "the decision journal capacity must be at least 1: size it to the requests you expect between a decision and its feedback"
    )]
    InvalidJournalCapacity,

    /// A `missing_feedback_reward` that is not a valid reward for the model.
    #[error(
        "missing_feedback_reward {0} is not a valid reward for this reward model: use 0.0 for conversions, or None to drop decisions without feedback"
    )]
    InvalidMissingFeedbackReward(f64),

    /// A reward that is NaN or infinite.
    #[error(
        "reward {value} for arm {arm} is not a finite number: drop it or clamp it before recording"
    )]
    NonFiniteReward {
        /// The arm the reward was for.
        arm: usize,
        /// The rejected value.
        value: f64,
    },

    /// A Bernoulli reward outside `[0, 1]`.
    #[error(
        "reward {value} for arm {arm} is outside [0, 1]: Bernoulli rewards are conversions (0 or 1); use RewardModel::Gaussian for continuous rewards"
    )]
    RewardOutOfRange {
        /// The arm the reward was for.
        arm: usize,
        /// The rejected value.
        value: f64,
    },

    /// An arm index past the end.
    #[error("unknown arm {arm}: this bandit has {arms} arms (indices 0..{arms})")]
    UnknownArm {
        /// The rejected index.
        arm: usize,
        /// Number of arms.
        arms: usize,
    },

    /// Retiring the last active arm.
    #[error(
        "cannot retire arm {arm} ({name:?}): it is the last active arm and traffic must go somewhere; un-retire another arm first"
    )]
    LastActiveArm {
        /// The arm's index.
        arm: usize,
        /// The arm's name.
        name: String,
    },

    /// A request id that already has a pending decision.
    #[error(
        "request id {request_id} already has a pending decision: request ids must be unique until their feedback arrives"
    )]
    DuplicateRequest {
        /// The repeated request id.
        request_id: u64,
    },

    /// Feedback for a request the journal does not hold.
    #[error(
        "no pending decision for request id {request_id}: it was never recorded, already got its feedback, or was evicted (journal capacity {capacity}, {evicted} evicted so far; raise the capacity if feedback arrives late)"
    )]
    UnknownRequest {
        /// The request id.
        request_id: u64,
        /// The journal's capacity.
        capacity: usize,
        /// Decisions evicted so far.
        evicted: u64,
    },

    /// A persisted state that does not describe a valid bandit.
    #[error("invalid bandit state: {0}")]
    InvalidState(String),

    /// An invalid arm name (see [`VersionId`](fledge_select::VersionId)), or a
    /// split the selector refused (its arms differ from the bandit's).
    #[error(transparent)]
    Select(#[from] fledge_select::SelectError),
}
