//! Builders: canary, linear, blue-green and phased plans in code.

use std::collections::BTreeMap;
use std::time::Duration;

use fledge_select::VersionId;

use super::step::{Hold, StepDetail, StepSpec};
use super::{
    CheckSpec, JudgeScores, OutputSpec, Plan, PlanError, Sticky, TargetRule, VersionLimits,
};

/// The header that reaches the candidate before a blue-green switch, by default.
pub const PREVIEW_HEADER: &str = "x-fledge-preview";

/// Builds a [`Plan`] in code. [`PlanBuilder::build`] checks it like a plan file.
///
/// ```
/// use std::time::Duration;
/// use fledge_rollout::plan::PlanBuilder;
///
/// let plan = PlanBuilder::canary("predict-v2", "v1", "v2")
///     .interval(Duration::from_secs(30))
///     .failure_limit(2)
///     .build()?;
/// assert_eq!(plan.check()?.steps().len(), 4);
///
/// let linear = PlanBuilder::linear("predict-v2", "v1", "v2", 10.0, 50.0).build()?;
/// assert_eq!(linear.check()?.steps().len(), 5);
///
/// let blue_green = PlanBuilder::blue_green("predict-v2", "blue", "green").build()?;
/// let checked = blue_green.check()?;
/// assert_eq!(checked.steps()[0].weight.bps(), 0); // preview: header only
/// assert_eq!(checked.steps()[1].weight.bps(), 10_000); // one switch
/// # Ok::<(), fledge_rollout::plan::PlanError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PlanBuilder {
    name: String,
    description: Option<String>,
    baseline: String,
    candidate: String,
    steps: Vec<StepDetail>,
    linear: Option<(f64, f64)>,
    interval: Duration,
    failure_limit: u32,
    inconclusive_limit: u32,
    metrics: Vec<String>,
    outputs: Vec<OutputSpec>,
    gates: Vec<CheckSpec>,
    judge: Option<JudgeScores>,
    sticky: Sticky,
    targeting: Vec<TargetRule>,
    limits: BTreeMap<String, VersionLimits>,
    keep_warm: Option<Duration>,
    /// A version id that failed to parse in a helper, reported by `build`.
    error: Option<(&'static str, fledge_select::SelectError)>,
}

impl PlanBuilder {
    /// A builder with no steps yet: add them with [`steps`](Self::steps) or
    /// [`step`](Self::step). Defaults: interval 1 minute, failure limit 1,
    /// inconclusive limit 5.
    pub fn new(name: &str, baseline: &str, candidate: &str) -> Self {
        PlanBuilder {
            name: name.to_owned(),
            description: None,
            baseline: baseline.to_owned(),
            candidate: candidate.to_owned(),
            steps: Vec::new(),
            linear: None,
            interval: Duration::from_secs(60),
            failure_limit: 1,
            inconclusive_limit: 5,
            metrics: Vec::new(),
            outputs: Vec::new(),
            gates: Vec::new(),
            judge: None,
            sticky: Sticky::default(),
            targeting: Vec::new(),
            limits: BTreeMap::new(),
            keep_warm: None,
            error: None,
        }
    }

    /// A canary: 5 % → 25 % → 50 % → 100 %, then promotion.
    pub fn canary(name: &str, baseline: &str, candidate: &str) -> Self {
        Self::new(name, baseline, candidate).steps([5.0, 25.0, 50.0, 100.0])
    }

    /// Linear steps: `step_percent`, `2 × step_percent`, ... up to `max_percent`.
    pub fn linear(
        name: &str,
        baseline: &str,
        candidate: &str,
        step_percent: f64,
        max_percent: f64,
    ) -> Self {
        let mut b = Self::new(name, baseline, candidate);
        b.linear = Some((step_percent, max_percent));
        b
    }

