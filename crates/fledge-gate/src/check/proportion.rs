//! `proportion` checks: the two-proportion z-test on the error rate,
//! confirmed by the exact conditional binomial test before it fails.

use super::decide::{significance, too_few};
use super::result::{CheckResult, Outcome};
use super::spec::CheckSpec;
use crate::explain::{self, fixed, number, p_value};
use crate::kayenta::Direction;
use crate::stats;
use crate::window::Window;

/// Evaluates a `proportion` check at level `alpha`, failing on a change in
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
    let z = match stats::two_proportion_z_test(
        canary.errors(),
        canary.requests(),
        baseline.errors(),
        baseline.requests(),
    ) {
        Ok(z) => z,
        Err(e) => {
            r.detail = format!("test could not run: {e}");
            return;
        }
    };
    let sign = significance(r, z.p_value, alpha, direction);
    r.detail = format!(
        "canary {} vs baseline {} ({}/{} vs {}/{}), z = {}, p = {} {} alpha {}",
        explain::value(r.canary, ""),
        explain::value(r.baseline, ""),
        canary.errors(),
        canary.requests(),
        baseline.errors(),
        baseline.requests(),
        fixed(z.z, 2),
        p_value(z.p_value),
        sign,
        alpha
    );
    // The z-test is anti-conservative on a handful of events: fail only
    // when the exact conditional binomial test agrees, one-sided at
    // alpha / 2 on the canary's side (the z-test's two-sided alpha, halved).
    if r.outcome != Outcome::Fail {
        return;
    }
    let Ok(e) = stats::conditional_binomial_test(
        canary.errors(),
        canary.requests(),
        baseline.errors(),
        baseline.requests(),
    ) else {
        return;
    };
    let higher = z.z > 0.0;
    let p = if higher { e.p_greater } else { e.p_less };
    let agrees = p <= alpha / 2.0;
    r.p_value = Some(z.p_value.max(2.0 * p).min(1.0));
    r.detail.push_str(&format!(
        "; exact conditional binomial p = {} ({} of {} errors on the canary, share {}) {} {}",
        p_value(p),
        canary.errors(),
        e.events,
        number(e.share),
        if agrees { "<=" } else { ">" },
        number(alpha / 2.0)
    ));
    if !agrees {
        r.outcome = Outcome::Pass;
        r.detail.push_str(": too few errors to tell, not failed");
    }
}
