//! [`RedisFleet`]: the registry's [`Fleet`] on Redis, over fledge-redis:
//! a leader lease, every replica's load report, one shared store per
//! rollout, and the leader's gates on every replica's windows.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use fledge_redis::{LeaderLease, ReadingWindows, RedisError, ReplicaId, ReplicaReading, Summaries};
use fledge_rollout::control::WindowSource;
use fledge_rollout::{Controller, Store};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::{Fleet, Readiness, ReplicaLoad};

const TARGET: &str = "fledge_registry";

/// How often a [`RedisFleet`] renews or contends for its lease, publishes
/// this replica's load report and (leader) reads the others', by default.
pub const DEFAULT_TICK: Duration = Duration::from_secs(1);

/// How many load failures a replica's report keeps per model.
const FAILURES_KEPT: usize = 16;

/// What the leader does when a live replica reports that it cannot load
/// the staged challenger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LoadFailure {
    /// The challenger is rejected as if the leader had failed to load it:
    /// `fledge.verdict = load_failed`, `fledge.reason` naming the
    /// replicas and their errors, `@challenger` removed. It never takes
    /// traffic (the default: what one process does with a model that does
    /// not load).
    #[default]
    Reject,
    /// The challenger stays staged, without traffic, until every live
    /// replica has it: the failing replica is restarted (a new process
    /// loads again) or leaves the fleet. The status names it meanwhile.
    Wait,
}

/// What one replica reports in Redis: the versions it has loaded and
/// those it could not load, per model. Published as JSON every tick (and
/// at once on a change) under `<prefix>fleet:registry:<name>:summary:<replica>`,
/// with the replica marked as seen (by Redis's clock) in
/// `<prefix>fleet:registry:<name>:replicas`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaReport {
    /// Versions loaded now, by model.
    #[serde(default)]
    pub loaded: BTreeMap<String, BTreeSet<String>>,
    /// Versions its loader failed on, by model: version → the error.
    #[serde(default)]
    pub failed: BTreeMap<String, BTreeMap<String, String>>,
}

impl ReplicaReport {
    fn has(&self, model: &str, version: &str) -> bool {
        self.loaded.get(model).is_some_and(|v| v.contains(version))
    }

    fn failure(&self, model: &str, version: &str) -> Option<&str> {
        self.failed
            .get(model)
            .and_then(|f| f.get(version))
            .map(String::as_str)
    }
}

/// A replica as the leader last read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaSeen {
    /// Its name.
    pub id: String,
    /// How long ago Redis received its last report.
    pub age: Duration,
    /// Whether that is recent enough to count (see
    /// [`RedisFleetBuilder::late_after`]): a replica that is not live does
    /// not hold a challenger back.
    pub live: bool,
    /// Its report (`None`: expired, or not readable).
    pub report: Option<ReplicaReport>,
}

/// What a [`RedisFleet`] is doing: its role, what it reported, what it
/// last read, its errors.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisFleetStatus {
    /// The fleet's name (its keys' part).
    pub name: String,
    /// This replica.
    pub replica: String,
    /// Whether it leads (holds the lease) now.
    pub leader: bool,
    /// What it reports.
    pub report: ReplicaReport,
    /// Reports published.
    pub reports_published: u64,
    /// The replicas it last read, as leader (empty on a follower).
    pub replicas: Vec<ReplicaSeen>,
    /// The registry rollouts this replica runs (it publishes a summary of
    /// the traffic it served in each, every tick).
    pub rollouts: Vec<String>,
    /// Window summaries it published (all rollouts).
    pub summaries_published: u64,
    /// Redis errors met (each is also a `tracing` event).
    pub errors: u64,
    /// The last one.
    pub last_error: Option<String>,
}

#[derive(Debug, Clone)]
struct Config {
    tick: Duration,
    late_after: Duration,
    on_load_failure: LoadFailure,
    eligible: bool,
    floor: f64,
    forget_after: Duration,
}

