//! Evaluation: turning recorded traffic into a [`Judgement`] for a step.

use std::fmt;

use serde::{Deserialize, Serialize};

use fledge_gate::clock::Timestamp;

use crate::plan::Step;
use fledge_gate::{Outcome, Verdict};

/// The gates' judgement of a step at one tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    /// Pass, fail or inconclusive.
    pub outcome: Outcome,
    /// A one-line explanation (which check failed and by how much).
    pub reason: String,
    /// The full verdict, check by check, when the evaluator has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
}

impl Judgement {
    /// A judgement without detail.
    pub fn new(outcome: Outcome, reason: impl Into<String>) -> Self {
        Judgement {
            outcome,
            reason: reason.into(),
            verdict: None,
        }
    }
}

impl fmt::Display for Judgement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.outcome, self.reason)
    }
}

/// What an evaluator is asked about.
#[derive(Debug, Clone, Copy)]
pub struct StepContext<'a> {
    /// The step in effect.
    pub step: &'a Step,
    /// The rollout's attempt (a new attempt restarts every step).
    pub attempt: u32,
    /// When the step (or its current bake) started.
    pub since: Timestamp,
    /// The tick's time.
    pub now: Timestamp,
}

/// Judges a gated step from what was recorded. The controller calls it once
/// per tick, outside its state lock, for the step in effect.
///
/// The default is [`GateEvaluator`](super::GateEvaluator): fledge-gate's
/// windows and judge over the plan's checks. Implement it to judge from
/// somewhere else (e.g. Prometheus queries for fleet-wide metrics).
pub trait Evaluate: Send + Sync + fmt::Debug {
    /// The judgement of the step in `ctx`.
    fn evaluate(&self, ctx: &StepContext<'_>) -> Judgement;
}
