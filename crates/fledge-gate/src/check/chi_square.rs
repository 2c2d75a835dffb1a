//! `chi_square` checks: Pearson's chi-square test of a categorical model
//! output's label mix, canary against baseline, with the step's alpha
//! spent over its looks.

use super::decide::too_few;
use super::read;
use super::result::{CheckResult, Outcome};
use super::sequential::CheckState;
use super::spec::CheckSpec;
use crate::explain::{number, p_value, percent};
use crate::output::LabelCounts;
use crate::stats;
use crate::window::Window;

/// Evaluates a `chi_square` check: one more look for `state`.
pub(super) fn evaluate(
    r: &mut CheckResult,
    spec: &CheckSpec,
    state: &mut CheckState,
    canary: &Window,
    baseline: &Window,
    alpha: f64,
) {
    let Some((c, b)) = read::categorical_outputs(r, canary, baseline, &spec.metric) else {
        return;
    };
    if too_few(r, spec.min_samples, true) {
        return;
    }
    let (names, cc, bc) = LabelCounts::aligned(c, b);
    let chi = match stats::chi_square_homogeneity(&cc, &bc) {
        Ok(chi) => chi,
        Err(e) => {
            r.detail = format!("test could not run: {e}");
            return;
        }
    };
    let (look, level) = state.looks.next(alpha);
    r.p_value = Some(chi.p_value);
    r.bound = Some(level);
    // The label whose share moved most, for the explanation.
    let (nc, nb) = (c.total() as f64, b.total() as f64);
    let moved = names
        .iter()
        .zip(cc.iter().zip(&bc))
        .map(|(n, (&x, &y))| (n, x as f64 / nc, y as f64 / nb))
        .max_by(|a, b| (a.1 - a.2).abs().total_cmp(&(b.1 - b.2).abs()));
    let moved = moved
        .map(|(n, x, y)| format!("; largest move: {n} {} vs {}", percent(x), percent(y)))
        .unwrap_or_default();
    let fail = chi.p_value <= level;
    r.outcome = if fail { Outcome::Fail } else { Outcome::Pass };
    r.detail = format!(
        "{} labels and other ({} pooled into sparse columns), chi-square {} (df {}), {} vs {} values, p = {} {} {} (look {look}: its share of alpha {alpha}){moved}",
        names.len() - 1,
        chi.pooled,
        number(chi.statistic),
        chi.df,
        c.total(),
        b.total(),
        p_value(chi.p_value),
        if fail { "<=" } else { ">" },
        p_value(level),
    );
}