/// Configures a [`RedisFleet`]; see [`RedisFleet::builder`].
#[derive(Debug)]
pub struct RedisFleetBuilder {
    redis: fledge_redis::Fleet,
    name: String,
    replica: ReplicaId,
    tick: Duration,
    lease_ttl: Option<Duration>,
    late_after: Option<Duration>,
    forget_after: Duration,
    on_load_failure: LoadFailure,
    eligible: bool,
    floor: f64,
}

impl RedisFleetBuilder {
    /// How often the lease is renewed (or contended for), this replica's
    /// report published, and the others' read by the leader (default
    /// [`DEFAULT_TICK`]; at least 10 ms).
    pub fn tick(mut self, every: Duration) -> Self {
        self.tick = every.max(Duration::from_millis(10));
        self
    }

    /// The lease's time to live (default 10 s; at least three ticks): how
    /// long a crashed leader leaves the registry without a writer.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = Some(ttl);
        self
    }

    /// How old a replica's last report may be and the replica still count
    /// (default three ticks, at least 2 s): a replica not heard from for
    /// longer (crashed, cut off) does not hold a challenger back.
    pub fn late_after(mut self, d: Duration) -> Self {
        self.late_after = Some(d);
        self
    }

    /// How long a replica that stopped reporting stays listed (default
    /// 30 s, at least 1 s).
    pub fn forget_after(mut self, d: Duration) -> Self {
        self.forget_after = d;
        self
    }

    /// What the leader does when a replica cannot load the challenger
    /// (default [`LoadFailure::Reject`]).
    pub fn on_load_failure(mut self, what: LoadFailure) -> Self {
        self.on_load_failure = what;
        self
    }

    /// Whether this replica may lead (default `true`). One that may not
    /// still loads, serves, reports and follows the leader's rollouts.
    pub fn leader_eligible(mut self, eligible: bool) -> Self {
        self.eligible = eligible;
        self
    }

    /// The share of the live replicas whose window summaries must be
    /// fresh (within [`late_after`](Self::late_after)) for the leader's
    /// gates to judge a step (default
    /// [`DEFAULT_COVERAGE_FLOOR`](fledge_redis::DEFAULT_COVERAGE_FLOOR),
    /// half; clamped to `[0, 1]`). Below it the step is Inconclusive, the
    /// reason naming the replicas not counted.
    pub fn coverage_floor(mut self, floor: f64) -> Self {
        self.floor = floor;
        self
    }

    /// Checks that Redis answers, then runs the fleet's background task on
    /// the current tokio runtime: it takes the lease if it is free (so
    /// [`Fleet::is_leader`] is already right when this returns, unless
    /// another replica leads) and publishes this replica's first report.
    ///
    /// # Errors
    ///
    /// Redis cannot be reached (a [`RedisError`] naming the URL).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub async fn start(self) -> Result<RedisFleet, RedisError> {
        let ping = self.redis.clone();
        tokio::task::spawn_blocking(move || ping.ping())
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        let tick = self.tick;
        let late_after = self
            .late_after
            .unwrap_or_else(|| (tick * 3).max(Duration::from_secs(2)));
        let ttl = self
            .lease_ttl
            .unwrap_or(fledge_redis::DEFAULT_LEASE_TTL)
            .max(tick * 3);
        let key = format!("registry:{}", self.name);
        let shared = Arc::new(Shared {
            lease: self.redis.lease(&key, self.replica.as_str()).with_ttl(ttl),
            summaries: self.redis.summaries(&key).forget_after(self.forget_after),
            redis: self.redis,
            name: self.name,
            replica: self.replica,
            config: Config {
                tick,
                late_after,
                on_load_failure: self.on_load_failure,
                eligible: self.eligible,
                floor: self.floor,
                forget_after: self.forget_after,
            },
            report: Mutex::new(ReplicaReport::default()),
            changed: Notify::new(),
            reading: Mutex::new(None),
            stores: Mutex::new(BTreeMap::new()),
            rollouts: Mutex::new(BTreeMap::new()),
            ended: Mutex::new(Vec::new()),
            counters: Mutex::new(Counters::default()),
        });
        let was_leader = round(&shared, false).await;
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(run(shared.clone(), rx, was_leader));
        tracing::info!(
            name: "registry.fleet_joined",
            target: TARGET,
            fleet = shared.name.as_str(),
            replica = shared.replica.as_str(),
            leader = was_leader,
            lease = shared.lease.key(),
            "joined the registry fleet on Redis"
        );
        Ok(RedisFleet {
            handle: Arc::new(Handle {
                shared,
                stop,
                task: Mutex::new(Some(task)),
            }),
        })
    }
}

