//! [`RedisError`]: what went wrong talking to Redis, named with the URL
//! (password hidden) and the operation that failed.

use fledge_rollout::StoreError;
use fledge_rollout::control::ControlError;
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
        "invalid Redis URL {url:?}: {detail}; expected redis://[user:password@]host[:port][/db], rediss://... (TLS: fledge-redis feature `tls`) or unix:///path/to/socket"
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
    /// The stored snapshot belongs to another rollout than the followed
    /// controller's (another name, or other versions under the same name).
    #[error(
        "the stored snapshot belongs to rollout {found:?} ({found_versions}), not {expected:?} ({expected_versions}): check the key prefix and the rollout name the store was opened with, or delete the leftover snapshot (RedisStore::delete); this replica keeps serving its current traffic"
    )]
    OtherRollout {
        /// The rollout the follower follows.
        expected: String,
        /// Its versions, `baseline -> candidate`.
        expected_versions: String,
        /// The snapshot's rollout.
        found: String,
        /// The snapshot's versions, `baseline -> candidate`.
        found_versions: String,
    },
    /// The leader runs the rollout under another plan than the followed
    /// controller (it replaced the plan): a controller only takes snapshots
    /// of its own plan.
    #[error(
        "the leader of rollout {rollout:?} runs it under another plan than this replica's controller (the plan was replaced): rebuild the controller with the stored snapshot's plan (Controller::builder(snapshot.plan).store(..)) and follow it with a new Follower; until then this replica keeps serving its current traffic"
    )]
    PlanChanged {
        /// The rollout.
        rollout: String,
    },
    /// The followed controller refused the stored snapshot (it is
    /// inconsistent with its plan, or its traffic could not be published).
    #[error(
        "this replica's controller cannot take the stored snapshot of rollout {rollout:?} and keeps serving its current traffic: {source}"
    )]
    Resync {
        /// The rollout.
        rollout: String,
        /// Why the controller refused it.
        source: ControlError,
    },
    /// A bare selector cannot take the stored snapshot (an unknown hash
    /// mode, a split the selector refuses).
    #[error("cannot apply the stored snapshot of rollout {rollout:?}: {detail}")]
    Apply {
        /// The rollout.
        rollout: String,
        /// What went wrong.
        detail: String,
    },
    /// Publishing the split to the selector failed.
    #[error("cannot publish the split: {0}")]
    Select(#[from] SelectError),
}

/// Why a fleet member could not join, or could not carry out a request
/// (see [`Member`](crate::Member)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// Talking to Redis failed.
    #[error(transparent)]
    Redis(#[from] RedisError),
    /// The replica's controller could not be built on the stored rollout,
    /// or resumed from it.
    #[error("replica {replica} cannot join rollout {rollout:?}: {source}")]
    Join {
        /// The rollout.
        rollout: String,
        /// The replica.
        replica: String,
        /// Why.
        source: Box<ControlError>,
    },
    /// A replica name that cannot be used.
    #[error(
        "invalid replica name {id:?}: {reason}; use 1 to 128 bytes without whitespace (a pod or host name)"
    )]
    ReplicaId {
        /// The name given.
        id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Nobody holds the rollout's lease: the command was not applied.
    #[error(
        "rollout {rollout:?} has no leader right now (nobody holds {key}), so {command} was not applied; retry in a moment: a replica takes the lease within one tick, or within the lease TTL after a leader dies"
    )]
    NoLeader {
        /// The rollout.
        rollout: String,
        /// The lease key.
        key: String,
        /// The command.
        command: String,
    },
    /// The state machine refused the command (the refusal is in the event
    /// log).
    #[error("{reason}")]
    Rejected {
        /// The state machine's reason.
        reason: String,
    },
    /// The leader took the command but could not carry it out (its
    /// snapshot could not be saved, it lost the lease meanwhile, ...).
    #[error("leader {leader} could not apply {command}: {reason}")]
    Failed {
        /// The replica that tried.
        leader: String,
        /// The command.
        command: String,
        /// Why.
        reason: String,
    },
    /// No answer came in time.
    #[error(
        "no answer from the leader ({leader}) of rollout {rollout:?} to {command} within {after:?}: it may or may not have been applied; read the rollout's state or event log before repeating it"
    )]
    Timeout {
        /// The rollout.
        rollout: String,
        /// The replica that led when the command was sent.
        leader: String,
        /// The command.
        command: String,
        /// How long was waited.
        after: std::time::Duration,
    },
    /// The member was shut down.
    #[error("the fleet member of replica {replica} has stopped")]
    Stopped {
        /// The replica.
        replica: String,
    },
    /// The member's runtime could not run the request.
    #[error("{0}")]
    Runtime(String),
}

impl From<FleetError> for ControlError {
    /// How an operator API reports a fleet error: not applied (503),
    /// unknown (504), refused (the state machine's reason).
    fn from(e: FleetError) -> ControlError {
        match e {
            FleetError::Rejected { reason } => ControlError::Rejected { reason },
            FleetError::Join { source, .. } => *source,
            e @ FleetError::Timeout { .. } => ControlError::TimedOut {
                reason: e.to_string(),
            },
            e => ControlError::Unavailable {
                reason: e.to_string(),
            },
        }
    }
}
