//! [`RedisError`]: what went wrong talking to Redis, named with the URL
//! (password hidden) and the operation that failed.

use fledge_rollout::StoreError;
use fledge_select::SelectError;

/// Why a Redis operation of this crate failed.
///
/// [`RedisStore`](crate::RedisStore) reports its failures as
/// [`StoreError`]s (that is what the [`Store`](fledge_rollout::Store) trait
/// returns); everything else in the crate returns this type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisError {
    /// The URL cannot be used; nothing was contacted.
    #[error(
        "invalid Redis URL {url:?}: {detail}; expected redis://[user:password@]host[:port][/db] or unix:///path/to/socket"
    )]
    Url {
        /// The URL as given, with any password hidden.
        url: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Redis could not be reached, or the connection broke or timed out.
    #[error(
        "cannot reach Redis at {url} while {what}: {detail}; check that redis-server is running at that address and the URL is right"
    )]
    Unreachable {
        /// The server's URL, with any password hidden.
        url: String,
        /// The operation that failed (`"renewing lease fledge:lease:x"`).
        what: String,
        /// The client's message.
        detail: String,
    },
    /// Redis answered with an error (authentication, permissions, a key of
    /// the wrong type, a read-only replica, out of memory, ...).
    #[error("Redis at {url} refused {what}: {detail}")]
    Refused {
        /// The server's URL, with any password hidden.
        url: String,
        /// The operation that failed.
        what: String,
        /// The server's message.
        detail: String,
    },
    /// Loading a snapshot failed (see [`StoreError`]).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A follower's selector does not list the rollout's versions as the
    /// controller publishes them.
    #[error(
        "the follower's selector lists {found}, but rollout {rollout:?} publishes [{candidate}, {baseline}] (candidate first): use the selector of a controller built for this plan"
    )]
    WrongSelector {
        /// The rollout.
        rollout: String,
        /// Its candidate.
        candidate: String,
        /// Its baseline.
        baseline: String,
        /// The selector's ids.
        found: String,
    },
    /// The stored snapshot belongs to another rollout than the follower's.
    #[error(
        "the stored snapshot belongs to rollout {found:?}, not {expected:?}: check the key prefix and the rollout name"
    )]
    OtherRollout {
        /// The rollout the follower follows.
        expected: String,
        /// The snapshot's rollout.
        found: String,
    },
    /// The stored snapshot cannot be applied (unknown hash mode, a split the
    /// selector refuses).
    #[error("cannot apply the stored snapshot of rollout {rollout:?}: {detail}")]
    Apply {
        /// The rollout.
        rollout: String,
        /// What went wrong.
        detail: String,
    },
    /// The leader restarted the rollout with a new sticky salt, which a
    /// controller's `Routing` cannot take from outside: the follower now
    /// sends every request to the baseline on this replica.
    #[error(
        "rollout {rollout:?} was restarted with a new sticky salt (attempt {attempt}); this replica's Routing still buckets with the old one, so it now serves only the baseline: rebuild the controller from the store (Controller::builder(plan).store(..)) and a new Follower"
    )]
    SaltChanged {
        /// The rollout.
        rollout: String,
        /// The new attempt.
        attempt: u32,
    },
    /// Publishing the split to the selector failed.
    #[error("cannot publish the split: {0}")]
    Select(#[from] SelectError),
}
