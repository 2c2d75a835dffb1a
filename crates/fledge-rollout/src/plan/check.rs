//! Checking a plan and compiling its steps.

use std::time::Duration;

use fledge_select::{VersionId, Weight};

use super::step::{Hold, StepDetail};
use super::{Plan, PlanError, TargetRule};
use crate::gates;

/// The most steps a plan may have.
pub const MAX_STEPS: usize = 1000;

/// One step of a checked plan: everything the state machine and the
/// controller need, with defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Position in the plan, from 0.
    pub index: usize,
    /// The step's label, if the plan gave one.
    pub name: Option<String>,
    /// The candidate's share of traffic during this step.
    pub weight: Weight,
    /// The share of requests mirrored to the candidate (shadow traffic).
    pub mirror: Weight,
    /// Bake time: how long the step runs before its gates can promote it.
    pub interval: Duration,
    /// Indexes into [`Plan::gates`] of the gates this step must pass.
    pub gates: Vec<usize>,
    /// Whether a human must approve before this step is taken.
    pub approval: bool,
    /// Hold after taking this step.
    pub pause: Option<Hold>,
    /// Targeting rules active during this step (the plan's, then the step's).
    pub targeting: Vec<TargetRule>,
}

impl Step {
    /// Whether this step has gates to pass (otherwise it is promoted by time alone).
    pub fn is_gated(&self) -> bool {
        !self.gates.is_empty()
    }

    /// A short label: the name if any, else `step <n>` counted from 1.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => name.clone(),
            None => format!("step {}", self.index + 1),
        }
    }
}

/// A plan that passed [`Plan::check`], with its steps compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedPlan {
    plan: Plan,
    steps: Vec<Step>,
}

impl CheckedPlan {
    /// The plan as written.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The compiled steps (at least one).
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Step `index`, if it exists.
    pub fn step(&self, index: usize) -> Option<&Step> {
        self.steps.get(index)
    }

    /// The baseline version.
    pub fn baseline(&self) -> &VersionId {
        &self.plan.baseline
    }

    /// The candidate version.
    pub fn candidate(&self) -> &VersionId {
        &self.plan.candidate
    }

    /// Takes the plan back.
    pub fn into_plan(self) -> Plan {
        self.plan
    }
}

