//! The judge: combines checks into a [`Verdict`], like Kayenta's.
//!
//! Scoring: each check that decided (Pass or Fail) counts with its weight;
//! the score is `100 × Σ weight(Pass) / Σ weight(decided)`. Then, in order:
//!
//! 1. a **critical** check that failed → **Fail** at once;
//! 2. the *optimistic* score (Inconclusive checks counted as passing) below
//!    `marginal_score` → **Fail** (more data cannot save it);
//! 3. every check decided and the score ≥ `pass_score` → **Pass**;
//! 4. otherwise **Inconclusive** (too little data, or a marginal score): keep
//!    watching. Too little data is never a Pass.
//!
//! A `Judge` keeps state across evaluations for the sequential checks, which
//! measure since the step started: call [`Judge::reset_from`] (or
//! [`Judge::reset`]) when a new step starts.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::check::{self, CheckResult, CheckSpec, CheckState, Outcome, SpecError};
use crate::explain;
use crate::window::{Totals, Window};

fn default_pass_score() -> f64 {
    95.0
}

fn default_marginal_score() -> f64 {
    75.0
}

/// The judge's configuration: the checks and the score thresholds.
///
/// Serde format (unknown fields are rejected):
///
/// ```toml
/// pass_score = 95      # optional, default 95
/// marginal_score = 75  # optional, default 75
///
/// [[checks]]
/// kind = "threshold"
/// metric = "latency_p99"
/// max = 50.0           # ms
/// critical = true
///
/// [[checks]]
/// kind = "relative"
/// metric = "error_rate"
/// max_increase = 0.005 # at most +0.5 points over the baseline
///
/// [[checks]]
/// kind = "sequential"
/// metric = "error_rate"
/// tau = 0.01
/// alpha = 0.01
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeSpec {
    /// The checks, evaluated in order.
    pub checks: Vec<CheckSpec>,
    /// Score at or above which (with every check decided) the verdict is Pass.
    #[serde(default = "default_pass_score")]
    pub pass_score: f64,
    /// Score below which the verdict is Fail.
    #[serde(default = "default_marginal_score")]
    pub marginal_score: f64,
}

impl JudgeSpec {
    /// A spec with the default thresholds (pass 95, marginal 75).
    pub fn new(checks: Vec<CheckSpec>) -> JudgeSpec {
        JudgeSpec {
            checks,
            pass_score: default_pass_score(),
            marginal_score: default_marginal_score(),
        }
    }

    /// Validates every check, the thresholds and label uniqueness.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.checks.is_empty() {
            return Err(SpecError::Judge {
                field: "checks",
                value: "[]".to_owned(),
                expected: "at least one check",
            });
        }
        for (field, v) in [
            ("pass_score", self.pass_score),
            ("marginal_score", self.marginal_score),
        ] {
            if !(0.0..=100.0).contains(&v) {
                return Err(SpecError::Judge {
                    field,
                    value: v.to_string(),
                    expected: "a score between 0 and 100",
                });
            }
        }
        if self.marginal_score > self.pass_score {
            return Err(SpecError::Judge {
                field: "marginal_score",
                value: self.marginal_score.to_string(),
                expected: "a score not above pass_score",
            });
        }
        let mut labels = Vec::with_capacity(self.checks.len());
        for c in &self.checks {
            c.validate()?;
            let label = c.label();
            if labels.contains(&label) {
                return Err(SpecError::DuplicateName(label));
            }
            labels.push(label);
        }
        Ok(())
    }
}

/// The explanation carried by a [`Verdict`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `100 × Σ weight(Pass) / Σ weight(decided)`, or `None` when no check
    /// decided.
    #[serde(default, with = "crate::float_serde::option")]
    pub score: Option<f64>,
    /// One line saying why.
    pub summary: String,
    /// Every check's result, in spec order.
    pub checks: Vec<CheckResult>,
}

/// The judge's answer: Pass, Fail or Inconclusive, with the report.
///
/// Serializes as `{"verdict": "fail", "score": .., "summary": .., "checks": [..]}`.
/// `Display` prints a multi-line, human-readable explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The canary may proceed.
    Pass(Report),
    /// The canary should be rolled back.
    Fail(Report),
    /// Not enough evidence either way yet.
    Inconclusive(Report),
}

impl Verdict {
    /// Pass, Fail or Inconclusive.
    pub fn outcome(&self) -> Outcome {
        match self {
            Verdict::Pass(_) => Outcome::Pass,
            Verdict::Fail(_) => Outcome::Fail,
            Verdict::Inconclusive(_) => Outcome::Inconclusive,
        }
    }

    /// The explanation.
    pub fn report(&self) -> &Report {
        match self {
            Verdict::Pass(r) | Verdict::Fail(r) | Verdict::Inconclusive(r) => r,
        }
    }

    /// Whether this is a Pass.
    pub fn is_pass(&self) -> bool {
        matches!(self, Verdict::Pass(_))
    }

    /// Whether this is a Fail.
    pub fn is_fail(&self) -> bool {
        matches!(self, Verdict::Fail(_))
    }

    /// Whether this is Inconclusive.
    pub fn is_inconclusive(&self) -> bool {
        matches!(self, Verdict::Inconclusive(_))
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.report();
        write!(f, "{}", self.outcome())?;
        if let Some(s) = r.score {
            write!(f, " (score {})", explain::fixed(s, 1))?;
        }
        write!(f, ": {}", r.summary)?;
        for c in &r.checks {
            write!(f, "\n  {c}")?;
        }
        Ok(())
    }
}

