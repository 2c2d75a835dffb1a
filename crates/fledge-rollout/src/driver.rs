//! The tokio driver (feature `tokio`): ticks a controller on an interval and
//! stops cleanly.
//!
//! # Off the async workers
//!
//! [`Controller::tick`] is synchronous and may block: it saves a snapshot
//! (a file, Redis), asks the evaluator (PromQL over blocking HTTP) and the
//! sync confirm hooks. So the driver never calls it on an async worker
//! thread: each tick runs on tokio's blocking pool
//! ([`tokio::task::spawn_blocking`]), and so do
//! [`Controller::resolve_confirmation`] and the [`on_error`] callback.
//! Ticks never overlap: the loop waits for one tick to end before the next
//! is due ([`MissedTickBehavior::Delay`]: a slow tick delays the schedule
//! instead of bunching ticks up). [`Driver::shutdown`] waits for the tick
//! in progress, then no tick runs any more. Ticks run in the `tracing`
//! dispatcher and span that were current where the driver was spawned.
//!
//! Under tokio's paused time (`start_paused = true`, current-thread
//! runtimes) a running blocking task keeps the paused clock from
//! auto-advancing, so a tick sees the time it started at, and tests still
//! run in simulated time without real sleeps.
//!
//! # Errors are logged
//!
//! A tick that fails (a snapshot that cannot be saved, say) is logged as a
//! `tracing` event even without [`on_error`]: store failures by the
//! controller where they happen (`rollout.store_failed`, target
//! `fledge_rollout::store`), any other error as `rollout.tick_failed`, a
//! panicking tick as `rollout.tick_panicked` and a panicking async hook as
//! `rollout.hook_panicked` (ERROR, target `fledge_rollout::driver`), at
//! most one line per 30 s for each kind of failure. The driver keeps
//! ticking. See [`crate::log`].
//!
//! # Async confirm hooks
//!
//! Async confirm hooks ([`AsyncConfirmHook`]) run here: when a step waits for
//! confirmation, the driver runs the hook as a task and hands its answer to
//! [`Controller::resolve_confirmation`]; ticks go on meanwhile, so failing
//! gates still roll back while a hook is thinking.
//!
//! [`on_error`]: DriverBuilder::on_error
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use fledge_rollout::control::Controller;
//! use fledge_rollout::driver::{Driver, TokioClock};
//! use fledge_rollout::plan::PlanBuilder;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let plan = PlanBuilder::canary("demo", "v1", "v2")
//!     .interval(Duration::from_secs(10))
//!     .build()?;
//! let controller = Arc::new(Controller::builder(plan).clock(TokioClock::new()).build()?);
//! let driver = Driver::builder(controller.clone())
//!     .interval(Duration::from_secs(1))
//!     .stop_when_finished(true)
//!     .spawn();
//! driver.wait().await; // paused time: 40 simulated seconds, no real waiting
//! assert!(controller.state().is_terminal());
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use fledge_gate::clock::{Clock, Timestamp};

use crate::control::{ControlError, Controller, HookDecision, StepRequest};
use crate::log::RateLimited;

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// An asynchronous confirm hook (an HTTP call, a CI job): approves or vetoes
/// a step before it is taken. See [`crate::control::hook`].
pub trait AsyncConfirmHook: Send + Sync + fmt::Debug {
    /// The hook's name, recorded as `hook:<name>` in events.
    fn name(&self) -> &str;
    /// Whether the step may be taken.
    fn confirm(&self, request: StepRequest) -> BoxFuture<HookDecision>;
}

/// A clock that follows tokio's time, so paused time in tests moves the
/// controller's clock too. Starts at the system time of its creation.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin: Timestamp,
    start: Instant,
}

impl TokioClock {
    /// A clock reading the system time now, moving with tokio's time.
    pub fn new() -> Self {
        TokioClock::starting_at(fledge_gate::clock::SystemClock.now())
    }

    /// A clock reading `origin` now, moving with tokio's time.
    pub fn starting_at(origin: Timestamp) -> Self {
        TokioClock {
            origin,
            start: Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        TokioClock::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        self.origin.saturating_add(self.start.elapsed())
    }
}

type ErrorCallback = Arc<dyn Fn(&ControlError) + Send + Sync>;

/// Configures a [`Driver`].
pub struct DriverBuilder {
    controller: Arc<Controller>,
    interval: Duration,
    hook: Option<Arc<dyn AsyncConfirmHook>>,
    stop_when_finished: bool,
    on_error: Option<ErrorCallback>,
}

impl fmt::Debug for DriverBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DriverBuilder")
            .field("interval", &self.interval)
            .field("hook", &self.hook)
            .field("stop_when_finished", &self.stop_when_finished)
            .finish_non_exhaustive()
    }
}

