//! `ks` checks: the two-sample Kolmogorov–Smirnov test on a numeric model
//! output's sketches, canary against baseline, with the step's alpha spent
//! over its looks.

use super::decide::too_few;
use super::read;
use super::result::{CheckResult, Outcome};
use super::sequential::CheckState;
use super::spec::CheckSpec;
use crate::explain::{number, p_value};
use crate::stats::{self, KsMethod};
use crate::window::Window;

/// Evaluates a `ks` check: one more look for `state`, at level
/// [`stats::look_alpha`]`(alpha, look)`.
pub(super) fn evaluate(
    r: &mut CheckResult,
    spec: &CheckSpec,
    state: &mut CheckState,
    canary: &Window,
    baseline: &Window,
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
    let (cw, bw) = (c.sketch().weighted(), b.sketch().weighted());
    let ks = match stats::ks_2samp_weighted(&cw, &bw) {
        Ok(ks) => ks,
        Err(e) => {
            r.detail = format!("test could not run: {e}");
            return;
        }
    };
    let (look, level) = state.looks.next(alpha);
    r.p_value = Some(ks.p_value);
    r.bound = Some(level);
    let upper = d_upper(&cw, &bw);
    let fail = ks.p_value <= level;
    r.outcome = if fail { Outcome::Fail } else { Outcome::Pass };
    let side = if ks.signed < 0.0 {
        "canary higher"
    } else {
        "canary lower"
    };
    r.detail = format!(
        "D = {} at {} ({side}; on raw values D is in [{}, {}]), medians {} vs {}, {} vs {} values, p = {} ({}) {} {} (look {look}: its share of alpha {alpha})",
        number(ks.statistic),
        number(ks.location),
        number(ks.statistic),
        number(upper),
        number(r.canary.unwrap_or(f64::NAN)),
        number(r.baseline.unwrap_or(f64::NAN)),
        ks.canary_n,
        ks.baseline_n,
        p_value(ks.p_value),
        match ks.method {
            KsMethod::Exact => "exact",
            KsMethod::Asymptotic => "asymptotic",
        },
        if fail { "<=" } else { ">" },
        p_value(level),
    );
}

/// An upper bound of `D` on the raw values the buckets stand for: inside
/// a bucket each CDF is between its values at the bucket's edges, so
/// `|F_c − F_b|` there is at most `max(|F_c(hi) − F_b(lo)|, |F_c(lo) −
/// F_b(hi)|)`. (`D` at the edges, what the test uses, is a lower bound.)
pub(super) fn d_upper(canary: &[(f64, u64)], baseline: &[(f64, u64)]) -> f64 {
    let nc: u64 = canary.iter().map(|p| p.1).sum();
    let nb: u64 = baseline.iter().map(|p| p.1).sum();
    if nc == 0 || nb == 0 {
        return 0.0;
    }
    let (nc, nb) = (nc as f64, nb as f64);
    let (mut i, mut j) = (0, 0);
    let (mut cc, mut cb) = (0u64, 0u64);
    let mut best: f64 = 0.0;
    while i < canary.len() || j < baseline.len() {
        let x = match (canary.get(i), baseline.get(j)) {
            (Some(a), Some(z)) => a.0.min(z.0),
            (Some(a), None) => a.0,
            (None, Some(z)) => z.0,
            (None, None) => break,
        };
        let (lo_c, lo_b) = (cc as f64 / nc, cb as f64 / nb);
        while let Some(p) = canary.get(i).filter(|p| p.0 == x) {
            cc += p.1;
            i += 1;
        }
        while let Some(p) = baseline.get(j).filter(|p| p.0 == x) {
            cb += p.1;
            j += 1;
        }
        let (hi_c, hi_b) = (cc as f64 / nc, cb as f64 / nb);
        best = best.max((hi_c - lo_b).abs()).max((lo_c - hi_b).abs());
    }
    best.min(1.0)
}
