//! States, inputs, actions and events of the rollout state machine.

use std::fmt;

use serde::{Deserialize, Serialize};

use fledge_gate::clock::Timestamp;
use fledge_select::Weight;

/// Where a rollout stands. Terminal phases ([`Promoted`](Phase::Promoted),
/// [`RolledBack`](Phase::RolledBack), [`Aborted`](Phase::Aborted)) absorb every
/// input except [`Command::Restart`] — and, while a plan's `keep_warm` keeps
/// the baseline warm after a promotion, a rollback command or failing
/// verdicts, which switch back to the baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum Phase {
    /// Running [`State::step`] since [`State::since`]: baking, then asking the gates.
    Progressing,
    /// Holding the current weights; no promotion. Failing gates still roll back.
    Paused {
        /// Why (the plan's pause, an operator, too many inconclusive verdicts).
        reason: String,
        /// When the pause ends by itself (`None`: until an operator resumes).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<Timestamp>,
    },
    /// The next step waits for an approval (a human's, or a confirm hook's).
    /// Holding the current weights; failing gates still roll back.
    AwaitingApproval {
        /// Who is expected to approve.
        kind: ApprovalKind,
    },
    /// Holding the current weights with neither promotion nor rollback, for
    /// releases that cannot be undone. Only [`Command::Resume`] leaves it.
    Frozen,
    /// Terminal: the candidate has all the traffic.
    Promoted,
    /// Terminal: the candidate has no traffic.
    RolledBack {
        /// Why: the failing verdict's explanation or the operator's words.
        reason: String,
    },
    /// Terminal: an operator stopped the rollout; the candidate has no traffic.
    Aborted {
        /// The operator's words.
        reason: String,
    },
}

impl Phase {
    /// Whether this phase is terminal.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Phase::Promoted | Phase::RolledBack { .. } | Phase::Aborted { .. }
        )
    }

    /// The phase's name without its data.
    pub fn name(&self) -> PhaseName {
        match self {
            Phase::Progressing => PhaseName::Progressing,
            Phase::Paused { .. } => PhaseName::Paused,
            Phase::AwaitingApproval { .. } => PhaseName::AwaitingApproval,
            Phase::Frozen => PhaseName::Frozen,
            Phase::Promoted => PhaseName::Promoted,
            Phase::RolledBack { .. } => PhaseName::RolledBack,
            Phase::Aborted { .. } => PhaseName::Aborted,
        }
    }
}

/// A [`Phase`] without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseName {
    /// See [`Phase::Progressing`].
    Progressing,
    /// See [`Phase::Paused`].
    Paused,
    /// See [`Phase::AwaitingApproval`].
    AwaitingApproval,
    /// See [`Phase::Frozen`].
    Frozen,
    /// See [`Phase::Promoted`].
    Promoted,
    /// See [`Phase::RolledBack`].
    RolledBack,
    /// See [`Phase::Aborted`].
    Aborted,
}

impl fmt::Display for PhaseName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PhaseName::Progressing => "progressing",
            PhaseName::Paused => "paused",
            PhaseName::AwaitingApproval => "awaiting approval",
            PhaseName::Frozen => "frozen",
            PhaseName::Promoted => "promoted",
            PhaseName::RolledBack => "rolled back",
            PhaseName::Aborted => "aborted",
        })
    }
}

/// Who approves a step that waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalKind {
    /// The plan asks for a human (`approval = true` on the step).
    Manual,
    /// The controller has confirm hooks: they (or a human) decide.
    Confirm,
}

/// What the serving layer should do now: the candidate's weight, the share
/// mirrored to it, and whose targeting rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Traffic {
    /// The candidate's share of traffic (it owns buckets `[0, candidate)`).
    pub candidate: Weight,
    /// The share of requests mirrored to the candidate (responses discarded).
    pub mirror: Weight,
    /// The step whose targeting rules are active, if any.
    pub rules_of: Option<usize>,
}

impl Traffic {
    /// No traffic, no mirror, no rules: everything on the baseline.
    pub const BASELINE: Traffic = Traffic {
        candidate: Weight::ZERO,
        mirror: Weight::ZERO,
        rules_of: None,
    };
    /// Everything on the candidate.
    pub const CANDIDATE: Traffic = Traffic {
        candidate: Weight::FULL,
        mirror: Weight::ZERO,
        rules_of: None,
    };
}

/// The full state of a rollout: plain data, persisted in snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// The phase.
    pub phase: Phase,
    /// The step whose weight is in effect (from 0); `None` before the first
    /// step is taken.
    pub step: Option<usize>,
    /// What is published now.
    pub traffic: Traffic,
    /// When the current step (or its bake, after a pause or an inconclusive
    /// interval) started.
    pub since: Timestamp,
    /// Failing evaluations counted in the current step.
    pub failures: u32,
    /// Inconclusive bake intervals in a row in the current step.
    pub inconclusives: u32,
    /// How many times the rollout was restarted (0 for the first run).
    pub attempt: u32,
    /// The sticky salt of this attempt.
    pub salt: String,
    /// How many events the rollout has emitted (the next event's `seq`).
    pub seq: u64,
}