impl DriverBuilder {
    /// Time between ticks (default 1 s; zero is raised to 1 ms).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// An async confirm hook, run while a step waits for confirmation (build
    /// the controller with [`confirm_steps`](crate::control::ControllerBuilder::confirm_steps)).
    pub fn confirm_hook(mut self, hook: impl AsyncConfirmHook + 'static) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Stop by itself once the rollout is promoted, rolled back or aborted.
    pub fn stop_when_finished(mut self, stop: bool) -> Self {
        self.stop_when_finished = stop;
        self
    }

    /// Called with each tick's error (e.g. a snapshot that could not be
    /// saved), on the blocking pool; the driver keeps ticking. Errors are
    /// logged with `tracing` whether or not this is set (see the
    /// [module docs](self#errors-are-logged)).
    pub fn on_error(mut self, f: impl Fn(&ControlError) + Send + Sync + 'static) -> Self {
        self.on_error = Some(Arc::new(f));
        self
    }

    /// Spawns the driver on the current tokio runtime.
    pub fn spawn(self) -> Driver {
        let (tx, rx) = watch::channel(false);
        // The dispatcher and span where the driver is spawned (the loop
        // itself runs on whichever worker thread picks it up).
        let context = (
            tracing::dispatcher::get_default(Clone::clone),
            tracing::Span::current(),
        );
        let task = tokio::spawn(run(self, rx, context));
        Driver {
            stop: Arc::new(tx),
            task: Some(task),
        }
    }
}

/// A running driver. Dropping it stops the ticking (without waiting);
/// [`Driver::shutdown`] stops it and waits for the loop to end.
#[derive(Debug)]
pub struct Driver {
    stop: Arc<watch::Sender<bool>>,
    task: Option<JoinHandle<()>>,
}

/// Stops a driver from elsewhere (e.g. a signal handler). Cheap to clone.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    stop: Arc<watch::Sender<bool>>,
}

impl ShutdownHandle {
    /// Asks the driver to stop after the tick in progress, if any.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }
}

impl Driver {
    /// Configures a driver for `controller`.
    pub fn builder(controller: Arc<Controller>) -> DriverBuilder {
        DriverBuilder {
            controller,
            interval: Duration::from_secs(1),
            hook: None,
            stop_when_finished: false,
            on_error: None,
        }
    }

