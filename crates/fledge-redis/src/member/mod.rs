//! [`Member`]: one replica of a fleet, joined to a rollout with one call.

mod command;
mod tasks;

use std::fmt;
use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use fledge_rollout::control::{
    ControlError, ControllerBuilder, FleetView, Judgement, Operate, ReplicaView,
};
use fledge_rollout::machine::{Command, Event};
use fledge_rollout::{Controller, Plan, RolloutRouting, StoreError};
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::coverage::{Coverage, DEFAULT_COVERAGE_FLOOR, DEFAULT_MERGED_SAMPLES, FleetWindows};
use crate::error::FleetError;
use crate::fleet::Fleet;
use crate::keys::Keys;
use crate::lease::DEFAULT_LEASE_TTL;
use crate::replica::ReplicaId;
use crate::summaries::{DEFAULT_FORGET_AFTER, Summaries};

pub use command::FleetJudgement;

/// How often the leader ticks by default.
pub const DEFAULT_TICK: Duration = Duration::from_secs(1);
/// How long a forwarded command waits for the leader's answer by default.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// How a replica takes part in its fleet; see [`Fleet::join`].
pub struct JoinBuilder {
    fleet: Fleet,
    plan: Plan,
    replica: ReplicaId,
    config: Config,
    configure: Option<Configure>,
}

type Configure = Box<dyn Fn(ControllerBuilder) -> ControllerBuilder + Send + Sync>;

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) tick: Duration,
    pub(crate) lease_ttl: Duration,
    pub(crate) publish_every: Option<Duration>,
    pub(crate) poll_every: Duration,
    pub(crate) late_after: Option<Duration>,
    pub(crate) forget_after: Duration,
    pub(crate) floor: f64,
    pub(crate) summary_samples: usize,
    pub(crate) merged_samples: usize,
    pub(crate) command_timeout: Duration,
    pub(crate) join_timeout: Duration,
    pub(crate) eligible: bool,
}

impl Config {
    pub(crate) fn publish_every(&self) -> Duration {
        self.publish_every.unwrap_or(self.tick)
    }

    pub(crate) fn late_after(&self) -> Duration {
        self.late_after
            .unwrap_or_else(|| (self.publish_every() * 3).max(Duration::from_secs(2)))
    }
}