impl State {
    /// Whether the phase is terminal.
    pub fn is_terminal(&self) -> bool {
        self.phase.is_terminal()
    }
}

/// Re-exported: the one pass / fail / inconclusive answer, shared with the
/// gates (`fledge_gate::Outcome`).
pub use fledge_gate::Outcome;

/// An operator's command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Take the next step now (skipping bake, gates and approval).
    Promote,
    /// Give the candidate all the traffic now.
    PromoteFull,
    /// Hold the current weights until resumed.
    Pause,
    /// Leave a pause (re-baking the current step) or a freeze.
    Resume,
    /// Approve the step that waits.
    Approve,
    /// Hold the current weights with neither promotion nor rollback.
    Freeze,
    /// Send all traffic back to the baseline.
    Rollback,
    /// Stop the rollout; all traffic back to the baseline.
    Abort,
    /// Set the candidate's weight, at most the current step's, and pause.
    SetWeight {
        /// The new weight.
        weight: Weight,
    },
    /// Start a finished rollout again from the first step, with a new salt.
    Restart,
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Promote => f.write_str("promote"),
            Command::PromoteFull => f.write_str("promote-full"),
            Command::Pause => f.write_str("pause"),
            Command::Resume => f.write_str("resume"),
            Command::Approve => f.write_str("approve"),
            Command::Freeze => f.write_str("freeze"),
            Command::Rollback => f.write_str("rollback"),
            Command::Abort => f.write_str("abort"),
            Command::SetWeight { weight } => write!(f, "set-weight {weight}"),
            Command::Restart => f.write_str("restart"),
        }
    }
}

/// What comes into the state machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "snake_case")]
pub enum Input {
    /// The rollout begins (only as the first event of a log).
    Start,
    /// Time passes: bake timers and timed pauses.
    Tick,
    /// The gates' verdict for the current step.
    Verdict {
        /// Pass, fail or inconclusive.
        outcome: Outcome,
        /// The verdict's explanation.
        reason: String,
    },
    /// An operator's (or a hook's) command.
    Command {
        /// The command.
        command: Command,
        /// Who gave it (`"alice"`, `"hook:ci"`).
        by: String,
        /// Why, in their words.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

impl Input {
    /// A verdict input.
    pub fn verdict(outcome: Outcome, reason: impl Into<String>) -> Input {
        Input::Verdict {
            outcome,
            reason: reason.into(),
        }
    }

    /// A command input.
    pub fn command(command: Command, by: impl Into<String>) -> Input {
        Input::Command {
            command,
            by: by.into(),
            reason: None,
        }
    }
}

/// What kind of decision an [`Event`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The rollout started.
    Started,
    /// A step was taken: its weight is published.
    StepTaken,
    /// The next step waits for approval.
    AwaitingApproval,
    /// The rollout paused.
    Paused,
    /// The rollout resumed (from a pause or a freeze).
    Resumed,
    /// The rollout froze.
    Frozen,
    /// The candidate took all the traffic.
    Promoted,
    /// The candidate was sent back to 0.
    RolledBack,
    /// An operator aborted the rollout.
    Aborted,
    /// A finished rollout started again.
    Restarted,
    /// An operator set the candidate's weight.
    WeightSet,
    /// A failing verdict was counted (below the failure limit).
    FailureCounted,
    /// A bake interval ended inconclusive and was extended.
    InconclusiveCounted,
    /// A command was refused in this state.
    Rejected,
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventKind::Started => "started",
            EventKind::StepTaken => "step taken",
            EventKind::AwaitingApproval => "awaiting approval",
            EventKind::Paused => "paused",
            EventKind::Resumed => "resumed",
            EventKind::Frozen => "frozen",
            EventKind::Promoted => "promoted",
            EventKind::RolledBack => "rolled back",
            EventKind::Aborted => "aborted",
            EventKind::Restarted => "restarted",
            EventKind::WeightSet => "weight set",
            EventKind::FailureCounted => "failure counted",
            EventKind::InconclusiveCounted => "inconclusive",
            EventKind::Rejected => "rejected",
        })
    }
}

/// One decision, with its reason: the history answers "why did it roll back?".
///
/// Every transition that changes the state emits exactly one event holding
/// the input that caused it, so folding the inputs of an event log through the
/// state machine from the start reproduces the state exactly
/// ([`Machine::replay`](super::Machine::replay)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Position in the log, from 0.
    pub seq: u64,
    /// When it happened.
    pub at: Timestamp,
    /// What came in.
    pub input: Input,
    /// What was decided.
    pub kind: EventKind,
    /// Why, in words (a verdict's explanation, the operator and their reason).
    pub reason: String,
    /// The phase afterwards.
    pub phase: PhaseName,
    /// The step afterwards.
    pub step: Option<usize>,
    /// The candidate's weight afterwards.
    pub weight: Weight,
    /// The attempt (0 for the first run).
    pub attempt: u32,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{} {}: {} ({}, weight {}): {}",
            self.seq, self.at, self.kind, self.phase, self.weight, self.reason
        )
    }
}

/// What the controller must do after a transition, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Publish this routing (one atomic swap of the split).
    Publish(Traffic),
    /// Tell subscribers.
    Emit(Event),
    /// Persist a snapshot of the new state.
    Persist,
}