    /// A handle that stops the driver.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            stop: self.stop.clone(),
        }
    }

    /// Stops the driver and waits until its loop has ended (no tick runs
    /// after this returns).
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Waits until the driver stops by itself (with
    /// [`stop_when_finished`](DriverBuilder::stop_when_finished)) or through a
    /// [`ShutdownHandle`].
    pub async fn wait(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Awaits the hook task in flight (only polled when there is one).
async fn wait_for(
    inflight: &mut Option<JoinHandle<(StepRequest, HookDecision)>>,
) -> Result<(StepRequest, HookDecision), tokio::task::JoinError> {
    match inflight {
        Some(task) => task.await,
        None => std::future::pending().await,
    }
}

/// How often a failure that repeats is logged.
const FAILURE_WINDOW: Duration = Duration::from_secs(30);

/// What the driver shares with its blocking tasks.
struct Shared {
    controller: Arc<Controller>,
    on_error: Option<ErrorCallback>,
    rollout: String,
    dispatch: tracing::Dispatch,
    span: tracing::Span,
    tick_failed: RateLimited,
    confirm_failed: RateLimited,
    panicked: RateLimited,
    hook_panicked: RateLimited,
}

impl Shared {
    /// Runs `f` on the blocking pool, in the driver's dispatcher and span;
    /// `None` if it panicked (logged).
    async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        op: &'static str,
        f: impl FnOnce(&Shared) -> T + Send + 'static,
    ) -> Option<T> {
        let shared = self.clone();
        let task = tokio::task::spawn_blocking(move || {
            let shared = &*shared;
            tracing::dispatcher::with_default(&shared.dispatch, || {
                shared.span.in_scope(|| f(shared))
            })
        });
        match task.await {
            Ok(value) => Some(value),
            Err(e) => {
                let suppressed = self.panicked.check()?;
                let panic = match e.try_into_panic() {
                    Ok(payload) => crate::log::panic_message(payload.as_ref()).to_owned(),
                    Err(e) => e.to_string(),
                };
                tracing::dispatcher::with_default(&self.dispatch, || {
                    tracing::error!(
                        name: "rollout.tick_panicked",
                        target: crate::log::DRIVER,
                        parent: &self.span,
                        rollout = self.rollout.as_str(),
                        op,
                        panic = panic.as_str(),
                        suppressed,
                        "rollout driver: {op} panicked; the driver keeps ticking"
                    );
                });
                None
            }
        }
    }

    /// Hands an error to the callback and logs it (unless the controller
    /// logged it where it happened). Runs on the blocking pool.
    fn failed(&self, op: &'static str, error: &ControlError) {
        if let Some(f) = &self.on_error {
            f(error);
        }
        if crate::log::logged_at_source(error) {
            return;
        }
        let limit = match op {
            "tick" => &self.tick_failed,
            _ => &self.confirm_failed,
        };
        let Some(suppressed) = limit.check() else {
            return;
        };
        tracing::error!(
            name: "rollout.tick_failed",
            target: crate::log::DRIVER,
            rollout = self.rollout.as_str(),
            op,
            error_kind = crate::log::error_kind(error),
            error = %error,
            suppressed,
            "rollout driver: {op} failed; the driver keeps ticking"
        );
    }

    /// An async hook's task panicked; it is asked again on a later tick.
    fn hook_panicked(&self, hook: &str, payload: &(dyn std::any::Any + Send)) {
        let Some(suppressed) = self.hook_panicked.check() else {
            return;
        };
        let panic = crate::log::panic_message(payload);
        tracing::dispatcher::with_default(&self.dispatch, || {
            tracing::error!(
                name: "rollout.hook_panicked",
                target: crate::log::DRIVER,
                parent: &self.span,
                rollout = self.rollout.as_str(),
                hook,
                panic,
                suppressed,
                "rollout confirm hook panicked; it is asked again next tick"
            );
        });
    }
}

async fn run(
    config: DriverBuilder,
    mut stop: watch::Receiver<bool>,
    (dispatch, span): (tracing::Dispatch, tracing::Span),
) {
    let DriverBuilder {
        controller,
        interval,
        hook,
        stop_when_finished,
        on_error,
    } = config;
    let shared = Arc::new(Shared {
        rollout: controller.plan().name,
        controller,
        on_error,
        dispatch,
        span,
        tick_failed: RateLimited::new(FAILURE_WINDOW),
        confirm_failed: RateLimited::new(FAILURE_WINDOW),
        panicked: RateLimited::new(FAILURE_WINDOW),
        hook_panicked: RateLimited::new(FAILURE_WINDOW),
    });
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut inflight: Option<JoinHandle<(StepRequest, HookDecision)>> = None;
    loop {
        if *stop.borrow() {
            break;
        }
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
            }
            done = wait_for(&mut inflight), if inflight.is_some() => {
                inflight = None;
                let Some(hook) = &hook else { continue };
                match done {
                    Ok((request, decision)) => {
                        let by = format!("hook:{}", hook.name());
                        shared
                            .blocking("resolve_confirmation", move |s| {
                                let resolved =
                                    s.controller.resolve_confirmation(&request, decision, &by);
                                if let Err(e) = resolved {
                                    s.failed("resolve_confirmation", &e);
                                }
                            })
                            .await;
                    }
                    Err(e) if e.is_panic() => shared.hook_panicked(hook.name(), e.into_panic().as_ref()),
                    Err(_) => {}
                }
            }
            _ = ticker.tick() => {
                let ask = hook.is_some() && inflight.is_none();
                let ticked = shared
                    .blocking("tick", move |s| {
                        let c = &s.controller;
                        if let Err(e) = c.tick_now() {
                            s.failed("tick", &e);
                        }
                        let finished = stop_when_finished && c.is_finished(c.now());
                        let pending = if ask { c.pending_confirmation() } else { None };
                        (finished, pending)
                    })
                    .await;
                let Some((finished, pending)) = ticked else { continue };
                if finished {
                    break;
                }
                if let (Some(request), Some(hook)) = (pending, &hook) {
                    let hook = hook.clone();
                    inflight = Some(tokio::spawn(async move {
                        let decision = hook.confirm(request.clone()).await;
                        (request, decision)
                    }));
                }
            }
        }
    }
    if let Some(task) = inflight {
        task.abort();
    }
}