/// A [`Fleet`] on Redis (fledge-redis): the replicas of a service that
/// watch the same registry model share one Redis.
///
/// - **Only the leader writes.** A lease (`<prefix>lease:registry:<name>`,
///   fledge-redis's [`LeaderLease`], renewed every tick) says who leads:
///   [`is_leader`](Fleet::is_leader) reads its local deadline, nothing
///   else. A crashed leader's lease expires after its TTL; one that shuts
///   down ([`shutdown`](RedisFleet::shutdown)) releases it at once.
/// - **Every replica reports its loads.** What the watcher reports
///   ([`loaded`](Fleet::loaded), [`unloaded`](Fleet::unloaded)) is kept
///   as this replica's [`ReplicaReport`] and published every tick (at once
///   on a change) with a TTL, marking the replica as seen by Redis's clock.
/// - **The challenger waits for every live replica.** The leader reads
///   every report each tick; [`readiness`](Fleet::readiness) is
///   [`Readiness::Ready`] once every replica heard from within
///   [`late_after`](RedisFleetBuilder::late_after) has the challenger
///   loaded, [`Readiness::Waiting`] naming the others, and
///   [`Readiness::Failed`] naming those whose loader failed (or
///   `Waiting`, with [`LoadFailure::Wait`]).
/// - **One rollout for the fleet.** [`store`](Fleet::store) is a
///   fledge-redis [`RedisStore`](fledge_redis::RedisStore) per rollout:
///   the leader's controller saves every decision there, the followers'
///   controllers resync from it every tick.
/// - **The leader judges the fleet's traffic.** Every replica publishes,
///   each tick, a window summary of what it served in each rollout it runs
///   (fledge-redis's [`controller_summary`](fledge_redis::controller_summary)
///   of the rollout's controller, to [`Summaries`] of the rollout's own);
///   the leader reads them every tick, and its controller's gates judge
///   them merged ([`window_source`](Fleet::window_source): fledge-redis's
///   [`ReadingWindows`], as a fledge-redis `Member`'s leader does). A
///   judgement's reason says what it covers (`fleet: 2/2 replicas, 5120
///   requests (candidate 2533)`) and names the live replicas not counted
///   (late, or missing: no summary); below the
///   [`coverage_floor`](RedisFleetBuilder::coverage_floor) the step is
///   Inconclusive.
///
/// Cheap to clone; the background task stops when the last clone is
/// dropped (the lease then expires after its TTL) or at
/// [`shutdown`](Self::shutdown).
///
/// ```no_run
/// use fledge_redis::ReplicaId;
/// use fledge_registry::{MlflowSource, RedisFleet, Watcher};
/// # use std::sync::Arc;
/// # async fn run(plan: fledge_rollout::Plan) -> Result<(), Box<dyn std::error::Error>> {
/// let redis = fledge_redis::Fleet::open(std::env::var("REDIS_URL")?)?;
/// let fleet = RedisFleet::builder(redis, "forecaster", ReplicaId::from_env_or_hostname())
///     .start()
///     .await?;
/// let watcher = Watcher::builder(MlflowSource::from_env()?, "forecaster", plan)
///     .loader(|_version, dir| async move {
///         let text = tokio::fs::read_to_string(dir.join("model.json")).await?;
///         Ok::<_, std::io::Error>(Arc::new(text))
///     })
///     .fleet(fleet.clone())
///     .start()
///     .await?;
/// // ... serve with watcher.layer(); at shutdown:
/// watcher.shutdown().await;
/// fleet.shutdown().await; // hands the lease over at once
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisFleet {
    handle: Arc<Handle>,
}

struct Handle {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // The task ends at its next wake-up; the lease expires after its
        // TTL unless `shutdown` released it.
        let _ = self.stop.send(true);
    }
}

