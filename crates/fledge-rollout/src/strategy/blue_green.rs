//! [`BlueGreen`]: a header preview of green, a pre-switch gate, one atomic
//! switch, an instant switch back, and blue kept warm for a while.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use fledge_gate::clock::Timestamp;
use fledge_gate::{CheckSpec, Test};
use fledge_select::{VersionId, Weight};

use super::StrategyError;
use crate::control::{Controller, RolloutRouting};
use crate::machine::{Event, EventKind, Phase};
use crate::plan::{PREVIEW_HEADER, Plan, PlanBuilder};

/// Where a blue-green release stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum BlueGreenStatus {
    /// Blue serves everyone; requests with the preview header reach green and
    /// the pre-switch gate judges them.
    Previewing {
        /// Since when.
        since: Timestamp,
    },
    /// The preview passed; the switch waits for a human's approval.
    AwaitingSwitch,
    /// Green serves everyone and is watched by the switch gates; a failure
    /// switches back at once.
    Switched {
        /// Since when.
        since: Timestamp,
    },
    /// Green is confirmed; blue stays warm (a switch back is still instant)
    /// until `warm_until`.
    BlueWarm {
        /// When blue may be released.
        warm_until: Timestamp,
    },
    /// Green is confirmed and blue may be released.
    BlueReleasable,
    /// Traffic went back to blue.
    SwitchedBack {
        /// Why.
        reason: String,
    },
    /// Held by an operator, a plan pause or too many inconclusive verdicts.
    Paused {
        /// Why.
        reason: String,
    },
    /// Stopped by an operator; blue serves everyone.
    Aborted {
        /// Why.
        reason: String,
    },
}

impl fmt::Display for BlueGreenStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlueGreenStatus::Previewing { since } => write!(f, "previewing green since {since}"),
            BlueGreenStatus::AwaitingSwitch => {
                f.write_str("preview passed, switch awaits approval")
            }
            BlueGreenStatus::Switched { since } => write!(f, "switched to green since {since}"),
            BlueGreenStatus::BlueWarm { warm_until } => {
                write!(f, "green confirmed, blue warm until {warm_until}")
            }
            BlueGreenStatus::BlueReleasable => f.write_str("green confirmed, blue may be released"),
            BlueGreenStatus::SwitchedBack { reason } => {
                write!(f, "switched back to blue: {reason}")
            }
            BlueGreenStatus::Paused { reason } => write!(f, "paused: {reason}"),
            BlueGreenStatus::Aborted { reason } => write!(f, "aborted: {reason}"),
        }
    }
}

/// What happened, in blue-green terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum BlueGreenEvent {
    /// The preview began: the header reaches green.
    PreviewStarted {
        /// When.
        at: Timestamp,
    },
    /// The preview passed; the switch waits for approval.
    AwaitingSwitch {
        /// When.
        at: Timestamp,
        /// Why (the gates' verdict).
        reason: String,
    },
    /// All traffic moved to green in one atomic swap.
    Switched {
        /// When.
        at: Timestamp,
        /// Why (the pre-switch gate's verdict, or the operator).
        reason: String,
    },
    /// Green is confirmed; blue stays warm until `warm_until`.
    Confirmed {
        /// When.
        at: Timestamp,
        /// When blue may be released.
        warm_until: Option<Timestamp>,
        /// Why.
        reason: String,
    },
    /// All traffic went back to blue in one atomic swap.
    SwitchedBack {
        /// When.
        at: Timestamp,
        /// Why (the failing gate, or the operator's words).
        reason: String,
    },
    /// Blue's keep-warm period is over: it may be scaled down.
    BlueReleasable {
        /// When.
        at: Timestamp,
        /// The version that may be released.
        blue: VersionId,
    },
    /// Any other rollout event (pauses, counted failures, refusals).
    Rollout(Event),
}

impl fmt::Display for BlueGreenEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlueGreenEvent::PreviewStarted { at } => write!(f, "{at}: preview started"),
            BlueGreenEvent::AwaitingSwitch { at, reason } => {
                write!(f, "{at}: preview passed, switch awaits approval: {reason}")
            }
            BlueGreenEvent::Switched { at, reason } => {
                write!(f, "{at}: switched to green: {reason}")
            }
            BlueGreenEvent::Confirmed {
                at,
                warm_until,
                reason,
            } => {
                write!(f, "{at}: green confirmed: {reason}")?;
                if let Some(u) = warm_until {
                    write!(f, "; blue kept warm until {u}")?;
                }
                Ok(())
            }
            BlueGreenEvent::SwitchedBack { at, reason } => {
                write!(f, "{at}: switched back to blue: {reason}")
            }
            BlueGreenEvent::BlueReleasable { at, blue } => {
                write!(f, "{at}: keep-warm over, {blue} may be released")
            }
            BlueGreenEvent::Rollout(e) => write!(f, "{e}"),
        }
    }
}

