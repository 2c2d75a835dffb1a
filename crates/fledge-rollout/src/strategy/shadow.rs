//! [`ShadowFirst`]: a plan that mirrors traffic to the candidate before it
//! serves any, gates on the shadow's latency, errors and agreement with the
//! primary, then moves into a canary.

use std::time::Duration;

use fledge_gate::{CheckSpec, MetricRef, Test};

use super::StrategyError;
use crate::plan::{Plan, PlanBuilder};

/// Comparators for shadow traffic: turn the primary's and the shadow's
/// response bodies into a gate metric (pass them to the serving layer's
/// shadow comparator, e.g. `fledge_tower::shadow::ShadowLayer::compare`).
///
/// ```
/// use fledge_rollout::strategy::agreement;
///
/// assert_eq!(agreement::abs_diff(b"41.5", b" 40.0\n"), Some(1.5));
/// assert_eq!(agreement::mismatch(b"cat", b"cat"), Some(0.0));
/// assert_eq!(agreement::mismatch(b"cat", b"dog"), Some(1.0));
/// assert_eq!(agreement::abs_diff(b"41.5", b"oops"), None); // recorded as nothing
/// ```
pub mod agreement {
    fn number(body: &[u8]) -> Option<f64> {
        let v: f64 = std::str::from_utf8(body).ok()?.trim().parse().ok()?;
        v.is_finite().then_some(v)
    }

    /// `|primary − shadow|` of two bodies holding one number each (UTF-8,
    /// surrounding whitespace ignored); `None` if either is not a finite number.
    pub fn abs_diff(primary: &[u8], shadow: &[u8]) -> Option<f64> {
        Some((number(primary)? - number(shadow)?).abs())
    }

    /// `|primary − shadow| / |primary|` (the primary taken as the reference;
    /// `None` when it is 0 or either body is not a number).
    pub fn rel_diff(primary: &[u8], shadow: &[u8]) -> Option<f64> {
        let p = number(primary)?;
        let s = number(shadow)?;
        (p != 0.0).then(|| (p - s).abs() / p.abs())
    }

    /// `0.0` when the bodies are byte-for-byte equal, `1.0` otherwise: its
    /// mean is the disagreement rate.
    pub fn mismatch(primary: &[u8], shadow: &[u8]) -> Option<f64> {
        Some(if primary == shadow { 0.0 } else { 1.0 })
    }
}

/// Builds a shadow-first [`Plan`] on top of
/// [`PlanBuilder::shadow_first`]: a `shadow` step serving the candidate 0 %
/// while mirroring a share of requests to it, judged by the shadow gates
/// (the shadow's latency and errors against the primary's, and its
/// agreement with the primary's output), then canary steps judged by the
/// canary gates.
///
/// What makes the shadow step judge correctly:
///
/// - The serving layer records mirrored requests under the candidate, so
///   the step's candidate window holds only shadow traffic and the
///   baseline's holds the requests served; relative checks (latency ratio,
///   error rates) compare the two directly.
/// - The agreement metric is recorded only while mirroring (under the
///   candidate; the baseline has none), so its gate is a `threshold` check
///   on the shadow step only. On a canary step there is no mirroring: a gate
///   on it would stay inconclusive and stall the rollout. [`plan`](Self::plan)
///   refuses that.
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
/// use fledge_rollout::strategy::ShadowFirst;
///
/// let plan = ShadowFirst::new("predict-v2", "v1", "v2")
///     .mirror(100.0, Duration::from_secs(120))
///     .agreement("shadow_diff", 0.5)
///     .shadow_gate(toml::from_str("kind = \"relative\"\nmetric = \"latency_p99\"\nmax_ratio = 1.5")?)
///     .canary_gate(toml::from_str("kind = \"threshold\"\nmetric = \"latency_p99\"\nmax = 50.0")?)
///     .gate(toml::from_str("name = \"errors\"\nkind = \"proportion\"\nmetric = \"error_rate\"\nalpha = 0.01")?)
///     .steps([5.0, 25.0, 50.0, 100.0])
///     .plan()?;
/// let checked = plan.check()?;
/// let shadow = &checked.steps()[0];
/// assert_eq!((shadow.weight.bps(), shadow.mirror.bps()), (0, 10_000));
/// assert_eq!(shadow.gates.len(), 3); // agreement, shadow latency, errors
/// assert_eq!(checked.steps()[1].gates.len(), 2); // canary latency, errors
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ShadowFirst {
    name: String,
    baseline: String,
    candidate: String,
    mirror: f64,
    shadow_for: Duration,
    steps: Vec<f64>,
    interval: Duration,
    shadow: Vec<CheckSpec>,
    canary: Vec<CheckSpec>,
    both: Vec<CheckSpec>,
    agreement: Option<String>,
    extra: Option<PlanBuilderFn>,
}

type PlanBuilderFn = std::sync::Arc<dyn Fn(PlanBuilder) -> PlanBuilder + Send + Sync>;

impl std::fmt::Debug for ShadowFirst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShadowFirst")
            .field("name", &self.name)
            .field("baseline", &self.baseline)
            .field("candidate", &self.candidate)
            .field("mirror", &self.mirror)
            .field("shadow_for", &self.shadow_for)
            .field("steps", &self.steps)
            .field("shadow_gates", &self.shadow)
            .field("canary_gates", &self.canary)
            .field("gates", &self.both)
            .finish_non_exhaustive()
    }
}

impl ShadowFirst {
    /// A shadow-first rollout of `candidate` over `baseline`: mirror 100 %
    /// for 5 minutes, then a canary at 5 / 25 / 50 / 100 % baking 1 minute
    /// per step.
    pub fn new(name: &str, baseline: &str, candidate: &str) -> Self {
        ShadowFirst {
            name: name.to_owned(),
            baseline: baseline.to_owned(),
            candidate: candidate.to_owned(),
            mirror: 100.0,
            shadow_for: Duration::from_secs(300),
            steps: vec![5.0, 25.0, 50.0, 100.0],
            interval: Duration::from_secs(60),
            shadow: Vec::new(),
            canary: Vec::new(),
            both: Vec::new(),
            agreement: None,
            extra: None,
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
        self.interval = interval;
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

    /// Adjusts anything else (failure limit, salt, limits, approvals) on the
    /// underlying [`PlanBuilder`].
    pub fn configure(
        mut self,
        f: impl Fn(PlanBuilder) -> PlanBuilder + Send + Sync + 'static,
    ) -> Self {
        self.extra = Some(std::sync::Arc::new(f));
        self
    }

    /// The plan.
    pub fn plan(self) -> Result<Plan, StrategyError> {
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
                return Err(StrategyError::BadGuard {
                    name: c.label(),
                    message: format!(
                        "the agreement metric {metric} is recorded only while mirroring, so a canary step would never have data for it: judge it on the shadow step only (shadow_gate or agreement)"
                    ),
                });
            }
        }
        let mut b = PlanBuilder::new(&self.name, &self.baseline, &self.candidate)
            .interval(self.interval)
            .steps(self.steps.iter().copied())
            .shadow_first(self.mirror, self.shadow_for);
        if let Some(metric) = &self.agreement {
            b = b.metric(metric);
        }
        if let Some(f) = &self.extra {
            b = f(b);
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
