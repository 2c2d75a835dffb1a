//! The tokio driver (feature `tokio`): ticks a controller on an interval and
//! stops cleanly.
//!
//! The driver only calls [`Controller::tick`] (the control path is
//! synchronous and fast: a window merge, a judge, a swap, a snapshot write).
//! Async confirm hooks ([`AsyncConfirmHook`]) run here: when a step waits for
//! confirmation, the driver runs the hook as a task and hands its answer to
//! [`Controller::resolve_confirmation`]; ticks go on meanwhile, so failing
//! gates still roll back while a hook is thinking.
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
    /// saved); the driver keeps ticking.
    pub fn on_error(mut self, f: impl Fn(&ControlError) + Send + Sync + 'static) -> Self {
        self.on_error = Some(Arc::new(f));
        self
    }

    /// Spawns the driver on the current tokio runtime.
    pub fn spawn(self) -> Driver {
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(run(self, rx));
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

async fn run(config: DriverBuilder, mut stop: watch::Receiver<bool>) {
    let DriverBuilder {
        controller,
        interval,
        hook,
        stop_when_finished,
        on_error,
    } = config;
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
                if let (Ok((request, decision)), Some(hook)) = (done, &hook) {
                    let by = format!("hook:{}", hook.name());
                    if let Err(e) = controller.resolve_confirmation(&request, decision, &by) {
                        if let Some(f) = &on_error {
                            f(&e);
                        }
                    }
                }
            }
            _ = ticker.tick() => {
                if let Err(e) = controller.tick_now() {
                    if let Some(f) = &on_error {
                        f(&e);
                    }
                }
                if stop_when_finished && controller.is_finished(controller.now()) {
                    break;
                }
                if let (None, Some(hook)) = (&inflight, &hook) {
                    if let Some(request) = controller.pending_confirmation() {
                        let hook = hook.clone();
                        inflight = Some(tokio::spawn(async move {
                            let decision = hook.confirm(request.clone()).await;
                            (request, decision)
                        }));
                    }
                }
            }
        }
    }
    if let Some(task) = inflight {
        task.abort();
    }
}