/// Builds a blue-green [`Plan`] on top of
/// [`PlanBuilder::blue_green`]: a `preview` step (0 % of public traffic,
/// the [`PREVIEW_HEADER`] reaches green) judged by the preview gates, then
/// a `switch` step (100 %, one swap) judged by the switch gates, then blue
/// kept warm.
#[derive(Debug, Clone)]
pub struct BlueGreenBuilder {
    inner: PlanBuilder,
    preview: Vec<CheckSpec>,
    switch: Vec<CheckSpec>,
    preview_for: Duration,
    watch_for: Duration,
    keep_warm: Duration,
    approve: bool,
}

impl BlueGreenBuilder {
    /// A gate judged on the preview traffic (green) against blue's public
    /// traffic, before the switch. Any kind of check.
    pub fn preview_gate(mut self, check: CheckSpec) -> Self {
        self.preview.push(check);
        self
    }

    /// A gate judged on green after the switch, while blue can still take
    /// over. Blue has no traffic then, so it must be an absolute
    /// (`threshold`) check.
    pub fn switch_gate(mut self, check: CheckSpec) -> Self {
        self.switch.push(check);
        self
    }

    /// How long the preview runs before the gates may switch (default 5 minutes).
    pub fn preview_for(mut self, d: Duration) -> Self {
        self.preview_for = d;
        self
    }

    /// How long green is watched at 100 % before it is confirmed (default 1 minute).
    pub fn watch_for(mut self, d: Duration) -> Self {
        self.watch_for = d;
        self
    }

    /// How long blue stays warm after green is confirmed (default 10 minutes).
    pub fn keep_warm(mut self, d: Duration) -> Self {
        self.keep_warm = d;
        self
    }

    /// A human approves the switch after the preview passes.
    pub fn approve_switch(mut self) -> Self {
        self.approve = true;
        self
    }

    /// Adjusts anything else (failure limit, metrics, salt, limits) on the
    /// underlying [`PlanBuilder`].
    pub fn configure(mut self, f: impl FnOnce(PlanBuilder) -> PlanBuilder) -> Self {
        self.inner = f(self.inner);
        self
    }

    /// The plan.
    pub fn plan(self) -> Result<Plan, StrategyError> {
        for check in &self.switch {
            if !matches!(check.test, Test::Threshold { .. }) {
                return Err(StrategyError::BadGuard {
                    name: check.label(),
                    message: "after the switch blue has no traffic to compare with: a switch gate must be a threshold check (e.g. error_rate max 0.01)".to_owned(),
                });
            }
        }
        let names = |checks: &[CheckSpec]| checks.iter().map(CheckSpec::label).collect::<Vec<_>>();
        let (preview, switch) = (names(&self.preview), names(&self.switch));
        let mut b = self.inner.keep_warm(self.keep_warm);
        let mut added: Vec<&CheckSpec> = Vec::new();
        for check in self.preview.iter().chain(&self.switch) {
            match added.iter().find(|c| c.label() == check.label()) {
                Some(same) if *same == check => {}
                Some(_) => {
                    return Err(StrategyError::BadGuard {
                        name: check.label(),
                        message: "two different gates have this name: give them different names"
                            .to_owned(),
                    });
                }
                None => {
                    added.push(check);
                    b = b.gate(check.clone());
                }
            }
        }
        let mut plan = b.build()?;
        let steps = &mut plan.steps;
        if let Some(step) = steps.first_mut() {
            step.0.interval = Some(self.preview_for);
            step.0.gates = Some(preview);
        }
        if let Some(step) = steps.get_mut(1) {
            step.0.interval = Some(self.watch_for);
            step.0.gates = Some(switch);
            step.0.approval = self.approve;
        }
        plan.check()?;
        Ok(plan)
    }
}