impl fmt::Debug for JoinBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinBuilder")
            .field("fleet", &self.fleet)
            .field("rollout", &self.plan.name)
            .field("replica", &self.replica)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl JoinBuilder {
    pub(crate) fn new(fleet: Fleet, plan: Plan, replica: ReplicaId) -> JoinBuilder {
        JoinBuilder {
            fleet,
            plan,
            replica,
            config: Config {
                tick: DEFAULT_TICK,
                lease_ttl: DEFAULT_LEASE_TTL,
                publish_every: None,
                poll_every: Duration::from_secs(1),
                late_after: None,
                forget_after: DEFAULT_FORGET_AFTER,
                floor: DEFAULT_COVERAGE_FLOOR,
                summary_samples: fledge_gate::summary::DEFAULT_SUMMARY_SAMPLES,
                merged_samples: DEFAULT_MERGED_SAMPLES,
                command_timeout: DEFAULT_COMMAND_TIMEOUT,
                join_timeout: Duration::from_secs(30),
                eligible: true,
            },
            configure: None,
        }
    }

    /// How often the leader judges and ticks the rollout, renews its lease
    /// and non-leaders try to take it (default [`DEFAULT_TICK`]; at least
    /// 10 ms).
    pub fn tick(mut self, every: Duration) -> Self {
        self.config.tick = every.max(Duration::from_millis(10));
        self
    }

    /// The leader lease's time to live (default 10 s; at least twice the
    /// tick): how long a crashed leader leaves the rollout without one. A
    /// leader that shuts down releases it at once.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.config.lease_ttl = ttl;
        self
    }

    /// How often every replica publishes its window summary (default: the
    /// tick).
    pub fn publish_every(mut self, every: Duration) -> Self {
        self.config.publish_every = Some(every.max(Duration::from_millis(10)));
        self
    }

    /// How often a replica rereads the snapshot in case an announcement was
    /// missed (default 1 s).
    pub fn poll_every(mut self, every: Duration) -> Self {
        self.config.poll_every = every.max(Duration::from_millis(10));
        self
    }

    /// The share of the fleet's known replicas whose summaries must be
    /// fresh for a step to be judged (default [`DEFAULT_COVERAGE_FLOOR`],
    /// clamped to `[0, 1]`); below it the tick is Inconclusive.
    pub fn coverage_floor(mut self, floor: f64) -> Self {
        self.config.floor = if floor.is_nan() {
            DEFAULT_COVERAGE_FLOOR
        } else {
            floor.clamp(0.0, 1.0)
        };
        self
    }

    /// How old a replica's summary may be and still count (default three
    /// publish intervals, at least 2 s); older ones are named as late.
    pub fn late_after(mut self, d: Duration) -> Self {
        self.config.late_after = Some(d);
        self
    }

    /// How long a replica that stopped publishing still counts as part of
    /// the fleet, named as missing (default 30 s).
    pub fn forget_after(mut self, d: Duration) -> Self {
        self.config.forget_after = d.max(Duration::from_secs(1));
        self
    }

    /// Custom-metric samples per version each summary carries (default 64)
    /// and a merged window keeps (default 4,096), for rank tests on custom
    /// metrics.
    pub fn samples(mut self, per_summary: usize, merged: usize) -> Self {
        self.config.summary_samples = per_summary;
        self.config.merged_samples = merged;
        self
    }

    /// How long a command forwarded to the leader waits for its answer
    /// (default [`DEFAULT_COMMAND_TIMEOUT`]).
    pub fn command_timeout(mut self, d: Duration) -> Self {
        self.config.command_timeout = d.max(Duration::from_millis(10));
        self
    }

    /// How long joining keeps retrying while Redis cannot be reached
    /// (default 30 s).
    pub fn join_timeout(mut self, d: Duration) -> Self {
        self.config.join_timeout = d;
        self
    }

    /// Whether this replica may lead (default `true`). A replica that may
    /// not still serves, follows, publishes its summaries and forwards
    /// commands (e.g. replicas in a remote region, far from Redis).
    pub fn leader_eligible(mut self, eligible: bool) -> Self {
        self.config.eligible = eligible;
        self
    }

    /// Customizes the replica's controller (clock, confirm hooks, an
    /// evaluator such as PromQL gates instead of the fleet's merged
    /// windows, ...). The store and the window source are the fleet's;
    /// called again on each attempt to join.
    pub fn controller(
        mut self,
        f: impl Fn(ControllerBuilder) -> ControllerBuilder + Send + Sync + 'static,
    ) -> Self {
        self.configure = Some(Box::new(f));
        self
    }

    /// Joins on the current tokio runtime: builds this replica's
    /// controller on the stored rollout (or starts the rollout if the
    /// store is empty; replicas racing to do so all end up on the winner's
    /// rollout), then runs its background tasks there: following the
    /// leader's saves, publishing window summaries, and contending for the
    /// lease (the holder judges the fleet and ticks).
    ///
    /// Blocking work (the controller's ticks and saves, judging) runs on
    /// tokio's blocking threads. Must be called within a tokio runtime
    /// with the time driver enabled.
    pub async fn spawn(self) -> Result<Member, FleetError> {
        let handle = Handle::try_current().map_err(|_| {
            FleetError::Runtime(
                "JoinBuilder::spawn must run within a tokio runtime (with time enabled); without one, use JoinBuilder::start".to_owned(),
            )
        })?;
        let JoinBuilder {
            fleet,
            plan,
            replica,
            mut config,
            configure,
        } = self;
        config.lease_ttl = config.lease_ttl.max(config.tick * 2);
        let rollout = plan.name.clone();
        let source = Arc::new(FleetWindows::default());
        let controller = Arc::new(
            build(
                &fleet,
                &plan,
                &replica,
                &config,
                configure.as_ref(),
                &source,
            )
            .await?,
        );
        let keys = Keys::new(&fleet, &rollout);
        let conn = fleet.manager()?;
        let version = controller.snapshot().version;
        let status = MemberStatus::new(&replica, &rollout, version);
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            summaries: fleet.summaries(&rollout).forget_after(config.forget_after),
            lease_token: format!("{replica}/{}", crate::lease::nonce()),
            fleet,
            keys,
            replica,
            rollout,
            controller,
            config,
            conn,
            source,
            status: Mutex::new(status),
            held_until: Mutex::new(None),
            wake: Notify::new(),
            resyncing: tokio::sync::Mutex::new(()),
            judgement: Mutex::new(None),
            last_error: Mutex::new(None),
            seq: AtomicU64::new(0),
        });
        tracing::info!(
            rollout = %shared.rollout,
            replica = %shared.replica,
            version,
            "joined the fleet"
        );
        let tasks = vec![
            handle.spawn(tasks::follow(shared.clone(), stop_rx.clone())),
            handle.spawn(tasks::publish(shared.clone(), stop_rx.clone())),
            handle.spawn(tasks::lead(shared.clone(), stop_rx)),
        ];
        Ok(Member {
            shared,
            handle,
            runtime: None,
            stop: stop_tx,
            tasks: Mutex::new(tasks),
        })
    }

    /// [`spawn`](Self::spawn) for services without a tokio runtime: runs
    /// the member on a small runtime of its own (two threads) and returns
    /// once joined. Use the `*_blocking` methods of [`Member`]. Fails if
    /// called within a tokio runtime (use `spawn` there).
    pub fn start(self) -> Result<Member, FleetError> {
        if Handle::try_current().is_ok() {
            return Err(FleetError::Runtime(
                "JoinBuilder::start blocks, so it cannot run within a tokio runtime: use `JoinBuilder::spawn().await` there".to_owned(),
            ));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fledge-fleet")
            .enable_all()
            .build()
            .map_err(|e| FleetError::Runtime(format!("cannot start the fleet runtime: {e}")))?;
        let mut member = runtime.block_on(self.spawn())?;
        member.runtime = Some(runtime);
        Ok(member)
    }
}