    /// Blue-green: a preview step (0 % of public traffic; requests carrying
    /// the header `x-fledge-preview: <green>` reach green, so a pre-switch gate
    /// can judge them), then one atomic switch to 100 %. A failing verdict or
    /// an operator's rollback switches back at once. Blue stays warm for 10
    /// minutes after promotion (see [`keep_warm`](Self::keep_warm)).
    pub fn blue_green(name: &str, blue: &str, green: &str) -> Self {
        let mut b = Self::new(name, blue, green);
        b.keep_warm = Some(Duration::from_secs(600));
        let preview = b
            .candidate_id()
            .map(|green_id| TargetRule::header_equals(PREVIEW_HEADER, green, green_id));
        match preview {
            Ok(rule) => {
                b.steps = vec![
                    StepDetail {
                        name: Some("preview".into()),
                        weight: 0.0,
                        targeting: vec![rule],
                        ..StepDetail::default()
                    },
                    StepDetail {
                        name: Some("switch".into()),
                        weight: 100.0,
                        ..StepDetail::default()
                    },
                ];
            }
            Err(e) => b.error = Some(("candidate", e)),
        }
        b
    }

    /// Phased audiences: internal → alpha → beta → GA. See [`PhasedBuilder`].
    pub fn phased(name: &str, baseline: &str, candidate: &str) -> PhasedBuilder {
        PhasedBuilder::new(name, baseline, candidate)
    }

    /// Replaces the steps with plain steps of these percentages.
    pub fn steps(mut self, percents: impl IntoIterator<Item = f64>) -> Self {
        self.linear = None;
        self.steps = percents
            .into_iter()
            .map(|p| StepDetail {
                weight: p,
                ..StepDetail::default()
            })
            .collect();
        self
    }

    /// Appends a step with all its settings.
    pub fn step(mut self, step: StepDetail) -> Self {
        self.linear = None;
        self.steps.push(step);
        self
    }

    /// Shadow first: prepends a step that serves the candidate no traffic but
    /// mirrors `mirror_percent` % of requests to it for `interval`.
    pub fn shadow_first(mut self, mirror_percent: f64, interval: Duration) -> Self {
        if let Some((step, max)) = self.linear.take() {
            self.steps = linear_steps(step, max);
        }
        self.steps.insert(
            0,
            StepDetail {
                name: Some("shadow".into()),
                weight: 0.0,
                mirror: Some(mirror_percent),
                interval: Some(interval),
                ..StepDetail::default()
            },
        );
        self
    }

    /// Requires a human's approval before step `index` (from 0) is taken.
    pub fn approval_before(mut self, index: usize) -> Self {
        if let Some(step) = self.steps.get_mut(index) {
            step.approval = true;
        }
        self
    }

    /// Holds step `index` (from 0) after it is taken.
    pub fn pause_at(mut self, index: usize, hold: Hold) -> Self {
        if let Some(step) = self.steps.get_mut(index) {
            step.pause = Some(hold);
        }
        self
    }

    /// A description shown in summaries.
    pub fn description(mut self, text: &str) -> Self {
        self.description = Some(text.to_owned());
        self
    }

    /// The default bake time of each step.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Failing evaluations within one step that trigger a rollback.
    pub fn failure_limit(mut self, limit: u32) -> Self {
        self.failure_limit = limit;
        self
    }

    /// Inconclusive bake intervals in a row before the rollout pauses.
    pub fn inconclusive_limit(mut self, limit: u32) -> Self {
        self.inconclusive_limit = limit;
        self
    }

    /// Declares a custom (feedback) metric that gates may use.
    pub fn metric(mut self, name: &str) -> Self {
        self.metrics.push(name.to_owned());
        self
    }

    /// Declares a model output that output drift gates may read.
    pub fn output(mut self, output: OutputSpec) -> Self {
        self.outputs.push(output);
        self
    }

    /// Adds a gate that every step must pass.
    pub fn gate(mut self, gate: CheckSpec) -> Self {
        self.gates.push(gate);
        self
    }

    /// The judge's score thresholds.
    pub fn judge(mut self, scores: JudgeScores) -> Self {
        self.judge = Some(scores);
        self
    }