/// Evaluates a [`JudgeSpec`] on canary and baseline windows, keeping the
/// sequential checks' state between evaluations.
///
/// ```
/// use std::time::Duration;
/// use fledge_gate::{Judge, JudgeSpec, Recorder, RecorderConfig, clock::Timestamp};
///
/// let spec: JudgeSpec = toml::from_str(r#"
///     [[checks]]
///     kind = "threshold"
///     metric = "latency_p99"
///     max = 50.0
///     min_samples = 10
/// "#)?;
/// let mut judge = Judge::new(spec)?;
/// let recorder = Recorder::new(RecorderConfig::new(2))?;
/// for _ in 0..20 {
///     recorder.record(0, Duration::from_millis(10), false); // baseline
///     recorder.record(1, Duration::from_millis(80), false); // canary
/// }
/// let now = Timestamp::from_millis(60_000);
/// let baseline = recorder.window(0, now, Duration::from_secs(60))?;
/// let canary = recorder.window(1, now, Duration::from_secs(60))?;
/// let verdict = judge.evaluate(&canary, &baseline);
/// assert!(verdict.is_fail());
/// println!("{verdict}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Judge {
    spec: JudgeSpec,
    states: Vec<CheckState>,
    origin: Origin,
}

#[derive(Debug, Clone)]
enum Origin {
    /// Count from the recorder's creation.
    Zero,
    /// Take the next evaluation's totals as the origin.
    Next,
    /// Count from these totals (canary, baseline).
    At(Box<(Totals, Totals)>),
}

impl Judge {
    /// A judge for a validated spec.
    pub fn new(spec: JudgeSpec) -> Result<Judge, SpecError> {
        spec.validate()?;
        let states = spec.checks.iter().map(CheckState::new).collect();
        Ok(Judge {
            spec,
            states,
            origin: Origin::Zero,
        })
    }

    /// The spec.
    pub fn spec(&self) -> &JudgeSpec {
        &self.spec
    }

    /// Starts a new step whose data begins with the totals in these windows
    /// (take them at the step's first tick): sequential checks forget their
    /// looks and count from here.
    pub fn reset_from(&mut self, canary: &Window, baseline: &Window) {
        for s in &mut self.states {
            s.reset();
        }
        self.origin = Origin::At(Box::new((
            canary.totals().clone(),
            baseline.totals().clone(),
        )));
    }

    /// Starts a new step at the next evaluation: sequential checks forget
    /// their looks, and the next evaluation's totals become the origin (so
    /// that evaluation itself sees no sequential data yet).
    pub fn reset(&mut self) {
        for s in &mut self.states {
            s.reset();
        }
        self.origin = Origin::Next;
    }

    /// Evaluates every check and combines them.
    pub fn evaluate(&mut self, canary: &Window, baseline: &Window) -> Verdict {
        if matches!(self.origin, Origin::Next) {
            self.origin = Origin::At(Box::new((
                canary.totals().clone(),
                baseline.totals().clone(),
            )));
        }
        let origin = match &self.origin {
            Origin::At(o) => Some(&**o),
            _ => None,
        };
        let results: Vec<CheckResult> = self
            .spec
            .checks
            .iter()
            .zip(self.states.iter_mut())
            .map(|(spec, state)| check::evaluate(spec, state, canary, baseline, origin))
            .collect();
        combine(&self.spec, results)
    }
}

fn combine(spec: &JudgeSpec, checks: Vec<CheckResult>) -> Verdict {
    let mut passed = 0.0;
    let mut failed = 0.0;
    let mut undecided = 0.0;
    for c in &checks {
        match c.outcome {
            Outcome::Pass => passed += c.weight,
            Outcome::Fail => failed += c.weight,
            Outcome::Inconclusive => undecided += c.weight,
        }
    }
    let decided = passed + failed;
    let score = (decided > 0.0).then(|| 100.0 * passed / decided);
    let optimistic = 100.0 * (passed + undecided) / (decided + undecided);
    let failures: Vec<&str> = checks
        .iter()
        .filter(|c| c.outcome == Outcome::Fail)
        .map(|c| c.name.as_str())
        .collect();
    if let Some(c) = checks
        .iter()
        .find(|c| c.critical && c.outcome == Outcome::Fail)
    {
        let summary = format!("critical check `{}` failed: {}", c.name, c.detail);
        return Verdict::Fail(Report {
            score: Some(0.0),
            summary,
            checks,
        });
    }
    if decided > 0.0 && optimistic < spec.marginal_score {
        let summary = format!(
            "score below the marginal threshold {} even if undecided checks pass; failed: {}",
            spec.marginal_score,
            failures.join(", ")
        );
        return Verdict::Fail(Report {
            score,
            summary,
            checks,
        });
    }
    let inconclusive: Vec<&str> = checks
        .iter()
        .filter(|c| c.outcome == Outcome::Inconclusive)
        .map(|c| c.name.as_str())
        .collect();
    if inconclusive.is_empty() && score.is_some_and(|s| s >= spec.pass_score) {
        let summary = if failures.is_empty() {
            "all checks passed".to_owned()
        } else {
            format!(
                "score at or above {}; failed: {}",
                spec.pass_score,
                failures.join(", ")
            )
        };
        return Verdict::Pass(Report {
            score,
            summary,
            checks,
        });
    }
    let summary = if !inconclusive.is_empty() {
        format!("waiting for data: {}", inconclusive.join(", "))
    } else {
        format!(
            "marginal score (pass at {}, fail below {}); failed: {}",
            spec.pass_score,
            spec.marginal_score,
            failures.join(", ")
        )
    };
    Verdict::Inconclusive(Report {
        score,
        summary,
        checks,
    })
}
