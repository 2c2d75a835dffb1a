//! [`Status`]: what a [`Watcher`](super::Watcher) is doing.

use std::fmt;
use std::sync::Arc;

use fledge_select::VersionId;

use super::WatchError;
use crate::ModelVerdict;
use crate::fleet::ReplicaLoad;

/// A loaded version: the registry's version and the fledge id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// The registry's version (`"4"`).
    pub version: String,
    /// The fledge id (`v4`).
    pub id: VersionId,
}

impl fmt::Display for VersionInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.version, self.id)
    }
}

/// A version fledge will not canary (again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The registry's version.
    pub version: String,
    /// Why: rolled back, aborted or failed to load.
    pub verdict: ModelVerdict,
    /// The reason written to `fledge.reason`.
    pub reason: String,
}

/// What the watcher does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WatchPhase {
    /// Serving the champion alone; no challenger.
    Serving,
    /// Downloading and loading the challenger (it takes no traffic).
    Loading,
    /// The challenger is loaded and waits: for every replica to load it
    /// (leader), or for the leader's rollout (follower).
    Staged,
    /// The challenger is being canaried.
    Canary,
    /// The challenger was promoted; the previous champion stays loaded for
    /// the grace period (operator rollback switches back at once).
    Promoted,
}

/// A snapshot of a [`Watcher`](super::Watcher)'s state.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Status {
    /// The model.
    pub model: String,
    /// The source's kind (`mlflow`, `directory`) and location.
    pub source: String,
    /// Whether this replica leads (writes to the registry).
    pub leader: bool,
    /// The phase.
    pub phase: WatchPhase,
    /// The champion, serving.
    pub champion: VersionInfo,
    /// The challenger (loading, staged, canaried).
    pub challenger: Option<VersionInfo>,
    /// The previous champion, kept loaded during the grace period.
    pub previous_champion: Option<VersionInfo>,
    /// The running rollout's name.
    pub rollout: Option<String>,
    /// The candidate's share of traffic now, in basis points (0 without a
    /// rollout).
    pub candidate_bps: u32,
    /// Versions rejected (seen in this process or tagged in the registry).
    pub rejected: Vec<Rejection>,
    /// The last error (registry, loader, rollout); cleared by the next
    /// successful registry read.
    pub last_error: Option<Arc<WatchError>>,
    /// Registry reads that failed in a row.
    pub consecutive_failures: u32,
    /// Registry reads that succeeded since the start.
    pub polls: u64,
    /// Registry writes not done yet (the registry was unreachable);
    /// retried at each poll.
    pub pending_writes: usize,
    /// Unloaded versions still referenced by requests in flight.
    pub draining: usize,
    /// Leader, challenger staged: the replicas it waits for before taking
    /// traffic (not loaded yet, or, with a fleet that waits on failures,
    /// unable to load it: `error` says why). Empty otherwise.
    pub waiting_for: Vec<ReplicaLoad>,
}

impl Status {
    /// The rejected version numbers, oldest first by version.
    pub fn rejected_versions(&self) -> Vec<String> {
        let mut v: Vec<String> = self.rejected.iter().map(|r| r.version.clone()).collect();
        v.sort_by(|a, b| crate::source::version_order(a, b));
        v
    }

    /// The rejection of `version`, if any.
    pub fn rejection(&self, version: &str) -> Option<&Rejection> {
        self.rejected.iter().find(|r| r.version == version)
    }
}
