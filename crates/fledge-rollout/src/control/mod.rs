//! The controller: joins the selector, the gates, the state machine and a store.
//!
//! [`Controller::tick`] is the control path of the design: once per tick it
//! advances timers, asks the gates about the step in effect (windows →
//! checks → judge → verdict), feeds the verdict to the state machine and
//! carries out the actions — publish the new split (one atomic swap), record
//! and emit the event, persist a snapshot. A failing verdict's rollback
//! reaches the selector before `tick` returns.
//!
//! The request path reads the controller's [`RolloutRouting`] handle without locks:
//! [`RolloutRouting::route`] (targeting rules → sticky bucket → selector) and
//! [`RolloutRouting::recorder`] (latency and errors per version).

mod blue_green;
mod evaluate;
mod gate;
pub mod hook;
mod operate;
mod routing;
pub mod series;
mod source;
mod subscribe;

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use fledge_gate::clock::{Clock, SystemClock, Timestamp};
use fledge_select::{SelectError, Selector, Split, Weight};
use fledge_sticky::{Bucketer, HashMode};

use crate::machine::{
    Action, ApprovalKind, Command, Event, EventKind, Input, Machine, Phase, State, Traffic,
    Transition,
};
use crate::plan::{CheckedPlan, Plan, PlanError};
use crate::store::{MemoryStore, Snapshot, Store, StoreError};

pub use blue_green::BlueGreenStatus;
pub use evaluate::{Evaluate, Judgement, StepContext};
pub use gate::GateEvaluator;
pub use hook::{ConfirmHook, FnHook, HookDecision, StepRequest};
pub use operate::{FleetView, Operate, ReplicaView};
use routing::View;
pub use routing::{RolloutRouting, Routed};
pub use series::{MetricMean, Series, SeriesConfig, SeriesLimit, SeriesPoint, VersionPoint};
use series::{Sample, SeriesRing, VersionSample};
pub use source::{WindowRequest, WindowSource, Windows};

/// Why the controller could not start or carry out a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The plan is invalid; nothing was changed.
    #[error("invalid plan: {0}")]
    Plan(#[from] PlanError),
    /// Loading or saving a snapshot failed. When a tick or command returns
    /// this, its decisions were still applied and published in memory; only
    /// the snapshot is behind.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored snapshot belongs to another rollout.
    #[error(
        "the stored snapshot belongs to rollout {found:?} ({found_versions}), not {expected:?} ({expected_versions}): use another store or delete the snapshot"
    )]
    ForeignSnapshot {
        /// The rollout this controller runs.
        expected: String,
        /// Its versions, `baseline -> candidate`.
        expected_versions: String,
        /// The snapshot's rollout.
        found: String,
        /// The snapshot's versions.
        found_versions: String,
    },
    /// The stored snapshot was taken under a different plan for the same rollout.
    #[error(
        "the stored snapshot of rollout {rollout:?} was taken with a different plan: start with the snapshot's plan and then call replace_plan, or delete the snapshot"
    )]
    PlanChanged {
        /// The rollout.
        rollout: String,
    },
    /// The stored snapshot is inconsistent with its own plan.
    #[error("the stored snapshot is inconsistent: {detail}; it was left untouched")]
    BadSnapshot {
        /// What is wrong.
        detail: String,
    },
    /// The store holds an older snapshot than this controller saved or
    /// loaded, or none: it lost data (a restart without persistence, a
    /// deleted key) or another chain of saves started. Nothing changed.
    #[error(
        "the store's snapshot ({stored}) is older than the version {ours} this controller saved or loaded: the store lost data or was reset; rebuild the controllers from the store, or keep this controller as the leader and let its next change save again"
    )]
    StoreBehind {
        /// The stored version, or "none".
        stored: String,
        /// This controller's version.
        ours: u64,
    },
    /// The new plan cannot replace the running one; the running one stays.
    #[error("the new plan cannot replace the running one: {reason}")]
    Incompatible {
        /// Why.
        reason: String,
    },
    /// The state machine refused a command (the refusal is in the event log).
    #[error("{reason}")]
    Rejected {
        /// The refusal, as recorded in the event.
        reason: String,
    },
    /// The gate recorder could not be built.
    #[error("cannot build the gate recorder: {0}")]
    Recorder(String),
    /// Publishing a split failed (a bug: the selector's variant set is fixed).
    #[error("cannot publish the split: {0}")]
    Select(#[from] SelectError),
    /// The command could not reach whoever decides (a fleet without a
    /// leader, its shared store unreachable): nothing was applied. Try
    /// again; an HTTP API answers 503.
    #[error("{reason}")]
    Unavailable {
        /// Why, and what to check.
        reason: String,
    },
    /// The command was handed over but no answer came in time: it may or
    /// may not have been applied; read the state or the event log before
    /// repeating it. An HTTP API answers 504.
    #[error("{reason}")]
    TimedOut {
        /// What was waited for, and for how long.
        reason: String,
    },
}

/// What one [`Controller::tick`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct TickReport {
    /// The tick's time.
    pub now: Timestamp,
    /// The gates' judgement, if the step in effect has gates and was judged.
    pub judgement: Option<Judgement>,
    /// The events emitted during the tick, in order.
    pub events: Vec<Event>,
    /// The state after the tick.
    pub state: State,
}