#[derive(Debug, Default)]
struct Counters {
    published: u64,
    windows_published: u64,
    errors: u64,
    last_error: Option<String>,
    /// The last error logged as a warning, to log repeats quietly.
    logged: Option<String>,
}

struct Shared {
    redis: fledge_redis::Fleet,
    name: String,
    replica: ReplicaId,
    lease: LeaderLease,
    summaries: Summaries,
    config: Config,
    report: Mutex<ReplicaReport>,
    changed: Notify,
    /// The leader's last reading of every replica, and when.
    reading: Mutex<Option<(Instant, Vec<ReplicaSeen>)>>,
    stores: Mutex<BTreeMap<String, Arc<dyn Store>>>,
    /// The rollouts whose windows this replica publishes (and, leading,
    /// reads), by name.
    rollouts: Mutex<BTreeMap<String, RolloutWindows>>,
    /// The summaries of rollouts that ended, to leave at the next round.
    ended: Mutex<Vec<Arc<Summaries>>>,
    counters: Mutex<Counters>,
}

/// One rollout's window summaries: this replica's controller (once it
/// runs), the fleet's summaries in Redis, the leader's source.
struct RolloutWindows {
    summaries: Arc<Summaries>,
    source: Arc<ReadingWindows>,
    controller: Option<Arc<Controller>>,
    seq: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn note_error(&self, what: &str, error: &dyn fmt::Display) {
        let message = format!("{what}: {error}");
        let mut c = lock(&self.counters);
        c.errors += 1;
        c.last_error = Some(message.clone());
        if c.logged.as_deref() == Some(message.as_str()) {
            tracing::debug!(target: TARGET, fleet = self.name.as_str(), replica = self.replica.as_str(), error = message.as_str(), "registry fleet error (repeated)");
        } else {
            tracing::warn!(name: "registry.fleet_error", target: TARGET, fleet = self.name.as_str(), replica = self.replica.as_str(), error = message.as_str(), "registry fleet error");
            c.logged = Some(message);
        }
    }

    fn note_ok(&self) {
        lock(&self.counters).logged = None;
    }

    /// The windows of `rollout`, made on first use.
    fn windows<'a>(
        &self,
        rollouts: &'a mut BTreeMap<String, RolloutWindows>,
        rollout: &str,
    ) -> &'a mut RolloutWindows {
        rollouts.entry(rollout.to_owned()).or_insert_with(|| {
            let key = format!("registry:{}:windows:{rollout}", self.name);
            RolloutWindows {
                summaries: Arc::new(
                    self.redis
                        .summaries(&key)
                        .forget_after(self.config.forget_after),
                ),
                source: Arc::new(ReadingWindows::new(
                    self.config.late_after,
                    self.config.floor,
                )),
                controller: None,
                seq: 0,
            }
        })
    }
}

/// The background task: a round every tick, or at once when the report
/// changed; at the end, the lease released and the replica out of the
/// reports.
async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>, mut leading: bool) {
    let mut ticker = tokio::time::interval(shared.config.tick);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticker.tick().await; // the first round ran at start
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = shared.changed.notified() => {}
            _ = stop.changed() => break,
        }
        leading = round(&shared, leading).await;
    }
    let s = shared.clone();
    let released = tokio::task::spawn_blocking(move || s.lease.release()).await;
    if let Ok(Err(e)) = released {
        shared.note_error("releasing the lease", &e);
    }
    if let Err(e) = shared.summaries.leave(shared.replica.as_str()).await {
        shared.note_error("leaving the fleet's reports", &e);
    }
    let mut leaving = std::mem::take(&mut *lock(&shared.ended));
    leaving.extend(
        std::mem::take(&mut *lock(&shared.rollouts))
            .into_values()
            .map(|w| w.summaries),
    );
    for summaries in leaving {
        if let Err(e) = summaries.leave(shared.replica.as_str()).await {
            shared.note_error("leaving a rollout's window summaries", &e);
        }
    }
    tracing::info!(name: "registry.fleet_left", target: TARGET, fleet = shared.name.as_str(), replica = shared.replica.as_str(), "left the registry fleet");
}

