//! [`GateEvaluator`]: the plan's gates judged by fledge-gate.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use fledge_gate::{Judge, JudgeSpec, Recorder, RecorderConfig, Verdict};
use fledge_select::VariantIndex;

use super::ControlError;
use super::evaluate::{Evaluate, Judgement, StepContext};
use crate::machine::Outcome;
use crate::plan::{CheckedPlan, PlanError};

/// Most slots the recorder keeps: windows as long as the longest step.
const MAX_SLOTS: u64 = 60;

/// A gate recorder sized for the plan: two variants (candidate at the
/// candidate's index, baseline at the baseline's), the plan's custom metrics,
/// and enough slots for the longest step's bake time.
pub(crate) fn recorder_for(
    plan: &CheckedPlan,
    slot: Option<Duration>,
) -> Result<Recorder, ControlError> {
    let longest = plan
        .steps()
        .iter()
        .map(|s| s.interval)
        .max()
        .unwrap_or(Duration::from_secs(60));
    let longest_ms = u64::try_from(longest.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let slot_ms = match slot {
        Some(s) => u64::try_from(s.as_millis()).unwrap_or(u64::MAX).max(1),
        // 1 s slots, coarser when the longest step needs more than MAX_SLOTS.
        None => longest_ms.div_ceil(MAX_SLOTS).max(1000).div_ceil(1000) * 1000,
    };
    let slots = usize::try_from(longest_ms.div_ceil(slot_ms) + 1).unwrap_or(usize::MAX);
    let config = RecorderConfig::new(2)
        .slot(Duration::from_millis(slot_ms))
        .slots(slots.min(10_000))
        .metrics(plan.plan().metrics.iter().cloned());
    Recorder::new(config).map_err(|e| ControlError::Recorder(e.to_string()))
}

/// Judges each step with fledge-gate: the candidate's and the baseline's
/// windows over the step's bake time, the step's checks, and the plan's
/// judge scores. Sequential checks restart at each new step.
#[derive(Debug)]
pub struct GateEvaluator {
    recorder: std::sync::Arc<Recorder>,
    candidate: usize,
    baseline: usize,
    /// One judge per step (`None` for an ungated step).
    judges: Vec<Option<Mutex<Judge>>>,
    current: Mutex<Option<(u32, usize)>>,
}

impl GateEvaluator {
    /// An evaluator for `plan` reading `recorder`, where the candidate and
    /// the baseline are recorded under the given indexes.
    pub fn new(
        plan: &CheckedPlan,
        recorder: std::sync::Arc<Recorder>,
        baseline: VariantIndex,
        candidate: VariantIndex,
    ) -> Result<Self, ControlError> {
        let p = plan.plan();
        let judges = plan
            .steps()
            .iter()
            .map(|step| {
                if step.gates.is_empty() {
                    return Ok(None);
                }
                let checks = step
                    .gates
                    .iter()
                    .filter_map(|&i| p.gates.get(i).cloned())
                    .collect();
                let mut spec = JudgeSpec::new(checks);
                if let Some(scores) = &p.judge {
                    if let Some(s) = scores.pass_score {
                        spec.pass_score = s;
                    }
                    if let Some(s) = scores.marginal_score {
                        spec.marginal_score = s;
                    }
                }
                Judge::new(spec).map(|j| Some(Mutex::new(j))).map_err(|e| {
                    ControlError::Plan(PlanError::BadGate {
                        gate: step.label(),
                        message: e.to_string(),
                    })
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(GateEvaluator {
            recorder,
            candidate: candidate.get(),
            baseline: baseline.get(),
            judges,
            current: Mutex::new(None),
        })
    }
}

/// A one-line reason for a verdict: the judge's summary and the score.
pub(crate) fn reason_of(verdict: &Verdict) -> String {
    let report = verdict.report();
    match report.score {
        Some(score) => format!("{} (score {score:.0})", report.summary),
        None => report.summary.clone(),
    }
}

impl Evaluate for GateEvaluator {
    fn evaluate(&self, ctx: &StepContext<'_>) -> Judgement {
        let Some(Some(judge)) = self.judges.get(ctx.step.index) else {
            return Judgement::new(Outcome::Pass, "no gates on this step");
        };
        let span = ctx.step.interval;
        let windows = self
            .recorder
            .window(self.candidate, ctx.now, span)
            .and_then(|c| Ok((c, self.recorder.window(self.baseline, ctx.now, span)?)));
        let (canary, baseline) = match windows {
            Ok(w) => w,
            Err(e) => {
                return Judgement::new(Outcome::Inconclusive, format!("no window: {e}"));
            }
        };
        let mut judge = judge.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (ctx.attempt, ctx.step.index);
        {
            let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
            if *current != Some(key) {
                judge.reset_from(&canary, &baseline);
                *current = Some(key);
            }
        }
        let verdict = judge.evaluate(&canary, &baseline);
        let outcome = match verdict.outcome() {
            fledge_gate::Outcome::Pass => Outcome::Pass,
            fledge_gate::Outcome::Fail => Outcome::Fail,
            fledge_gate::Outcome::Inconclusive => Outcome::Inconclusive,
        };
        Judgement {
            outcome,
            reason: reason_of(&verdict),
            detail: serde_json::to_value(&verdict).ok(),
        }
    }
}
