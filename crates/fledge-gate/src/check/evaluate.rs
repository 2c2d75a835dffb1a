//! Evaluating one check: a fresh [`CheckResult`], then the kind's own
//! function (one file per kind).

use super::kind::Test;
use super::result::{CheckResult, Outcome};
use super::sequential::{self, CheckState};
use super::spec::CheckSpec;
use super::{
    chi_square, ks, mann_whitney, output_mean, proportion, psi, read, relative, t_test, threshold,
};
use crate::kayenta::{ClassifierConfig, NanStrategy};
use crate::window::{Totals, Window};

/// Evaluates one check. `origin` holds the canary's and baseline's totals at
/// the start of the step (for `sequential`).
pub(crate) fn evaluate(
    spec: &CheckSpec,
    state: &mut CheckState,
    canary: &Window,
    baseline: &Window,
    origin: Option<&(Totals, Totals)>,
) -> CheckResult {
    let mut r = start(spec, canary, baseline);
    match &spec.test {
        Test::Threshold { max, min } => threshold::evaluate(&mut r, spec, canary, *max, *min),
        Test::Relative {
            max_ratio,
            min_ratio,
            max_increase,
            max_decrease,
        } => relative::evaluate(
            &mut r,
            spec,
            *max_ratio,
            *min_ratio,
            *max_increase,
            *max_decrease,
        ),
        Test::MannWhitney {
            direction,
            tolerance,
            confidence,
            effect_measure,
            effect_thresholds,
            critical_thresholds,
        } => {
            let config = ClassifierConfig {
                tolerance: *tolerance,
                confidence: *confidence,
                effect_measure: *effect_measure,
                effect_thresholds: *effect_thresholds,
                critical_thresholds: *critical_thresholds,
                critical: spec.critical,
                nan_strategy: NanStrategy::Remove,
            };
            mann_whitney::evaluate(&mut r, spec, canary, baseline, *direction, &config);
            // The classifier decided `critical` (critical thresholds too).
            return r;
        }
        Test::Proportion { alpha, direction } => {
            proportion::evaluate(&mut r, spec, canary, baseline, *alpha, *direction);
        }
        Test::TTest { alpha, direction } => {
            t_test::evaluate(&mut r, spec, canary, baseline, *alpha, *direction);
        }
        Test::Sequential {
            alpha,
            tau,
            direction,
        } => {
            let since = sequential::since(canary, baseline, origin);
            sequential::evaluate(&mut r, spec, state, &since, *alpha, *tau, *direction);
        }
        Test::Ks { alpha } => ks::evaluate(&mut r, spec, state, canary, baseline, *alpha),
        Test::Psi {
            bins,
            threshold,
            alpha,
        } => psi::evaluate(
            &mut r, spec, state, canary, baseline, *bins, *threshold, *alpha,
        ),
        Test::ChiSquare { alpha } => {
            chi_square::evaluate(&mut r, spec, state, canary, baseline, *alpha);
        }
        Test::OutputMean {
            tolerance,
            alpha,
            direction,
        } => output_mean::evaluate(
            &mut r, spec, state, canary, baseline, *tolerance, *alpha, *direction,
        ),
    }
    if r.outcome == Outcome::Fail {
        r.critical = spec.critical;
    }
    r
}

/// An Inconclusive result with the windows' values and sample counts of the
/// check's metric, for the kind to decide.
fn start(spec: &CheckSpec, canary: &Window, baseline: &Window) -> CheckResult {
    let metric = &spec.metric;
    CheckResult {
        name: spec.label(),
        metric: metric.to_string(),
        kind: spec.test.kind(),
        outcome: Outcome::Inconclusive,
        critical: false,
        weight: spec.weight,
        canary: read::scalar(canary, metric),
        baseline: read::scalar(baseline, metric),
        canary_samples: read::samples(canary, metric),
        baseline_samples: read::samples(baseline, metric),
        p_value: None,
        bound: None,
        interval: None,
        classification: None,
        detail: String::new(),
    }
}
