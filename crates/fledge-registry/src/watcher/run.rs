//! The watcher's task: polls, loads, ticks, writes back.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use fledge_gate::{Recorder, RecorderConfig};
use fledge_rollout::{ControlError, Controller, Event, EventKind, Plan, Store, StoreError};
use fledge_select::{Selector, Split, VersionId};
use fledge_sticky::{Bucketer, HashMode};
use fledge_tower::FixedRouting;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::{
    Aliases, Cmd, LoaderFn, Rejection, Status, VersionInfo, WatchError, WatchPhase, Watcher,
    WatcherBuilder, loaded,
};
use crate::fleet::{Fleet, Readiness, ReplicaLoad};
use crate::layer::Serving;
use crate::source::{ModelSource, SourceError};
use crate::table::{Loaded, ModelTable};
use crate::version::tags;
use crate::{IdScheme, ModelVerdict, ModelVersion};

const TARGET: &str = "fledge_registry";

/// The configuration the task keeps.
struct Config<M> {
    source: Arc<dyn ModelSource>,
    model: String,
    plan: Plan,
    loader: LoaderFn<M>,
    champion_alias: String,
    challenger_alias: String,
    poll_interval: Duration,
    tick_interval: Duration,
    backoff_max: Duration,
    grace: Duration,
    load_timeout: Duration,
    cache_dir: PathBuf,
    ids: IdScheme,
    fleet: Arc<dyn Fleet>,
}

/// Runs `f` on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// The routing of a champion alone.
fn idle_routes(id: &VersionId) -> FixedRouting {
    let selector = Arc::new(Selector::new(Split::single(id.clone())));
    let recorder = Recorder::new(RecorderConfig::new(1))
        .or_else(|_| Recorder::new(RecorderConfig::new(2)))
        .expect("a recorder for one version");
    FixedRouting::new(
        selector,
        Bucketer::new(HashMode::Fledge, "fledge-registry"),
        Arc::new(recorder),
    )
}

/// How loading a version ended.
enum LoadOutcome<M> {
    Loaded(Arc<M>),
    /// The artifacts could not be fetched for a reason that may pass (the
    /// registry is down): try again at the next poll.
    Retry(SourceError),
    Failed(String),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Challenger,
    Champion,
}

struct LoadJob<M> {
    version: ModelVersion,
    id: VersionId,
    role: Role,
    handle: JoinHandle<LoadOutcome<M>>,
}

fn spawn_load<M: Send + Sync + 'static>(
    cfg: &Config<M>,
    version: ModelVersion,
    id: VersionId,
    role: Role,
) -> LoadJob<M> {
    let source = cfg.source.clone();
    let loader = cfg.loader.clone();
    let cache = cfg.cache_dir.clone();
    let timeout = cfg.load_timeout;
    let v = version.clone();
    let handle = tokio::spawn(async move {
        let v2 = v.clone();
        let path = match blocking(move || source.download(&v2, &cache)).await {
            Ok(p) => p,
            Err(e) if e.is_transient() => return LoadOutcome::Retry(e),
            Err(e) => return LoadOutcome::Failed(e.to_string()),
        };
        let fut = loader(v, path);
        // A panicking loader fails the version instead of the watcher.
        match tokio::time::timeout(timeout, tokio::spawn(fut)).await {
            Ok(Ok(Ok(model))) => LoadOutcome::Loaded(model),
            Ok(Ok(Err(e))) => LoadOutcome::Failed(e.to_string()),
            Ok(Err(join)) => LoadOutcome::Failed(format!("the loader panicked: {join}")),
            Err(_) => LoadOutcome::Failed(format!("the loader timed out after {timeout:?}")),
        }
    });
    LoadJob {
        version,
        id,
        role,
        handle,
    }
}

/// A registry write the leader owes.
#[derive(Debug, Clone)]
enum Write {
    SetAlias {
        alias: String,
        version: String,
    },
    /// Removes `alias` if it still points at `version` (a human may have
    /// moved it meanwhile).
    DeleteAliasIf {
        alias: String,
        version: String,
    },
    SetTag {
        version: String,
        key: String,
        value: String,
    },
}

fn apply_write(source: &dyn ModelSource, model: &str, w: &Write) -> Result<(), SourceError> {
    match w {
        Write::SetAlias { alias, version } => source.set_alias(model, alias, version),
        Write::DeleteAliasIf { alias, version } => {
            if source.aliases(model)?.get(alias) == Some(version) {
                source.delete_alias(model, alias)
            } else {
                Ok(())
            }
        }
        Write::SetTag {
            version,
            key,
            value,
        } => source.set_tag(model, version, key, value),
    }
}

struct Rollout {
    controller: Arc<Controller>,
    events: Receiver<Event>,
    name: String,
    /// Followers resync from the shared store instead of ticking.
    shared: bool,
}

enum Challenger<M> {
    /// Loaded, waiting for the fleet (leader) or the leader's rollout
    /// (follower).
    Staged(Arc<Loaded<M>>),
    Canary(Arc<Loaded<M>>, Rollout),
    /// Promoted: `champion` is the new version, `previous` the old one,
    /// kept while the controller keeps it warm (or, without a controller,
    /// until `until`).
    Promoted {
        previous: Arc<Loaded<M>>,
        rollout: Option<Rollout>,
        until: Instant,
    },
}

