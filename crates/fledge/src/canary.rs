//! [`Canary`]: the front door. A plan in; the controller, the layer (plan
//! limits applied) and the driver out.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use fledge_gate::clock::Clock;
use fledge_rollout::control::ControllerBuilder;
use fledge_rollout::store::Store;
use fledge_rollout::{ControlError, Controller, Plan, RolloutRouting};
use fledge_tower::isolation::{Isolation, IsolationHandle};
use fledge_tower::{CanaryLayer, ConfigError, Decider, Settings};

/// The default time between two ticks of [`Canary::spawn`]'s driver.
pub const DEFAULT_TICK: Duration = Duration::from_secs(1);

#[doc = include_str!("docs/canary.md")]
#[derive(Clone)]
pub struct Canary {
    controller: Arc<Controller>,
    decider: Decider,
    tick: Duration,
}

impl Canary {
    /// The rollout of `plan` with the defaults: a controller on the system
    /// clock with an in-memory store, the layer's default [`Settings`] with
    /// the plan's `limits` applied, a tick every second.
    ///
    /// Fails when the plan is invalid ([`CanaryError::Controller`]) or its
    /// limits cannot be applied ([`CanaryError::PlanLimits`]).
    pub fn from_plan(plan: Plan) -> Result<Self, CanaryError> {
        Self::builder(plan).build()
    }

    /// Configures the rollout of `plan`: layer settings, store, clock, tick.
    pub fn builder(plan: Plan) -> CanaryBuilder {
        CanaryBuilder {
            controller: Controller::builder(plan),
            settings: Settings::default(),
            tick: DEFAULT_TICK,
        }
    }

    /// The tower layer (for axum, hyper, tonic): add it to the application's
    /// router. Every layer made here shares the routing handle, the
    /// recorder and the isolation counters; call it once per router.
    ///
    /// Tower-only options go on the layer returned:
    /// [`classifier`](CanaryLayer::classifier) (gRPC) and
    /// [`fallback`](CanaryLayer::fallback) (retry idempotent routes on
    /// stable).
    pub fn layer(&self) -> CanaryLayer {
        CanaryLayer::from_decider(self.decider.clone())
    }

    /// The layer for axum ([`fledge_axum::AxumLayer`]): [`layer`](Self::layer)
    /// with axum's own body type in its responses, so that axum does not
    /// box every response body again, and so that it can wrap a whole
    /// router for `axum::serve` (the cheapest way to install it: see the
    /// `fledge-tower` crate's "What it costs").
    #[cfg(feature = "axum")]
    pub fn axum_layer(&self) -> fledge_axum::AxumLayer {
        fledge_axum::AxumLayer::new(self.layer())
    }

    /// The actix-web middleware: `App::new().wrap(canary.actix())`, the
    /// same decisions, settings and counters as [`layer`](Self::layer).
    #[cfg(feature = "actix")]
    pub fn actix(&self) -> fledge_actix::CanaryMiddleware {
        fledge_actix::CanaryMiddleware::from_decider(self.decider.clone())
    }

    /// Spawns the driver on the current tokio runtime: it ticks the
    /// controller every [`tick`](CanaryBuilder::tick) (judges the gates,
    /// promotes or rolls back). Dropping the [`Driver`] stops it;
    /// [`Driver::shutdown`] stops it and waits for the tick in progress.
    ///
    /// Panics outside a tokio runtime (like `tokio::spawn`). For confirm
    /// hooks, an error callback or stopping when the rollout ends, use
    /// [`driver`](Self::driver).
    ///
    /// [`Driver`]: fledge_rollout::driver::Driver
    /// [`Driver::shutdown`]: fledge_rollout::driver::Driver::shutdown
    #[cfg(feature = "tokio")]
    pub fn spawn(&self) -> fledge_rollout::driver::Driver {
        self.driver().spawn()
    }

    /// The driver's builder, with this canary's tick as its interval.
    #[cfg(feature = "tokio")]
    pub fn driver(&self) -> fledge_rollout::driver::DriverBuilder {
        fledge_rollout::driver::Driver::builder(self.controller.clone()).interval(self.tick)
    }

    /// The controller: state, events, operator commands (`promote`,
    /// `pause`, `rollback`, ...), `tick` for a driver of your own, and what
    /// the admin API and the Prometheus exposition take.
    pub fn controller(&self) -> &Arc<Controller> {
        &self.controller
    }

    /// The request path's handle: the routing decision and the recorder
    /// (e.g. for `fledge::axum::Feedback` or a shadow layer).
    pub fn routing(&self) -> &RolloutRouting {
        self.controller.routing()
    }

    /// The isolation counters per version (admitted, overflowed, timeouts,
    /// panics, fallbacks), shared by every layer and middleware made here.
    pub fn isolation(&self) -> IsolationHandle {
        self.decider.isolation()
    }

    /// The settings the layer and the middleware run with, the plan's
    /// limits included.
    pub fn settings(&self) -> &Settings {
        self.decider.settings()
    }

