//! The rollout state machine: a pure function `(state, input, now) -> (state, actions)`.
//!
//! [`Machine::transition`] never reads a clock, never blocks and never fails: every
//! input is either applied or refused with an [`EventKind::Rejected`] event.
//! The [`Controller`](crate::control::Controller) feeds it ticks, the gates'
//! verdicts and operator commands, and carries out the [`Action`]s it returns.
//!
//! # Rules
//!
//! - **Bake, then gates.** A step is promoted when its bake time (`interval`)
//!   has passed and the gates pass (an ungated step: on the first tick after
//!   its bake). A verdict that stays inconclusive past the bake extends it by
//!   another interval; after `inconclusive_limit` extensions the rollout pauses
//!   for a human.
//! - **Rollback is the fast path.** A failing verdict counts at any time
//!   (while progressing, paused or awaiting approval); the
//!   `failure_limit`-th failure in a step rolls back in that same transition,
//!   publishing candidate weight 0.
//! - **Approvals.** A step with `approval = true` waits for [`Command::Approve`]
//!   before it is taken; with confirm hooks ([`Machine::with_confirmation`])
//!   every step waits for the hooks or a human.
//! - **Frozen** holds the weights with neither promotion nor rollback: failing
//!   verdicts are ignored and `promote`, `rollback`, `abort` and `set-weight`
//!   are refused. Only `resume` leaves it.
//! - **Terminal** phases (promoted, rolled back, aborted) absorb every input
//!   except [`Command::Restart`], which starts attempt `n + 1` from the first
//!   step with the salt `"<base salt>#<n + 1>"`.
//! - **Kept warm.** A plan with `keep_warm` (blue-green) keeps the baseline
//!   warm for that long after promotion: until then a rollback command or
//!   failing verdicts (up to `failure_limit`) switch straight back to the
//!   baseline ([`Machine::keeps_warm`]). Passing and inconclusive verdicts
//!   change nothing there.
//! - **Set weight** accepts at most the current step's weight and pauses the
//!   rollout (the operator has taken the wheel); `resume` restores the step.
//!
//! ```
//! use std::time::Duration;
//! use fledge_gate::clock::Timestamp;
//! use fledge_rollout::machine::{Input, Machine, Outcome, PhaseName};
//! use fledge_rollout::plan::PlanBuilder;
//!
//! let plan = PlanBuilder::canary("demo", "v1", "v2")
//!     .interval(Duration::from_secs(30))
//!     .build()?
//!     .check()?;
//! let machine = Machine::new(plan);
//! let t0 = Timestamp::from_millis(0);
//! let started = machine.start(t0);
//! assert_eq!(started.state.traffic.candidate.bps(), 500); // 5 %
//!
//! // Too early: the bake time has not passed, a pass changes nothing.
//! let early = machine.transition(&started.state, &Input::verdict(Outcome::Pass, "ok"), t0);
//! assert!(early.actions.is_empty());
//!
//! // A failing verdict rolls back at once (failure_limit = 1 by default).
//! let failed = machine.transition(
//!     &started.state,
//!     &Input::verdict(Outcome::Fail, "p99 82ms > 50ms"),
//!     t0 + Duration::from_secs(1),
//! );
//! assert_eq!(failed.state.phase.name(), PhaseName::RolledBack);
//! assert_eq!(failed.state.traffic.candidate.bps(), 0);
//! # Ok::<(), fledge_rollout::plan::PlanError>(())
//! ```

mod state;

use std::sync::Arc;

use fledge_gate::clock::Timestamp;
use fledge_select::Weight;

use crate::plan::{CheckedPlan, Hold, Step};

pub use state::{
    Action, ApprovalKind, Command, Event, EventKind, Input, Outcome, Phase, PhaseName, State,
    Traffic,
};

/// The result of one transition: the new state and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The state afterwards (equal to the old one when nothing happened).
    pub state: State,
    /// What the controller must do, in order: publish, emit, persist.
    pub actions: Vec<Action>,
}

impl Transition {
    /// The event this transition emitted, if any.
    pub fn event(&self) -> Option<&Event> {
        self.actions.iter().find_map(|a| match a {
            Action::Emit(e) => Some(e),
            _ => None,
        })
    }

    /// The routing this transition published, if any.
    pub fn published(&self) -> Option<Traffic> {
        self.actions.iter().find_map(|a| match a {
            Action::Publish(r) => Some(*r),
            _ => None,
        })
    }
}