struct Task<M> {
    cfg: Config<M>,
    table: ModelTable<M>,
    serving: Arc<Serving>,
    status: watch::Sender<Status>,
    controller: Arc<ArcSwapOption<Controller>>,
    poll_now: Arc<Notify>,
    champion: Arc<Loaded<M>>,
    challenger: Option<Challenger<M>>,
    load: Option<LoadJob<M>>,
    rejected: BTreeMap<String, Rejection>,
    pending: VecDeque<Write>,
    failures: u32,
    polls: u64,
    last_error: Option<Arc<WatchError>>,
    retired: Vec<Weak<Loaded<M>>>,
    /// The replicas the staged challenger waits for (leader).
    waiting: Vec<ReplicaLoad>,
    /// Whether this replica led at the running rollout's last tick.
    led: bool,
    /// The rollout last handed to the fleet
    /// ([`Fleet::rollout_running`]), until it ends.
    running: Option<String>,
}

pub(super) async fn start<M: Send + Sync + 'static>(
    b: WatcherBuilder<M>,
) -> Result<Watcher<M>, WatchError> {
    let loader = b.loader.ok_or(WatchError::NoLoader)?;
    b.plan.check()?;
    let grace = b
        .grace
        .or(b.plan.keep_warm)
        .unwrap_or(Duration::from_secs(600));
    let cfg = Config {
        source: b.source,
        model: b.model,
        plan: b.plan,
        loader,
        champion_alias: b.champion_alias,
        challenger_alias: b.challenger_alias,
        poll_interval: b.poll_interval,
        tick_interval: b.tick_interval,
        backoff_max: b.backoff_max.max(b.poll_interval),
        grace,
        load_timeout: b.load_timeout,
        cache_dir: b.cache_dir,
        ids: b.ids,
        fleet: b.fleet,
    };
    let (source, model, alias) = (
        cfg.source.clone(),
        cfg.model.clone(),
        cfg.champion_alias.clone(),
    );
    let champion = blocking(move || source.alias(&model, &alias))
        .await?
        .ok_or_else(|| WatchError::NoChampion {
            model: cfg.model.clone(),
            alias: cfg.champion_alias.clone(),
            location: cfg.source.location(),
        })?;
    let id = cfg
        .ids
        .id(&cfg.model, &champion.version)
        .map_err(|error| WatchError::Id {
            model: cfg.model.clone(),
            version: champion.version.clone(),
            error,
        })?;
    let job = spawn_load(&cfg, champion.clone(), id.clone(), Role::Champion);
    let model = match job.handle.await {
        Ok(LoadOutcome::Loaded(m)) => m,
        Ok(LoadOutcome::Retry(e)) => return Err(e.into()),
        Ok(LoadOutcome::Failed(reason)) => {
            tracing::error!(
                name: "registry.load_failed",
                target: TARGET,
                model = cfg.model.as_str(),
                version = champion.version.as_str(),
                role = "champion",
                reason = reason.as_str(),
                "the champion failed to load; nothing to serve"
            );
            return Err(WatchError::Load {
                model: cfg.model.clone(),
                version: champion.version.clone(),
                reason,
            });
        }
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    tracing::info!(
        name: "registry.loaded",
        target: TARGET,
        model = cfg.model.as_str(),
        version = champion.version.as_str(),
        id = id.as_str(),
        role = "champion",
        "champion loaded"
    );
    cfg.fleet.loaded(&cfg.model, &champion.version, Ok(()));
    let champion = loaded(id.clone(), champion, model);
    let table = ModelTable::new(champion.clone());
    let serving = Arc::new(Serving::new(b.configure, idle_routes(&id)));
    let controller = Arc::new(ArcSwapOption::empty());
    let poll_now = Arc::new(Notify::new());
    let (commands, rx) = mpsc::unbounded_channel();
    let mut task = Task {
        cfg,
        table: table.clone(),
        serving: serving.clone(),
        status: watch::channel(placeholder_status(&champion)).0,
        controller: controller.clone(),
        poll_now: poll_now.clone(),
        champion,
        challenger: None,
        load: None,
        rejected: BTreeMap::new(),
        pending: VecDeque::new(),
        failures: 0,
        polls: 0,
        last_error: None,
        retired: Vec::new(),
        waiting: Vec::new(),
        led: false,
        running: None,
    };
    task.publish_status();
    let status = task.status.subscribe();
    let model = task.cfg.model.clone();
    let handle = tokio::spawn(task.run(rx));
    Ok(Watcher {
        model,
        table,
        serving,
        status,
        controller,
        commands,
        poll_now,
        task: handle,
    })
}

fn placeholder_status<M>(champion: &Loaded<M>) -> Status {
    Status {
        model: champion.version().model.clone(),
        source: String::new(),
        leader: false,
        phase: WatchPhase::Serving,
        champion: info(champion),
        challenger: None,
        previous_champion: None,
        rollout: None,
        candidate_bps: 0,
        rejected: Vec::new(),
        last_error: None,
        consecutive_failures: 0,
        polls: 0,
        pending_writes: 0,
        draining: 0,
        waiting_for: Vec::new(),
    }
}

fn info<M>(l: &Loaded<M>) -> VersionInfo {
    VersionInfo {
        version: l.version().version.clone(),
        id: l.id().clone(),
    }
}

async fn wait_load<M>(job: &mut Option<LoadJob<M>>) -> LoadOutcome<M> {
    match job {
        Some(j) => match (&mut j.handle).await {
            Ok(outcome) => outcome,
            Err(e) => LoadOutcome::Failed(format!("the load task failed: {e}")),
        },
        None => std::future::pending().await,
    }
}

impl<M: Send + Sync + 'static> Task<M> {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Cmd>) {
        let mut tick = tokio::time::interval(self.cfg.tick_interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut next_poll = Instant::now();
        let poll_now = self.poll_now.clone();
        loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.command(cmd).await,
                    None => break,
                },
                outcome = wait_load(&mut self.load) => {
                    if let Some(job) = self.load.take() {
                        self.on_loaded(job, outcome).await;
                    }
                }
                _ = tick.tick() => self.on_tick().await,
                () = tokio::time::sleep_until(next_poll) => {
                    let ok = self.on_poll().await;
                    next_poll = Instant::now() + self.next_delay(ok);
                }
                () = poll_now.notified() => next_poll = Instant::now(),
            }
            self.tell_fleet();
            self.publish_status();
        }
        if let Some(name) = self.running.take() {
            self.cfg.fleet.rollout_ended(&name);
        }
        if let Some(job) = self.load.take() {
            job.handle.abort();
        }
        if !self.pending.is_empty() {
            tracing::warn!(
                name: "registry.writes_dropped",
                target: TARGET,
                model = self.cfg.model.as_str(),
                pending = self.pending.len() as u64,
                "watcher stopped with registry writes not done"
            );
        }
    }

    fn leader(&self) -> bool {
        self.cfg.fleet.is_leader()
    }

    /// Tells the fleet which rollout this replica runs now, if it changed
    /// (so that it publishes the traffic this replica serves in it).
    fn tell_fleet(&mut self) {
        let now = match &self.challenger {
            Some(Challenger::Canary(_, r))
            | Some(Challenger::Promoted {
                rollout: Some(r), ..
            }) => Some(r),
            _ => None,
        };
        if now.map(|r| &r.name) == self.running.as_ref() {
            return;
        }
        if let Some(old) = self.running.take() {
            self.cfg.fleet.rollout_ended(&old);
        }
        if let Some(r) = now {
            self.cfg.fleet.rollout_running(&r.name, &r.controller);
            self.running = Some(r.name.clone());
        }
    }

    fn next_delay(&self, ok: bool) -> Duration {
        if ok || self.failures == 0 {
            return self.cfg.poll_interval;
        }
        let exp = self.failures.saturating_sub(1).min(20);
        let base = self
            .cfg
            .poll_interval
            .saturating_mul(1u32 << exp)
            .min(self.cfg.backoff_max);
        // ±10 % jitter so that a fleet does not retry in step.
        let seed = xxhash_rust::xxh3::xxh3_64(
            format!(
                "{:?}{}{}",
                std::time::SystemTime::now(),
                std::process::id(),
                self.failures
            )
            .as_bytes(),
        );
        let jitter = (seed % 2001) as f64 / 10_000.0 - 0.1;
        base.mul_f64(1.0 + jitter).min(self.cfg.backoff_max)
    }

    fn publish_status(&mut self) {
        self.retired.retain(|w| w.strong_count() > 0);
        let (phase, challenger, previous, rollout) = match &self.challenger {
            None if self
                .load
                .as_ref()
                .is_some_and(|j| j.role == Role::Challenger) =>
            {
                let j = self.load.as_ref().map(|j| VersionInfo {
                    version: j.version.version.clone(),
                    id: j.id.clone(),
                });
                (WatchPhase::Loading, j, None, None)
            }
            None => (WatchPhase::Serving, None, None, None),
            Some(Challenger::Staged(l)) => (WatchPhase::Staged, Some(info(l)), None, None),
            Some(Challenger::Canary(l, r)) => (
                WatchPhase::Canary,
                Some(info(l)),
                None,
                Some(r.name.clone()),
            ),
            Some(Challenger::Promoted {
                previous, rollout, ..
            }) => (
                WatchPhase::Promoted,
                None,
                Some(info(previous)),
                rollout.as_ref().map(|r| r.name.clone()),
            ),
        };
        let candidate_bps = match &self.challenger {
            Some(Challenger::Canary(_, r)) => r.controller.traffic().candidate.bps(),
            _ => 0,
        };
        let status = Status {
            model: self.cfg.model.clone(),
            source: format!("{} {}", self.cfg.source.kind(), self.cfg.source.location()),
            leader: self.leader(),
            phase,
            champion: info(&self.champion),
            challenger,
            previous_champion: previous,
            rollout,
            candidate_bps,
            rejected: self.rejected.values().cloned().collect(),
            last_error: self.last_error.clone(),
            consecutive_failures: self.failures,
            polls: self.polls,
            pending_writes: self.pending.len(),
            draining: self.retired.len(),
            waiting_for: if phase == WatchPhase::Staged {
                self.waiting.clone()
            } else {
                Vec::new()
            },
        };
        self.status.send_replace(status);
    }

    fn error(&mut self, e: WatchError) {
        self.last_error = Some(Arc::new(e));
    }

    // ------------------------------------------------------------ writes

    fn write(&mut self, w: Write) {
        if self.leader() {
            self.pending.push_back(w);
        }
    }

    fn tag(&mut self, version: &str, key: &str, value: &str) {
        self.write(Write::SetTag {
            version: version.to_owned(),
            key: key.to_owned(),
            value: tags::clamp(value),
        });
    }

    /// Tries the pending writes in order; stops at the first that may
    /// succeed later.
    async fn flush(&mut self) {
        if self.pending.is_empty() || !self.leader() {
            return;
        }
        let writes: Vec<Write> = self.pending.iter().cloned().collect();
        let source = self.cfg.source.clone();
        let model = self.cfg.model.clone();
        let results = blocking(move || {
            let mut out = Vec::new();
            for w in &writes {
                let r = apply_write(&*source, &model, w);
                let stop = r.as_ref().is_err_and(SourceError::is_transient);
                out.push(r);
                if stop {
                    break;
                }
            }
            out
        })
        .await;
        for r in results {
            let w = self.pending.pop_front();
            match r {
                Ok(()) => {}
                Err(e) if e.is_transient() => {
                    tracing::warn!(
                        name: "registry.write_failed",
                        target: TARGET,
                        model = self.cfg.model.as_str(),
                        source = self.cfg.source.kind(),
                        error = %e,
                        pending = self.pending.len() as u64 + 1,
                        "registry write failed; retried at the next poll"
                    );
                    if let Some(w) = w {
                        self.pending.push_front(w);
                    }
                    self.error(e.into());
                    return;
                }
                Err(e) => {
                    tracing::error!(
                        name: "registry.write_failed",
                        target: TARGET,
                        model = self.cfg.model.as_str(),
                        source = self.cfg.source.kind(),
                        error = %e,
                        write = ?w,
                        "registry write refused; dropped"
                    );
                    self.error(e.into());
                }
            }
        }
    }

    // ------------------------------------------------------------ poll

    /// Reads the registry and acts on what changed. Returns whether the
    /// registry answered.
    async fn on_poll(&mut self) -> bool {
        self.flush().await;
        let source = self.cfg.source.clone();
        let model = self.cfg.model.clone();
        let read = blocking(move || source.aliases(&model)).await;
        let aliases = match read {
            Ok(a) => a,
            Err(e) => {
                self.failures = self.failures.saturating_add(1);
                tracing::warn!(
                    name: "registry.poll_failed",
                    target: TARGET,
                    model = self.cfg.model.as_str(),
                    source = self.cfg.source.kind(),
                    location = self.cfg.source.location().as_str(),
                    error = %e,
                    failures = u64::from(self.failures),
                    retry_in_ms = self.next_delay(false).as_millis() as u64,
                    "registry read failed; serving goes on unchanged"
                );
                self.error(e.into());
                return false;
            }
        };
        if self.failures > 0 {
            tracing::info!(
                name: "registry.poll_recovered",
                target: TARGET,
                model = self.cfg.model.as_str(),
                failures = u64::from(self.failures),
                "registry readable again"
            );
        }
        self.failures = 0;
        self.polls += 1;
        self.last_error = None;
        if !self.pending.is_empty() {
            // The registry lags behind this watcher's own decisions: act
            // on it once they are written.
            return true;
        }
        self.reconcile(aliases).await;
        true
    }

    async fn reconcile(&mut self, aliases: Aliases) {
        let champion_v = aliases.get(&self.cfg.champion_alias).cloned();
        let challenger_v = aliases.get(&self.cfg.challenger_alias).cloned();

        // 1. The champion pointer moved (a human, or the leader for a follower).
        if let Some(v) = champion_v.as_deref()
            && v != self.champion.version().version
        {
            self.champion_moved(v).await;
            return;
        }

        // 2. The challenger pointer.
        let current = self.challenger_version();
        let promoted = matches!(self.challenger, Some(Challenger::Promoted { .. }));
        match challenger_v {
            None => {
                if current.is_some() && !promoted {
                    self.challenger_removed().await;
                }
            }
            Some(v) => {
                if v == self.champion.version().version
                    || self.rejected.contains_key(&v)
                    || current.as_deref() == Some(v.as_str())
                    || promoted
                {
                    return;
                }
                self.new_challenger(v).await;
            }
        }
    }

    fn challenger_version(&self) -> Option<String> {
        match &self.challenger {
            Some(Challenger::Staged(l)) | Some(Challenger::Canary(l, _)) => {
                Some(l.version().version.clone())
            }
            Some(Challenger::Promoted { .. }) => None,
            None => self
                .load
                .as_ref()
                .filter(|j| j.role == Role::Challenger)
                .map(|j| j.version.version.clone()),
        }
    }

    async fn new_challenger(&mut self, v: String) {
        let source = self.cfg.source.clone();
        let model = self.cfg.model.clone();
        let vv = v.clone();
        let version = match blocking(move || source.version(&model, &vv)).await {
            Ok(version) => version,
            Err(e) => {
                self.error(e.into());
                return;
            }
        };
        if let Some(verdict) = version.verdict().filter(|v| v.is_rejection()) {
            let reason = version.tag(tags::REASON).unwrap_or_default().to_owned();
            self.rejected.insert(
                v.clone(),
                Rejection {
                    version: v,
                    verdict,
                    reason,
                },
            );
            return;
        }
        if !version.is_ready() {
            tracing::debug!(
                target: TARGET,
                model = self.cfg.model.as_str(),
                version = v.as_str(),
                status = version.status.as_deref().unwrap_or(""),
                "challenger not ready yet"
            );
            return;
        }
        let id = match self.cfg.ids.id(&self.cfg.model, &v) {
            Ok(id) => id,
            Err(error) => {
                let e = WatchError::Id {
                    model: self.cfg.model.clone(),
                    version: v.clone(),
                    error,
                };
                self.reject(&v, None, ModelVerdict::LoadFailed, &e.to_string());
                self.error(e);
                return;
            }
        };
        // A new challenger supersedes the one in progress (no verdict on it).
        self.drop_challenger("superseded by a new challenger");
        tracing::info!(
            name: "registry.challenger_found",
            target: TARGET,
            model = self.cfg.model.as_str(),
            version = v.as_str(),
            id = id.as_str(),
            "loading the challenger next to the champion"
        );
        self.load = Some(spawn_load(&self.cfg, version, id, Role::Challenger));
    }

    /// Forgets the challenger (loading, staged or canaried) without a
    /// verdict: traffic back to the champion.
    fn drop_challenger(&mut self, why: &str) {
        if let Some(job) = self.load.take() {
            job.handle.abort();
        }
        match self.challenger.take() {
            Some(Challenger::Staged(l)) | Some(Challenger::Canary(l, _)) => {
                tracing::info!(
                    name: "registry.challenger_dropped",
                    target: TARGET,
                    model = self.cfg.model.as_str(),
                    version = l.version().version.as_str(),
                    why,
                    "challenger unloaded"
                );
                self.unload(l.id());
                self.serve_champion_alone();
            }
            other => self.challenger = other,
        }
    }

    fn unload(&mut self, id: &VersionId) {
        if let Some(l) = self.table.remove(id) {
            self.cfg
                .fleet
                .unloaded(&self.cfg.model, &l.version().version);
            self.retired.push(Arc::downgrade(&l));
        }
    }

    /// Notes whom the staged challenger waits for, logging a change.
    fn set_waiting(&mut self, waiting: Vec<ReplicaLoad>) {
        if waiting == self.waiting {
            return;
        }
        if !waiting.is_empty() {
            let replicas = waiting
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let version = self.challenger_version().unwrap_or_default();
            if waiting.iter().any(|w| w.error.is_some()) {
                tracing::warn!(
                    name: "registry.fleet_waiting",
                    target: TARGET,
                    model = self.cfg.model.as_str(),
                    version = version.as_str(),
                    replicas = replicas.as_str(),
                    "the challenger takes no traffic: a replica cannot load it"
                );
            } else {
                tracing::info!(
                    name: "registry.fleet_waiting",
                    target: TARGET,
                    model = self.cfg.model.as_str(),
                    version = version.as_str(),
                    replicas = replicas.as_str(),
                    "the challenger waits for every replica to load it"
                );
            }
        }
        self.waiting = waiting;
    }

    /// Leader: the fleet says replicas cannot load the staged challenger:
    /// it is rejected (`load_failed`), naming them.
    fn reject_for_the_fleet(&mut self, l: &Loaded<M>, failed: &[ReplicaLoad]) {
        let v = l.version().version.clone();
        let names: Vec<&str> = failed.iter().map(|f| f.replica.as_str()).collect();
        let who = match names.as_slice() {
            [one] => format!("replica {one}"),
            many => format!("replicas {}", many.join(", ")),
        };
        let details = failed
            .iter()
            .map(|f| {
                let error = f.error.as_deref().unwrap_or("unknown error");
                if failed.len() == 1 {
                    error.to_owned()
                } else {
                    format!("{}: {error}", f.replica)
                }
            })
            .collect::<Vec<_>>()
            .join("; ");
        let reason = format!("{who} could not load it: {details}");
        tracing::error!(
            name: "registry.fleet_load_failed",
            target: TARGET,
            model = self.cfg.model.as_str(),
            version = v.as_str(),
            replicas = names.join(", ").as_str(),
            reason = reason.as_str(),
            "a replica cannot load the challenger: it is rejected and takes no traffic"
        );
        let alias = self.cfg.challenger_alias.clone();
        self.reject(&v, Some(&alias), ModelVerdict::LoadFailed, &reason);
        self.error(WatchError::Load {
            model: self.cfg.model.clone(),
            version: v,
            reason,
        });
        self.waiting.clear();
        self.drop_challenger("a replica cannot load it");
    }

    fn serve_champion_alone(&mut self) {
        self.serving.publish(idle_routes(self.champion.id()));
        self.controller.store(None);
    }

    async fn challenger_removed(&mut self) {
        match &self.challenger {
            Some(Challenger::Canary(..)) => {
                let _ = self
                    .abort_rollout("registry", Some("the challenger alias was removed"))
                    .await;
            }
            _ => self.drop_challenger("the challenger alias was removed"),
        }
    }

    async fn champion_moved(&mut self, v: &str) {
        tracing::info!(
            name: "registry.champion_moved",
            target: TARGET,
            model = self.cfg.model.as_str(),
            from = self.champion.version().version.as_str(),
            to = v,
            "the registry's champion moved"
        );
        // Back to the previous champion during the grace period: an
        // operator rollback through the registry.
        if let Some(Challenger::Promoted {
            previous, rollout, ..
        }) = &self.challenger
            && previous.version().version == v
        {
            if rollout.is_some() && self.leader() {
                let _ = self
                    .rollback("registry", Some("the champion alias was moved back"))
                    .await;
            } else {
                self.switch_back("the champion alias was moved back", false);
            }
            return;
        }
        // To the challenger: promoted (by the leader, or by a human).
        let to_challenger = match &self.challenger {
            Some(Challenger::Staged(l)) | Some(Challenger::Canary(l, _)) => {
                l.version().version == v
            }
            _ => false,
        };
        if to_challenger {
            if let Some(Challenger::Canary(_, r)) = &self.challenger
                && self.leader()
            {
                let c = r.controller.clone();
                let _ = blocking(move || c.promote_full("registry")).await;
                self.drain_events();
                return;
            }
            self.promote_locally("the registry's champion alias moved to it");
            return;
        }
        if self.rejected.contains_key(v)
            || self
                .load
                .as_ref()
                .is_some_and(|j| j.role == Role::Champion && j.version.version == v)
        {
            return;
        }
        // Elsewhere: load it, then switch.
        let source = self.cfg.source.clone();
        let model = self.cfg.model.clone();
        let vv = v.to_owned();
        match blocking(move || source.version(&model, &vv)).await {
            Ok(version) => match self.cfg.ids.id(&self.cfg.model, v) {
                Ok(id) => {
                    if let Some(job) = self.load.take() {
                        job.handle.abort();
                    }
                    self.load = Some(spawn_load(&self.cfg, version, id, Role::Champion));
                }
                Err(error) => self.error(WatchError::Id {
                    model: self.cfg.model.clone(),
                    version: v.to_owned(),
                    error,
                }),
            },
            Err(e) => self.error(e.into()),
        }
    }

    // ------------------------------------------------------------ loading

    async fn on_loaded(&mut self, job: LoadJob<M>, outcome: LoadOutcome<M>) {
        let v = job.version.version.clone();
        let role = match job.role {
            Role::Champion => "champion",
            Role::Challenger => "challenger",
        };
        match outcome {
            LoadOutcome::Retry(e) => {
                tracing::warn!(
                    name: "registry.download_failed",
                    target: TARGET,
                    model = self.cfg.model.as_str(),
                    version = v.as_str(),
                    role,
                    error = %e,
                    "artifacts could not be fetched; retried at the next poll"
                );
                self.error(e.into());
            }
            LoadOutcome::Failed(reason) => {
                tracing::error!(
                    name: "registry.load_failed",
                    target: TARGET,
                    model = self.cfg.model.as_str(),
                    version = v.as_str(),
                    role,
                    reason = reason.as_str(),
                    "version failed to load; it takes no traffic"
                );
                self.cfg.fleet.loaded(&self.cfg.model, &v, Err(&reason));
                let alias = match job.role {
                    Role::Challenger => Some(self.cfg.challenger_alias.clone()),
                    Role::Champion => None,
                };
                self.reject(&v, alias.as_deref(), ModelVerdict::LoadFailed, &reason);
                self.error(WatchError::Load {
                    model: self.cfg.model.clone(),
                    version: v,
                    reason,
                });
                self.flush().await;
            }
            LoadOutcome::Loaded(model) => {
                tracing::info!(
                    name: "registry.loaded",
                    target: TARGET,
                    model = self.cfg.model.as_str(),
                    version = v.as_str(),
                    id = job.id.as_str(),
                    role,
                    "version loaded"
                );
                self.cfg.fleet.loaded(&self.cfg.model, &v, Ok(()));
                let l = loaded(job.id, job.version, model);
                self.table.insert(l.clone());
                match job.role {
                    Role::Challenger => {
                        self.challenger = Some(Challenger::Staged(l));
                        self.on_tick().await;
                    }
                    Role::Champion => {
                        // A new champion from outside: whatever ran is moot.
                        self.drop_challenger("the champion alias moved");
                        if let Some(Challenger::Promoted { previous, .. }) = self.challenger.take()
                        {
                            self.unload(previous.id());
                        }
                        let old = std::mem::replace(&mut self.champion, l.clone());
                        self.table.set_champion(l.id());
                        self.unload(old.id());
                        self.serve_champion_alone();
                    }
                }
            }
        }
    }

    /// Marks `v` rejected here and (leader) in the registry; removes
    /// `alias` if it still points at it.
    fn reject(&mut self, v: &str, alias: Option<&str>, verdict: ModelVerdict, reason: &str) {
        self.rejected.insert(
            v.to_owned(),
            Rejection {
                version: v.to_owned(),
                verdict,
                reason: reason.to_owned(),
            },
        );
        self.tag(v, tags::VERDICT, verdict.as_str());
        self.tag(v, tags::REASON, reason);
        if let Some(alias) = alias {
            self.write(Write::DeleteAliasIf {
                alias: alias.to_owned(),
                version: v.to_owned(),
            });
        }
    }

    // ------------------------------------------------------------ rollouts

    fn plan_for(&self, candidate: &VersionId) -> Plan {
        let mut plan = self.cfg.plan.clone();
        let (tb, tc) = (plan.baseline.clone(), plan.candidate.clone());
        plan.name = format!("{}-{}", self.cfg.model, candidate);
        plan.baseline = self.champion.id().clone();
        plan.candidate = candidate.clone();
        plan.keep_warm = Some(self.cfg.grace);
        plan.limits = plan
            .limits
            .into_iter()
            .map(|(k, v)| {
                let k = if k == tb.as_str() {
                    plan.baseline.to_string()
                } else if k == tc.as_str() {
                    plan.candidate.to_string()
                } else {
                    k
                };
                (k, v)
            })
            .collect();
        plan
    }

    fn store(&self, name: &str) -> Option<Arc<dyn Store>> {
        self.cfg.fleet.store(name)
    }

    /// Staged → canary: the leader starts the rollout once every replica
    /// has the challenger; a follower joins the leader's saved rollout.
    async fn try_start(&mut self) {
        let Some(Challenger::Staged(l)) = &self.challenger else {
            return;
        };
        let l = l.clone();
        let plan = self.plan_for(l.id());
        let name = plan.name.clone();
        let store = self.store(&name);
        let leader = self.leader();
        if leader {
            let (fleet, model, version) = (
                self.cfg.fleet.clone(),
                self.cfg.model.clone(),
                l.version().version.clone(),
            );
            match blocking(move || fleet.readiness(&model, &version)).await {
                Readiness::Ready => self.set_waiting(Vec::new()),
                Readiness::Waiting(waiting) => {
                    self.set_waiting(waiting);
                    return;
                }
                Readiness::Failed(failed) => {
                    self.reject_for_the_fleet(&l, &failed);
                    return;
                }
            }
        } else {
            // A follower needs the leader's snapshot in a shared store.
            let Some(store) = store.clone() else {
                return;
            };
            match blocking(move || store.load()).await {
                Ok(Some(snap)) if snap.plan.name == name => {}
                _ => return,
            }
        }
        // The fleet's windows (every replica's traffic), if it has them.
        let windows = self.cfg.fleet.window_source(&name);
        let built = blocking(move || {
            let mut b = Controller::builder(plan);
            if let Some(store) = store.clone() {
                b = b.store(store);
            }
            if let Some(windows) = windows {
                b = b.window_source(windows);
            }
            b.build().map(|c| (c, store.is_some()))
        })
        .await;
        let (controller, shared) = match built {
            Ok(c) => c,
            Err(error) => {
                self.cfg.fleet.rollout_ended(&name);
                let e = WatchError::Rollout {
                    rollout: name.clone(),
                    error,
                };
                tracing::error!(
                    name: "registry.rollout_failed",
                    target: TARGET,
                    model = self.cfg.model.as_str(),
                    rollout = name.as_str(),
                    error = %e,
                    "the rollout could not start; the challenger takes no traffic"
                );
                if leader {
                    let v = l.version().version.clone();
                    let alias = self.cfg.challenger_alias.clone();
                    self.reject(&v, Some(&alias), ModelVerdict::Aborted, &e.to_string());
                    self.drop_challenger("the rollout could not start");
                }
                self.error(e);
                return;
            }
        };
        let controller = Arc::new(controller);
        let events = controller.subscribe();
        self.led = leader;
        self.serving.publish(controller.routing().clone());
        self.controller.store(Some(controller.clone()));
        tracing::info!(
            name: "registry.rollout_started",
            target: TARGET,
            model = self.cfg.model.as_str(),
            rollout = name.as_str(),
            baseline = self.champion.id().as_str(),
            candidate = l.id().as_str(),
            leader,
            weight_bps = controller.traffic().candidate.bps(),
            "canary started"
        );
        let v = l.version().version.clone();
        self.tag(&v, tags::ROLLOUT, &name);
        self.challenger = Some(Challenger::Canary(
            l,
            Rollout {
                controller,
                events,
                name,
                shared,
            },
        ));
    }

    async fn on_tick(&mut self) {
        match &self.challenger {
            Some(Challenger::Staged(_)) => {
                self.try_start().await;
                self.flush().await;
            }
            Some(Challenger::Canary(_, r))
            | Some(Challenger::Promoted {
                rollout: Some(r), ..
            }) => {
                let c = r.controller.clone();
                let leader = self.leader();
                let shared = r.shared;
                // A replica that starts leading a shared rollout first
                // takes the last leader's latest save, so its own saves
                // extend the same chain.
                let take_over = leader && shared && !self.led;
                self.led = leader;
                let result = blocking(move || {
                    if leader {
                        if take_over {
                            c.resync_discarding_unsaved()?;
                        }
                        match c.tick_now() {
                            // Another replica saved meanwhile (it led, or
                            // still thinks it does): take the stored state.
                            Err(ControlError::Store(StoreError::Conflict { .. })) if shared => {
                                c.resync_discarding_unsaved().map(drop)
                            }
                            other => other.map(drop),
                        }
                    } else if shared {
                        // A follower never saves: the store is the truth.
                        c.resync_discarding_unsaved().map(drop)
                    } else {
                        Ok(())
                    }
                })
                .await;
                if let Err(e) = result {
                    tracing::warn!(
                        name: "registry.tick_failed",
                        target: TARGET,
                        model = self.cfg.model.as_str(),
                        error = %e,
                        "rollout tick failed"
                    );
                }
                self.drain_events();
                self.flush().await;
                self.finish_promotion_if_due();
            }
            Some(Challenger::Promoted { rollout: None, .. }) => self.finish_promotion_if_due(),
            None => {}
        }
    }

    fn finish_promotion_if_due(&mut self) {
        let due = match &self.challenger {
            Some(Challenger::Promoted {
                rollout: Some(r), ..
            }) => r.controller.is_finished(r.controller.now()),
            Some(Challenger::Promoted { until, .. }) => Instant::now() >= *until,
            _ => false,
        };
        if !due {
            return;
        }
        if let Some(Challenger::Promoted { previous, .. }) = self.challenger.take() {
            tracing::info!(
                name: "registry.previous_released",
                target: TARGET,
                model = self.cfg.model.as_str(),
                version = previous.version().version.as_str(),
                "grace period over: the previous champion is unloaded (dropped when its last request ends)"
            );
            self.unload(previous.id());
            self.serve_champion_alone();
        }
    }

    fn drain_events(&mut self) {
        let events: Vec<Event> = match &self.challenger {
            Some(Challenger::Canary(_, r))
            | Some(Challenger::Promoted {
                rollout: Some(r), ..
            }) => r.events.try_iter().collect(),
            _ => return,
        };
        for event in events {
            self.on_event(event);
        }
    }

    fn step_number(event: &Event) -> usize {
        event.step.map_or(1, |s| s + 1)
    }

    fn on_event(&mut self, event: Event) {
        let in_canary = matches!(self.challenger, Some(Challenger::Canary(..)));
        let promoted = matches!(self.challenger, Some(Challenger::Promoted { .. }));
        match event.kind {
            EventKind::StepTaken if in_canary => {
                if let (Some(step), Some(Challenger::Canary(l, _))) = (event.step, &self.challenger)
                    && step >= 1
                {
                    let v = l.version().version.clone();
                    self.tag(&v, &tags::step(step), &format!("pass: {}", event.reason));
                }
            }
            EventKind::Promoted if in_canary => {
                let Some(Challenger::Canary(l, r)) = self.challenger.take() else {
                    return;
                };
                let v = l.version().version.clone();
                let old = std::mem::replace(&mut self.champion, l.clone());
                self.table.set_champion(l.id());
                tracing::info!(
                    name: "registry.promoted",
                    target: TARGET,
                    model = self.cfg.model.as_str(),
                    version = v.as_str(),
                    previous = old.version().version.as_str(),
                    rollout = r.name.as_str(),
                    reason = event.reason.as_str(),
                    "challenger promoted: it is the champion"
                );
                let n = Self::step_number(&event);
                self.tag(&v, &tags::step(n), &format!("pass: {}", event.reason));
                self.tag(&v, tags::VERDICT, ModelVerdict::Promoted.as_str());
                self.tag(&v, tags::REASON, &event.reason);
                self.tag(&v, tags::PREVIOUS_CHAMPION, &old.version().version);
                self.write(Write::SetAlias {
                    alias: self.cfg.champion_alias.clone(),
                    version: v.clone(),
                });
                self.write(Write::DeleteAliasIf {
                    alias: self.cfg.challenger_alias.clone(),
                    version: v,
                });
                self.challenger = Some(Challenger::Promoted {
                    previous: old,
                    rollout: Some(r),
                    until: Instant::now() + self.cfg.grace,
                });
            }
            EventKind::RolledBack | EventKind::Aborted if in_canary => {
                let Some(Challenger::Canary(l, r)) = self.challenger.take() else {
                    return;
                };
                let v = l.version().version.clone();
                let (verdict, word) = if event.kind == EventKind::RolledBack {
                    (ModelVerdict::RolledBack, "fail")
                } else {
                    (ModelVerdict::Aborted, "aborted")
                };
                tracing::warn!(
                    name: "registry.rejected",
                    target: TARGET,
                    model = self.cfg.model.as_str(),
                    version = v.as_str(),
                    verdict = verdict.as_str(),
                    rollout = r.name.as_str(),
                    reason = event.reason.as_str(),
                    "challenger rejected: all traffic back to the champion"
                );
                let n = Self::step_number(&event);
                self.tag(&v, &tags::step(n), &format!("{word}: {}", event.reason));
                let alias = self.cfg.challenger_alias.clone();
                self.reject(&v, Some(&alias), verdict, &event.reason);
                self.unload(l.id());
                self.serve_champion_alone();
            }
            EventKind::RolledBack if promoted => {
                self.switch_back(&event.reason, true);
            }
            _ => {}
        }
    }

    /// After a promotion, back to the previous champion (still loaded):
    /// `write` when this replica decided it (the leader).
    fn switch_back(&mut self, reason: &str, write: bool) {
        let Some(Challenger::Promoted { previous, .. }) = self.challenger.take() else {
            return;
        };
        let bad = std::mem::replace(&mut self.champion, previous.clone());
        self.table.set_champion(previous.id());
        let v = bad.version().version.clone();
        tracing::warn!(
            name: "registry.rolled_back_after_promotion",
            target: TARGET,
            model = self.cfg.model.as_str(),
            version = v.as_str(),
            champion = previous.version().version.as_str(),
            reason,
            "promoted version rolled back: the previous champion serves again"
        );
        let reason = format!("rolled back after promotion: {reason}");
        if write {
            self.write(Write::SetAlias {
                alias: self.cfg.champion_alias.clone(),
                version: previous.version().version.clone(),
            });
            self.reject(&v, None, ModelVerdict::RolledBack, &reason);
        } else {
            self.rejected.insert(
                v.clone(),
                Rejection {
                    version: v,
                    verdict: ModelVerdict::RolledBack,
                    reason,
                },
            );
        }
        self.unload(bad.id());
        self.serve_champion_alone();
    }

    /// A follower (or a leader without a running controller) takes the
    /// staged challenger as champion because the registry says so.
    fn promote_locally(&mut self, why: &str) {
        let l = match self.challenger.take() {
            Some(Challenger::Staged(l)) | Some(Challenger::Canary(l, _)) => l,
            other => {
                self.challenger = other;
                return;
            }
        };
        tracing::info!(
            name: "registry.promoted",
            target: TARGET,
            model = self.cfg.model.as_str(),
            version = l.version().version.as_str(),
            why,
            "challenger promoted: it is the champion"
        );
        let old = std::mem::replace(&mut self.champion, l.clone());
        self.table.set_champion(l.id());
        self.serving.publish(idle_routes(l.id()));
        self.controller.store(None);
        self.challenger = Some(Challenger::Promoted {
            previous: old,
            rollout: None,
            until: Instant::now() + self.cfg.grace,
        });
    }

    // ------------------------------------------------------------ commands

    async fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Rollback { by, reason, reply } => {
                let r = self.rollback(&by, reason.as_deref()).await;
                // The status shows the command's effect when the call returns.
                self.publish_status();
                let _ = reply.send(r);
            }
            Cmd::Abort { by, reason, reply } => {
                let r = self.abort_rollout(&by, reason.as_deref()).await;
                self.publish_status();
                let _ = reply.send(r);
            }
        }
    }

    async fn rollback(&mut self, by: &str, reason: Option<&str>) -> Result<(), WatchError> {
        let controller = match &self.challenger {
            Some(Challenger::Canary(_, r))
            | Some(Challenger::Promoted {
                rollout: Some(r), ..
            }) => r.controller.clone(),
            Some(Challenger::Promoted { rollout: None, .. }) => {
                let why = format!("operator rollback by {by}: {}", reason.unwrap_or(""));
                self.switch_back(&why, self.leader());
                self.flush().await;
                return Ok(());
            }
            _ => {
                return Err(WatchError::NothingToDo {
                    command: "rollback",
                    why:
                        "no canary runs and no previous champion is kept (the grace period is over)"
                            .into(),
                });
            }
        };
        let name = controller.plan().name;
        let (by2, reason2) = (by.to_owned(), reason.map(str::to_owned));
        let c = controller.clone();
        let result = blocking(move || c.rollback(&by2, reason2.as_deref())).await;
        self.drain_events();
        self.flush().await;
        result.map(drop).map_err(|error| WatchError::Rollout {
            rollout: name,
            error,
        })
    }

    async fn abort_rollout(&mut self, by: &str, reason: Option<&str>) -> Result<(), WatchError> {
        let Some(Challenger::Canary(_, r)) = &self.challenger else {
            return Err(WatchError::NothingToDo {
                command: "abort",
                why: "no canary runs".into(),
            });
        };
        let c = r.controller.clone();
        let name = r.name.clone();
        let (by2, reason2) = (by.to_owned(), reason.map(str::to_owned));
        let result = blocking(move || c.abort(&by2, reason2.as_deref())).await;
        self.drain_events();
        self.flush().await;
        result.map(drop).map_err(|error| WatchError::Rollout {
            rollout: name,
            error,
        })
    }
}