    /// The sticky salt (default `"<name>/<candidate>"`).
    pub fn salt(mut self, salt: &str) -> Self {
        self.sticky.salt = Some(salt.to_owned());
        self
    }

    /// The sticky hash mode: a [`fledge_sticky::HashMode`] name (`fledge`, `unleash`, ...).
    pub fn hash(mut self, mode: &str) -> Self {
        self.sticky.hash = Some(mode.to_owned());
        self
    }

    /// Adds a targeting rule active during the whole rollout.
    pub fn target(mut self, rule: TargetRule) -> Self {
        self.targeting.push(rule);
        self
    }

    /// Sends requests whose header `name` equals `value` to the candidate.
    pub fn target_header(mut self, name: &str, value: &str) -> Self {
        match self.candidate_id() {
            Ok(id) => self
                .targeting
                .push(TargetRule::header_equals(name, value, id)),
            Err(e) => self.error = Some(("candidate", e)),
        }
        self
    }

    /// Per-version limits (concurrency, timeout) for `version`.
    pub fn limits(mut self, version: &str, limits: VersionLimits) -> Self {
        self.limits.insert(version.to_owned(), limits);
        self
    }

    /// How long the baseline stays warm after promotion (blue-green).
    pub fn keep_warm(mut self, keep_warm: Duration) -> Self {
        self.keep_warm = Some(keep_warm);
        self
    }

    fn candidate_id(&self) -> Result<VersionId, fledge_select::SelectError> {
        VersionId::new(&self.candidate)
    }

    /// Builds and checks the plan.
    pub fn build(self) -> Result<Plan, PlanError> {
        if let Some((field, source)) = self.error {
            return Err(PlanError::InvalidVersion {
                field: field.into(),
                source,
            });
        }
        let baseline =
            VersionId::new(&self.baseline).map_err(|source| PlanError::InvalidVersion {
                field: "baseline".into(),
                source,
            })?;
        let candidate =
            VersionId::new(&self.candidate).map_err(|source| PlanError::InvalidVersion {
                field: "candidate".into(),
                source,
            })?;
        let (steps, step_weight, max_weight) = match self.linear {
            Some((step, max)) => (Vec::new(), Some(step), Some(max)),
            None => (self.steps.into_iter().map(StepSpec).collect(), None, None),
        };
        let plan = Plan {
            name: self.name,
            description: self.description,
            baseline,
            candidate,
            steps,
            step_weight,
            max_weight,
            interval: self.interval,
            failure_limit: self.failure_limit,
            inconclusive_limit: self.inconclusive_limit,
            metrics: self.metrics,
            outputs: self.outputs,
            gates: self.gates,
            judge: self.judge,
            sticky: self.sticky,
            targeting: self.targeting,
            limits: self.limits,
            keep_warm: self.keep_warm,
        };
        plan.check()?;
        Ok(plan)
    }
}

fn linear_steps(step: f64, max: f64) -> Vec<StepDetail> {
    let mut out = Vec::new();
    if step > 0.0 && step.is_finite() && max.is_finite() {
        let mut k = 1.0;
        while k * step <= max + 1e-9 && out.len() < super::check::MAX_STEPS {
            out.push(StepDetail {
                weight: (k * step * 100.0).round() / 100.0,
                ..StepDetail::default()
            });
            k += 1.0;
        }
    }
    out
}

