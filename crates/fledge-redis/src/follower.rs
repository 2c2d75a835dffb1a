//! [`Follower`]: a replica that is not the leader applies the leader's
//! published split to its own selector.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use fledge_rollout::{Controller, Snapshot, State, Store};
use fledge_select::{Selector, Split, Weight};
use fledge_sticky::{Bucketer, HashMode};

use crate::error::RedisError;
use crate::fleet::Fleet;
use crate::store::RedisStore;

/// How often a waiting follower thread checks whether it was asked to stop.
const STOP_CHECK: Duration = Duration::from_millis(50);

/// What a [`Follower`] applied last: the stored snapshot's version and the
/// rollout's state in it.
#[derive(Debug, Clone)]
pub struct Followed {
    /// The snapshot's version in the store.
    pub version: u64,
    /// The rollout's name.
    pub rollout: String,
    /// The leader's state: phase, step, traffic, attempt and sticky salt.
    pub state: State,
    /// The sticky bucketer of the state's salt, under the plan's hash mode:
    /// the same bucket for a key as on the leader.
    pub bucketer: Bucketer,
    /// The candidate's weight published to the selector (0 when the salt
    /// could not be applied; see [`RedisError::SaltChanged`]).
    pub published: Weight,
}

struct Inner {
    store: Box<dyn Store>,
    selector: Arc<Selector>,
    /// The rollout to follow (checked against the snapshot), if known.
    rollout: Option<String>,
    /// The salt the target's bucketing is fixed to (a controller's
    /// `Routing`), if any.
    fixed_salt: Option<String>,
    current: ArcSwapOption<Followed>,
    polls: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// Keeps a replica's selector in step with the leader's published state.
///
/// Every [`poll`](Self::poll) loads the stored [`Snapshot`]; when its
/// version changed it computes the split the leader publishes — the
/// candidate (listed first) at the state's candidate weight, the baseline
/// with the rest — and publishes it to the selector, one atomic swap. A
/// rollback on the leader (candidate weight 0) therefore reaches this
/// replica within one poll, or at once with
/// [`spawn_with_notifications`](Self::spawn_with_notifications), which wakes
/// up on the store's pub/sub announcement and polls anyway every interval
/// in case one was missed.
///
/// Two targets:
///
/// - [`for_controller`](Self::for_controller): the selector of a
///   [`Controller`] this replica built from the same store (so its
///   `Routing`, used by the tower layer, has the leader's salt). Only the
///   split can be applied from outside a controller: a new salt (the
///   leader restarted the rollout), targeting rules and the mirror share
///   are not, so on a new salt the follower serves the baseline only and
///   reports [`RedisError::SaltChanged`] until the controller is rebuilt.
/// - [`new`](Self::new): any [`Selector`] listing `[candidate, baseline]`;
///   the sticky salt is then the follower's: route with
///   [`bucket`](Self::bucket) (or the bucketer of
///   [`current`](Self::current)) and the selector's `pick_by_bucket`.
///
/// Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Follower {
    inner: Arc<Inner>,
}

impl fmt::Debug for Follower {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Follower")
            .field("store", &self.inner.store)
            .field("selector", &self.inner.selector)
            .field("rollout", &self.inner.rollout)
            .field("current", &self.inner.current.load().as_deref())
            .finish_non_exhaustive()
    }
}

impl Follower {
    /// A follower publishing the stored split to `selector`, which must
    /// list the rollout's candidate first and its baseline second (as a
    /// controller's selector does). The follower keeps the sticky salt:
    /// see [`bucket`](Self::bucket).
    pub fn new(store: impl Store + 'static, selector: Arc<Selector>) -> Follower {
        Follower::build(Box::new(store), selector, None, None)
    }

    /// A follower publishing the stored split to the selector of
    /// `controller` — built by this replica on the same store, so it resumed
    /// the leader's state and salt — and so to its
    /// [`Routing`](fledge_rollout::Routing). The controller must not be
    /// ticked while following.
    pub fn for_controller(store: impl Store + 'static, controller: &Controller) -> Follower {
        Follower::build(
            Box::new(store),
            controller.selector().clone(),
            Some(controller.plan().name),
            Some(controller.state().salt),
        )
    }