/// Why an event log could not be replayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The log is empty.
    #[error("the event log is empty")]
    Empty,
    /// The first event is not the rollout's start.
    #[error("the event log does not begin with a start event (seq 0)")]
    NoStart,
    /// Replaying an input did not give the recorded decision.
    #[error("event #{seq} does not replay: recorded {recorded}, replayed {replayed}")]
    Diverged {
        /// The event.
        seq: u64,
        /// What the log says.
        recorded: String,
        /// What the state machine decides now.
        replayed: String,
    },
}

/// The state machine of one plan. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Machine {
    plan: Arc<CheckedPlan>,
    confirm: bool,
    judge_all: bool,
}

/// A state change, before it becomes an event.
struct Change {
    state: State,
    kind: EventKind,
    reason: String,
    publish: bool,
}

impl Machine {
    /// A machine for a checked plan.
    pub fn new(plan: CheckedPlan) -> Self {
        Machine {
            plan: Arc::new(plan),
            confirm: false,
            judge_all: false,
        }
    }

    /// With `true`, every step waits in [`Phase::AwaitingApproval`] with
    /// [`ApprovalKind::Confirm`] before it is taken, so confirm hooks (or a
    /// human) can approve or veto it.
    pub fn with_confirmation(mut self, confirm: bool) -> Self {
        self.confirm = confirm;
        self
    }

    /// Whether steps wait for confirmation.
    pub fn confirms(&self) -> bool {
        self.confirm
    }

    /// With `true`, every step waits for a verdict before it is promoted,
    /// also the steps without plan gates (which otherwise are promoted when
    /// their bake time is over): for an evaluator that judges steps from
    /// outside the plan, such as PromQL gates.
    pub fn with_every_step_judged(mut self, judge_all: bool) -> Self {
        self.judge_all = judge_all;
        self
    }

    /// Whether every step is judged
    /// ([`with_every_step_judged`](Self::with_every_step_judged)).
    pub fn is_judged_always(&self) -> bool {
        self.judge_all
    }

    /// Whether `step` waits for a verdict: it has plan gates, or every step
    /// is judged ([`with_every_step_judged`](Self::with_every_step_judged)).
    pub fn is_judged(&self, step: &crate::plan::Step) -> bool {
        self.judge_all || step.is_gated()
    }

    /// The plan.
    pub fn plan(&self) -> &CheckedPlan {
        &self.plan
    }

    /// The salt of attempt `attempt`: the plan's base salt, then `"#<n>"` appended.
    pub fn salt_for(&self, attempt: u32) -> String {
        let base = self.plan.plan().base_salt();
        if attempt == 0 {
            base
        } else {
            format!("{base}#{attempt}")
        }
    }

    /// The first transition: takes the first step (or waits for its approval).
    pub fn start(&self, now: Timestamp) -> Transition {
        let blank = self.blank(0, 0, now);
        let mut change = self.advance(&blank, now, false, "rollout started");
        change.kind = EventKind::Started;
        change.publish = true;
        self.finish(&blank, change, Input::Start, now)
    }

    fn blank(&self, attempt: u32, seq: u64, now: Timestamp) -> State {
        State {
            phase: Phase::Progressing,
            step: None,
            traffic: Traffic::BASELINE,
            since: now,
            failures: 0,
            inconclusives: 0,
            attempt,
            salt: self.salt_for(attempt),
            seq,
        }
    }

    /// One transition. Inputs that change nothing return the state unchanged
    /// and no action.
    pub fn transition(&self, state: &State, input: &Input, now: Timestamp) -> Transition {
        let change = match input {
            Input::Start => None,
            Input::Tick => self.on_tick(state, now),
            Input::Verdict { outcome, reason } => self.on_verdict(state, *outcome, reason, now),
            Input::Command {
                command,
                by,
                reason,
            } => Some(self.on_command(state, *command, by, reason.as_deref(), now)),
        };
        match change {
            Some(change) => self.finish(state, change, input.clone(), now),
            None => Transition {
                state: state.clone(),
                actions: Vec::new(),
            },
        }
    }

