//! [`ShadowFirstBuilder`]: a plan that mirrors traffic to the candidate
//! before it serves any, gates on the shadow's latency, errors and agreement
//! with the primary, then moves into a canary.

use std::time::Duration;

use fledge_gate::{CheckSpec, MetricRef, Test};

use super::Plan;
use super::builder::PlanBuilder;
use super::error::PlanError;

/// Builds a shadow-first [`Plan`] on top of
/// [`PlanBuilder::shadow_first`]: a `shadow` step serving the candidate 0 %
/// while mirroring a share of requests to it, judged by the shadow gates
/// (the shadow's latency and errors against the primary's, and its
/// agreement with the primary's output), then canary steps judged by the
/// canary gates. The controller runs it like any plan.
///
/// What makes the shadow step judge correctly:
///
/// - The serving layer records mirrored requests under the candidate, so
///   the step's candidate window holds only shadow traffic and the
///   baseline's holds the requests served; relative checks (latency ratio,
///   error rates) compare the two directly.
/// - The agreement metric is recorded only while mirroring (under the
///   candidate; the baseline has none), by the serving layer's comparator
///   (e.g. `fledge_tower::shadow::agreement::abs_diff`), so its gate is a
///   `threshold` check on the shadow step only. On a canary step there is no
///   mirroring: a gate on it would stay inconclusive and stall the rollout.
///   [`build`](Self::build) refuses that.
/// - Gates are scoped by step: shadow gates judge the shadow step, canary
///   gates the canary steps, [`gate`](Self::gate) both. Unnamed gates get
///   `"shadow "` / `"canary "` prefixed to their labels so both sets can use
///   the same metric.
///
/// When the shadow step passes, the controller takes the first canary step
/// in the same tick: the mirror share published drops to 0 (the serving
/// layer stops mirroring) and the candidate's weight rises.
///
/// ```
/// use std::time::Duration;
/// use fledge_rollout::plan::ShadowFirstBuilder;
///
/// let plan = ShadowFirstBuilder::new("predict-v2", "v1", "v2")
///     .mirror(100.0, Duration::from_secs(120))
///     .agreement("shadow_diff", 0.5)
///     .shadow_gate(toml::from_str("kind = \"relative\"\nmetric = \"latency_p99\"\nmax_ratio = 1.5")?)
///     .canary_gate(toml::from_str("kind = \"threshold\"\nmetric = \"latency_p99\"\nmax = 50.0")?)
///     .gate(toml::from_str("name = \"errors\"\nkind = \"proportion\"\nmetric = \"error_rate\"\nalpha = 0.01")?)
///     .steps([5.0, 25.0, 50.0, 100.0])
///     .build()?;
/// let checked = plan.check()?;
/// let shadow = &checked.steps()[0];
/// assert_eq!((shadow.weight.bps(), shadow.mirror.bps()), (0, 10_000));
/// assert_eq!(shadow.gates.len(), 3); // agreement, shadow latency, errors
/// assert_eq!(checked.steps()[1].gates.len(), 2); // canary latency, errors
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ShadowFirstBuilder {
    inner: PlanBuilder,
    mirror: f64,
    shadow_for: Duration,
    steps: Vec<f64>,
    shadow: Vec<CheckSpec>,
    canary: Vec<CheckSpec>,
    both: Vec<CheckSpec>,
    agreement: Option<String>,
}

impl ShadowFirstBuilder {
    /// A shadow-first rollout of `candidate` over `baseline`: mirror 100 %
    /// for 5 minutes, then a canary at 5 / 25 / 50 / 100 % baking 1 minute
    /// per step.
    pub fn new(name: &str, baseline: &str, candidate: &str) -> Self {
        ShadowFirstBuilder {
            inner: PlanBuilder::new(name, baseline, candidate).interval(Duration::from_secs(60)),
            mirror: 100.0,
            shadow_for: Duration::from_secs(300),
            steps: vec![5.0, 25.0, 50.0, 100.0],
            shadow: Vec::new(),
            canary: Vec::new(),
            both: Vec::new(),
            agreement: None,
        }
    }

    /// The share of requests mirrored, in percent, and how long the shadow
    /// step runs before its gates may move on.
    pub fn mirror(mut self, percent: f64, shadow_for: Duration) -> Self {
        self.mirror = percent;
        self.shadow_for = shadow_for;
        self
    }

    /// The canary steps after the shadow, in percent.
    pub fn steps(mut self, percents: impl IntoIterator<Item = f64>) -> Self {
        self.steps = percents.into_iter().collect();
        self
    }