struct Inner {
    machine: Machine,
    state: State,
    events: Vec<Event>,
    version: Option<u64>,
    last: Option<Judgement>,
}

/// Joins a [`Selector`], the gates, the state machine and a [`Store`].
///
/// All methods take `&self`: share it in an `Arc` between the request path,
/// the driver and an admin API.
pub struct Controller {
    routing: RolloutRouting,
    hash: HashMode,
    evaluator: Arc<dyn Evaluate>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    hooks: Vec<Arc<dyn ConfirmHook>>,
    inner: Mutex<Inner>,
    hub: subscribe::Hub,
    /// The per-tick history ([`Controller::series`]); its own lock, taken
    /// after the state lock is released.
    series: Mutex<SeriesRing>,
    limits: crate::log::Limits,
}

impl fmt::Debug for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("Controller")
            .field("rollout", &inner.machine.plan().plan().name)
            .field("state", &inner.state)
            .field("routing", &self.routing)
            .field("store", &self.store)
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}

/// Configures and starts a [`Controller`]; see [`Controller::builder`].
pub struct ControllerBuilder {
    plan: Plan,
    clock: Arc<dyn Clock>,
    store: Arc<dyn Store>,
    evaluator: Option<Arc<dyn Evaluate>>,
    source: Option<Arc<dyn WindowSource>>,
    hooks: Vec<Arc<dyn ConfirmHook>>,
    confirm: bool,
    judge_all: bool,
    slot: Option<std::time::Duration>,
    series: SeriesConfig,
}

impl fmt::Debug for ControllerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ControllerBuilder")
            .field("plan", &self.plan.name)
            .field("store", &self.store)
            .field("hooks", &self.hooks)
            .field("confirm", &self.confirm)
            .finish_non_exhaustive()
    }
}

impl ControllerBuilder {
    /// The clock used by [`Controller::tick_now`] and the command helpers
    /// (default: the system clock). Tests use a `ManualClock`.
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Where snapshots go (default: a fresh [`MemoryStore`]). If the store
    /// holds a snapshot of this rollout, the controller resumes from it.
    pub fn store(mut self, store: impl Store + 'static) -> Self {
        self.store = Arc::new(store);
        self
    }

    /// Judges steps with `evaluator` instead of the plan's gates.
    pub fn evaluator(mut self, evaluator: impl Evaluate + 'static) -> Self {
        self.evaluator = Some(Arc::new(evaluator));
        self
    }

