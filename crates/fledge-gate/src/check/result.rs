//! What a check answers: [`Outcome`] and [`CheckResult`] (serde and
//! `Display`).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::kind::CheckKind;
use crate::kayenta::Classification;

/// Pass, Fail or Inconclusive: the answer of a check, and the kind of a
/// [`Verdict`](crate::Verdict).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// No evidence against the canary, with enough data.
    Pass,
    /// Evidence against the canary.
    Fail,
    /// Not enough data (or the test could not run).
    Inconclusive,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Inconclusive => "inconclusive",
        })
    }
}

/// The result of one check, with everything needed to explain it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The check's label.
    pub name: String,
    /// The metric, as written in the spec (e.g. `latency_p99`).
    pub metric: String,
    /// The test that ran.
    pub kind: CheckKind,
    /// Pass, Fail or Inconclusive.
    pub outcome: Outcome,
    /// Whether this failure fails the verdict at once (a critical check that
    /// failed; for `mann_whitney`, also beyond its critical thresholds).
    pub critical: bool,
    /// The check's weight in the score.
    pub weight: f64,
    /// The canary's value (ms for latency; the median for `mann_whitney`;
    /// since the step started for `sequential`).
    #[serde(default, with = "crate::float_serde::option")]
    pub canary: Option<f64>,
    /// The baseline's value, likewise.
    #[serde(default, with = "crate::float_serde::option")]
    pub baseline: Option<f64>,
    /// Samples on the canary side.
    pub canary_samples: u64,
    /// Samples on the baseline side.
    pub baseline_samples: u64,
    /// The test's p-value (always-valid for `sequential`).
    #[serde(default, with = "crate::float_serde::option")]
    pub p_value: Option<f64>,
    /// The limit the canary was held to (thresholds, relative bounds) or the
    /// significance level (statistical tests).
    #[serde(default, with = "crate::float_serde::option")]
    pub bound: Option<f64>,
    /// Confidence interval of the difference `canary − baseline`
    /// (`mann_whitney`: the shift; `sequential`: the always-valid interval).
    #[serde(default, with = "crate::float_serde::option_pair")]
    pub interval: Option<[f64; 2]>,
    /// Kayenta's class, for `mann_whitney`.
    pub classification: Option<Classification>,
    /// A one-line human-readable explanation.
    pub detail: String,
}

impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] {} ({} on {}): {}",
            self.outcome, self.name, self.kind, self.metric, self.detail
        )?;
        if self.critical && self.outcome == Outcome::Fail {
            f.write_str(" [critical]")?;
        }
        Ok(())
    }
}
