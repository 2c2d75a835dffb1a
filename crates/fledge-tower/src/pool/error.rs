//! The errors of [`VersionPool`](super::VersionPool).

use std::any::Any;

/// Why a pool job gave no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The queue was full: the job was not accepted (counted in
    /// [`PoolStats::overflowed`](super::PoolStats::overflowed)). Treat it as
    /// overload of this version: a 503, or a fallback to stable.
    #[error("the pool's queue is full ({capacity} jobs waiting)")]
    Full {
        /// The queue's capacity.
        capacity: usize,
    },
    /// The job panicked; the pool's thread carried on.
    #[error("the job panicked: {message}")]
    Panicked {
        /// The panic message, when it was a string.
        message: String,
    },
    /// The pool shut down before running the job.
    #[error("the pool is shut down")]
    Closed,
}

impl PoolError {
    /// The HTTP status to answer with: 503 for [`Full`](Self::Full) and
    /// [`Closed`](Self::Closed) (overload: the gates count it as the
    /// version's failure, a fallback retries it on stable), 500 for
    /// [`Panicked`](Self::Panicked).
    pub fn status(&self) -> http::StatusCode {
        match self {
            PoolError::Panicked { .. } => http::StatusCode::INTERNAL_SERVER_ERROR,
            PoolError::Full { .. } | PoolError::Closed => http::StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub(crate) fn panicked(payload: &(dyn Any + Send)) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(not a string)".to_owned());
        PoolError::Panicked { message }
    }
}

/// Why a pool could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// `threads` was 0.
    #[error("a pool needs at least one thread")]
    NoThreads,
    /// A nice value outside `1..=19`.
    #[error("nice {0} is outside 1..=19 (use Priority::Normal for 0)")]
    Nice(u8),
    /// The OS refused a thread.
    #[error("cannot spawn a pool thread: {0}")]
    Spawn(String),
    /// The OS refused the priority.
    #[error("cannot set the pool threads' priority: {0}")]
    Priority(String),
}
