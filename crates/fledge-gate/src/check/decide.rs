//! Rules several check kinds share to set an [`Outcome`]: the minimum
//! sample size, and significance at a level in a direction.

use super::result::{CheckResult, Outcome};
use crate::kayenta::Direction;
use crate::stats;

/// The tests an output check has run in the current step: each gets its
/// own level, [`stats::look_alpha`], so the step's false failures stay
/// within `alpha` however many looks it takes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Looks {
    /// Tests run since the step started.
    pub(crate) count: u64,
}

impl Looks {
    /// One more test: its number (1 for the first) and its level.
    pub(super) fn next(&mut self, alpha: f64) -> (u64, f64) {
        self.count += 1;
        (self.count, stats::look_alpha(alpha, self.count))
    }
}

/// Inconclusive, with the reason, when the canary (and, with `both`, the
/// baseline) has fewer than `min` samples; returns whether it was.
pub(super) fn too_few(r: &mut CheckResult, min: u64, both: bool) -> bool {
    let short_canary = r.canary_samples < min;
    let short_baseline = both && r.baseline_samples < min;
    if !(short_canary || short_baseline) {
        return false;
    }
    r.outcome = Outcome::Inconclusive;
    r.detail = if short_canary {
        format!(
            "too little data: {} of {min} canary samples",
            r.canary_samples
        )
    } else {
        format!(
            "too little data: {} of {min} baseline samples",
            r.baseline_samples
        )
    };
    true
}

/// Sets the outcome from a p-value: Fail when significant at `alpha` and
/// the canary moved in the bad `direction`, else Pass. Returns how `p`
/// compares with `alpha` (`<=` or `>`), for the detail.
pub(super) fn significance(
    r: &mut CheckResult,
    p: f64,
    alpha: f64,
    direction: Direction,
) -> &'static str {
    r.p_value = Some(p);
    let diff = r.canary.unwrap_or(0.0) - r.baseline.unwrap_or(0.0);
    let significant = p <= alpha;
    r.outcome = if significant && direction.is_bad(diff) {
        Outcome::Fail
    } else {
        Outcome::Pass
    };
    if significant { "<=" } else { ">" }
}
