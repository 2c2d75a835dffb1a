//! Fleets: which replica writes to the registry, and when a challenger may
//! take traffic. See the guide's "Fleets" section.

#[cfg(feature = "redis")]
mod redis;

use std::fmt;
use std::sync::Arc;

use fledge_rollout::control::WindowSource;
use fledge_rollout::{Controller, Store};

#[cfg(feature = "redis")]
pub use redis::{
    DEFAULT_TICK, LoadFailure, RedisFleet, RedisFleetBuilder, RedisFleetStatus, ReplicaReport,
    ReplicaSeen,
};

/// Whether a staged challenger may take traffic, as the leader's
/// [`Fleet`] sees it ([`Fleet::readiness`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Readiness {
    /// Every replica that counts has loaded it: the rollout may start.
    Ready,
    /// The challenger waits for these replicas: they have not loaded it
    /// yet, or could not and the fleet waits for them (their `error`
    /// says why). Empty when the fleet cannot tell yet.
    Waiting(Vec<ReplicaLoad>),
    /// These replicas could not load it: the watcher rejects it
    /// (`fledge.verdict = load_failed`, the reason naming them).
    Failed(Vec<ReplicaLoad>),
}

/// A replica that has not loaded a version, and why if it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaLoad {
    /// The replica.
    pub replica: String,
    /// The loader's error, if it failed; `None` while it has not loaded it
    /// yet.
    pub error: Option<String>,
}

impl fmt::Display for ReplicaLoad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            Some(e) => write!(f, "{} (cannot load it: {e})", self.replica),
            None => write!(f, "{} (not loaded yet)", self.replica),
        }
    }
}

/// How a [`Watcher`](crate::Watcher) takes part in a fleet of replicas
/// serving the same model.
///
/// - **Only the leader writes.** Every replica polls the registry, loads
///   the challenger and serves; only the replica for which
///   [`is_leader`](Fleet::is_leader) holds ticks the rollout's controller,
///   moves aliases and writes tags. A replica that stops leading stops
///   writing at its next step; one that starts leading takes over.
/// - **Everyone loads before anyone serves.** Each replica reports its
///   load ([`loaded`](Fleet::loaded), [`unloaded`](Fleet::unloaded)); the
///   leader starts the rollout (gives the challenger traffic) only when
///   [`readiness`](Fleet::readiness) says every replica has it, and
///   rejects the challenger when it says a replica cannot load it.
/// - **One rollout, fleet-wide.** With a shared [`store`](Fleet::store)
///   (a `fledge_rollout::Store` every replica reaches, e.g. Redis), the
///   leader's controller saves each decision and followers build their
///   controller from the saved snapshot and `resync` it every tick, so all
///   replicas route alike. Without one, followers keep serving the
///   champion while the leader canaries, and switch when the registry's
///   `@champion` moves (the registry is then the fleet's only channel).
///
/// - **The leader judges the fleet's traffic.** Each replica hands the
///   controller of every rollout it runs to
///   [`rollout_running`](Fleet::rollout_running) (and says when it ends,
///   [`rollout_ended`](Fleet::rollout_ended)), so the fleet can publish
///   what that replica served; the controller's gates read their windows
///   from [`window_source`](Fleet::window_source), e.g. every replica's
///   windows merged. Without one (the default) they judge the traffic
///   this process served (its controller's recorder).
///
/// The single-process default, [`SingleProcess`], always leads, is always
/// ready and keeps rollouts in memory. [`LeaderFn`] wraps a closure
/// (`Watcher::builder(..).leader(|| lease.held())`). With the `redis`
/// feature, `RedisFleet` runs all of it on Redis (fledge-redis).
pub trait Fleet: Send + Sync + fmt::Debug + 'static {
    /// Whether this replica leads now: it alone ticks rollouts and writes
    /// to the registry. Called often, on the control path: keep it cheap
    /// (read a lease flag).
    fn is_leader(&self) -> bool;

    /// This replica finished loading `version` of `model`: `Ok` when it
    /// serves it from now on, `Err(reason)` when the loader failed. The
    /// default does nothing.
    fn loaded(&self, model: &str, version: &str, outcome: Result<(), &str>) {
        let _ = (model, version, outcome);
    }

    /// This replica no longer has `version` of `model` loaded (rejected,
    /// superseded, or a previous champion after its grace period). The
    /// default does nothing.
    fn unloaded(&self, model: &str, version: &str) {
        let _ = (model, version);
    }

    /// Leader only: whether every replica has loaded `version` of `model`,
    /// so that the rollout may start. Asked every tick until true. The
    /// default (a single process) is true.
    fn ready(&self, model: &str, version: &str) -> bool {
        let _ = (model, version);
        true
    }

    /// Leader only: whether the rollout of `version` of `model` may start
    /// ([`Readiness::Ready`]), must wait (and for whom), or cannot (which
    /// replicas failed to load it: the challenger is rejected). Asked every
    /// tick while the challenger is staged, on a blocking thread; keep it
    /// cheap (read what a background task keeps). The default asks
    /// [`ready`](Fleet::ready).
    fn readiness(&self, model: &str, version: &str) -> Readiness {
        if self.ready(model, version) {
            Readiness::Ready
        } else {
            Readiness::Waiting(Vec::new())
        }
    }

    /// Where the rollout `rollout` (`<model>-<candidate id>`) is saved, for
    /// all replicas. The default, `None`, keeps it in this process.
    fn store(&self, rollout: &str) -> Option<Arc<dyn Store>> {
        let _ = rollout;
        None
    }

    /// Where the gates of rollout `rollout` read their windows, asked when
    /// this replica builds its controller (leader or follower: a follower
    /// may lead later). The default, `None`, keeps the controller's own
    /// recorder: the traffic this process served.
    fn window_source(&self, rollout: &str) -> Option<Arc<dyn WindowSource>> {
        let _ = rollout;
        None
    }

    /// This replica runs `rollout` with `controller` (its recorder counts
    /// the requests this replica served), from now until
    /// [`rollout_ended`](Fleet::rollout_ended): e.g. publish its windows
    /// for the leader. Called on the watcher's task; keep it cheap. The
    /// default does nothing.
    fn rollout_running(&self, rollout: &str, controller: &Arc<Controller>) {
        let _ = (rollout, controller);
    }

    /// This replica no longer runs `rollout` (it ended, was superseded or
    /// could not start, or the watcher stopped). The default does nothing.
    fn rollout_ended(&self, rollout: &str) {
        let _ = rollout;
    }
}