    /// Replays an event log from its start event and returns the state it
    /// leads to; fails if an event does not replay to the recorded decision.
    pub fn replay(&self, events: &[Event]) -> Result<State, ReplayError> {
        let (first, rest) = events.split_first().ok_or(ReplayError::Empty)?;
        if first.input != Input::Start || first.seq != 0 {
            return Err(ReplayError::NoStart);
        }
        let mut state = self.start(first.at).state;
        for recorded in rest {
            let t = self.transition(&state, &recorded.input, recorded.at);
            let replayed = t.event();
            let same = replayed.is_some_and(|e| {
                e.seq == recorded.seq && e.kind == recorded.kind && e.weight == recorded.weight
            });
            if !same {
                return Err(ReplayError::Diverged {
                    seq: recorded.seq,
                    recorded: recorded.kind.to_string(),
                    replayed: replayed.map_or("nothing".to_owned(), |e| e.kind.to_string()),
                });
            }
            state = t.state;
        }
        Ok(state)
    }

    fn finish(&self, old: &State, change: Change, input: Input, now: Timestamp) -> Transition {
        let mut state = change.state;
        let seq = old.seq;
        state.seq = seq + 1;
        let event = Event {
            seq,
            at: now,
            input,
            kind: change.kind,
            reason: change.reason,
            phase: state.phase.name(),
            step: state.step,
            weight: state.traffic.candidate,
            attempt: state.attempt,
        };
        let mut actions = Vec::with_capacity(3);
        if change.publish || state.traffic != old.traffic {
            actions.push(Action::Publish(state.traffic));
        }
        actions.push(Action::Emit(event));
        actions.push(Action::Persist);
        Transition { state, actions }
    }

    fn steps(&self) -> &[Step] {
        self.plan.steps()
    }

    fn traffic_of(&self, index: usize) -> Traffic {
        match self.steps().get(index) {
            Some(step) => Traffic {
                candidate: step.weight,
                mirror: step.mirror,
                rules_of: (!step.targeting.is_empty()).then_some(index),
            },
            None => Traffic::CANDIDATE,
        }
    }

    fn step_label(&self, index: usize) -> String {
        match self.steps().get(index) {
            Some(step) => format!("{} ({})", step.label(), step.weight),
            None => format!("step {}", index + 1),
        }
    }

    /// The weight the candidate may have at most before promotion.
    fn step_weight(&self, state: &State) -> Weight {
        state
            .step
            .and_then(|i| self.steps().get(i))
            .map_or(Weight::ZERO, |s| s.weight)
    }

    fn bake_over(&self, state: &State, now: Timestamp) -> bool {
        state
            .step
            .and_then(|i| self.steps().get(i))
            .is_some_and(|s| now.duration_since(state.since) >= s.interval)
    }

    fn change(state: State, kind: EventKind, reason: String) -> Change {
        Change {
            state,
            kind,
            reason,
            publish: false,
        }
    }

    fn on_tick(&self, state: &State, now: Timestamp) -> Option<Change> {
        match &state.phase {
            Phase::Progressing => {
                let step = self.steps().get(state.step?)?;
                if self.is_judged(step) || !self.bake_over(state, now) {
                    return None;
                }
                let why = format!(
                    "{} baked for {} (no gates)",
                    step.label(),
                    crate::duration::Display(step.interval)
                );
                Some(self.advance(state, now, false, &why))
            }
            Phase::Paused {
                until: Some(until), ..
            } if now >= *until => Some(self.resume(state, now, "timed pause ended".to_owned())),
            _ => None,
        }
    }

