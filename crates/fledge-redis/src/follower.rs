//! [`Follower`]: keeps a replica's routing in step with the leader's
//! saves.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use fledge_rollout::control::ControlError;
use fledge_rollout::{Controller, Plan, Snapshot, State, Store};
use fledge_select::{Selector, Split, Weight};
use fledge_sticky::{Bucketer, HashMode};

use crate::error::RedisError;
use crate::fleet::Fleet;
use crate::store::RedisStore;

/// How often a waiting follower thread checks whether it was asked to stop.
const STOP_CHECK: Duration = Duration::from_millis(50);

/// What a [`Follower`] follows: the rollout's version in the store and its
/// state.
#[derive(Debug, Clone)]
pub struct Followed {
    /// The snapshot's version in the store: for a bare selector, the one
    /// applied last; for a controller, the one it last loaded or saved (0
    /// if none).
    pub version: u64,
    /// The rollout's name.
    pub rollout: String,
    /// The leader's state: phase, step, traffic, attempt and sticky salt.
    pub state: State,
    /// The sticky bucketer of the state's salt, under the plan's hash mode:
    /// the same bucket for a key as on the leader.
    pub bucketer: Bucketer,
    /// The candidate's weight published to the selector.
    pub published: Weight,
}

/// What a follower keeps in step.
enum Target {
    /// A bare selector: the follower applies the split and keeps the salt.
    Selector {
        store: Box<dyn Store>,
        selector: Arc<Selector>,
        current: ArcSwapOption<Followed>,
    },
    /// A controller: the follower calls [`Controller::resync`].
    Controller(Arc<Controller>),
}

struct Inner {
    target: Target,
    polls: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// Keeps a replica's routing in step with the state the leader saves.
///
/// Every [`poll`](Self::poll) looks at the stored [`Snapshot`] and takes it
/// if it is newer than what the target has. A rollback on the leader
/// (candidate weight 0) therefore reaches this replica within one poll, or
/// at once with [`spawn_with_notifications`](Self::spawn_with_notifications),
/// which wakes up on the store's pub/sub announcement and polls anyway
/// every interval in case one was missed.
///
/// Two targets:
///
/// - [`for_controller`](Self::for_controller): this replica's
///   [`Controller`], built on the same [`RedisStore`]. Each poll calls
///   [`Controller::resync`], which takes a newer snapshot whole — state,
///   event log, split, sticky salt (a restarted rollout included),
///   targeting rules and mirror share — so the controller's
///   [`RolloutRouting`](fledge_rollout::RolloutRouting) routes every request exactly as
///   the leader's does. Run it on every replica, the leader included: on
///   the leader it changes nothing while the leader is the one saving, and
///   it brings a deposed leader back in step by itself.
/// - [`new`](Self::new): any [`Selector`] listing `[candidate, baseline]`.
///   Only the split is published to it; the sticky salt is the follower's:
///   route with [`bucket`](Self::bucket) (or the bucketer of
///   [`current`](Self::current)) and the selector's `pick_by_bucket`.
///   Targeting rules and the mirror share are not applied.
///
/// Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Follower {
    inner: Arc<Inner>,
}

impl fmt::Debug for Follower {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Follower");
        match &self.inner.target {
            Target::Selector {
                store,
                selector,
                current,
            } => d
                .field("store", store)
                .field("selector", selector)
                .field("current", &current.load().as_deref()),
            Target::Controller(controller) => d.field("controller", controller),
        };
        d.field("polls", &self.polls()).finish_non_exhaustive()
    }
}

impl Follower {
    /// A follower publishing the stored split to `selector`, which must
    /// list the rollout's candidate first and its baseline second (as a
    /// controller's selector does). The follower keeps the sticky salt:
    /// see [`bucket`](Self::bucket).
    pub fn new(store: impl Store + 'static, selector: Arc<Selector>) -> Follower {
        Follower::with_target(Target::Selector {
            store: Box::new(store),
            selector,
            current: ArcSwapOption::empty(),
        })
    }

    /// A follower keeping `controller` in step with its own store — a
    /// [`RedisStore`] shared with the leader — by calling
    /// [`Controller::resync`] on every poll: the controller's
    /// [`RolloutRouting`](fledge_rollout::RolloutRouting) then serves the leader's split,
    /// sticky salt, targeting rules and mirror share.
    ///
    /// The controller may be ticked while followed (by the lease holder):
    /// a resync only takes snapshots newer than the controller's own.
    pub fn for_controller(controller: Arc<Controller>) -> Follower {
        Follower::with_target(Target::Controller(controller))
    }