    /// The time between two ticks of the driver.
    pub fn tick(&self) -> Duration {
        self.tick
    }

    /// The decider the layer and the middleware share, for an adapter of
    /// your own (see [`Decider`]).
    pub fn decider(&self) -> &Decider {
        &self.decider
    }
}

impl fmt::Debug for Canary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Canary")
            .field("controller", &self.controller)
            .field("decider", &self.decider)
            .field("tick", &self.tick)
            .finish()
    }
}

/// Configures a [`Canary`]: [`Canary::builder`]`(plan)`, the options, then
/// [`build`](Self::build).
///
/// ```
/// use std::time::Duration;
/// use fledge::tower::{KeySource, NoKey, Settings};
/// use fledge::rollout::MemoryStore;
/// use fledge::{Canary, Plan};
///
/// let plan = Plan::canary("predict", "v1", "v2").build()?;
/// let canary = Canary::builder(plan)
///     .settings(Settings::new().key(KeySource::cookie("uid")).no_key(NoKey::Stable))
///     .store(MemoryStore::new())
///     .tick(Duration::from_millis(500))
///     .with_controller(|controller| controller.judge_every_step())
///     .build()?;
/// assert_eq!(canary.tick(), Duration::from_millis(500));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CanaryBuilder {
    controller: ControllerBuilder,
    settings: Settings,
    tick: Duration,
}

impl CanaryBuilder {
    /// The layer's settings: key source, no-key policy, QA override,
    /// response header, extension, isolation, panic containment.
    ///
    /// The plan's `limits` are applied whatever the settings say. An
    /// isolation in `settings` is laid over them
    /// ([`Isolation::overlay`]): a version it names gets exactly the limits
    /// it sets (start from [`Isolation::from_plan`] to change one field of a
    /// plan's limits); the versions it does not name keep the plan's.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Where the controller persists its snapshots (default: in memory).
    pub fn store(mut self, store: impl Store + 'static) -> Self {
        self.controller = self.controller.store(store);
        self
    }

    /// The controller's clock (default: the system clock); a
    /// `ManualClock` in tests, a `TokioClock` to follow tokio's paused time.
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.controller = self.controller.clock(clock);
        self
    }

    /// The time between two ticks of the driver (default 1 s).
    pub fn tick(mut self, tick: Duration) -> Self {
        self.tick = tick;
        self
    }

    /// Any other controller option (confirm hooks, an evaluator, judging
    /// every step, the recorder's slot), applied to its builder.
    pub fn with_controller(
        mut self,
        configure: impl FnOnce(ControllerBuilder) -> ControllerBuilder,
    ) -> Self {
        self.controller = configure(self.controller);
        self
    }

    /// Builds the controller (loading a stored snapshot if there is one),
    /// then the layer's decider with the plan's limits applied.
    pub fn build(self) -> Result<Canary, CanaryError> {
        let CanaryBuilder {
            controller,
            settings,
            tick,
        } = self;
        let controller = Arc::new(controller.build()?);
        let plan = controller.plan();
        let routing = controller.routing().clone();
        let limits = Isolation::from_plan(&plan);
        // The plan's limits alone first, so that an error names its source.
        Decider::new(routing.clone(), Settings::new().isolation(limits.clone())).map_err(
            |source| CanaryError::PlanLimits {
                plan: plan.name.clone(),
                source,
            },
        )?;
        let isolation = limits.overlay(settings.isolation_config().clone());
        // Request spans (feature `otel`) name the rollout.
        let settings = match settings.flag_key_name() {
            Some(_) => settings,
            None => settings.flag_key(&plan.name),
        };
        let decider =
            Decider::new(routing, settings.isolation(isolation)).map_err(|e| match e {
                ConfigError::UnknownVersion { id, known } => {
                    CanaryError::UnknownVersion { id, known }
                }
                other => CanaryError::Settings(other),
            })?;
        Ok(Canary {
            controller,
            decider,
            tick,
        })
    }
}

impl fmt::Debug for CanaryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CanaryBuilder")
            .field("controller", &self.controller)
            .field("settings", &self.settings)
            .field("tick", &self.tick)
            .finish()
    }
}

/// Why a [`Canary`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CanaryError {
    /// The controller could not be built: an invalid plan, a store that
    /// failed or holds another rollout's snapshot.
    #[error("building the controller: {0}")]
    Controller(#[from] ControlError),
    /// The plan's `limits` cannot be applied to its versions.
    #[error("plan `{plan}`: its limits cannot be applied: {source}")]
    PlanLimits {
        /// The plan's name.
        plan: String,
        /// What is wrong with them.
        source: ConfigError,
    },
    /// The settings' isolation names a version the rollout does not have.
    #[error("the settings' isolation names unknown version `{id}`: the rollout has {known}")]
    UnknownVersion {
        /// The version named.
        id: String,
        /// The rollout's versions, comma-separated.
        known: String,
    },
    /// The settings cannot be applied (e.g. a zero limit set in code).
    #[error("the layer settings cannot be applied: {0}")]
    Settings(ConfigError),
}
