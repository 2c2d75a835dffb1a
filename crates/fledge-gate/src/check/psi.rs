//! `psi` checks: the population stability index of a numeric model output,
//! bins at the baseline's quantiles, failed only when a chi-square test on
//! the same bins shows the shift at this look's level.

use super::decide::too_few;
use super::read;
use super::result::{CheckResult, Outcome};
use super::sequential::CheckState;
use super::spec::CheckSpec;
use crate::explain::{number, p_value};
use crate::stats;
use crate::window::Window;

#[allow(clippy::too_many_arguments)] // the kind's parameters, as the dispatcher passes them
/// Evaluates a `psi` check with `bins` bins and `threshold`; the chi-square
/// test (run only when the PSI is above the threshold) takes one more look
/// for `state`.
pub(super) fn evaluate(
    r: &mut CheckResult,
    spec: &CheckSpec,
    state: &mut CheckState,
    canary: &Window,
    baseline: &Window,
    bins: usize,
    threshold: f64,
    alpha: f64,
) {
    let Some((c, b)) = read::numeric_outputs(r, canary, baseline, &spec.metric) else {
        return;
    };
    r.canary = c.quantile(0.5);
    r.baseline = b.quantile(0.5);
    if too_few(r, spec.min_samples, true) {
        return;
    }
    let psi = match stats::psi_weighted(&c.sketch().weighted(), &b.sketch().weighted(), bins) {
        Ok(p) => p,
        Err(e) => {
            r.detail = format!("test could not run: {e}");
            return;
        }
    };
    r.bound = Some(threshold);
    let head = format!(
        "PSI {} over {} bins at the baseline's quantiles (noise floor about {}), {} vs {} values",
        number(psi.value),
        psi.bins.len(),
        number(psi.noise_floor()),
        psi.canary_n,
        psi.baseline_n
    );
    if psi.value <= threshold {
        r.outcome = Outcome::Pass;
        r.detail = format!("{head}: <= threshold {threshold}");
        return;
    }
    let cc: Vec<u64> = psi.bins.iter().map(|x| x.canary).collect();
    let bc: Vec<u64> = psi.bins.iter().map(|x| x.baseline).collect();
    let chi = match stats::chi_square_homogeneity(&cc, &bc) {
        Ok(chi) => chi,
        Err(e) => {
            r.detail = format!("{head}: > threshold {threshold}, but the test could not run: {e}");
            return;
        }
    };
    let (look, level) = state.looks.next(alpha);
    r.p_value = Some(chi.p_value);
    if chi.p_value <= level {
        r.outcome = Outcome::Fail;
        r.detail = format!(
            "{head}: > threshold {threshold}, and the bins differ: chi-square {} (df {}), p = {} <= {} (look {look}: its share of alpha {alpha})",
            number(chi.statistic),
            chi.df,
            p_value(chi.p_value),
            p_value(level)
        );
    } else {
        r.outcome = Outcome::Inconclusive;
        r.detail = format!(
            "{head}: > threshold {threshold}, but not shown by the counts: chi-square {} (df {}), p = {} > {} (look {look}): waiting for more data",
            number(chi.statistic),
            chi.df,
            p_value(chi.p_value),
            p_value(level)
        );
    }
}