/// One round: the lease, this replica's report, and (leader) everyone's.
/// Returns whether this replica leads after it.
async fn round(shared: &Arc<Shared>, was_leader: bool) -> bool {
    let s = shared.clone();
    let eligible = shared.config.eligible;
    let lease = tokio::task::spawn_blocking(move || {
        if eligible {
            s.lease.try_acquire()
        } else {
            Ok(false)
        }
    })
    .await;
    match lease {
        Ok(Ok(_)) => shared.note_ok(),
        Ok(Err(e)) => shared.note_error("taking or renewing the lease", &e),
        Err(e) => shared.note_error("taking or renewing the lease", &e),
    }
    let leading = shared.lease.is_leader();
    if leading != was_leader {
        tracing::info!(
            name: "registry.fleet_leader",
            target: TARGET,
            fleet = shared.name.as_str(),
            replica = shared.replica.as_str(),
            leader = leading,
            "{}",
            if leading {
                "this replica leads: it starts rollouts and writes to the registry"
            } else {
                "this replica no longer leads"
            }
        );
    }
    let report = lock(&shared.report).clone();
    match serde_json::to_vec(&report) {
        Ok(bytes) => match shared
            .summaries
            .publish_bytes(shared.replica.as_str(), &bytes)
            .await
        {
            Ok(()) => lock(&shared.counters).published += 1,
            Err(e) => shared.note_error("publishing this replica's load report", &e),
        },
        Err(e) => shared.note_error("encoding this replica's load report", &e),
    }
    if leading {
        match shared.summaries.read().await {
            Ok(reading) => {
                let late_after = shared.config.late_after;
                let replicas = reading
                    .replicas
                    .into_iter()
                    .map(|r| {
                        let report = r
                            .bytes
                            .as_deref()
                            .and_then(|b| serde_json::from_slice::<ReplicaReport>(b).ok());
                        ReplicaSeen {
                            live: report.is_some() && r.age <= late_after,
                            id: r.id,
                            age: r.age,
                            report,
                        }
                    })
                    .collect();
                *lock(&shared.reading) = Some((Instant::now(), replicas));
            }
            Err(e) => shared.note_error("reading the replicas' load reports", &e),
        }
    } else {
        *lock(&shared.reading) = None;
    }
    windows_round(shared, leading).await;
    leading
}

/// The rollouts' windows: leaves those that ended, publishes this
/// replica's summary of each running one, and (leader) reads everyone's
/// for the gates.
async fn windows_round(shared: &Arc<Shared>, leading: bool) {
    let me = shared.replica.as_str();
    let ended = std::mem::take(&mut *lock(&shared.ended));
    for summaries in ended {
        if let Err(e) = summaries.leave(me).await {
            shared.note_error("leaving a rollout's window summaries", &e);
        }
    }
    let rollouts: Vec<(String, RolloutWindows)> = lock(&shared.rollouts)
        .iter_mut()
        .map(|(name, w)| {
            w.seq += 1;
            let copy = RolloutWindows {
                summaries: w.summaries.clone(),
                source: w.source.clone(),
                controller: w.controller.clone(),
                seq: w.seq,
            };
            (name.clone(), copy)
        })
        .collect();
    if rollouts.is_empty() {
        return;
    }
    // Summarizing is CPU work: off the async workers.
    let jobs: Vec<(usize, Arc<Controller>, u64)> = rollouts
        .iter()
        .enumerate()
        .filter_map(|(i, (_, w))| w.controller.clone().map(|c| (i, c, w.seq)))
        .collect();
    let replica = me.to_owned();
    let encoded = tokio::task::spawn_blocking(move || {
        jobs.into_iter()
            .map(|(i, c, seq)| {
                let summary = fledge_redis::controller_summary(
                    &c,
                    &replica,
                    seq,
                    fledge_gate::summary::DEFAULT_SUMMARY_SAMPLES,
                );
                (i, summary.map(|s| s.encode()))
            })
            .collect::<Vec<_>>()
    })
    .await;
    match encoded {
        Ok(encoded) => {
            for (i, bytes) in encoded {
                let (name, w) = &rollouts[i];
                match bytes {
                    Ok(bytes) => match w.summaries.publish_bytes(me, &bytes).await {
                        Ok(()) => lock(&shared.counters).windows_published += 1,
                        Err(e) => shared.note_error(
                            &format!("publishing this replica's windows of rollout {name}"),
                            &e,
                        ),
                    },
                    Err(e) => shared.note_error(
                        &format!("summarizing this replica's windows of rollout {name}"),
                        &e,
                    ),
                }
            }
        }
        Err(e) => shared.note_error("summarizing this replica's windows", &e),
    }
    if !leading {
        return;
    }
    // The live replicas of the load reports: one without a summary of a
    // rollout is named as missing from its judgements.
    let live: Vec<String> = lock(&shared.reading)
        .as_ref()
        .map(|(_, replicas)| {
            replicas
                .iter()
                .filter(|r| r.live)
                .map(|r| r.id.clone())
                .collect()
        })
        .unwrap_or_default();
    for (name, w) in &rollouts {
        match w.summaries.read().await {
            Ok(mut reading) => {
                for id in &live {
                    if !reading.replicas.iter().any(|r| &r.id == id) {
                        reading.replicas.push(ReplicaReading {
                            id: id.clone(),
                            age: Duration::ZERO,
                            bytes: None,
                        });
                    }
                }
                reading.replicas.sort_by(|a, b| a.id.cmp(&b.id));
                w.source.set(Ok(reading));
            }
            Err(e) => {
                shared.note_error(
                    &format!("reading the window summaries of rollout {name}"),
                    &e,
                );
                w.source.set(Err(format!(
                    "cannot read the fleet's window summaries: {e}"
                )));
            }
        }
    }
}