/// Builds the replica's controller on the stored rollout, retrying the
/// races of a first build and an unreachable Redis.
async fn build(
    fleet: &Fleet,
    plan: &Plan,
    replica: &ReplicaId,
    config: &Config,
    configure: Option<&Configure>,
    source: &Arc<FleetWindows>,
) -> Result<Controller, FleetError> {
    let started = Instant::now();
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let mut builder = Controller::builder(plan.clone())
            .store(fleet.store(&plan.name))
            .window_source(source.clone());
        if let Some(f) = configure {
            builder = f(builder);
        }
        let result = tokio::task::spawn_blocking(move || builder.build())
            .await
            .map_err(|e| FleetError::Runtime(format!("building the controller panicked: {e}")))?;
        let error = match result {
            Ok(controller) => return Ok(controller),
            Err(e) => e,
        };
        let retry = match &error {
            // Another replica saved the first snapshot first: resume it.
            ControlError::Store(StoreError::Conflict { .. }) => true,
            ControlError::Store(StoreError::Io { .. }) => started.elapsed() < config.join_timeout,
            _ => false,
        };
        if !retry || attempt > 1_000 {
            return Err(FleetError::Join {
                rollout: plan.name.clone(),
                replica: replica.to_string(),
                source: Box::new(error),
            });
        }
        tracing::debug!(
            rollout = %plan.name,
            replica = %replica,
            attempt,
            error = %error,
            "joining again"
        );
        let pause = match &error {
            ControlError::Store(StoreError::Conflict { .. }) => Duration::from_millis(10),
            _ => Duration::from_millis(200),
        };
        tokio::time::sleep(pause).await;
    }
}

