//! [`Watcher`]: follows a model's aliases in a registry, loads the
//! challenger next to the champion, canaries it with a plan and writes the
//! outcome back.

mod run;
mod status;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use fledge_rollout::{ControlError, Controller, Plan, PlanError};
use fledge_select::SelectError;
use fledge_tower::CanaryLayer;
use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::fleet::{Fleet, LeaderFn, SingleProcess};
use crate::layer::{Configure, ModelLayer, Serving};
use crate::source::{ModelSource, SourceError};
use crate::table::{Loaded, ModelTable};
use crate::{IdScheme, ModelVersion};

pub use status::{Rejection, Status, VersionInfo, WatchPhase};

/// A boxed error, what loaders return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

type LoadFuture<M> = Pin<Box<dyn Future<Output = Result<Arc<M>, BoxError>> + Send>>;
pub(crate) type LoaderFn<M> = Arc<dyn Fn(ModelVersion, PathBuf) -> LoadFuture<M> + Send + Sync>;

/// What went wrong in a [`Watcher`]: at start (then no watcher runs), or
/// while it runs (then [`Status::last_error`] holds it, it is logged, and
/// serving goes on with what is loaded).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// A registry call failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The model has no champion alias: nothing to serve.
    #[error(
        "model {model:?} has no @{alias} alias in {location}: point it at the version to serve (MLflow: client.set_registered_model_alias({model:?}, {alias:?}, <version>))"
    )]
    NoChampion {
        /// The model.
        model: String,
        /// The champion alias.
        alias: String,
        /// The registry (URL or directory).
        location: String,
    },
    /// The loader failed (or timed out) on a version.
    #[error("loading {model} version {version} failed: {reason}")]
    Load {
        /// The model.
        model: String,
        /// The version.
        version: String,
        /// The loader's error.
        reason: String,
    },
    /// A registry version gives no valid fledge version id.
    #[error(
        "{model} version {version:?} gives no valid fledge version id: {error} (choose another IdScheme)"
    )]
    Id {
        /// The model.
        model: String,
        /// The version.
        version: String,
        /// Why the id is invalid.
        #[source]
        error: SelectError,
    },
    /// The plan is invalid.
    #[error("the rollout plan is invalid: {0}")]
    Plan(#[from] PlanError),
    /// A rollout could not start or take a command.
    #[error("rollout {rollout}: {error}")]
    Rollout {
        /// The rollout's name.
        rollout: String,
        /// The controller's error.
        #[source]
        error: ControlError,
    },
    /// No loader was given to the builder.
    #[error("no loader: call WatcherBuilder::loader before start")]
    NoLoader,
    /// An operator command had nothing to act on.
    #[error("{command}: {why}")]
    NothingToDo {
        /// The command.
        command: &'static str,
        /// Why nothing could be done.
        why: String,
    },
    /// The watcher's task has stopped.
    #[error("the watcher has stopped")]
    Stopped,
}

/// Configures and starts a [`Watcher`]; see [`Watcher::builder`].
pub struct WatcherBuilder<M> {
    pub(crate) source: Arc<dyn ModelSource>,
    pub(crate) model: String,
    pub(crate) plan: Plan,
    pub(crate) loader: Option<LoaderFn<M>>,
    pub(crate) champion_alias: String,
    pub(crate) challenger_alias: String,
    pub(crate) poll_interval: Duration,
    pub(crate) tick_interval: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) grace: Option<Duration>,
    pub(crate) load_timeout: Duration,
    pub(crate) cache_dir: PathBuf,
    pub(crate) ids: IdScheme,
    pub(crate) fleet: Arc<dyn Fleet>,
    pub(crate) configure: Configure,
}

impl<M> fmt::Debug for WatcherBuilder<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatcherBuilder")
            .field("source", &self.source)
            .field("model", &self.model)
            .field("plan", &self.plan.name)
            .field("poll_interval", &self.poll_interval)
            .field("tick_interval", &self.tick_interval)
            .field("fleet", &self.fleet)
            .finish_non_exhaustive()
    }
}