/// Builds a phased-audience plan: **internal** (testers only, chosen by a
/// header or attribute; 0 % of public traffic), **alpha** (a small share,
/// 1–5 %), **beta** (10–25 %, optionally plus selected segments such as
/// regions), **GA** (100 %). Testers stay on the candidate through every phase.
///
/// ```
/// use fledge_rollout::plan::PlanBuilder;
///
/// let plan = PlanBuilder::phased("search-v2", "v1", "v2")
///     .internal_header("x-fledge-internal", "true")
///     .alpha(2.0)
///     .beta_attribute(20.0, "region", ["eu-west-1", "eu-central-1"])
///     .approve_ga()
///     .build()?;
/// let checked = plan.check()?;
/// let names: Vec<_> = checked.steps().iter().map(|s| s.label()).collect();
/// assert_eq!(names, ["internal", "alpha", "beta", "ga"]);
/// assert!(checked.steps()[3].approval);
/// # Ok::<(), fledge_rollout::plan::PlanError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PhasedBuilder {
    inner: PlanBuilder,
    internal: Vec<TargetRule>,
    alpha: f64,
    beta: f64,
    beta_rules: Vec<TargetRule>,
    approve_ga: bool,
}

impl PhasedBuilder {
    /// Phases with alpha 5 % and beta 25 %; add the internal testers' rule
    /// with [`internal_header`](Self::internal_header) or
    /// [`internal_attribute`](Self::internal_attribute).
    pub fn new(name: &str, baseline: &str, candidate: &str) -> Self {
        PhasedBuilder {
            inner: PlanBuilder::new(name, baseline, candidate),
            internal: Vec::new(),
            alpha: 5.0,
            beta: 25.0,
            beta_rules: Vec::new(),
            approve_ga: false,
        }
    }

    fn with_candidate(mut self, f: impl FnOnce(VersionId) -> TargetRule, internal: bool) -> Self {
        match self.inner.candidate_id() {
            Ok(id) => {
                let rule = f(id);
                if internal {
                    self.internal.push(rule);
                } else {
                    self.beta_rules.push(rule);
                }
            }
            Err(e) => self.inner.error = Some(("candidate", e)),
        }
        self
    }

    /// Internal testers: requests whose header `name` equals `value`.
    pub fn internal_header(self, name: &str, value: &str) -> Self {
        self.with_candidate(|id| TargetRule::header_equals(name, value, id), true)
    }

    /// Internal testers: requests whose attribute `name` equals `value`.
    pub fn internal_attribute(self, name: &str, value: &str) -> Self {
        self.with_candidate(|id| TargetRule::attribute_equals(name, value, id), true)
    }

    /// The alpha share of public traffic, in percent (conventionally 1–5).
    pub fn alpha(mut self, percent: f64) -> Self {
        self.alpha = percent;
        self
    }

    /// The beta share of public traffic, in percent (conventionally 10–25).
    pub fn beta(mut self, percent: f64) -> Self {
        self.beta = percent;
        self
    }

    /// The beta share plus every request whose attribute `name` is one of
    /// `values` (e.g. selected regions).
    pub fn beta_attribute<I, S>(mut self, percent: f64, name: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.beta = percent;
        let values: Vec<String> = values.into_iter().map(Into::into).collect();
        self.with_candidate(|id| TargetRule::attribute_in(name, values, id), false)
    }

    /// Requires a human's approval before general availability.
    pub fn approve_ga(mut self) -> Self {
        self.approve_ga = true;
        self
    }

    /// Adjusts everything else (interval, gates, limits, ...) on the inner
    /// [`PlanBuilder`].
    pub fn configure(mut self, f: impl FnOnce(PlanBuilder) -> PlanBuilder) -> Self {
        self.inner = f(self.inner);
        self
    }

    /// Builds and checks the plan.
    pub fn build(self) -> Result<Plan, PlanError> {
        let mut b = self.inner;
        b.linear = None;
        b.targeting.extend(self.internal);
        b.steps = vec![
            StepDetail {
                name: Some("internal".into()),
                weight: 0.0,
                ..StepDetail::default()
            },
            StepDetail {
                name: Some("alpha".into()),
                weight: self.alpha,
                ..StepDetail::default()
            },
            StepDetail {
                name: Some("beta".into()),
                weight: self.beta,
                targeting: self.beta_rules,
                ..StepDetail::default()
            },
            StepDetail {
                name: Some("ga".into()),
                weight: 100.0,
                approval: self.approve_ga,
                ..StepDetail::default()
            },
        ];
        b.build()
    }
}