/// This replica's part in the fleet: its role, the leader, its summaries,
/// its errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberStatus {
    /// This replica.
    pub replica: String,
    /// The rollout.
    pub rollout: String,
    /// Whether it leads.
    pub role: Role,
    /// The replica leading, as last seen (`None`: nobody held the lease).
    pub leader: Option<String>,
    /// How many times this replica saw the leader change.
    pub leader_changes: u64,
    /// Since when it leads (ms since the epoch).
    pub leading_since_ms: Option<u64>,
    /// The snapshot version its controller serves.
    pub version: u64,
    /// Ticks it ran as leader.
    pub ticks: u64,
    /// Its last tick as leader (ms since the epoch).
    pub last_tick_ms: Option<u64>,
    /// How long its last tick as leader took, in ms: reading the fleet's
    /// summaries, merging them, judging, deciding and saving.
    pub last_tick_took_ms: Option<f64>,
    /// Window summaries it published.
    pub summaries_published: u64,
    /// Their bytes.
    pub summary_bytes: u64,
    /// Its last published summary (ms since the epoch).
    pub last_summary_ms: Option<u64>,
    /// The coverage of its last judgement as leader (the fleet's share its
    /// last verdict counted).
    pub coverage: Option<Coverage>,
    /// The leader's saves it applied, latest last (at most 256), with how
    /// long after the save it served them.
    pub applied: Vec<Applied>,
    /// Commands it forwarded to the leader.
    pub commands_forwarded: u64,
    /// Commands it applied as leader (its own and forwarded ones).
    pub commands_applied: u64,
    /// Errors met (each is also a `tracing` event).
    pub errors: u64,
    /// The last one.
    pub last_error: Option<StatusError>,
}

/// A replica's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// It serves and follows the leader's saves.
    Follower,
    /// It holds the lease: it judges the fleet, ticks and takes commands.
    Leader,
    /// It was shut down.
    Stopped,
}

/// A save of the leader applied by a replica.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    /// The snapshot version.
    pub version: u64,
    /// From the leader's save to this replica serving it, in ms (the two
    /// machines' clocks: exact on one host).
    pub delay_ms: f64,
}

/// An error a member met.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusError {
    /// When (ms since the epoch).
    pub at_ms: u64,
    /// What it was doing.
    pub what: String,
    /// The error.
    pub message: String,
}

impl MemberStatus {
    fn new(replica: &ReplicaId, rollout: &str, version: u64) -> MemberStatus {
        MemberStatus {
            replica: replica.to_string(),
            rollout: rollout.to_owned(),
            role: Role::Follower,
            leader: None,
            leader_changes: 0,
            leading_since_ms: None,
            version,
            ticks: 0,
            last_tick_ms: None,
            last_tick_took_ms: None,
            summaries_published: 0,
            summary_bytes: 0,
            last_summary_ms: None,
            coverage: None,
            applied: Vec::new(),
            commands_forwarded: 0,
            commands_applied: 0,
            errors: 0,
            last_error: None,
        }
    }
}

pub(crate) fn unix_ms() -> u64 {
    crate::store::unix_micros() / 1_000
}

