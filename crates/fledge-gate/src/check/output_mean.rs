//! `output_mean` checks: the canary's mean of a numeric model output within
//! `±tolerance` of the baseline's, failed on a one-sided Welch t-test at
//! this look's level.

use super::decide::too_few;
use super::read;
use super::result::{CheckResult, Outcome};
use super::sequential::CheckState;
use super::spec::CheckSpec;
use crate::explain::{number, p_value, percent};
use crate::kayenta::Direction;
use crate::stats;
use crate::window::Window;

#[allow(clippy::too_many_arguments)] // the kind's parameters, as the dispatcher passes them
/// Evaluates an `output_mean` check: one more look for `state`; a
/// two-sided check (`either`) gives each side half the look's level.
pub(super) fn evaluate(
    r: &mut CheckResult,
    spec: &CheckSpec,
    state: &mut CheckState,
    canary: &Window,
    baseline: &Window,
    tolerance: f64,
    alpha: f64,
    direction: Direction,
) {
    let Some((c, b)) = read::numeric_outputs(r, canary, baseline, &spec.metric) else {
        return;
    };
    r.canary = c.mean();
    r.baseline = b.mean();
    if too_few(r, spec.min_samples, true) {
        return;
    }
    let Some(mb) = r.baseline.filter(|m| *m > 0.0) else {
        r.detail = format!(
            "baseline mean {} is not positive: a relative tolerance needs a positive baseline mean",
            number(r.baseline.unwrap_or(f64::NAN))
        );
        return;
    };
    let up = matches!(direction, Direction::Increase | Direction::Either);
    let down = matches!(direction, Direction::Decrease | Direction::Either);
    let tests = (
        up.then(|| stats::mean_ratio_test(c.moments(), b.moments(), 1.0 + tolerance)),
        down.then(|| stats::mean_ratio_test(c.moments(), b.moments(), 1.0 - tolerance)),
    );
    let p_up = match tests.0.transpose() {
        Ok(t) => t.map(|t| t.p_greater),
        Err(e) => {
            r.detail = format!("test could not run: {e}");
            return;
        }
    };
    let p_down = match tests.1.transpose() {
        Ok(t) => t.map(|t| t.p_less),
        Err(e) => {
            r.detail = format!("test could not run: {e}");
            return;
        }
    };
    let (look, level) = state.looks.next(alpha);
    let side_level = if up && down { level / 2.0 } else { level };
    let p = p_up.unwrap_or(1.0).min(p_down.unwrap_or(1.0));
    r.p_value = Some(p);
    r.bound = Some(side_level);
    let ratio = r.canary.unwrap_or(f64::NAN) / mb;
    let fail = p <= side_level;
    r.outcome = if fail { Outcome::Fail } else { Outcome::Pass };
    let side = if p_up.unwrap_or(1.0) <= p_down.unwrap_or(1.0) {
        format!("above {} ×", number(1.0 + tolerance))
    } else {
        format!("below {} ×", number(1.0 - tolerance))
    };
    r.detail = format!(
        "canary mean {} vs baseline {} (ratio {}, tolerance ±{}), {} vs {} values; mean {side} the baseline's: p = {} {} {} (look {look}: its share of alpha {alpha}{})",
        number(r.canary.unwrap_or(f64::NAN)),
        number(mb),
        number(ratio),
        percent(tolerance),
        c.count(),
        b.count(),
        p_value(p),
        if fail { "<=" } else { ">" },
        p_value(side_level),
        if up && down { ", halved per side" } else { "" },
    );
}