    /// Has the plan's gates read their windows from `source` instead of
    /// this controller's own recorder (which still records the requests
    /// this process serves): for a fleet, a source merging every replica's
    /// windows, so the same checks judge the fleet's traffic. Ignored when
    /// an [`evaluator`](Self::evaluator) replaces the gates.
    pub fn window_source(mut self, source: impl WindowSource + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// Adds a synchronous confirm hook (and makes every step wait for
    /// confirmation; see the [`hook`](self) docs).
    pub fn confirm_hook(mut self, hook: impl ConfirmHook + 'static) -> Self {
        self.hooks.push(Arc::new(hook));
        self.confirm = true;
        self
    }

    /// Makes every step wait for confirmation, to be given by
    /// [`Controller::resolve_confirmation`] (an async hook) or a human.
    pub fn confirm_steps(mut self) -> Self {
        self.confirm = true;
        self
    }

    /// Judges every step with the evaluator, also the steps without plan
    /// gates (by default those are promoted by time alone). Use it with an
    /// [`evaluator`](Self::evaluator) that judges from outside the plan
    /// (PromQL gates), so that a plan needs no placeholder gate.
    pub fn judge_every_step(mut self) -> Self {
        self.judge_all = true;
        self
    }

    /// The gate recorder's time slot (default: the longest step's bake
    /// time / 15, at least 1 s, in whole seconds). Windows are slot-aligned;
    /// fewer slots make each tick's window merge cheaper.
    pub fn recorder_slot(mut self, slot: std::time::Duration) -> Self {
        self.slot = Some(slot);
        self
    }

    /// How much per-tick history [`Controller::series`] keeps (default: the
    /// last hour at tick resolution, older ticks merged per minute, 24 h in
    /// all, about 1 MB; see [`SeriesConfig`]). [`SeriesConfig::off`] keeps
    /// none and takes no sample.
    pub fn series(mut self, config: SeriesConfig) -> Self {
        self.series = config;
        self
    }

    /// Checks the plan, loads the snapshot if the store has one, publishes
    /// the current split and starts (or resumes) the rollout at `clock.now()`.
    pub fn build(self) -> Result<Controller, ControlError> {
        let now = self.clock.now();
        self.build_at(now)
    }

    /// [`build`](Self::build) at an explicit time.
    pub fn build_at(self, now: Timestamp) -> Result<Controller, ControlError> {
        let checked = self.plan.check()?;
        let machine = Machine::new(checked.clone())
            .with_confirmation(self.confirm)
            .with_every_step_judged(self.judge_all);
        let plan = checked.plan();
        let hash = plan.sticky.mode()?;
        // The candidate is listed first so that it owns buckets [0, w).
        let split = Split::canary(plan.candidate.clone(), plan.baseline.clone(), Weight::ZERO)?;
        let selector = Arc::new(Selector::new(split));
        let candidate = selector.index_of(plan.candidate.as_str()).ok_or_else(|| {
            ControlError::BadSnapshot {
                detail: "candidate missing from the selector".into(),
            }
        })?;
        let baseline =
            selector
                .index_of(plan.baseline.as_str())
                .ok_or_else(|| ControlError::BadSnapshot {
                    detail: "baseline missing from the selector".into(),
                })?;
        let recorder = Arc::new(gate::recorder_for(&checked, self.slot)?);
        let evaluator: Arc<dyn Evaluate> = match self.evaluator {
            Some(e) => e,
            None => {
                let source: Arc<dyn WindowSource> = match self.source {
                    Some(s) => s,
                    None => recorder.clone(),
                };
                Arc::new(GateEvaluator::with_source(
                    &checked, source, baseline, candidate,
                )?)
            }
        };

        let restored = self.store.load().inspect_err(|e| {
            crate::log::store_failed(&plan.name, self.store.kind(), "load", None, e, None);
        })?;
        let (state, events, version, fresh) = match restored {
            Some(snapshot) => {
                let (state, events) = restore(&machine, &checked, snapshot.clone())?;
                (state, events, Some(snapshot.version), None)
            }
            None => {
                let t = machine.start(now);
                (t.state.clone(), Vec::new(), None, Some(t))
            }
        };
        let view = View {
            traffic: Traffic::BASELINE,
            bucketer: Bucketer::new(hash, &state.salt),
            rules: Vec::new(),
        };
        let controller = Controller {
            routing: RolloutRouting::new(selector, recorder, view, candidate, baseline),
            hash,
            evaluator,
            store: self.store,
            clock: self.clock,
            hooks: self.hooks,
            inner: Mutex::new(Inner {
                machine,
                state: state.clone(),
                events,
                version,
                last: None,
            }),
            hub: subscribe::Hub::default(),
            series: Mutex::new(SeriesRing::new(self.series, plan.metrics.clone(), now)),
            limits: crate::log::Limits::default(),
        };
        let mut inner = controller.lock();
        match fresh {
            Some(t) => {
                let mut report = Vec::new();
                let result = controller.apply(&mut inner, t, now, &mut report);
                drop(inner);
                controller.hub.dispatch();
                result?;
            }
            None => {
                controller.publish(&inner, state.traffic, &state.salt)?;
                drop(inner);
            }
        }
        Ok(controller)
    }
}

/// Checks a loaded snapshot against the plan and the machine.
fn restore(
    machine: &Machine,
    checked: &CheckedPlan,
    snapshot: Snapshot,
) -> Result<(State, Vec<Event>), ControlError> {
    let plan = checked.plan();
    if !plan.same_rollout(&snapshot.plan) {
        return Err(ControlError::ForeignSnapshot {
            expected: plan.name.clone(),
            expected_versions: format!("{} -> {}", plan.baseline, plan.candidate),
            found: snapshot.plan.name.clone(),
            found_versions: format!("{} -> {}", snapshot.plan.baseline, snapshot.plan.candidate),
        });
    }
    if snapshot.plan != *plan {
        return Err(ControlError::PlanChanged {
            rollout: plan.name.clone(),
        });
    }
    let state = snapshot.state;
    if let Some(step) = state.step
        && step >= checked.steps().len()
    {
        return Err(ControlError::BadSnapshot {
            detail: format!(
                "it is at step {step} but the plan has {} steps",
                checked.steps().len()
            ),
        });
    }
    if let Some(step) = state.traffic.rules_of
        && step >= checked.steps().len()
    {
        return Err(ControlError::BadSnapshot {
            detail: format!("its targeting rules come from step {step}, which does not exist"),
        });
    }
    if state.seq != snapshot.events.len() as u64 {
        return Err(ControlError::BadSnapshot {
            detail: format!(
                "its state counts {} events but its log holds {}",
                state.seq,
                snapshot.events.len()
            ),
        });
    }
    if state.salt.is_empty() {
        return Err(ControlError::BadSnapshot {
            detail: "its salt is empty".into(),
        });
    }
    let _ = machine;
    Ok((state, snapshot.events))
}

impl Controller {
    /// Starts configuring a controller for `plan`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use fledge_gate::clock::{ManualClock, Timestamp};
    /// use fledge_rollout::control::Controller;
    /// use fledge_rollout::plan::PlanBuilder;
    ///
    /// let plan = PlanBuilder::canary("demo", "v1", "v2").build()?;
    /// let clock = ManualClock::new(Timestamp::from_millis(0));
    /// let controller = Controller::builder(plan).clock(clock.clone()).build()?;
    /// assert_eq!(controller.traffic().candidate.bps(), 500);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(plan: Plan) -> ControllerBuilder {
        ControllerBuilder {
            plan,
            clock: Arc::new(SystemClock),
            store: Arc::new(MemoryStore::new()),
            evaluator: None,
            source: None,
            hooks: Vec::new(),
            confirm: false,
            judge_all: false,
            slot: None,
            series: SeriesConfig::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // ---------------------------------------------------------------- request path

    /// The serving handle: selector, sticky bucketer, targeting rules and the
    /// gate recorder, read without locks on the request path.
    pub fn routing(&self) -> &RolloutRouting {
        &self.routing
    }

    /// The selector (the candidate listed first).
    pub fn selector(&self) -> &Arc<Selector> {
        self.routing.selector_arc()
    }

    /// What is published now: candidate weight, mirror share, rules.
    pub fn traffic(&self) -> Traffic {
        self.routing.traffic()
    }

    // ---------------------------------------------------------------- control path

    /// One control-path tick at `now`: timers, then the gates' verdict on the
    /// step in effect, then (while a step waits for confirmation) the sync
    /// confirm hooks. Every resulting action is applied before it returns.
    ///
    /// A [`ControlError::Store`] means the decisions were applied and
    /// published but the snapshot could not be saved.
    pub fn tick(&self, now: Timestamp) -> Result<TickReport, ControlError> {
        let mut events = Vec::new();
        self.sample_series(now);
        let (judgement, error) = self.tick_inner(now, &mut events);
        self.hub.dispatch();
        if let Some(e) = error {
            return Err(e);
        }
        Ok(TickReport {
            now,
            judgement,
            events,
            state: self.state(),
        })
    }

    /// The controller's clock's time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// [`tick`](Self::tick) at the clock's time.
    pub fn tick_now(&self) -> Result<TickReport, ControlError> {
        self.tick(self.clock.now())
    }

    /// The tick's judgement and the first error met (every step runs anyway).
    fn tick_inner(
        &self,
        now: Timestamp,
        events: &mut Vec<Event>,
    ) -> (Option<Judgement>, Option<ControlError>) {
        let mut first_error = None;
        // 1. Timers.
        let (step, seq, attempt, since) = {
            let mut inner = self.lock();
            let t = inner.machine.transition(&inner.state, &Input::Tick, now);
            if let Err(e) = self.apply(&mut inner, t, now, events) {
                first_error.get_or_insert(e);
            }
            let s = &inner.state;
            let holding = matches!(
                s.phase,
                Phase::Progressing | Phase::Paused { .. } | Phase::AwaitingApproval { .. }
            );
            // While the baseline is kept warm after promotion, the last
            // step's gates keep judging the candidate (a failure switches back).
            let plan = inner.machine.plan();
            let index = if inner.machine.keeps_warm(s, now) {
                plan.steps().len().checked_sub(1)
            } else {
                s.step.filter(|_| holding)
            };
            let step = index
                .and_then(|i| plan.step(i).cloned())
                .filter(|st| inner.machine.is_judged(st));
            (step, s.seq, s.attempt, s.since)
        };
        // 2. Gates, outside the lock.
        let mut judgement = None;
        if let Some(step) = step {
            let ctx = StepContext {
                step: &step,
                attempt,
                since,
                now,
            };
            let started = std::time::Instant::now();
            let evaluated = catch_unwind(AssertUnwindSafe(|| self.evaluator.evaluate(&ctx)));
            let elapsed = started.elapsed();
            let mut inner = self.lock();
            let rollout = inner.machine.plan().plan().name.clone();
            let j = evaluated.unwrap_or_else(|payload| {
                let panic = crate::log::panic_message(payload.as_ref());
                crate::log::evaluator_panicked(
                    &rollout,
                    &step,
                    attempt,
                    panic,
                    &self.limits.evaluator,
                );
                Judgement::new(
                    fledge_gate::Outcome::Inconclusive,
                    format!("the evaluator panicked: {panic}"),
                )
            });
            crate::log::verdict(&rollout, &step, attempt, seq, &j, elapsed);
            // Set before applying, so that the event's log line can name
            // the failing checks.
            inner.last = Some(j.clone());
            if inner.state.seq == seq {
                let input = Input::verdict(j.outcome, j.reason.clone());
                let t = inner.machine.transition(&inner.state, &input, now);
                if let Err(e) = self.apply(&mut inner, t, now, events) {
                    first_error.get_or_insert(e);
                }
            }
            judgement = Some(j);
        }
        // 3. Sync confirm hooks.
        if !self.hooks.is_empty()
            && let Some(request) = self.pending_confirmation()
        {
            let mut vetoed = None;
            let mut all = true;
            for hook in &self.hooks {
                let answer = catch_unwind(AssertUnwindSafe(|| hook.confirm(&request)));
                let answer = answer.unwrap_or_else(|payload| {
                    let panic = crate::log::panic_message(payload.as_ref());
                    crate::log::hook_panicked(
                        &request.rollout,
                        hook.name(),
                        request.step,
                        panic,
                        &self.limits.hook,
                    );
                    HookDecision::Pending
                });
                match answer {
                    HookDecision::Confirm => {}
                    HookDecision::Pending => all = false,
                    HookDecision::Veto { reason } => {
                        vetoed = Some((hook.name().to_owned(), reason));
                        break;
                    }
                }
            }
            let names: Vec<&str> = self.hooks.iter().map(|h| h.name()).collect();
            let decision = match vetoed {
                Some((name, reason)) => {
                    Some((format!("hook:{name}"), HookDecision::Veto { reason }))
                }
                None if all => Some((format!("hook:{}", names.join(",")), HookDecision::Confirm)),
                None => None,
            };
            if let Some((by, decision)) = decision
                && let Err(e) = self.resolve_inner(&request, decision, &by, now, events)
            {
                first_error.get_or_insert(e);
            }
        }
        (judgement, first_error)
    }

    /// Carries out a transition's actions under the state lock: publish,
    /// record + queue the event, persist. Publishing happens first, so a
    /// rollback reaches the selector even if persisting fails.
    fn apply(
        &self,
        inner: &mut Inner,
        t: Transition,
        now: Timestamp,
        events: &mut Vec<Event>,
    ) -> Result<(), ControlError> {
        inner.state = t.state;
        let mut result = Ok(());
        for action in t.actions {
            match action {
                Action::Publish(traffic) => {
                    let salt = inner.state.salt.clone();
                    if let Err(e) = self.publish(inner, traffic, &salt) {
                        result = Err(e);
                    }
                }
                Action::Emit(event) => {
                    let judgement = match &event.input {
                        Input::Verdict { .. } => inner.last.as_ref(),
                        _ => None,
                    };
                    crate::log::event(inner.machine.plan(), &event, judgement);
                    inner.events.push(event.clone());
                    self.hub.queue(event.clone());
                    events.push(event);
                }
                Action::Persist => {
                    let snapshot = Snapshot::new(
                        inner.machine.plan().plan().clone(),
                        inner.state.clone(),
                        inner.events.clone(),
                        now,
                    );
                    match self.store.save(&snapshot, inner.version) {
                        Ok(v) => inner.version = Some(v),
                        Err(e) => {
                            crate::log::store_failed(
                                &snapshot.plan.name,
                                self.store.kind(),
                                "save",
                                inner.state.seq.checked_sub(1),
                                &e,
                                None,
                            );
                            if result.is_ok() {
                                result = Err(e.into());
                            }
                        }
                    }
                }
            }
        }
        result
    }

    fn publish(&self, inner: &Inner, traffic: Traffic, salt: &str) -> Result<(), ControlError> {
        let plan = inner.machine.plan();
        let split = Split::canary(
            plan.candidate().clone(),
            plan.baseline().clone(),
            traffic.candidate,
        )?;
        let rules = traffic
            .rules_of
            .and_then(|i| plan.step(i))
            .map(|step| {
                step.targeting
                    .iter()
                    .filter_map(|r| {
                        let index = self.routing.index_of(r.version.as_str())?;
                        Some((r.clone(), index))
                    })
                    .collect()
            })
            .unwrap_or_default();
        // The view (rules, bucketer) and the split are two swaps, one right
        // after the other; a request between them sees the new rules with
        // the old split, never anything else.
        self.routing.store(View {
            traffic,
            bucketer: Bucketer::new(self.hash, salt),
            rules,
        });
        self.routing.selector().publish(split)?;
        Ok(())
    }

    /// Gives an operator command at the clock's time; see [`command_at`](Self::command_at).
    pub fn command(
        &self,
        command: Command,
        by: &str,
        reason: Option<&str>,
    ) -> Result<Event, ControlError> {
        self.command_at(command, by, reason, self.clock.now())
    }

    /// Gives an operator command at `now`. Returns the event; a command the
    /// state machine refuses is recorded and returned as
    /// [`ControlError::Rejected`].
    pub fn command_at(
        &self,
        command: Command,
        by: &str,
        reason: Option<&str>,
        now: Timestamp,
    ) -> Result<Event, ControlError> {
        let input = Input::Command {
            command,
            by: by.to_owned(),
            reason: reason.map(str::to_owned),
        };
        let mut events = Vec::new();
        let result = {
            let mut inner = self.lock();
            let t = inner.machine.transition(&inner.state, &input, now);
            self.apply(&mut inner, t, now, &mut events)
        };
        self.hub.dispatch();
        result?;
        match events.pop() {
            Some(e) if e.kind == EventKind::Rejected => {
                Err(ControlError::Rejected { reason: e.reason })
            }
            Some(e) => Ok(e),
            None => Err(ControlError::Rejected {
                reason: format!("{command} by {by} changed nothing"),
            }),
        }
    }

    /// Takes the next step now (skipping bake, gates and approval).
    pub fn promote(&self, by: &str) -> Result<Event, ControlError> {
        self.command(Command::Promote, by, None)
    }

    /// Gives the candidate all the traffic now.
    pub fn promote_full(&self, by: &str) -> Result<Event, ControlError> {
        self.command(Command::PromoteFull, by, None)
    }

    /// Holds the current weights until resumed.
    pub fn pause(&self, by: &str, reason: Option<&str>) -> Result<Event, ControlError> {
        self.command(Command::Pause, by, reason)
    }

    /// Leaves a pause or a freeze.
    pub fn resume(&self, by: &str) -> Result<Event, ControlError> {
        self.command(Command::Resume, by, None)
    }

    /// Approves the step that waits.
    pub fn approve(&self, by: &str) -> Result<Event, ControlError> {
        self.command(Command::Approve, by, None)
    }

    /// Holds the weights with neither promotion nor rollback.
    pub fn freeze(&self, by: &str, reason: Option<&str>) -> Result<Event, ControlError> {
        self.command(Command::Freeze, by, reason)
    }

    /// Sends all traffic back to the baseline.
    pub fn rollback(&self, by: &str, reason: Option<&str>) -> Result<Event, ControlError> {
        self.command(Command::Rollback, by, reason)
    }

    /// Stops the rollout; all traffic back to the baseline.
    pub fn abort(&self, by: &str, reason: Option<&str>) -> Result<Event, ControlError> {
        self.command(Command::Abort, by, reason)
    }

    /// Sets the candidate's weight (at most the current step's) and pauses.
    pub fn set_weight(&self, weight: Weight, by: &str) -> Result<Event, ControlError> {
        self.command(Command::SetWeight { weight }, by, None)
    }

    /// Starts a finished rollout again, with a new salt.
    pub fn restart(&self, by: &str) -> Result<Event, ControlError> {
        self.command(Command::Restart, by, None)
    }

    /// The step waiting for confirmation, if any: what an async hook is asked.
    pub fn pending_confirmation(&self) -> Option<StepRequest> {
        let inner = self.lock();
        let s = &inner.state;
        if s.phase
            != (Phase::AwaitingApproval {
                kind: ApprovalKind::Confirm,
            })
        {
            return None;
        }
        let next = s.step.map_or(0, |i| i + 1);
        let step = inner.machine.plan().step(next)?;
        Some(StepRequest {
            rollout: inner.machine.plan().plan().name.clone(),
            attempt: s.attempt,
            step: next,
            label: step.label(),
            weight: step.weight,
            since: inner.events.last().map_or(s.since, |e| e.at),
            seq: s.seq,
        })
    }

    /// Applies a confirm hook's answer to `request`: confirm takes the step,
    /// veto pauses the rollout, pending does nothing. Ignored (returns
    /// `Ok(None)`) if the rollout has moved on since the request was made.
    pub fn resolve_confirmation(
        &self,
        request: &StepRequest,
        decision: HookDecision,
        by: &str,
    ) -> Result<Option<Event>, ControlError> {
        let mut events = Vec::new();
        let result = self.resolve_inner(request, decision, by, self.clock.now(), &mut events);
        self.hub.dispatch();
        result?;
        Ok(events.pop())
    }

    fn resolve_inner(
        &self,
        request: &StepRequest,
        decision: HookDecision,
        by: &str,
        now: Timestamp,
        events: &mut Vec<Event>,
    ) -> Result<(), ControlError> {
        let input = match decision {
            HookDecision::Pending => return Ok(()),
            HookDecision::Confirm => Input::Command {
                command: Command::Approve,
                by: by.to_owned(),
                reason: Some("confirmed".to_owned()),
            },
            HookDecision::Veto { reason } => Input::Command {
                command: Command::Pause,
                by: by.to_owned(),
                reason: Some(format!("vetoed: {reason}")),
            },
        };
        let mut inner = self.lock();
        if inner.state.seq != request.seq || inner.state.attempt != request.attempt {
            return Ok(());
        }
        let t = inner.machine.transition(&inner.state, &input, now);
        self.apply(&mut inner, t, now, events)
    }

    /// Replaces the running plan with `plan` if it is valid, is the same
    /// rollout (name, baseline, candidate), and has the step in effect. A bad
    /// plan never replaces the running one.
    pub fn replace_plan(&self, plan: Plan) -> Result<(), ControlError> {
        let checked = plan.check()?;
        let mut inner = self.lock();
        let running = inner.machine.plan().plan();
        if !running.same_rollout(&plan) {
            return Err(ControlError::Incompatible {
                reason: format!(
                    "it is rollout {:?} ({} -> {}), the running one is {:?} ({} -> {})",
                    plan.name,
                    plan.baseline,
                    plan.candidate,
                    running.name,
                    running.baseline,
                    running.candidate
                ),
            });
        }
        if running.sticky != plan.sticky {
            return Err(ControlError::Incompatible {
                reason: "it changes `sticky`, which would move users between versions".into(),
            });
        }
        if let Some(step) = inner.state.step
            && step >= checked.steps().len()
        {
            return Err(ControlError::Incompatible {
                reason: format!(
                    "the rollout is at step {step} and the new plan has {} steps",
                    checked.steps().len()
                ),
            });
        }
        let confirm = inner.machine.confirms();
        let judge_all = inner.machine.is_judged_always();
        let previous_steps = inner.machine.plan().steps().len() as u64;
        let steps = checked.steps().len() as u64;
        inner.machine = Machine::new(checked)
            .with_confirmation(confirm)
            .with_every_step_judged(judge_all);
        tracing::info!(
            name: "rollout.plan_replaced",
            target: crate::log::EVENTS,
            rollout = plan.name.as_str(),
            step = inner.state.step.map(|s| s as u64),
            steps,
            previous_steps,
            "rollout plan replaced"
        );
        Ok(())
    }

    // ---------------------------------------------------------------- fleets

    /// Takes the store's snapshot when it is newer than the one this
    /// controller last saved or loaded: its state and event log replace
    /// this controller's, and its traffic (split, sticky salt, targeting
    /// rules, mirror share) is published to this controller's
    /// [`RolloutRouting`]. Returns whether anything changed.
    ///
    /// This is how replicas share one rollout through a shared [`Store`]
    /// (e.g. `fledge-redis`): the replica that leads ticks and saves; every
    /// other replica calls `resync` when the store changes (or every
    /// second) and routes exactly as the leader does, salt included; and a
    /// replica that becomes leader calls it once before its first tick, so
    /// it continues from the last leader's state and its next save does not
    /// conflict.
    ///
    /// Subscribers receive the events this controller had not seen. A store
    /// that holds an older snapshot than this controller's, or none, is
    /// [`ControlError::StoreBehind`] (it lost data). The snapshot is checked
    /// as at start: another rollout is
    /// [`ControlError::ForeignSnapshot`], another plan (the leader replaced
    /// it) [`ControlError::PlanChanged`] (rebuild the controller with the
    /// new plan), an inconsistent one [`ControlError::BadSnapshot`]; on any
    /// error nothing changes and the current traffic keeps serving. The
    /// gates' per-step state (sequential tests since the step started)
    /// restarts from the snapshot's step start on the next tick.
    pub fn resync(&self) -> Result<bool, ControlError> {
        self.resync_inner(false)
    }

    /// [`resync`](Self::resync), also taking the stored snapshot when it
    /// has this controller's version but another state: this controller
    /// applied decisions it could not save (its store was unreachable) and
    /// no longer decides — a fleet leader stepping down — so the stored
    /// state, which every other replica serves, replaces them.
    pub fn resync_discarding_unsaved(&self) -> Result<bool, ControlError> {
        self.resync_inner(true)
    }

    fn resync_inner(&self, discard_unsaved: bool) -> Result<bool, ControlError> {
        let loaded = self.store.load();
        let mut inner = self.lock();
        let loaded = loaded.inspect_err(|e| {
            let rollout = &inner.machine.plan().plan().name;
            let (seq, limit) = (inner.state.seq.checked_sub(1), Some(&self.limits.load));
            crate::log::store_failed(rollout, self.store.kind(), "load", seq, e, limit);
        })?;
        let snapshot = match (loaded, inner.version) {
            (None, None) => return Ok(false),
            (None, Some(ours)) => {
                return Err(ControlError::StoreBehind {
                    stored: "none".to_owned(),
                    ours,
                });
            }
            (Some(s), Some(ours)) if s.version < ours => {
                return Err(ControlError::StoreBehind {
                    stored: format!("version {}", s.version),
                    ours,
                });
            }
            (Some(s), Some(ours))
                if s.version == ours
                    && !(discard_unsaved
                        && (s.state != inner.state || s.events.len() != inner.events.len())) =>
            {
                return Ok(false);
            }
            (Some(s), _) => s,
        };
        let version = snapshot.version;
        let (state, events) = restore(&inner.machine, inner.machine.plan(), snapshot)?;
        self.publish(&inner, state.traffic, &state.salt)?;
        // Subscribers see the events this controller had not seen: those
        // after its own log when the new log extends it, else the whole new
        // log (another attempt's history replaced it).
        let extends =
            events.len() >= inner.events.len() && events[..inner.events.len()] == inner.events[..];
        let fresh = if extends { inner.events.len() } else { 0 };
        for event in &events[fresh..] {
            self.hub.queue(event.clone());
        }
        tracing::info!(
            name: "rollout.resync",
            target: crate::log::EVENTS,
            rollout = inner.machine.plan().plan().name.as_str(),
            version,
            seq = state.seq,
            new_events = (events.len() - fresh) as u64,
            rewritten = !extends,
            phase = crate::log::phase_name(state.phase.name()),
            step = state.step.map(|s| s as u64),
            weight_bps = state.traffic.candidate.bps(),
            "rollout resynced from the store"
        );
        inner.state = state;
        inner.events = events;
        inner.version = Some(version);
        inner.last = None;
        drop(inner);
        self.hub.dispatch();
        Ok(true)
    }

    // ---------------------------------------------------------------- inspection

    /// The current state.
    pub fn state(&self) -> State {
        self.lock().state.clone()
    }

    /// The event log from the rollout's start.
    pub fn events(&self) -> Vec<Event> {
        self.lock().events.clone()
    }

    /// The running plan.
    pub fn plan(&self) -> Plan {
        self.lock().machine.plan().plan().clone()
    }

    /// The running plan, checked (steps compiled).
    pub fn checked_plan(&self) -> CheckedPlan {
        self.lock().machine.plan().clone()
    }

    /// Whether the rollout has finished at `now`: it is in a terminal phase
    /// and its baseline is no longer kept warm after a promotion (see the
    /// plan's `keep_warm`), so ticking it changes nothing any more.
    pub fn is_finished(&self, now: Timestamp) -> bool {
        let inner = self.lock();
        inner.state.is_terminal() && !inner.machine.keeps_warm(&inner.state, now)
    }

    /// When the baseline, kept warm since the promotion, may be released
    /// (`None` unless promoted with a `keep_warm` plan).
    pub fn warm_until(&self) -> Option<Timestamp> {
        let inner = self.lock();
        inner.machine.warm_until(&inner.state)
    }

    /// The last judgement of the gates.
    pub fn last_judgement(&self) -> Option<Judgement> {
        self.lock().last.clone()
    }

    /// A snapshot of the rollout as it would be persisted now.
    pub fn snapshot(&self) -> Snapshot {
        let inner = self.lock();
        let mut s = Snapshot::new(
            inner.machine.plan().plan().clone(),
            inner.state.clone(),
            inner.events.clone(),
            self.clock.now(),
        );
        s.version = inner.version.unwrap_or(0);
        s
    }

    /// Replays the event log through a fresh state machine and checks that it
    /// leads to the current state (true unless the plan was replaced).
    pub fn verify_log(&self) -> Result<bool, crate::machine::ReplayError> {
        let inner = self.lock();
        let replayed = inner.machine.replay(&inner.events)?;
        Ok(replayed == inner.state)
    }

    // ---------------------------------------------------------------- history

    /// The per-tick history from `since` on: the points whose span ends
    /// after `since` (`Timestamp::EPOCH` for all), oldest first, with the
    /// rollout's versions and its threshold gates' limits. Poll with the
    /// answer's `next`. See [`SeriesConfig`] for resolution and memory.
    ///
    /// ```
    /// use std::time::Duration;
    /// use fledge_gate::clock::{ManualClock, Timestamp};
    /// use fledge_rollout::{Controller, PlanBuilder};
    ///
    /// let clock = ManualClock::new(Timestamp::from_millis(0));
    /// let plan = PlanBuilder::canary("demo", "v1", "v2").build()?;
    /// let controller = Controller::builder(plan).clock(clock.clone()).build()?;
    /// let routing = controller.routing();
    /// routing.recorder().record(routing.candidate().get(), Duration::from_millis(8), false);
    /// controller.tick(clock.advance(Duration::from_secs(1)))?;
    ///
    /// let series = controller.series(Timestamp::EPOCH);
    /// assert_eq!(series.versions, ["v2", "v1"]);
    /// assert_eq!(series.points[0].versions[0].requests, 1);
    /// assert!(controller.series(series.next).points.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn series(&self, since: Timestamp) -> Series {
        let (plan_name, candidate, baseline, limits) = {
            let inner = self.lock();
            let plan = inner.machine.plan().plan();
            (
                plan.name.clone(),
                plan.candidate.as_str().to_owned(),
                plan.baseline.as_str().to_owned(),
                series::limits_of(plan),
            )
        };
        let ids = [candidate.clone(), baseline.clone()];
        let (points, next) = self.series_ring().points(since, &ids);
        Series {
            rollout: plan_name,
            versions: ids.to_vec(),
            candidate,
            baseline,
            limits,
            points,
            next,
        }
    }