impl RedisFleet {
    /// Starts configuring this replica's part in the fleet `name` (usually
    /// the model's name; one fleet may serve several watchers) on the
    /// Redis of `redis`, as `replica`.
    pub fn builder(
        redis: fledge_redis::Fleet,
        name: &str,
        replica: ReplicaId,
    ) -> RedisFleetBuilder {
        RedisFleetBuilder {
            redis,
            name: name.to_owned(),
            replica,
            tick: DEFAULT_TICK,
            lease_ttl: None,
            late_after: None,
            forget_after: fledge_redis::DEFAULT_FORGET_AFTER,
            on_load_failure: LoadFailure::default(),
            eligible: true,
            floor: fledge_redis::DEFAULT_COVERAGE_FLOOR,
        }
    }

    /// This replica.
    pub fn replica(&self) -> &ReplicaId {
        &self.handle.shared.replica
    }

    /// Its role, report, last reading and errors.
    pub fn status(&self) -> RedisFleetStatus {
        let s = &self.handle.shared;
        let c = lock(&s.counters);
        RedisFleetStatus {
            name: s.name.clone(),
            replica: s.replica.to_string(),
            leader: s.lease.is_leader(),
            report: lock(&s.report).clone(),
            reports_published: c.published,
            replicas: lock(&s.reading)
                .as_ref()
                .map(|(_, r)| r.clone())
                .unwrap_or_default(),
            rollouts: lock(&s.rollouts)
                .iter()
                .filter(|(_, w)| w.controller.is_some())
                .map(|(name, _)| name.clone())
                .collect(),
            summaries_published: c.windows_published,
            errors: c.errors,
            last_error: c.last_error.clone(),
        }
    }

    /// Stops the background task, releases the lease if held (another
    /// replica leads at its next tick, not after the TTL) and takes this
    /// replica out of the reports (it no longer holds challengers back).
    pub async fn shutdown(&self) {
        let _ = self.handle.stop.send(true);
        let task = lock(&self.handle.task).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl fmt::Debug for RedisFleet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.handle.shared;
        f.debug_struct("RedisFleet")
            .field("redis", &s.redis)
            .field("name", &s.name)
            .field("replica", &s.replica)
            .field("leader", &s.lease.is_leader())
            .finish_non_exhaustive()
    }
}

impl Fleet for RedisFleet {
    fn is_leader(&self) -> bool {
        self.handle.shared.lease.is_leader()
    }

