//! `t_test` checks: Welch's t-test on the means of `latency_mean` or a
//! custom metric.

use super::decide::{significance, too_few};
use super::read;
use super::result::CheckResult;
use super::spec::CheckSpec;
use crate::explain::{self, fixed, p_value};
use crate::kayenta::Direction;
use crate::stats;
use crate::window::Window;

/// Evaluates a `t_test` check at level `alpha`, failing on a change in
/// `direction`.
pub(super) fn evaluate(
    r: &mut CheckResult,
    spec: &CheckSpec,
    canary: &Window,
    baseline: &Window,
    alpha: f64,
    direction: Direction,
) {
    if too_few(r, spec.min_samples, true) {
        return;
    }
    r.bound = Some(alpha);
    let cm = read::moments(canary, &spec.metric).unwrap_or_default();
    let bm = read::moments(baseline, &spec.metric).unwrap_or_default();
    r.canary = cm.mean();
    r.baseline = bm.mean();
    match stats::welch_t_test_moments(&cm, &bm) {
        Ok(t) => {
            let sign = significance(r, t.p_value, alpha, direction);
            let unit = spec.metric.unit();
            r.detail = format!(
                "canary mean {} vs baseline {}, t = {} (df {}), p = {} {} alpha {}",
                explain::value(r.canary, unit),
                explain::value(r.baseline, unit),
                fixed(t.t, 2),
                fixed(t.df, 1),
                p_value(t.p_value),
                sign,
                alpha
            );
        }
        Err(e) => r.detail = format!("test could not run: {e}"),
    }
}