/// One process: always the leader, always ready, rollouts in memory.
#[derive(Debug, Clone, Copy, Default)]
pub struct SingleProcess;

impl Fleet for SingleProcess {
    fn is_leader(&self) -> bool {
        true
    }
}

/// A fleet where a closure says whether this replica leads (a lease, an
/// environment flag); always ready, rollouts in memory.
pub struct LeaderFn<F>(pub F);

impl<F> fmt::Debug for LeaderFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LeaderFn(..)")
    }
}

impl<F: Fn() -> bool + Send + Sync + 'static> Fleet for LeaderFn<F> {
    fn is_leader(&self) -> bool {
        (self.0)()
    }
}

impl<T: Fleet + ?Sized> Fleet for Arc<T> {
    fn is_leader(&self) -> bool {
        (**self).is_leader()
    }
    fn loaded(&self, model: &str, version: &str, outcome: Result<(), &str>) {
        (**self).loaded(model, version, outcome)
    }
    fn unloaded(&self, model: &str, version: &str) {
        (**self).unloaded(model, version)
    }
    fn ready(&self, model: &str, version: &str) -> bool {
        (**self).ready(model, version)
    }
    fn readiness(&self, model: &str, version: &str) -> Readiness {
        (**self).readiness(model, version)
    }
    fn store(&self, rollout: &str) -> Option<Arc<dyn Store>> {
        (**self).store(rollout)
    }
    fn window_source(&self, rollout: &str) -> Option<Arc<dyn WindowSource>> {
        (**self).window_source(rollout)
    }
    fn rollout_running(&self, rollout: &str, controller: &Arc<Controller>) {
        (**self).rollout_running(rollout, controller)
    }
    fn rollout_ended(&self, rollout: &str) {
        (**self).rollout_ended(rollout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_judge_this_process_traffic() {
        assert!(SingleProcess.window_source("fc-v2").is_none());
        let leader = Arc::new(LeaderFn(|| false));
        assert!(!leader.is_leader());
        assert!(leader.window_source("fc-v2").is_none());
        leader.rollout_ended("fc-v2");
    }
}