/// What a member's tasks share.
pub(crate) struct Shared {
    pub(crate) fleet: Fleet,
    pub(crate) keys: Keys,
    pub(crate) replica: ReplicaId,
    pub(crate) rollout: String,
    pub(crate) controller: Arc<Controller>,
    pub(crate) config: Config,
    pub(crate) conn: ConnectionManager,
    pub(crate) summaries: Summaries,
    pub(crate) source: Arc<FleetWindows>,
    pub(crate) status: Mutex<MemberStatus>,
    pub(crate) lease_token: String,
    /// Until when this replica holds the lease for sure (local clock).
    pub(crate) held_until: Mutex<Option<Instant>>,
    /// Wakes the leader for a forwarded command.
    pub(crate) wake: Notify,
    /// One resync at a time.
    pub(crate) resyncing: tokio::sync::Mutex<()>,
    /// The leader's last judgement, as published.
    pub(crate) judgement: Mutex<Option<FleetJudgement>>,
    /// The last error noted, to log repeats quietly.
    last_error: Mutex<Option<(String, String)>>,
    pub(crate) seq: AtomicU64,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("rollout", &self.rollout)
            .field("replica", &self.replica)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn status(&self) -> std::sync::MutexGuard<'_, MemberStatus> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether this replica holds the lease for sure right now.
    pub(crate) fn holds_lease(&self) -> bool {
        self.held_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|until| Instant::now() < until)
    }

    /// Records an error in the status and as a `tracing` event (a warning
    /// when it is new, debug when it repeats).
    pub(crate) fn note_error(&self, what: &str, error: &dyn fmt::Display) {
        let message = error.to_string();
        {
            let mut status = self.status();
            status.errors += 1;
            status.last_error = Some(StatusError {
                at_ms: unix_ms(),
                what: what.to_owned(),
                message: message.clone(),
            });
        }
        let mut last = self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let repeat = last
            .as_ref()
            .is_some_and(|(w, m)| w == what && *m == message);
        if repeat {
            tracing::debug!(rollout = %self.rollout, replica = %self.replica, what, error = %message, "fleet error (repeated)");
        } else {
            tracing::warn!(rollout = %self.rollout, replica = %self.replica, what, error = %message, "fleet error");
            *last = Some((what.to_owned(), message));
        }
    }

    /// Forgets the last error for logging (the operation works again).
    pub(crate) fn note_ok(&self, what: &str) {
        let mut last = self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.as_ref().is_some_and(|(w, _)| w == what) {
            tracing::info!(rollout = %self.rollout, replica = %self.replica, what, "fleet operation works again");
            *last = None;
        }
    }

    /// The fleet as a dashboard shows it.
    pub(crate) async fn fleet_view(&self) -> Result<FleetView, FleetError> {
        let reading = self.summaries.read().await?;
        let leader = self.read_leader().await?;
        let late_after = self.config.late_after();
        let holder = leader.clone();
        // Decoding a thousand summaries is CPU work: off the async workers.
        let replicas = tokio::task::spawn_blocking(move || views(&reading, holder, late_after))
            .await
            .map_err(|e| FleetError::Runtime(format!("reading the fleet's replicas: {e}")))?;
        Ok(FleetView {
            replica: self.replica.to_string(),
            leader,
            replicas,
        })
    }

    /// Who holds the lease now, as Redis says.
    pub(crate) async fn read_leader(&self) -> Result<Option<String>, FleetError> {
        let mut conn = self.conn.clone();
        let what = format!("reading lease {}", self.keys.lease);
        let token: Option<String> = self
            .fleet
            .io(&what, self.fleet.io_limit(), async {
                redis::cmd("GET")
                    .arg(&self.keys.lease)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok(token.map(|t| holder_of(&t)))
    }
}

/// Each replica of a reading as a dashboard shows it.
fn views(
    reading: &crate::summaries::Reading,
    leader: Option<String>,
    late_after: Duration,
) -> Vec<ReplicaView> {
    reading
        .replicas
        .iter()
        .map(|r| {
            let summary = r
                .bytes
                .as_deref()
                .and_then(|b| fledge_gate::WindowSummary::decode(b).ok());
            ReplicaView {
                leader: leader.as_deref() == Some(r.id.as_str()),
                summary_age: r.bytes.as_ref().map(|_| r.age),
                requests: summary.as_ref().map_or(0, |s| s.requests()),
                live: summary.is_some() && r.age <= late_after,
                id: r.id.clone(),
            }
        })
        .collect()
}

/// The replica name in a lease token `holder/nonce`.
pub(crate) fn holder_of(token: &str) -> String {
    token
        .rsplit_once('/')
        .map_or_else(|| token.to_owned(), |(h, _)| h.to_owned())
}

/// One replica's part in a fleet rollout, running in the background until
/// [`shutdown`](Self::shutdown) (or dropped).
///
/// Every replica serves with [`routing`](Self::routing) (hand it to the
/// tower layer), follows the leader's saves (pub/sub, with a polling
/// fallback), and publishes a summary of its windows; the replica holding
/// the lease also judges the fleet's merged windows and ticks the rollout,
/// and applies the commands every replica forwards to it.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use fledge_redis::{Fleet, ReplicaId};
/// use fledge_rollout::Plan;
/// use fledge_rollout::machine::Command;
///
/// let plan = Plan::from_toml(r#"
///     name = "predict-v2"
///     baseline = "v1"
///     candidate = "v2"
///     steps = [5, 25, 50, 100]
///     interval = "30s"
/// "#)?;
/// let fleet = Fleet::open(std::env::var("REDIS_URL")?)?;
/// let member = fleet.join(plan, ReplicaId::from_env_or_hostname()).spawn().await?;
/// let routing = member.routing().clone(); // CanaryLayer::new(routing)
/// // Any replica takes commands: they are applied by the leader.
/// let event = member.command(Command::Pause, "alice", Some("looking into p99")).await?;
/// println!("{event} ({:?})", member.status().role);
/// member.shutdown().await; // hands the lease over at once
/// # let _ = routing;
/// # Ok(()) }
/// ```
pub struct Member {
    shared: Arc<Shared>,
    handle: Handle,
    runtime: Option<Runtime>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl fmt::Debug for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Member")
            .field("rollout", &self.shared.rollout)
            .field("replica", &self.shared.replica)
            .field("status", &*self.shared.status())
            .finish_non_exhaustive()
    }
}