    fn loaded(&self, model: &str, version: &str, outcome: Result<(), &str>) {
        let s = &self.handle.shared;
        {
            let mut report = lock(&s.report);
            match outcome {
                Ok(()) => {
                    report
                        .loaded
                        .entry(model.to_owned())
                        .or_default()
                        .insert(version.to_owned());
                    if let Some(f) = report.failed.get_mut(model) {
                        f.remove(version);
                    }
                }
                Err(error) => {
                    if let Some(l) = report.loaded.get_mut(model) {
                        l.remove(version);
                    }
                    let failed = report.failed.entry(model.to_owned()).or_default();
                    failed.insert(version.to_owned(), error.to_owned());
                    while failed.len() > FAILURES_KEPT {
                        let oldest = failed
                            .keys()
                            .min_by(|a, b| crate::source::version_order(a, b))
                            .cloned();
                        if let Some(oldest) = oldest {
                            failed.remove(&oldest);
                        }
                    }
                }
            }
        }
        s.changed.notify_one();
    }

    fn unloaded(&self, model: &str, version: &str) {
        let s = &self.handle.shared;
        if let Some(l) = lock(&s.report).loaded.get_mut(model) {
            l.remove(version);
        }
        s.changed.notify_one();
    }

    fn ready(&self, model: &str, version: &str) -> bool {
        self.readiness(model, version) == Readiness::Ready
    }

    fn readiness(&self, model: &str, version: &str) -> Readiness {
        let s = &self.handle.shared;
        let Some((at, replicas)) = lock(&s.reading).clone() else {
            // Not read yet (or not leading): cannot tell.
            return Readiness::Waiting(Vec::new());
        };
        if at.elapsed() > s.config.late_after {
            // Redis has not been read for a while: cannot tell.
            return Readiness::Waiting(Vec::new());
        }
        let local = lock(&s.report).clone();
        let me = s.replica.as_str();
        let mut missing = Vec::new();
        let mut failed = Vec::new();
        let mut check = |id: &str, report: Option<&ReplicaReport>| {
            let report = report.filter(|r| !r.has(model, version));
            let Some(report) = report else { return };
            match report.failure(model, version) {
                Some(error) => failed.push(ReplicaLoad {
                    replica: id.to_owned(),
                    error: Some(error.to_owned()),
                }),
                None => missing.push(ReplicaLoad {
                    replica: id.to_owned(),
                    error: None,
                }),
            }
        };
        // This replica by what it knows now; the others by their reports.
        check(me, Some(&local));
        for r in replicas.iter().filter(|r| r.live && r.id != me) {
            check(&r.id, r.report.as_ref());
        }
        if !failed.is_empty() {
            return match s.config.on_load_failure {
                LoadFailure::Reject => Readiness::Failed(failed),
                LoadFailure::Wait => {
                    failed.extend(missing);
                    Readiness::Waiting(failed)
                }
            };
        }
        if missing.is_empty() {
            Readiness::Ready
        } else {
            Readiness::Waiting(missing)
        }
    }

    fn store(&self, rollout: &str) -> Option<Arc<dyn Store>> {
        let s = &self.handle.shared;
        let mut stores = lock(&s.stores);
        let store = stores
            .entry(rollout.to_owned())
            .or_insert_with(|| Arc::new(s.redis.store(rollout)));
        Some(store.clone())
    }

    fn window_source(&self, rollout: &str) -> Option<Arc<dyn WindowSource>> {
        let s = &self.handle.shared;
        let mut rollouts = lock(&s.rollouts);
        let source: Arc<dyn WindowSource> = s.windows(&mut rollouts, rollout).source.clone();
        Some(source)
    }

    fn rollout_running(&self, rollout: &str, controller: &Arc<Controller>) {
        let s = &self.handle.shared;
        s.windows(&mut lock(&s.rollouts), rollout).controller = Some(controller.clone());
        s.changed.notify_one();
    }

    fn rollout_ended(&self, rollout: &str) {
        let s = &self.handle.shared;
        let ended = lock(&s.rollouts).remove(rollout);
        if let Some(w) = ended {
            lock(&s.ended).push(w.summaries);
            s.changed.notify_one();
        }
    }
}