impl Plan {
    /// Checks the plan and compiles its steps; the error names the field or
    /// step at fault.
    ///
    /// ```
    /// use fledge_rollout::plan::{Plan, PlanError};
    ///
    /// let bad = r#"
    ///     name = "x"
    ///     baseline = "v1"
    ///     candidate = "v2"
    ///     steps = [5, 50, 25]
    ///     interval = "30s"
    /// "#;
    /// let err = Plan::from_toml(bad).unwrap_err();
    /// assert!(matches!(err, PlanError::NotIncreasing { step: 2, .. }));
    /// assert!(err.to_string().contains("steps[2]"));
    /// ```
    pub fn check(&self) -> Result<CheckedPlan, PlanError> {
        if self.name.trim().is_empty() {
            return Err(PlanError::Empty {
                field: "name".into(),
            });
        }
        if self.baseline == self.candidate {
            return Err(PlanError::SameVersion {
                version: self.baseline.to_string(),
            });
        }
        self.sticky.mode()?;
        if let Some(salt) = &self.sticky.salt
            && salt.is_empty()
        {
            return Err(PlanError::Empty {
                field: "sticky.salt".into(),
            });
        }
        nonzero_duration(self.interval, "interval")?;
        if self.failure_limit == 0 {
            return Err(PlanError::ZeroLimit {
                field: "failure_limit".into(),
            });
        }
        if self.inconclusive_limit == 0 {
            return Err(PlanError::ZeroLimit {
                field: "inconclusive_limit".into(),
            });
        }
        if let Some(keep_warm) = self.keep_warm {
            nonzero_duration(keep_warm, "keep_warm")?;
        }
        self.check_versions_used()?;
        let gate_names = self.check_gates()?;
        let details = self.step_details()?;
        let mut steps = Vec::with_capacity(details.len());
        let mut previous: Option<(Weight, f64)> = None;
        for (index, detail) in details.iter().enumerate() {
            let field = |name: &str| {
                if self.steps.is_empty() {
                    "step_weight".to_owned()
                } else {
                    format!("steps[{index}].{name}")
                }
            };
            let weight = weight_of(detail.weight, &field("weight"), true)?;
            let mirror = match detail.mirror {
                Some(m) => weight_of(m, &field("mirror"), true)?,
                None => Weight::ZERO,
            };
            let mut targeting = self.targeting.clone();
            targeting.extend(detail.targeting.iter().cloned());
            if weight.is_zero() && mirror.is_zero() && targeting.is_empty() {
                return Err(PlanError::EmptyStep { step: index });
            }
            if let Some((prev, prev_percent)) = previous
                && weight <= prev
            {
                return Err(PlanError::NotIncreasing {
                    step: index,
                    percent: detail.weight,
                    previous: prev_percent,
                });
            }
            previous = Some((weight, detail.weight));
            if let Some(interval) = detail.interval {
                nonzero_duration(interval, &field("interval"))?;
            }
            if let Some(Hold::For(d)) = detail.pause {
                nonzero_duration(d, &field("pause"))?;
            }
            let gates = match &detail.gates {
                None => (0..self.gates.len()).collect(),
                Some(names) => names
                    .iter()
                    .map(|name| {
                        gate_names.iter().position(|g| g == name).ok_or_else(|| {
                            PlanError::UnknownGate {
                                step: index,
                                gate: name.clone(),
                            }
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            };
            for (i, rule) in detail.targeting.iter().enumerate() {
                self.check_rule(rule, &format!("steps[{index}].targeting[{i}]"))?;
            }
            if let Some(name) = &detail.name
                && name.trim().is_empty()
            {
                return Err(PlanError::Empty {
                    field: field("name"),
                });
            }
            steps.push(Step {
                index,
                name: detail.name.clone(),
                weight,
                mirror,
                interval: detail.interval.unwrap_or(self.interval),
                gates,
                approval: detail.approval,
                pause: detail.pause,
                targeting,
            });
        }
        Ok(CheckedPlan {
            plan: self.clone(),
            steps,
        })
    }

    fn step_details(&self) -> Result<Vec<StepDetail>, PlanError> {
        match (self.steps.is_empty(), self.step_weight, self.max_weight) {
            (false, None, None) => {
                if self.steps.len() > MAX_STEPS {
                    return Err(PlanError::TooManySteps {
                        step_weight: 0.0,
                        max_weight: 0.0,
                        count: self.steps.len() as u64,
                    });
                }
                Ok(self.steps.iter().map(|s| s.0.clone()).collect())
            }
            (false, _, _) => Err(PlanError::StepsTwice),
            (true, None, None) => Err(PlanError::NoSteps),
            (true, Some(_), None) => Err(PlanError::LinearIncomplete {
                missing: "max_weight",
            }),
            (true, None, Some(_)) => Err(PlanError::LinearIncomplete {
                missing: "step_weight",
            }),
            (true, Some(step), Some(max)) => {
                let step_w = weight_of(step, "step_weight", false)?;
                let max_w = weight_of(max, "max_weight", false)?;
                if max_w < step_w {
                    return Err(PlanError::BadWeight {
                        field: "max_weight".into(),
                        percent: max,
                    });
                }
                let count = u64::from(max_w.bps() / step_w.bps());
                if count as usize > MAX_STEPS {
                    return Err(PlanError::TooManySteps {
                        step_weight: step,
                        max_weight: max,
                        count,
                    });
                }
                let mut out: Vec<StepDetail> = (1..=count)
                    .map(|k| StepDetail {
                        weight: f64::from(step_w.bps() * k as u32) / 100.0,
                        ..StepDetail::default()
                    })
                    .collect();
                if max_w.bps() % step_w.bps() != 0 {
                    out.push(StepDetail {
                        weight: max_w.percent(),
                        ..StepDetail::default()
                    });
                }
                Ok(out)
            }
        }
    }

    fn check_versions_used(&self) -> Result<(), PlanError> {
        for (i, rule) in self.targeting.iter().enumerate() {
            self.check_rule(rule, &format!("targeting[{i}]"))?;
        }
        for (version, limits) in &self.limits {
            if version != self.baseline.as_str() && version != self.candidate.as_str() {
                return Err(PlanError::UnknownVersion {
                    field: format!("limits.{version}"),
                    version: version.clone(),
                });
            }
            if limits.concurrency == Some(0) {
                return Err(PlanError::ZeroLimit {
                    field: format!("limits.{version}.concurrency"),
                });
            }
            if let Some(timeout) = limits.timeout {
                nonzero_duration(timeout, &format!("limits.{version}.timeout"))?;
            }
        }
        Ok(())
    }

    fn check_rule(&self, rule: &TargetRule, field: &str) -> Result<(), PlanError> {
        if let Some(problem) = rule.problem() {
            return Err(PlanError::BadRule {
                field: field.to_owned(),
                problem,
            });
        }
        if rule.version != self.baseline && rule.version != self.candidate {
            return Err(PlanError::UnknownVersion {
                field: format!("{field}.version"),
                version: rule.version.to_string(),
            });
        }
        Ok(())
    }

    /// Checks metrics and gates; returns the gate names in order.
    fn check_gates(&self) -> Result<Vec<String>, PlanError> {
        for (i, metric) in self.metrics.iter().enumerate() {
            if let Some(problem) = gates::custom_metric_problem(metric) {
                return Err(PlanError::BadMetric {
                    metric: metric.clone(),
                    problem,
                });
            }
            if self.metrics[..i].contains(metric) {
                return Err(PlanError::BadMetric {
                    metric: metric.clone(),
                    problem: "declared twice".to_owned(),
                });
            }
        }
        if let Some(judge) = &self.judge {
            for (field, value) in [
                ("judge.pass_score", judge.pass_score),
                ("judge.marginal_score", judge.marginal_score),
            ] {
                if let Some(v) = value
                    && !(0.0..=100.0).contains(&v)
                {
                    return Err(PlanError::BadScore { field, value: v });
                }
            }
            if let (Some(pass), Some(marginal)) = (judge.pass_score, judge.marginal_score)
                && marginal > pass
            {
                return Err(PlanError::BadScore {
                    field: "judge.marginal_score",
                    value: marginal,
                });
            }
        }
        for (i, output) in self.outputs.iter().enumerate() {
            let name = output.name();
            if let Err((field, problem)) = output.validate() {
                return Err(PlanError::BadMetric {
                    metric: name.to_owned(),
                    problem: format!("`outputs` field `{field}`: {problem}"),
                });
            }
            if self.outputs[..i].iter().any(|o| o.name() == name)
                || self.metrics.iter().any(|m| m == name)
            {
                return Err(PlanError::BadMetric {
                    metric: name.to_owned(),
                    problem: "declared twice (`metrics` and `outputs` share one namespace)"
                        .to_owned(),
                });
            }
        }
        let mut names: Vec<String> = Vec::with_capacity(self.gates.len());
        for gate in &self.gates {
            let name = gates::gate_name(gate);
            if names.contains(&name) {
                return Err(PlanError::DuplicateGate { name });
            }
            if let Some(metric) = gates::custom_metric_of(gate) {
                let output = self.outputs.iter().find(|o| o.name() == metric);
                if let Some(message) = gates::output_problem(gate, metric, output.map(|o| o.kind()))
                {
                    return Err(PlanError::BadGate {
                        gate: name,
                        message,
                    });
                }
                if !self.metrics.iter().any(|m| m == metric) && output.is_none() {
                    let mut known = gates::BUILTIN_METRICS.to_owned();
                    for m in self
                        .metrics
                        .iter()
                        .map(String::as_str)
                        .chain(self.outputs.iter().map(|o| o.name()))
                    {
                        known.push_str(", ");
                        known.push_str(m);
                    }
                    return Err(PlanError::UnknownMetric {
                        gate: name,
                        metric: metric.to_owned(),
                        known,
                    });
                }
            }
            gates::validate(gate).map_err(|message| PlanError::BadGate {
                gate: name.clone(),
                message,
            })?;
            names.push(name);
        }
        Ok(names)
    }
}

fn nonzero_duration(d: Duration, field: &str) -> Result<(), PlanError> {
    if d.is_zero() {
        Err(PlanError::ZeroDuration {
            field: field.to_owned(),
        })
    } else {
        Ok(())
    }
}

fn weight_of(percent: f64, field: &str, zero_ok: bool) -> Result<Weight, PlanError> {
    let bad = || PlanError::BadWeight {
        field: field.to_owned(),
        percent,
    };
    let w = Weight::from_percent(percent).map_err(|_| bad())?;
    if w.is_zero() && !zero_ok {
        return Err(bad());
    }
    Ok(w)
}