impl Member {
    /// This replica's name.
    pub fn replica(&self) -> &ReplicaId {
        &self.shared.replica
    }

    /// The rollout's name.
    pub fn rollout(&self) -> &str {
        &self.shared.rollout
    }

    /// This replica's controller: it serves the fleet's rollout (kept in
    /// step with the leader's saves), and on the leader it is the one that
    /// ticks. Read it freely; give commands through
    /// [`command`](Self::command), which reaches the leader.
    pub fn controller(&self) -> &Arc<Controller> {
        &self.shared.controller
    }

    /// The serving handle: hand it to the tower layer (`CanaryLayer::new`).
    pub fn routing(&self) -> &RolloutRouting {
        self.shared.controller.routing()
    }

    /// This replica's role, the leader, its summaries and its last error.
    pub fn status(&self) -> MemberStatus {
        self.shared.status().clone()
    }

    /// Whether this replica holds the lease right now.
    pub fn is_leader(&self) -> bool {
        self.shared.holds_lease()
    }

    /// The leader's last judgement of the fleet's traffic (with its
    /// coverage), as last published; refreshed every poll interval.
    pub fn fleet_judgement(&self) -> Option<FleetJudgement> {
        self.shared
            .judgement
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Gives an operator command to the rollout: applied here if this
    /// replica leads, else forwarded to the leader through Redis and
    /// answered once applied. Errors: [`FleetError::NoLeader`] (nobody
    /// holds the lease: not applied), [`FleetError::Rejected`] (the state
    /// machine's reason), [`FleetError::Failed`] (the leader could not
    /// save it), [`FleetError::Timeout`] (no answer in time: unknown), or
    /// a Redis error (not sent).
    pub async fn command(
        &self,
        command: Command,
        by: &str,
        reason: Option<&str>,
    ) -> Result<Event, FleetError> {
        command::command(&self.shared, command, by, reason).await
    }

    /// [`command`](Self::command) for callers outside tokio (blocks the
    /// calling thread; run on the member's runtime).
    pub fn command_blocking(
        &self,
        command: Command,
        by: &str,
        reason: Option<&str>,
    ) -> Result<Event, FleetError> {
        let shared = self.shared.clone();
        let (by, reason) = (by.to_owned(), reason.map(str::to_owned));
        self.block(async move { command::command(&shared, command, &by, reason.as_deref()).await })?
    }

    /// The fleet as a dashboard shows it: every known replica, the age of
    /// its last summary, its requests, who leads.
    pub async fn fleet_view(&self) -> Result<FleetView, FleetError> {
        self.shared.fleet_view().await
    }

    /// [`fleet_view`](Self::fleet_view) for callers outside tokio.
    pub fn fleet_view_blocking(&self) -> Result<FleetView, FleetError> {
        let shared = self.shared.clone();
        self.block(async move { shared.fleet_view().await })?
    }

    /// Runs `fut` on the member's runtime and waits for it on this thread.
    fn block<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, FleetError> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().map_err(|_| FleetError::Stopped {
            replica: self.shared.replica.to_string(),
        })
    }