    fn build(
        store: Box<dyn Store>,
        selector: Arc<Selector>,
        rollout: Option<String>,
        fixed_salt: Option<String>,
    ) -> Follower {
        Follower {
            inner: Arc::new(Inner {
                store,
                selector,
                rollout,
                fixed_salt,
                current: ArcSwapOption::empty(),
                polls: AtomicU64::new(0),
                last_error: Mutex::new(None),
            }),
        }
    }

    /// The selector the follower publishes to.
    pub fn selector(&self) -> &Arc<Selector> {
        &self.inner.selector
    }

    /// What was applied last (`None`: nothing yet).
    pub fn current(&self) -> Option<Arc<Followed>> {
        self.inner.current.load_full()
    }

    /// A key's sticky bucket under the leader's current salt, as the leader
    /// computes it (`None` before the first snapshot was applied).
    pub fn bucket(&self, key: &[u8]) -> Option<u32> {
        self.inner
            .current
            .load()
            .as_ref()
            .map(|f| f.bucketer.bucket(key))
    }

    /// How many polls ran (including failed ones).
    pub fn polls(&self) -> u64 {
        self.inner.polls.load(Ordering::Relaxed)
    }

    /// The error of the last poll, if it failed (kept by the background
    /// thread, whose polls have no caller to return it to).
    pub fn last_error(&self) -> Option<String> {
        self.inner
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Loads the stored snapshot and applies it if its version changed:
    /// `Some` with what was applied, `None` if nothing changed (or nothing
    /// is stored yet).
    ///
    /// Errors: the store's ([`RedisError::Store`]: Redis unreachable, a
    /// corrupt value — the selector keeps its split), a snapshot of another
    /// rollout or for another selector, and [`RedisError::SaltChanged`]
    /// (returned by every poll until the controller is rebuilt).
    pub fn poll(&self) -> Result<Option<Arc<Followed>>, RedisError> {
        self.inner.polls.fetch_add(1, Ordering::Relaxed);
        let result = self.poll_inner();
        *self
            .inner
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = result.as_ref().err().map(|e| e.to_string());
        result
    }

    fn poll_inner(&self) -> Result<Option<Arc<Followed>>, RedisError> {
        let Some(snapshot) = self.inner.store.load()? else {
            return Ok(None);
        };
        let current = self.inner.current.load_full();
        if let Some(current) = current.as_ref().filter(|c| c.version == snapshot.version) {
            return match self.salt_error(&current.rollout, &current.state) {
                Some(e) => Err(e),
                None => Ok(None),
            };
        }
        let followed = Arc::new(self.apply(snapshot)?);
        self.inner.current.store(Some(followed.clone()));
        match self.salt_error(&followed.rollout, &followed.state) {
            Some(e) => Err(e),
            None => Ok(Some(followed)),
        }
    }

    fn salt_error(&self, rollout: &str, state: &State) -> Option<RedisError> {
        match &self.inner.fixed_salt {
            Some(salt) if *salt != state.salt => Some(RedisError::SaltChanged {
                rollout: rollout.to_owned(),
                attempt: state.attempt,
            }),
            _ => None,
        }
    }

    /// Publishes `snapshot`'s split to the selector.
    fn apply(&self, snapshot: Snapshot) -> Result<Followed, RedisError> {
        let plan = &snapshot.plan;
        if let Some(expected) = &self.inner.rollout {
            if *expected != plan.name {
                return Err(RedisError::OtherRollout {
                    expected: expected.clone(),
                    found: plan.name.clone(),
                });
            }
        }
        let ids = self.inner.selector.ids();
        if ids.len() != 2 || ids[0] != plan.candidate || ids[1] != plan.baseline {
            return Err(RedisError::WrongSelector {
                rollout: plan.name.clone(),
                candidate: plan.candidate.to_string(),
                baseline: plan.baseline.to_string(),
                found: format!(
                    "[{}]",
                    ids.iter()
                        .map(|id| id.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        let mode = match plan.sticky.hash.as_deref() {
            None => HashMode::Fledge,
            Some(hash) => hash.parse().map_err(|e| RedisError::Apply {
                rollout: plan.name.clone(),
                detail: format!("{e}"),
            })?,
        };
        let state = snapshot.state;
        // A Routing whose salt cannot follow must not bucket users with
        // the old salt at the new weight: everyone to the baseline.
        let published = if self.salt_error(&plan.name, &state).is_some() {
            Weight::ZERO
        } else {
            state.traffic.candidate
        };
        let split = Split::canary(plan.candidate.clone(), plan.baseline.clone(), published)?;
        self.inner.selector.publish(split)?;
        Ok(Followed {
            version: snapshot.version,
            rollout: plan.name.clone(),
            bucketer: Bucketer::new(mode, &state.salt),
            state,
            published,
        })
    }

    /// Polls on a background thread now and then every `interval` until
    /// the handle is stopped or dropped. Errors are kept in
    /// [`last_error`](Self::last_error); the selector keeps its last split
    /// while the store cannot be read.
    pub fn spawn(&self, interval: Duration) -> FollowerHandle {
        self.spawn_inner(interval, None)
    }

    /// [`spawn`](Self::spawn), also woken by the pub/sub announcement that
    /// `store` publishes after every save (on its own connection), so a
    /// change is applied within a round trip; `interval` is the fallback
    /// poll (for missed announcements, or while the subscription is down).
    pub fn spawn_with_notifications(
        &self,
        store: &RedisStore,
        interval: Duration,
    ) -> FollowerHandle {
        self.spawn_inner(
            interval,
            Some((store.fleet().clone(), store.channel().to_owned())),
        )
    }

    fn spawn_inner(&self, interval: Duration, notify: Option<(Fleet, String)>) -> FollowerHandle {
        let (stop_tx, stop_rx) = mpsc::channel();
        let follower = self.clone();
        let interval = interval.max(Duration::from_millis(1));
        let thread = std::thread::Builder::new()
            .name("fledge-follower".to_owned())
            .spawn(move || run(&follower, interval, notify.as_ref(), &stop_rx));
        let (thread, spawn_error) = match thread {
            Ok(t) => (Some(t), None),
            Err(e) => (None, Some(e.to_string())),
        };
        if let Some(e) = &spawn_error {
            *self
                .inner
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner) =
                Some(format!("cannot start the follower thread: {e}"));
        }
        FollowerHandle {
            follower: self.clone(),
            stop: Some(stop_tx),
            thread,
        }
    }
}

/// Whether the follower thread was asked to stop (a message, or the
/// handle's sender dropped).
fn stopped(stop: &Receiver<()>) -> bool {
    !matches!(stop.try_recv(), Err(TryRecvError::Empty))
}

/// Sleeps `d` unless asked to stop; `true` if asked to stop.
fn sleep_or_stop(stop: &Receiver<()>, d: Duration) -> bool {
    !matches!(stop.recv_timeout(d), Err(RecvTimeoutError::Timeout))
}

enum SessionEnd {
    Stop,
    Broken,
}

fn run(
    follower: &Follower,
    interval: Duration,
    notify: Option<&(Fleet, String)>,
    stop: &Receiver<()>,
) {
    loop {
        if let Some((fleet, channel)) = notify {
            if let SessionEnd::Stop = session(follower, interval, fleet, channel, stop) {
                return;
            }
        }
        // Polling only (or the subscription is down): one poll per interval.
        let _ = follower.poll();
        if sleep_or_stop(stop, interval) {
            return;
        }
    }
}

/// Subscribes to the store's channel, then polls after every announcement
/// and at least every `interval`, until stopped or the connection breaks.
fn session(
    follower: &Follower,
    interval: Duration,
    fleet: &Fleet,
    channel: &str,
    stop: &Receiver<()>,
) -> SessionEnd {
    let note = |e: String| {
        *follower
            .inner
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(e);
    };
    let mut con = match fleet.connect(&format!("subscribing to {channel}")) {
        Ok(con) => con,
        Err(e) => {
            note(e.to_string());
            return SessionEnd::Broken;
        }
    };
    let mut pubsub = con.as_pubsub();
    if let Err(e) = pubsub.subscribe(channel) {
        note(
            fleet
                .error(&format!("subscribing to {channel}"), &e)
                .to_string(),
        );
        return SessionEnd::Broken;
    }
    loop {
        // Subscribed first, then polled: no announcement can slip between.
        let _ = follower.poll();
        let deadline = Instant::now() + interval;
        loop {
            if stopped(stop) {
                return SessionEnd::Stop;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            if let Err(e) = pubsub.set_read_timeout(Some(left.min(STOP_CHECK))) {
                note(fleet.error("waiting for announcements", &e).to_string());
                return SessionEnd::Broken;
            }
            match pubsub.get_message() {
                Ok(_) => break,
                Err(e) if e.is_timeout() => {}
                Err(e) => {
                    note(
                        fleet
                            .error(&format!("listening on {channel}"), &e)
                            .to_string(),
                    );
                    return SessionEnd::Broken;
                }
            }
        }
    }
}

/// The background thread of [`Follower::spawn`]: stops it when dropped.
#[derive(Debug)]
pub struct FollowerHandle {
    follower: Follower,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FollowerHandle {
    /// The follower.
    pub fn follower(&self) -> &Follower {
        &self.follower
    }

    /// Whether the thread runs.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the thread and waits for it (at most one poll, bounded by the
    /// fleet's I/O timeout).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for FollowerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use fledge_gate::clock::{ManualClock, Timestamp};
    use fledge_rollout::{MemoryStore, Plan};

    use super::*;

    fn plan() -> Plan {
        fledge_rollout::PlanBuilder::canary("demo", "v1", "v2")
            .build()
            .unwrap()
    }

    /// The follower works on any store; here the leader's own memory store.
    #[test]
    fn follows_weights_from_any_store() {
        let store = MemoryStore::new();
        let clock = ManualClock::new(Timestamp::from_millis(0));
        let leader = Controller::builder(plan())
            .clock(clock)
            .store(store.clone())
            .build()
            .unwrap();
        let selector = Arc::new(Selector::new(
            Split::canary(
                plan().candidate.clone(),
                plan().baseline.clone(),
                Weight::ZERO,
            )
            .unwrap(),
        ));
        let follower = Follower::new(store, selector.clone());
        let first = follower.poll().unwrap().unwrap();
        assert_eq!(first.version, 1);
        assert_eq!(first.published, leader.traffic().candidate);
        leader.promote("alice").unwrap();
        leader.promote_full("alice").unwrap();
        let last = follower.poll().unwrap().unwrap();
        assert_eq!(last.published, Weight::FULL);
        assert_eq!(selector.split(), leader.selector().split());
        assert!(follower.poll().unwrap().is_none());
        assert_eq!(follower.polls(), 3);
        assert_eq!(follower.last_error(), None);
    }

    #[test]
    fn an_unknown_hash_mode_is_an_error() {
        let store = MemoryStore::new();
        let clock = ManualClock::new(Timestamp::from_millis(0));
        let leader = Controller::builder(plan())
            .clock(clock)
            .store(store.clone())
            .build()
            .unwrap();
        let mut snapshot = store.snapshot().unwrap();
        snapshot.plan.sticky.hash = Some("md5".into());
        let selector = leader.selector().clone();
        let other = MemoryStore::new();
        other.save(&snapshot, None).unwrap();
        let err = Follower::new(other, selector).poll().unwrap_err();
        assert!(matches!(err, RedisError::Apply { .. }), "{err:?}");
    }
}