/// A blue-green release driven by a [`Controller`] running a blue-green plan
/// (from [`BlueGreen::builder`], [`PlanBuilder::blue_green`] or a plan file
/// of that shape):
///
/// 1. **Preview** — blue serves everyone; requests carrying
///    `x-fledge-preview: <green>` reach green, and the preview gates judge
///    that traffic against blue's.
/// 2. **Switch** — when the preview passes (and is approved, if asked), all
///    traffic moves to green in one atomic swap; the switch gates watch it.
/// 3. **Switch back** — a failing verdict, during the watch or while blue is
///    kept warm, or [`switch_back`](Self::switch_back) moves everyone back to
///    blue in one swap, within the tick.
/// 4. **Keep warm** — after green is confirmed, blue stays warm for the
///    plan's `keep_warm`; then [`tick`](Self::tick) says it may be released
///    ([`BlueGreenEvent::BlueReleasable`]).
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use fledge_gate::clock::{Clock, ManualClock, Timestamp};
/// use fledge_rollout::Controller;
/// use fledge_rollout::strategy::{BlueGreen, BlueGreenStatus};
///
/// let plan = BlueGreen::builder("search", "blue", "green")
///     .preview_gate(toml::from_str("kind = \"threshold\"\nmetric = \"error_rate\"\nmax = 0.01\nmin_samples = 20")?)
///     .preview_for(Duration::from_secs(60))
///     .keep_warm(Duration::from_secs(600))
///     .plan()?;
/// let clock = ManualClock::new(Timestamp::from_millis(0));
/// let bg = BlueGreen::new(Arc::new(Controller::builder(plan).clock(clock.clone()).build()?))?;
/// let routing = bg.routing();
/// let preview: &[(&str, &str)] = &[("x-fledge-preview", "green")];
/// assert_eq!(routing.route(Some(b"u1"), preview), routing.candidate()); // the header reaches green
/// assert_eq!(routing.route(Some(b"u1"), &()), routing.baseline());      // everyone else: blue
/// for _ in 0..50 {
///     routing.recorder().record(routing.candidate().get(), Duration::from_millis(5), false);
/// }
/// bg.tick(clock.advance(Duration::from_secs(61)))?;
/// assert!(matches!(bg.status(clock.now()), BlueGreenStatus::Switched { .. }));
/// bg.switch_back("alice", "customer reports")?; // instant
/// assert!(matches!(bg.status(clock.now()), BlueGreenStatus::SwitchedBack { .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct BlueGreen {
    controller: Arc<Controller>,
    released: Mutex<bool>,
}

impl BlueGreen {
    /// Starts a blue-green plan: preview 5 minutes, watch 1 minute after
    /// the switch, keep blue warm 10 minutes.
    pub fn builder(name: &str, blue: &str, green: &str) -> BlueGreenBuilder {
        BlueGreenBuilder {
            inner: PlanBuilder::blue_green(name, blue, green),
            preview: Vec::new(),
            switch: Vec::new(),
            preview_for: Duration::from_secs(300),
            watch_for: Duration::from_secs(60),
            keep_warm: Duration::from_secs(600),
            approve: false,
        }
    }

    /// Wraps a controller whose plan has the blue-green shape: a first step
    /// serving 0 % with a targeting rule to the candidate (the preview), a
    /// last step at 100 %, and `keep_warm`.
    pub fn new(controller: Arc<Controller>) -> Result<Self, StrategyError> {
        let checked = controller.checked_plan();
        let wrong = |problem: &str| StrategyError::WrongShape {
            strategy: "blue-green",
            problem: problem.to_owned(),
        };
        let steps = checked.steps();
        let first = steps.first().ok_or_else(|| wrong("it has no steps"))?;
        let previews = first.weight.is_zero()
            && first
                .targeting
                .iter()
                .any(|r| &r.version == checked.candidate());
        if !previews {
            return Err(wrong(
                "its first step must serve 0 % with a targeting rule (e.g. the x-fledge-preview header) to green: use BlueGreen::builder or PlanBuilder::blue_green",
            ));
        }
        if steps.last().map(|s| s.weight) != Some(Weight::FULL) {
            return Err(wrong("its last step must switch 100 % to green"));
        }
        if checked.plan().keep_warm.is_none() {
            return Err(wrong(
                "it has no keep_warm: set how long blue stays warm after the switch",
            ));
        }
        Ok(BlueGreen {
            controller,
            released: Mutex::new(false),
        })
    }

    /// The controller underneath.
    pub fn controller(&self) -> &Arc<Controller> {
        &self.controller
    }

    /// The serving handle (give it to the serving layer).
    pub fn routing(&self) -> &RolloutRouting {
        self.controller.routing()
    }

    /// Blue: the version serving before the switch.
    pub fn blue(&self) -> VersionId {
        self.controller.checked_plan().baseline().clone()
    }