impl<M: Send + Sync + 'static> WatcherBuilder<M> {
    /// The function that turns a version's artifacts (a local directory,
    /// see [`ModelSource::download`]) into a model. It runs on the tokio
    /// runtime; do heavy, blocking work inside `spawn_blocking`.
    pub fn loader<F, Fut, E>(mut self, loader: F) -> Self
    where
        F: Fn(ModelVersion, PathBuf) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Arc<M>, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.loader = Some(Arc::new(move |version, path| {
            let fut = loader(version, path);
            Box::pin(async move { fut.await.map_err(Into::into) })
        }));
        self
    }

    /// The aliases read (defaults `champion` and `challenger`).
    pub fn aliases(mut self, champion: &str, challenger: &str) -> Self {
        self.champion_alias = champion.to_owned();
        self.challenger_alias = challenger.to_owned();
        self
    }

    /// How often the registry is read (default 10 s). After a failed read
    /// the delay doubles, up to [`backoff_max`](Self::backoff_max).
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll_interval = every.max(Duration::from_millis(10));
        self
    }

    /// The longest delay between reads of a failing registry (default 5 min).
    pub fn backoff_max(mut self, max: Duration) -> Self {
        self.backoff_max = max;
        self
    }

    /// How often the running rollout is ticked (default 1 s).
    pub fn tick_interval(mut self, every: Duration) -> Self {
        self.tick_interval = every.max(Duration::from_millis(10));
        self
    }

    /// How long the previous champion stays loaded after a promotion, so
    /// that an operator rollback ([`Watcher::rollback`]) switches back at
    /// once (default: the plan's `keep_warm`, else 10 min). It becomes the
    /// rollout plan's `keep_warm`.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = Some(grace);
        self
    }

    /// How long a loader may take before the version counts as failed
    /// (default 10 min).
    pub fn load_timeout(mut self, timeout: Duration) -> Self {
        self.load_timeout = timeout;
        self
    }

    /// Where downloaded artifacts go (default: `fledge-registry` in the
    /// system's temporary directory).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = dir.into();
        self
    }

    /// How registry versions become fledge version ids (default `v<N>`).
    pub fn ids(mut self, ids: IdScheme) -> Self {
        self.ids = ids;
        self
    }

    /// Takes part in a fleet (default: [`SingleProcess`]).
    pub fn fleet(mut self, fleet: impl Fleet) -> Self {
        self.fleet = Arc::new(fleet);
        self
    }

    /// Writes to the registry only while `leader()` holds (a
    /// [`LeaderFn`] fleet).
    pub fn leader(self, leader: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.fleet(LeaderFn(leader))
    }

    /// Configures the [`CanaryLayer`] of each rollout (key source, no-key
    /// policy, QA override, response header, isolation).
    pub fn canary(
        mut self,
        configure: impl Fn(CanaryLayer) -> CanaryLayer + Send + Sync + 'static,
    ) -> Self {
        self.configure = Arc::new(configure);
        self
    }

    /// Reads the champion alias, loads the champion, and starts watching on
    /// the current tokio runtime. Fails (and nothing runs) when the
    /// registry cannot be read, has no champion, or the champion does not
    /// load: there is nothing to serve.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub async fn start(self) -> Result<Watcher<M>, WatchError> {
        run::start(self).await
    }
}

pub(crate) enum Cmd {
    Rollback {
        by: String,
        reason: Option<String>,
        reply: oneshot::Sender<Result<(), WatchError>>,
    },
    Abort {
        by: String,
        reason: Option<String>,
        reply: oneshot::Sender<Result<(), WatchError>>,
    },
}