    /// The bake time of each canary step.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.inner = self.inner.interval(interval);
        self
    }

    /// Output agreement: declares the comparator's custom metric `metric` and
    /// gates the shadow step on its mean staying at most `max` (a critical
    /// threshold check named `"agreement"`, deciding from 100 compared
    /// responses; for another floor add your own check with
    /// [`shadow_gate`](Self::shadow_gate) and declare the metric with
    /// [`configure`](Self::configure)).
    pub fn agreement(mut self, metric: &str, max: f64) -> Self {
        self.agreement = Some(metric.to_owned());
        let check = CheckSpec::new(
            MetricRef::Custom(metric.to_owned()),
            Test::Threshold {
                max: Some(max),
                min: None,
            },
        )
        .named("agreement")
        .critical(true);
        self.shadow.push(check);
        self
    }

    /// A gate judging the shadow step only.
    pub fn shadow_gate(mut self, check: CheckSpec) -> Self {
        self.shadow.push(check);
        self
    }

    /// A gate judging the canary steps only.
    pub fn canary_gate(mut self, check: CheckSpec) -> Self {
        self.canary.push(check);
        self
    }

    /// A gate judging every step.
    pub fn gate(mut self, check: CheckSpec) -> Self {
        self.both.push(check);
        self
    }

    /// Adjusts anything else (failure limit, salt, limits, metrics) on the
    /// underlying [`PlanBuilder`]. The steps come from
    /// [`steps`](Self::steps) and [`mirror`](Self::mirror).
    pub fn configure(mut self, f: impl FnOnce(PlanBuilder) -> PlanBuilder) -> Self {
        self.inner = f(self.inner);
        self
    }

    /// Builds and checks the plan. A gate on the agreement metric outside
    /// the shadow step is [`PlanError::BadGate`].
    pub fn build(self) -> Result<Plan, PlanError> {
        let prefixed = |mut c: CheckSpec, prefix: &str| {
            if c.name.is_none() {
                c.name = Some(format!("{prefix} {}", c.label()));
            }
            c
        };
        let shadow: Vec<CheckSpec> = self
            .shadow
            .into_iter()
            .map(|c| prefixed(c, "shadow"))
            .collect();
        let canary: Vec<CheckSpec> = self
            .canary
            .into_iter()
            .map(|c| prefixed(c, "canary"))
            .collect();
        if let Some(metric) = &self.agreement {
            if let Some(c) = canary
                .iter()
                .chain(&self.both)
                .find(|c| matches!(&c.metric, MetricRef::Custom(m) if m == metric))
            {
                return Err(PlanError::BadGate {
                    gate: c.label(),
                    message: format!(
                        "the agreement metric {metric} is recorded only while mirroring, so a canary step would never have data for it: judge it on the shadow step only (shadow_gate or agreement)"
                    ),
                });
            }
        }
        let mut b = self
            .inner
            .steps(self.steps.iter().copied())
            .shadow_first(self.mirror, self.shadow_for);
        if let Some(metric) = &self.agreement {
            b = b.metric(metric);
        }
        for c in shadow.iter().chain(&canary).chain(&self.both) {
            b = b.gate(c.clone());
        }
        let mut plan = b.build()?;
        let names = |checks: &[&CheckSpec]| checks.iter().map(|c| c.label()).collect::<Vec<_>>();
        let shadow_names = names(&shadow.iter().chain(&self.both).collect::<Vec<_>>());
        let canary_names = names(&canary.iter().chain(&self.both).collect::<Vec<_>>());
        for (i, step) in plan.steps.iter_mut().enumerate() {
            step.0.gates = Some(if i == 0 {
                shadow_names.clone()
            } else {
                canary_names.clone()
            });
        }
        plan.check()?;
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threshold(metric: MetricRef, max: f64) -> CheckSpec {
        CheckSpec::new(
            metric,
            Test::Threshold {
                max: Some(max),
                min: None,
            },
        )
    }

    #[test]
    fn the_agreement_metric_is_judged_on_the_shadow_step_only() {
        let err = ShadowFirstBuilder::new("x", "v1", "v2")
            .agreement("shadow_diff", 0.5)
            .canary_gate(threshold(MetricRef::Custom("shadow_diff".into()), 1.0))
            .build()
            .unwrap_err();
        assert!(matches!(err, PlanError::BadGate { .. }), "{err}");
        assert!(err.to_string().contains("only while mirroring"), "{err}");
    }

    #[test]
    fn unnamed_gates_are_prefixed_by_their_scope() {
        let plan = ShadowFirstBuilder::new("x", "v1", "v2")
            .shadow_gate(threshold(MetricRef::ErrorRate, 0.05))
            .canary_gate(threshold(MetricRef::ErrorRate, 0.01))
            .configure(|b| b.failure_limit(2))
            .build()
            .unwrap();
        let checked = plan.check().unwrap();
        assert_eq!(plan.failure_limit, 2);
        assert_eq!(checked.steps().len(), 5);
        let labels = |step: usize| -> Vec<String> {
            checked.steps()[step]
                .gates
                .iter()
                .map(|&g| plan.gates[g].label())
                .collect()
        };
        assert_eq!(labels(0), ["shadow error_rate threshold"]);
        assert_eq!(labels(1), ["canary error_rate threshold"]);
    }
}