    fn on_verdict(
        &self,
        state: &State,
        outcome: Outcome,
        reason: &str,
        now: Timestamp,
    ) -> Option<Change> {
        let holding = matches!(
            state.phase,
            Phase::Progressing | Phase::Paused { .. } | Phase::AwaitingApproval { .. }
        );
        // While the baseline is kept warm after promotion, failing verdicts
        // still switch back; nothing else does anything there.
        let warm = outcome == Outcome::Fail && self.keeps_warm(state, now);
        if !holding && !warm {
            return None;
        }
        match outcome {
            Outcome::Fail => {
                let mut next = state.clone();
                next.failures = state.failures.saturating_add(1);
                let limit = self.plan.plan().failure_limit;
                let mut why = format!(
                    "gate failed ({} of failure_limit {}): {reason}",
                    next.failures, limit
                );
                if next.failures >= limit {
                    if warm {
                        why.push_str(&self.switched_back());
                    }
                    Some(self.rollback(next, why))
                } else {
                    Some(Self::change(next, EventKind::FailureCounted, why))
                }
            }
            Outcome::Pass => {
                if state.phase != Phase::Progressing || !self.bake_over(state, now) {
                    return None;
                }
                let label = self.step_label(state.step?);
                Some(self.advance(state, now, false, &format!("{label} passed: {reason}")))
            }
            Outcome::Inconclusive => {
                if state.phase != Phase::Progressing || !self.bake_over(state, now) {
                    return None;
                }
                let mut next = state.clone();
                next.inconclusives = state.inconclusives.saturating_add(1);
                next.since = now;
                let limit = self.plan.plan().inconclusive_limit;
                if next.inconclusives >= limit {
                    next.phase = Phase::Paused {
                        reason: format!(
                            "inconclusive after {} bake intervals (inconclusive_limit {}): {reason}",
                            next.inconclusives, limit
                        ),
                        until: None,
                    };
                    let why = format!(
                        "inconclusive_limit {limit} reached, waiting for a human: {reason}"
                    );
                    Some(Self::change(next, EventKind::Paused, why))
                } else {
                    let why = format!(
                        "inconclusive ({} of inconclusive_limit {}), bake extended: {reason}",
                        next.inconclusives, limit
                    );
                    Some(Self::change(next, EventKind::InconclusiveCounted, why))
                }
            }
        }
    }

    /// Moves towards the next step: promotion after the last, a wait for
    /// approval, or the step itself. `operator` skips approvals.
    fn advance(&self, state: &State, now: Timestamp, operator: bool, why: &str) -> Change {
        let next = state.step.map_or(0, |i| i + 1);
        let Some(step) = self.steps().get(next) else {
            return self.promote(state, now, format!("{why}; last step done"));
        };
        if !operator && (step.approval || self.confirm) {
            let kind = if step.approval {
                ApprovalKind::Manual
            } else {
                ApprovalKind::Confirm
            };
            let mut s = state.clone();
            s.phase = Phase::AwaitingApproval { kind };
            let who = match kind {
                ApprovalKind::Manual => "a human's approval",
                ApprovalKind::Confirm => "confirmation",
            };
            let reason = format!("{why}; {} waits for {who}", self.step_label(next));
            return Self::change(s, EventKind::AwaitingApproval, reason);
        }
        self.take(state, next, now, why)
    }

    fn take(&self, state: &State, index: usize, now: Timestamp, why: &str) -> Change {
        let mut s = state.clone();
        s.step = Some(index);
        s.traffic = self.traffic_of(index);
        s.since = now;
        s.failures = 0;
        s.inconclusives = 0;
        let label = self.step_label(index);
        s.phase = match self.steps().get(index).and_then(|st| st.pause) {
            Some(Hold::Indefinite) => Phase::Paused {
                reason: format!("plan pauses at {label} until resumed"),
                until: None,
            },
            Some(Hold::For(d)) => Phase::Paused {
                reason: format!("plan pauses at {label} for {}", crate::duration::Display(d)),
                until: Some(now.saturating_add(d)),
            },
            None => Phase::Progressing,
        };
        Self::change(s, EventKind::StepTaken, format!("{why}; {label} taken"))
    }

    /// Whether `state` is promoted and its baseline is still kept warm at
    /// `now` (the plan's `keep_warm`, counted from the promotion): then a
    /// rollback command or failing verdicts switch straight back.
    pub fn keeps_warm(&self, state: &State, now: Timestamp) -> bool {
        state.phase == Phase::Promoted
            && self
                .plan
                .plan()
                .keep_warm
                .is_some_and(|k| now < state.since.saturating_add(k))
    }

    /// When the baseline kept warm since `state`'s promotion may be released,
    /// if the plan keeps it warm and `state` is promoted.
    pub fn warm_until(&self, state: &State) -> Option<Timestamp> {
        if state.phase != Phase::Promoted {
            return None;
        }
        let k = self.plan.plan().keep_warm?;
        Some(state.since.saturating_add(k))
    }

    fn switched_back(&self) -> String {
        format!(
            "; switched back to {} (kept warm since the promotion)",
            self.plan.baseline()
        )
    }

    fn promote(&self, state: &State, now: Timestamp, why: String) -> Change {
        let mut s = state.clone();
        s.phase = Phase::Promoted;
        s.traffic = Traffic::CANDIDATE;
        // The keep-warm period (if any) counts from here, with no failures yet.
        s.since = now;
        s.failures = 0;
        s.inconclusives = 0;
        Change {
            state: s,
            kind: EventKind::Promoted,
            reason: why,
            publish: true,
        }
    }