    fn with_target(target: Target) -> Follower {
        Follower {
            inner: Arc::new(Inner {
                target,
                polls: AtomicU64::new(0),
                last_error: Mutex::new(None),
            }),
        }
    }

    /// The selector the follower publishes to (a controller's own).
    pub fn selector(&self) -> &Arc<Selector> {
        match &self.inner.target {
            Target::Selector { selector, .. } => selector,
            Target::Controller(controller) => controller.selector(),
        }
    }

    /// The controller followed, if the follower was made by
    /// [`for_controller`](Self::for_controller).
    pub fn controller(&self) -> Option<&Arc<Controller>> {
        match &self.inner.target {
            Target::Selector { .. } => None,
            Target::Controller(controller) => Some(controller),
        }
    }

    /// What the target follows now: for a bare selector, what was applied
    /// last (`None`: nothing yet); for a controller, its version and state
    /// right now (`Some`).
    pub fn current(&self) -> Option<Arc<Followed>> {
        match &self.inner.target {
            Target::Selector { current, .. } => current.load_full(),
            Target::Controller(controller) => followed_of(controller).ok().map(Arc::new),
        }
    }

    /// A key's sticky bucket under the leader's current salt, as the leader
    /// computes it (`None` before a bare selector's first snapshot was
    /// applied).
    pub fn bucket(&self, key: &[u8]) -> Option<u32> {
        match &self.inner.target {
            Target::Selector { current, .. } => {
                current.load().as_ref().map(|f| f.bucketer.bucket(key))
            }
            Target::Controller(controller) => Some(controller.routing().bucket(key)),
        }
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

    /// Takes the stored snapshot if it is newer than what the target has:
    /// `Some` with what the target follows now, `None` if nothing changed
    /// (or nothing is stored yet).
    ///
    /// On any error the target keeps serving what it had. Errors: the
    /// store's ([`RedisError::Store`]: Redis unreachable, a corrupt value);
    /// a snapshot of another rollout ([`RedisError::OtherRollout`]); for a
    /// bare selector, one listing other versions
    /// ([`RedisError::WrongSelector`]) or an unknown hash mode
    /// ([`RedisError::Apply`]); for a controller, a plan the leader replaced
    /// ([`RedisError::PlanChanged`]: rebuild the controller) or a snapshot
    /// the controller refuses ([`RedisError::Resync`]).
    pub fn poll(&self) -> Result<Option<Arc<Followed>>, RedisError> {
        self.inner.polls.fetch_add(1, Ordering::Relaxed);
        let result = match &self.inner.target {
            Target::Selector {
                store,
                selector,
                current,
            } => poll_selector(store.as_ref(), selector, current),
            Target::Controller(controller) => poll_controller(controller),
        };
        *self
            .inner
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = result.as_ref().err().map(|e| e.to_string());
        result
    }

    /// Polls on a background thread now and then every `interval` until
    /// the handle is stopped or dropped. Errors are kept in
    /// [`last_error`](Self::last_error); the target keeps serving what it
    /// had while the store cannot be read.
    pub fn spawn(&self, interval: Duration) -> FollowerHandle {
        self.spawn_inner(interval, None)
    }

    /// [`spawn`](Self::spawn), also woken by the pub/sub announcement that
    /// `store` publishes after every save (on its own connection), so a
    /// change is applied within a round trip; `interval` is the fallback
    /// poll (for missed announcements, or while the subscription is down).
    ///
    /// `store` only names the channel to listen on: pass a store for the
    /// same rollout (and key prefix) as the one polled — for a controller,
    /// the one it was built on.
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

fn poll_controller(controller: &Controller) -> Result<Option<Arc<Followed>>, RedisError> {
    match controller.resync() {
        Ok(true) => followed_of(controller).map(|f| Some(Arc::new(f))),
        Ok(false) => Ok(None),
        Err(e) => Err(resync_error(&controller.plan(), e)),
    }
}

/// What `controller` follows now.
fn followed_of(controller: &Controller) -> Result<Followed, RedisError> {
    let snapshot = controller.snapshot();
    let mode = hash_mode(&snapshot.plan)?;
    Ok(Followed {
        version: snapshot.version,
        bucketer: Bucketer::new(mode, &snapshot.state.salt),
        published: controller.traffic().candidate,
        rollout: snapshot.plan.name,
        state: snapshot.state,
    })
}

/// A refused [`Controller::resync`], as a follower reports it.
pub(crate) fn resync_error(plan: &Plan, error: ControlError) -> RedisError {
    match error {
        ControlError::Store(e) => RedisError::Store(e),
        ControlError::ForeignSnapshot {
            expected,
            expected_versions,
            found,
            found_versions,
        } => RedisError::OtherRollout {
            expected,
            expected_versions,
            found,
            found_versions,
        },
        ControlError::PlanChanged { rollout } => RedisError::PlanChanged { rollout },
        source => RedisError::Resync {
            rollout: plan.name.clone(),
            source,
        },
    }
}

fn hash_mode(plan: &Plan) -> Result<HashMode, RedisError> {
    plan.sticky.mode().map_err(|e| RedisError::Apply {
        rollout: plan.name.clone(),
        detail: e.to_string(),
    })
}

fn poll_selector(
    store: &dyn Store,
    selector: &Selector,
    current: &ArcSwapOption<Followed>,
) -> Result<Option<Arc<Followed>>, RedisError> {
    let Some(snapshot) = store.load()? else {
        return Ok(None);
    };
    if current
        .load()
        .as_ref()
        .is_some_and(|c| c.version == snapshot.version)
    {
        return Ok(None);
    }
    let followed = Arc::new(apply_split(selector, snapshot)?);
    current.store(Some(followed.clone()));
    Ok(Some(followed))
}

/// Publishes `snapshot`'s split to a bare selector.
fn apply_split(selector: &Selector, snapshot: Snapshot) -> Result<Followed, RedisError> {
    let plan = &snapshot.plan;
    let ids = selector.ids();
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
    let mode = hash_mode(plan)?;
    let state = snapshot.state;
    let published = state.traffic.candidate;
    let split = Split::canary(plan.candidate.clone(), plan.baseline.clone(), published)?;
    selector.publish(split)?;
    Ok(Followed {
        version: snapshot.version,
        rollout: plan.name.clone(),
        bucketer: Bucketer::new(mode, &state.salt),
        state,
        published,
    })
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
        if let Some((fleet, channel)) = notify
            && let SessionEnd::Stop = session(follower, interval, fleet, channel, stop)
        {
            return;
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

    /// A followed controller takes the leader's new salt through `resync`.
    #[test]
    fn a_followed_controller_takes_a_new_salt() {
        let store = MemoryStore::new();
        let clock = ManualClock::new(Timestamp::from_millis(0));
        let build = || {
            Controller::builder(plan())
                .clock(clock.clone())
                .store(store.clone())
                .build()
                .unwrap()
        };
        let leader = build();
        let replica = Arc::new(build());
        let follower = Follower::for_controller(replica.clone());
        assert!(follower.poll().unwrap().is_none(), "built at the latest");
        assert_eq!(follower.current().unwrap().version, 1);
        leader.rollback("alice", None).unwrap();
        leader.restart("alice").unwrap();
        let followed = follower.poll().unwrap().unwrap();
        assert_eq!(followed.state, leader.state());
        assert_eq!(followed.version, 3);
        assert_eq!(followed.published, leader.traffic().candidate);
        for key in [&b"a"[..], b"b", b"user-7"] {
            assert_eq!(follower.bucket(key), Some(leader.routing().bucket(key)));
            assert_eq!(followed.bucketer.bucket(key), leader.routing().bucket(key));
        }
        assert!(follower.poll().unwrap().is_none());
        assert!(Arc::ptr_eq(follower.controller().unwrap(), &replica));
        assert!(Arc::ptr_eq(follower.selector(), replica.selector()));
    }

    #[test]
    fn a_replaced_plan_asks_for_a_rebuild() {
        let store = MemoryStore::new();
        let clock = ManualClock::new(Timestamp::from_millis(0));
        let leader = Controller::builder(plan())
            .clock(clock.clone())
            .store(store.clone())
            .build()
            .unwrap();
        let replica = Arc::new(
            Controller::builder(plan())
                .clock(clock.clone())
                .store(store.clone())
                .build()
                .unwrap(),
        );
        let follower = Follower::for_controller(replica.clone());
        let longer = fledge_rollout::PlanBuilder::canary("demo", "v1", "v2")
            .interval(Duration::from_secs(600))
            .build()
            .unwrap();
        leader.replace_plan(longer).unwrap();
        leader.promote("alice").unwrap();
        let before = replica.selector().split();
        let err = follower.poll().unwrap_err();
        assert!(matches!(err, RedisError::PlanChanged { .. }), "{err:?}");
        assert!(err.to_string().contains("rebuild the controller"), "{err}");
        assert_eq!(replica.selector().split(), before);
        assert!(follower.last_error().unwrap().contains("another plan"));
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