    /// Green: the version switched to.
    pub fn green(&self) -> VersionId {
        self.controller.checked_plan().candidate().clone()
    }

    /// The header (name, value) that reaches green during the preview.
    pub fn preview_header(&self) -> (&'static str, String) {
        let plan = self.controller.checked_plan();
        let value = plan
            .steps()
            .first()
            .and_then(|s| {
                s.targeting
                    .iter()
                    .find(|r| r.header.as_deref() == Some(PREVIEW_HEADER))
            })
            .and_then(|r| r.equals.clone())
            .unwrap_or_else(|| plan.candidate().to_string());
        (PREVIEW_HEADER, value)
    }

    /// Where the release stands at `now`.
    pub fn status(&self, now: Timestamp) -> BlueGreenStatus {
        let state = self.controller.state();
        match state.phase {
            Phase::Progressing | Phase::Frozen => {
                if state.traffic.candidate == Weight::FULL {
                    BlueGreenStatus::Switched { since: state.since }
                } else {
                    BlueGreenStatus::Previewing { since: state.since }
                }
            }
            Phase::AwaitingApproval { .. } => BlueGreenStatus::AwaitingSwitch,
            Phase::Paused { reason, .. } => BlueGreenStatus::Paused { reason },
            Phase::Promoted => match self.controller.warm_until() {
                Some(u) if now < u => BlueGreenStatus::BlueWarm { warm_until: u },
                _ => BlueGreenStatus::BlueReleasable,
            },
            Phase::RolledBack { reason } => BlueGreenStatus::SwitchedBack { reason },
            Phase::Aborted { reason } => BlueGreenStatus::Aborted { reason },
        }
    }

    fn translate(&self, event: Event) -> BlueGreenEvent {
        let at = event.at;
        match event.kind {
            EventKind::Started | EventKind::Restarted | EventKind::StepTaken
                if event.weight.is_zero() && event.step.is_some() =>
            {
                BlueGreenEvent::PreviewStarted { at }
            }
            EventKind::StepTaken if event.weight == Weight::FULL => BlueGreenEvent::Switched {
                at,
                reason: event.reason,
            },
            EventKind::AwaitingApproval => BlueGreenEvent::AwaitingSwitch {
                at,
                reason: event.reason,
            },
            EventKind::Promoted => BlueGreenEvent::Confirmed {
                at,
                warm_until: self.controller.warm_until(),
                reason: event.reason,
            },
            EventKind::RolledBack => BlueGreenEvent::SwitchedBack {
                at,
                reason: event.reason,
            },
            _ => BlueGreenEvent::Rollout(event),
        }
    }

    /// One control-path tick: the controller's gates and transitions (a
    /// switch or a switch back reaches the selector before this returns),
    /// then the keep-warm timer.
    pub fn tick(&self, now: Timestamp) -> Result<Vec<BlueGreenEvent>, StrategyError> {
        let report = self.controller.tick(now)?;
        let mut out: Vec<BlueGreenEvent> = report
            .events
            .into_iter()
            .map(|e| self.translate(e))
            .collect();
        if let BlueGreenStatus::BlueReleasable = self.status(now) {
            let mut released = self.released.lock().unwrap_or_else(PoisonError::into_inner);
            if !*released {
                *released = true;
                out.push(BlueGreenEvent::BlueReleasable {
                    at: now,
                    blue: self.blue(),
                });
            }
        }
        Ok(out)
    }

    /// Switches to green now, skipping the rest of the preview (an
    /// operator's decision; also approves a switch that waits).
    pub fn switch(&self, by: &str) -> Result<BlueGreenEvent, StrategyError> {
        let state = self.controller.state();
        let event = match state.phase {
            Phase::AwaitingApproval { .. } => self.controller.approve(by)?,
            _ if state.traffic.candidate == Weight::FULL || state.is_terminal() => {
                return Err(StrategyError::Refused(format!(
                    "cannot switch: the release is {}",
                    self.status(self.controller.now())
                )));
            }
            _ => self.controller.promote(by)?,
        };
        Ok(self.translate(event))
    }

    /// Switches everyone back to blue now, in one swap: during the preview
    /// (green loses the preview), after the switch, and while blue is kept
    /// warm after green was confirmed.
    pub fn switch_back(&self, by: &str, reason: &str) -> Result<BlueGreenEvent, StrategyError> {
        let event = self.controller.rollback(by, Some(reason))?;
        Ok(self.translate(event))
    }
}