    fn series_ring(&self) -> MutexGuard<'_, SeriesRing> {
        self.series.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The step and the candidate's weight in effect now.
    fn served(&self) -> (Option<usize>, u32) {
        let step = self.lock().state.step;
        (step, self.traffic().candidate.bps())
    }

    /// Adds the point of the span up to `now` to the history: the control
    /// path, at the start of the tick, so that the point holds what the span
    /// was served under (before the tick's decisions) and its windows are
    /// read before the gates' (the recorder caches one merge per version:
    /// read after the gates', a short window would evict the gates' merge).
    fn sample_series(&self, now: Timestamp) {
        let last = {
            let ring = self.series_ring();
            if !ring.config().is_on() {
                return;
            }
            ring.last_at()
        };
        if last >= now {
            return;
        }
        let span = now.duration_since(last);
        let (step, weight_bps) = self.served();
        let [candidate, baseline] = self.series_windows(now, span);
        let sample = Sample {
            at: now,
            step,
            weight_bps,
            versions: [candidate, baseline],
        };
        self.series_ring().push(sample);
    }

    /// The candidate's and the baseline's figures for the series at `now`
    /// over `span`: cumulative totals and the span's p50 / p99.
    ///
    /// WINDOW SOURCE: this reads this process's recorder, as the gates do
    /// today. When the gates read their windows from a `WindowSource` (a
    /// fleet leader judging merged fleet summaries), read these from the
    /// same source here, so that the history shows what the gates judge.
    fn series_windows(&self, now: Timestamp, span: std::time::Duration) -> [VersionSample; 2] {
        let recorder = self.routing.recorder();
        let read = |v: fledge_select::VersionIndex| match recorder.window(v.get(), now, span) {
            Ok(w) => VersionSample {
                totals: w.totals().clone(),
                p50_ms: w.latency().quantile_ms(0.5),
                p99_ms: w.latency().quantile_ms(0.99),
            },
            Err(_) => VersionSample {
                totals: recorder.totals(v.get()).unwrap_or_default(),
                p50_ms: None,
                p99_ms: None,
            },
        };
        [
            read(self.routing.candidate()),
            read(self.routing.baseline()),
        ]
    }

    // ---------------------------------------------------------------- subscribers

    /// A channel receiving every event from now on, in order.
    pub fn subscribe(&self) -> Receiver<Event> {
        let (tx, rx) = channel();
        self.hub.add_channel(tx);
        rx
    }

    /// Calls `f` with every event from now on, in order, outside the
    /// controller's lock (it may call the controller). A panic in `f` is
    /// caught and ignored.
    pub fn subscribe_fn(&self, f: impl Fn(&Event) + Send + Sync + 'static) {
        self.hub.add_callback(Box::new(f));
    }
}