/// Watches one registered model: serves its `@champion`, canaries its
/// `@challenger` with a rollout plan, and writes the outcome back to the
/// registry. See the [crate docs](crate) and the guide.
///
/// Dropping the watcher (or [`shutdown`](Self::shutdown)) stops the
/// watching; the [`ModelTable`] and [`ModelLayer`] handed out keep serving
/// what was loaded.
pub struct Watcher<M> {
    pub(crate) model: String,
    pub(crate) table: ModelTable<M>,
    pub(crate) serving: Arc<Serving>,
    pub(crate) status: watch::Receiver<Status>,
    pub(crate) controller: Arc<ArcSwapOption<Controller>>,
    pub(crate) commands: mpsc::UnboundedSender<Cmd>,
    pub(crate) poll_now: Arc<Notify>,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

impl<M> fmt::Debug for Watcher<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watcher")
            .field("model", &self.model)
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl<M: Send + Sync + 'static> Watcher<M> {
    /// Starts configuring a watcher of `model` in `source`, canarying
    /// challengers with `plan`.
    ///
    /// The plan is a template: its `name`, `baseline` and `candidate` are
    /// replaced for each rollout (name `<model>-<candidate id>`, baseline
    /// the champion's id, candidate the challenger's); `limits` keyed by the
    /// template's baseline or candidate follow them; `keep_warm` becomes
    /// the [`grace`](WatcherBuilder::grace) period. Write it with
    /// placeholders: `baseline = "champion"`, `candidate = "challenger"`.
    pub fn builder(source: impl ModelSource, model: &str, plan: Plan) -> WatcherBuilder<M> {
        WatcherBuilder {
            source: Arc::new(source),
            model: model.to_owned(),
            plan,
            loader: None,
            champion_alias: "champion".to_owned(),
            challenger_alias: "challenger".to_owned(),
            poll_interval: Duration::from_secs(10),
            tick_interval: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            grace: None,
            load_timeout: Duration::from_secs(600),
            cache_dir: std::env::temp_dir().join("fledge-registry"),
            ids: IdScheme::default(),
            fleet: Arc::new(SingleProcess),
            configure: Arc::new(|layer| layer),
        }
    }
}

impl<M> Watcher<M> {
    /// The loaded models, by version id (lock-free reads).
    pub fn models(&self) -> ModelTable<M> {
        self.table.clone()
    }

    /// The tower layer that routes requests between the loaded versions
    /// and hands handlers the routed model ([`Served`](crate::Served)).
    pub fn layer(&self) -> ModelLayer<M> {
        ModelLayer::new(self.serving.clone(), self.table.clone())
    }

    /// The watcher's state now.
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// A receiver of every status change (tokio `watch`).
    pub fn status_changes(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// Waits until `f` holds for the status, up to `limit`; returns the
    /// status then, or the last one seen at the deadline as `Err`.
    pub async fn wait_for(
        &self,
        limit: Duration,
        mut f: impl FnMut(&Status) -> bool,
    ) -> Result<Status, Status> {
        let mut rx = self.status.clone();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            {
                let s = rx.borrow_and_update();
                if f(&s) {
                    return Ok(s.clone());
                }
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return Err(rx.borrow().clone()),
            }
        }
    }

    /// The running rollout's controller (for an admin API: status,
    /// history, `pause`, `promote`, ...; the watcher sees every event,
    /// whoever caused it, and writes the outcome back).
    pub fn controller(&self) -> Option<Arc<Controller>> {
        self.controller.load_full()
    }

    /// Reads the registry now instead of at the next poll (e.g. from an
    /// MLflow webhook handler).
    pub fn poll_now(&self) {
        self.poll_now.notify_one();
    }

    /// Operator rollback: during a canary, all traffic back to the
    /// champion and the challenger rejected; after a promotion, while the
    /// previous champion is still loaded (the grace period), traffic and
    /// `@champion` back to it at once and the promoted version rejected.
    pub async fn rollback(&self, by: &str, reason: Option<&str>) -> Result<(), WatchError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Cmd::Rollback {
                by: by.to_owned(),
                reason: reason.map(str::to_owned),
                reply,
            })
            .map_err(|_| WatchError::Stopped)?;
        rx.await.map_err(|_| WatchError::Stopped)?
    }

    /// Operator abort of the running canary: traffic back to the champion,
    /// the challenger tagged `aborted` and `@challenger` removed.
    pub async fn abort(&self, by: &str, reason: Option<&str>) -> Result<(), WatchError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Cmd::Abort {
                by: by.to_owned(),
                reason: reason.map(str::to_owned),
                reply,
            })
            .map_err(|_| WatchError::Stopped)?;
        rx.await.map_err(|_| WatchError::Stopped)?
    }

    /// Stops watching and waits for the task to end. Serving goes on with
    /// what is loaded; pending registry writes are dropped (and listed in
    /// the last status).
    pub async fn shutdown(self) {
        let Watcher { commands, task, .. } = self;
        drop(commands);
        let _ = task.await;
    }
}

/// The champion and versions of a model as the registry shows them:
/// `(alias → version)`.
pub(crate) type Aliases = BTreeMap<String, String>;

/// Helpers shared by start and the loop.
pub(crate) fn loaded<M>(
    id: fledge_select::VersionId,
    version: ModelVersion,
    model: Arc<M>,
) -> Arc<Loaded<M>> {
    Arc::new(Loaded::new(id, version, model))
}
