//! [`GateEvaluator`]: the plan's gates judged by fledge-gate.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use fledge_gate::{Judge, JudgeSpec, Outcome, Recorder, RecorderConfig, Test, Verdict};
use fledge_select::{VersionIndex, Weight};

use super::ControlError;
use super::evaluate::{Evaluate, Judgement, StepContext};
use super::source::{WindowRequest, WindowSource, Windows};
use crate::plan::{CheckedPlan, PlanError};

/// Slots per longest bake time: each tick merges about this many slots per
/// version, so it bounds the control path's cost.
const MAX_SLOTS: u64 = 15;

/// A gate recorder sized for the plan: two variants (candidate at the
/// candidate's index, baseline at the baseline's), the plan's custom metrics
/// and model outputs,
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
    let slots =
        usize::try_from(longest_ms.div_ceil(slot_ms).saturating_add(1)).unwrap_or(usize::MAX);
    let config = RecorderConfig::new(2)
        .slot(Duration::from_millis(slot_ms))
        .slots(slots.min(10_000))
        .metrics(plan.plan().metrics.iter().cloned())
        .outputs(plan.plan().outputs.iter().cloned());
    Recorder::new(config).map_err(|e| ControlError::Recorder(e.to_string()))
}

/// Judges each step with fledge-gate: the candidate's and the baseline's
/// windows over the step's bake time, the step's checks, and the plan's
/// judge scores. Sequential checks restart at each new step.
///
/// A step that gives the candidate 100 % leaves the baseline without
/// traffic, so checks comparing against the baseline cannot decide there: such
/// a step is judged by its absolute (`threshold`) checks alone, and by its
/// bake time when it has none. The judgement's reason says so.
#[derive(Debug)]
pub struct GateEvaluator {
    source: std::sync::Arc<dyn WindowSource>,
    candidate: VersionIndex,
    baseline: VersionIndex,
    /// One judge per step (`None` for an ungated step).
    judges: Vec<Option<StepJudge>>,
    current: Mutex<Option<(u32, usize)>>,
}

#[derive(Debug)]
struct StepJudge {
    judge: Mutex<Judge>,
    /// Said after the verdict's reason (checks skipped at 100 %).
    note: Option<String>,
}

/// Whether a check can decide without baseline traffic.
fn is_absolute(test: &Test) -> bool {
    matches!(test, Test::Threshold { .. })
}

impl GateEvaluator {
    /// An evaluator for `plan` reading `recorder`, where the candidate and
    /// the baseline are recorded under the given indexes.
    pub fn new(
        plan: &CheckedPlan,
        recorder: std::sync::Arc<Recorder>,
        baseline: VersionIndex,
        candidate: VersionIndex,
    ) -> Result<Self, ControlError> {
        GateEvaluator::with_source(plan, recorder, baseline, candidate)
    }

    /// An evaluator for `plan` reading its windows from `source` (e.g. the
    /// merged windows of a fleet's replicas), where the candidate and the
    /// baseline are the given version indexes.
    pub fn with_source(
        plan: &CheckedPlan,
        source: std::sync::Arc<dyn WindowSource>,
        baseline: VersionIndex,
        candidate: VersionIndex,
    ) -> Result<Self, ControlError> {
        let p = plan.plan();
        let judges = plan
            .steps()
            .iter()
            .map(|step| {
                let all: Vec<_> = step
                    .gates
                    .iter()
                    .filter_map(|&i| p.gates.get(i).cloned())
                    .collect();
                let full = step.weight == Weight::FULL;
                let (checks, skipped): (Vec<_>, Vec<_>) =
                    all.into_iter().partition(|c| !full || is_absolute(&c.test));
                let note = (!skipped.is_empty()).then(|| {
                    let names: Vec<String> = skipped.iter().map(|c| c.label()).collect();
                    format!(
                        "; at 100 % the baseline has no traffic, so {} not judged here",
                        names.join(", ")
                    )
                });
                if checks.is_empty() {
                    return Ok(None);
                }
                let mut spec = JudgeSpec::new(checks);
                if let Some(scores) = &p.judge {
                    if let Some(s) = scores.pass_score {
                        spec.pass_score = s;
                    }
                    if let Some(s) = scores.marginal_score {
                        spec.marginal_score = s;
                    }
                }
                let judge = |j| {
                    Some(StepJudge {
                        judge: Mutex::new(j),
                        note,
                    })
                };
                Judge::new(spec).map(judge).map_err(|e| {
                    ControlError::Plan(PlanError::BadGate {
                        gate: step.label(),
                        message: e.to_string(),
                    })
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(GateEvaluator {
            source,
            candidate,
            baseline,
            judges,
            current: Mutex::new(None),
        })
    }
}

/// A one-line reason for a verdict: the judge's summary, the score, and
/// each failing check's explanation.
pub(crate) fn reason_of(verdict: &Verdict) -> String {
    let report = verdict.report();
    let mut reason = match report.score {
        Some(score) => format!("{} (score {score:.0})", report.summary),
        None => report.summary.clone(),
    };
    if verdict.is_fail() {
        for check in &report.checks {
            if check.outcome == fledge_gate::Outcome::Fail
                && !report.summary.contains(&check.detail)
            {
                reason.push_str(&format!("; {}: {}", check.name, check.detail));
            }
        }
    }
    reason
}

impl Evaluate for GateEvaluator {
    fn evaluate(&self, ctx: &StepContext<'_>) -> Judgement {
        let Some(Some(step_judge)) = self.judges.get(ctx.step.index) else {
            let why = if ctx.step.weight == Weight::FULL && ctx.step.is_gated() {
                "at 100 % the baseline has no traffic to compare with: promoted on bake time"
            } else {
                "no gates on this step"
            };
            return Judgement::new(Outcome::Pass, why);
        };
        let request = WindowRequest {
            candidate: self.candidate,
            baseline: self.baseline,
            now: ctx.now,
            span: ctx.step.interval,
            step: ctx.step.index,
            attempt: ctx.attempt,
        };
        let Windows {
            canary,
            baseline,
            note: source_note,
        } = match self.source.windows(&request) {
            Ok(w) => w,
            Err(e) => return Judgement::new(Outcome::Inconclusive, e),
        };
        let mut judge = step_judge
            .judge
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let key = (ctx.attempt, ctx.step.index);
        {
            let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
            if *current != Some(key) {
                judge.reset_from(&canary, &baseline);
                *current = Some(key);
            }
        }
        let verdict = judge.evaluate(&canary, &baseline);
        let outcome = verdict.outcome();
        let mut reason = reason_of(&verdict);
        if let Some(note) = &step_judge.note {
            reason.push_str(note);
        }
        if let Some(note) = source_note {
            reason.push_str("; ");
            reason.push_str(&note);
        }
        Judgement {
            outcome,
            reason,
            verdict: Some(verdict),
        }
    }
}