    fn rollback(&self, mut s: State, why: String) -> Change {
        s.phase = Phase::RolledBack {
            reason: why.clone(),
        };
        s.traffic = Traffic::BASELINE;
        Change {
            state: s,
            kind: EventKind::RolledBack,
            reason: why,
            publish: true,
        }
    }

    fn resume(&self, state: &State, now: Timestamp, why: String) -> Change {
        let Some(index) = state.step else {
            // Nothing taken yet: start over from the first step.
            let mut s = state.clone();
            s.phase = Phase::Progressing;
            let mut change = self.advance(&s, now, false, &why);
            if change.kind == EventKind::StepTaken {
                change.kind = EventKind::Resumed;
            }
            return change;
        };
        let mut s = state.clone();
        s.phase = Phase::Progressing;
        s.traffic = self.traffic_of(index);
        s.since = now;
        s.inconclusives = 0;
        let reason = format!("{why}; {} bakes again", self.step_label(index));
        Self::change(s, EventKind::Resumed, reason)
    }

    fn on_command(
        &self,
        state: &State,
        command: Command,
        by: &str,
        reason: Option<&str>,
        now: Timestamp,
    ) -> Change {
        let said = match reason {
            Some(r) if !r.is_empty() => format!("{command} by {by}: {r}"),
            _ => format!("{command} by {by}"),
        };
        let reject = |why: &str| {
            Self::change(
                state.clone(),
                EventKind::Rejected,
                format!("{said} refused: {why}"),
            )
        };
        let phase = &state.phase;
        if phase.is_terminal() {
            if command == Command::Rollback && self.keeps_warm(state, now) {
                let why = format!("{said}{}", self.switched_back());
                return self.rollback(state.clone(), why);
            }
            if command == Command::Restart {
                let blank = self.blank(state.attempt.saturating_add(1), state.seq, now);
                let mut change = self.advance(&blank, now, false, &said);
                change.kind = EventKind::Restarted;
                change.publish = true;
                return change;
            }
            return reject(&format!(
                "the rollout is {}; only restart leaves it",
                phase.name()
            ));
        }
        if *phase == Phase::Frozen && !matches!(command, Command::Resume) {
            return reject("the rollout is frozen; resume it first");
        }
        match command {
            Command::Restart => reject("the rollout is running; roll it back or abort it first"),
            Command::Promote => self.advance(state, now, true, &said),
            Command::PromoteFull => self.promote(state, now, said),
            Command::Pause => match phase {
                Phase::Paused { .. } => reject("already paused"),
                _ => {
                    let mut s = state.clone();
                    s.phase = Phase::Paused {
                        reason: said.clone(),
                        until: None,
                    };
                    Self::change(s, EventKind::Paused, said)
                }
            },
            Command::Resume => match phase {
                Phase::Paused { .. } => self.resume(state, now, said),
                Phase::Frozen => {
                    let mut change = self.resume(state, now, said);
                    if change.kind == EventKind::Rejected {
                        return change;
                    }
                    change.kind = EventKind::Resumed;
                    change
                }
                _ => reject("not paused"),
            },
            Command::Approve => match phase {
                Phase::AwaitingApproval { .. } => {
                    let next = state.step.map_or(0, |i| i + 1);
                    self.take(state, next, now, &said)
                }
                _ => reject("no step waits for approval"),
            },
            Command::Freeze => {
                let mut s = state.clone();
                s.phase = Phase::Frozen;
                Self::change(s, EventKind::Frozen, said)
            }
            Command::Rollback => self.rollback(state.clone(), said),
            Command::Abort => {
                let mut s = state.clone();
                s.phase = Phase::Aborted {
                    reason: said.clone(),
                };
                s.traffic = Traffic::BASELINE;
                Change {
                    state: s,
                    kind: EventKind::Aborted,
                    reason: said,
                    publish: true,
                }
            }
            Command::SetWeight { weight } => {
                let max = self.step_weight(state);
                if weight > max {
                    return reject(&format!(
                        "{weight} is above the current step's weight {max}; promote instead"
                    ));
                }
                let mut s = state.clone();
                s.traffic.candidate = weight;
                s.phase = Phase::Paused {
                    reason: said.clone(),
                    until: None,
                };
                Self::change(s, EventKind::WeightSet, said)
            }
        }
    }
}