    /// Stops the member: its tasks end, the lease is released if held (so
    /// another replica leads at once, not after the TTL), and the replica
    /// leaves the fleet's summaries (it is no longer counted as missing).
    /// The controller and its routing keep serving their last traffic.
    ///
    /// Dropping a member without it also stops its tasks and releases the
    /// lease (while its runtime runs), but leaves its last summary to age
    /// out: it is named as late, then missing, until `forget_after`.
    pub async fn shutdown(self) {
        self.stop_tasks().await;
    }

    /// [`shutdown`](Self::shutdown) for callers outside tokio.
    pub fn shutdown_blocking(self) {
        let shared = self.shared.clone();
        let _ = self.stop.send(true);
        let tasks: Vec<_> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        let _ = self.block(async move {
            for t in tasks {
                let _ = t.await;
            }
            leave(&shared).await;
        });
    }

    async fn stop_tasks(&self) {
        let _ = self.stop.send(true);
        let tasks: Vec<_> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for t in tasks {
            let _ = t.await;
        }
        leave(&self.shared).await;
    }
}

/// The end of a member: out of the fleet's summaries, stopped.
async fn leave(shared: &Shared) {
    if let Err(e) = shared.summaries.leave(shared.replica.as_str()).await {
        shared.note_error("leaving the fleet", &e);
    }
    shared.status().role = Role::Stopped;
    tracing::info!(rollout = %shared.rollout, replica = %shared.replica, "left the fleet");
}

impl Drop for Member {
    fn drop(&mut self) {
        // The tasks release the lease as they end.
        let _ = self.stop.send(true);
        if let Some(runtime) = self.runtime.take() {
            let tasks: Vec<_> =
                std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
            let limit = self.shared.fleet.io_limit() * 2;
            // Wait for them on a thread of our own: block_on cannot run
            // where a runtime is entered.
            let waiter = std::thread::spawn(move || {
                runtime.block_on(async {
                    let _ = tokio::time::timeout(limit, async {
                        for t in tasks {
                            let _ = t.await;
                        }
                    })
                    .await;
                });
                runtime.shutdown_background();
            });
            let _ = waiter.join();
        }
    }
}

impl Operate for Member {
    fn controller(&self) -> &Controller {
        &self.shared.controller
    }

    /// The leader's judgement of the fleet (this replica's controller only
    /// has one while it leads).
    fn last_judgement(&self) -> Option<Judgement> {
        if self.is_leader()
            && let Some(j) = self.shared.controller.last_judgement()
        {
            return Some(j);
        }
        self.fleet_judgement().map(|f| f.judgement)
    }

    fn command(
        &self,
        command: Command,
        by: &str,
        reason: Option<&str>,
    ) -> Result<Event, ControlError> {
        self.command_blocking(command, by, reason)
            .map_err(ControlError::from)
    }

    fn fleet(&self) -> Option<FleetView> {
        self.fleet_view_blocking().ok()
    }
}

/// How long ago, in ms, by this machine's clock.
pub(crate) fn since_ms(micros: u64) -> f64 {
    crate::store::unix_micros().saturating_sub(micros) as f64 / 1e3
}

/// Keeps the last `n` items.
pub(crate) fn push_capped<T>(v: &mut Vec<T>, item: T, n: usize) {
    if v.len() >= n {
        v.remove(0);
    }
    v.push(item);
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<Member>();
    check::<Shared>();
}
