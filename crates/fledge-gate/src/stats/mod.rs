//! Two-sample statistics for gates, checked against R, SciPy and Kayenta.
//!
//! | function | answers | matches |
//! |---|---|---|
//! | [`mann_whitney_u`] | do the distributions differ? (rank test) | SciPy `mannwhitneyu(method="asymptotic")`, R `wilcox.test(exact = FALSE)` |
//! | [`hodges_lehmann`] | by how much is the canary shifted, with a confidence interval? | R `wilcox.test(conf.int = TRUE, exact = FALSE, correct = TRUE)`, Kayenta |
//! | [`welch_t_test`] | do the means differ? | SciPy `ttest_ind(equal_var=False)`, R `t.test` |
//! | [`two_proportion_z_test`] | do the event rates (e.g. error rates) differ? | pooled two-proportion z-test |
//! | [`msprt_means`], [`msprt_proportions`], [`AlwaysValid`] | sequential versions that may be checked every tick | Johari et al., "Always Valid Inference" |
//! | [`conditional_binomial_test`] | is the canary's event rate higher, however few the events? (exact) | SciPy `binomtest` |
//! | [`conditional_binomial_msprt`] | the same, always valid (exact mixture SPRT, confirms [`msprt_proportions`]) | SciPy `betainc` / `quad` |
//! | [`binomial_tail`] | is a rate, or a quantile, above a limit? (exact) | SciPy `binom.sf` / `binom.cdf` |
//! | [`one_sample_t_test`] | is a mean above a limit? | SciPy `ttest_1samp` |
//! | [`ks_2samp`], [`ks_2samp_weighted`] | do two output distributions differ? (Kolmogorov–Smirnov, on sketch buckets) | SciPy `ks_2samp(method="exact")`, `kstwobign.sf` |
//! | [`chi_square_homogeneity`] | do two label mixes differ? (sparse labels pooled) | SciPy `chi2_contingency(correction=False)` |
//! | [`psi`], [`psi_weighted`], [`psi_from_counts`] | how far has a distribution moved? (population stability index, bins at the baseline's quantiles) | a hand-written Python PSI |
//! | [`mean_ratio_test`] | is the canary's mean above (below) `ratio ×` the baseline's? | SciPy `ttest_ind(x, ratio * y, equal_var=False)` |
//! | [`look_alpha`] | the significance level of the k-th look of a step (alpha spent per look) | – |
//!
//! The first argument is always the canary (experiment), the second the
//! baseline (control); signed results are `canary − baseline`. The
//! `*_weighted` versions take `(value, count)` pairs, e.g. the buckets of a
//! latency histogram, at the cost of their number of distinct values.
//!
//! Every function validates its input and returns a [`StatsError`] for empty,
//! too small, NaN or infinite input; none panics, and a returned p-value is
//! never NaN.
//!
//! ```
//! use fledge_gate::stats;
//!
//! let canary = [12.0, 15.0, 14.0, 18.0, 16.0];
//! let baseline = [10.0, 11.0, 9.0, 12.0, 10.5];
//! let mw = stats::mann_whitney_u(&canary, &baseline)?;
//! assert!(mw.p_value < 0.05);
//! let shift = stats::hodges_lehmann(&canary, &baseline, 0.95)?;
//! assert!(shift.low > 0.0);
//! # Ok::<(), fledge_gate::stats::StatsError>(())
//! ```

mod binned;
mod dist;
mod error;
mod exact;
mod ks;
mod moments;
pub(crate) mod rank;
mod sequential;

pub use binned::{
    ChiSquare, MIN_EXPECTED, PSI_FLOOR, Psi, PsiBin, chi_square_homogeneity, psi, psi_from_counts,
    psi_weighted,
};
pub use error::{Sample, StatsError};
pub use exact::{
    BinomialTail, ConditionalBinomial, ConditionalMixture, OneSampleT, binomial_tail,
    conditional_binomial_msprt, conditional_binomial_test, one_sample_t_test,
};
pub use ks::{
    KS_EXACT_MAX_PRODUCT, KolmogorovSmirnov, KsMethod, kolmogorov_sf, ks_2samp, ks_2samp_weighted,
};
pub use moments::Moments;
pub use rank::{MannWhitney, ShiftEstimate};
pub use sequential::{AlwaysValid, Msprt, look_alpha, msprt_means, msprt_proportions};

pub(crate) use rank::Weighted;

use serde::{Deserialize, Serialize};

/// Mann-Whitney U test, two-sided, normal approximation with tie and
/// continuity correction (SciPy `mannwhitneyu(method="asymptotic")`).
///
/// Each sample needs at least one finite value.
pub fn mann_whitney_u(canary: &[f64], baseline: &[f64]) -> Result<MannWhitney, StatsError> {
    let x = Weighted::from_values(canary, Sample::Canary, 1)?;
    let y = Weighted::from_values(baseline, Sample::Baseline, 1)?;
    rank::mann_whitney(&x, &y)
}

/// [`mann_whitney_u`] on `(value, count)` pairs (e.g. histogram buckets).
pub fn mann_whitney_u_weighted(
    canary: &[(f64, u64)],
    baseline: &[(f64, u64)],
) -> Result<MannWhitney, StatsError> {
    let x = Weighted::from_counts(canary, Sample::Canary, 1)?;
    let y = Weighted::from_counts(baseline, Sample::Baseline, 1)?;
    rank::mann_whitney(&x, &y)
}

/// Hodges-Lehmann shift `canary − baseline` with its confidence interval at
/// level `confidence` (e.g. `0.95`), as R's
/// `wilcox.test(canary, baseline, conf.int = TRUE, exact = FALSE, correct = TRUE)`
/// and Netflix Kayenta compute it.
///
/// The interval ends are the shifts `d` where the continuity-corrected,
/// tie-corrected Wilcoxon statistic of `canary − d` against `baseline`
/// crosses `±z(1 − α/2)`; the estimate is where the uncorrected statistic
/// crosses zero (close to the median of the pairwise differences). Roots are
/// found exactly as R does: Brent's method (`uniroot`) with R's absolute
/// tolerance of `1e-4`, searching `[min(canary) − max(baseline),
/// max(canary) − min(baseline)]` and returning an end of that range when
/// the statistic does not cross inside it.
///
/// Because of that fixed tolerance, results are only as precise as `1e-4`
/// in the data's units: express data so that `1e-4` is negligible (latency
/// in milliseconds, not seconds). On data whose whole range is below `1e-4`
/// R's procedure — and this one — can even return `low > high`; Kayenta
/// classifies on these raw ends, and so does [`crate::kayenta`].
///
/// Errors with [`StatsError::AllTied`] when every value (after shifting) is
/// the same.
pub fn hodges_lehmann(
    canary: &[f64],
    baseline: &[f64],
    confidence: f64,
) -> Result<ShiftEstimate, StatsError> {
    let x = Weighted::from_values(canary, Sample::Canary, 1)?;
    let y = Weighted::from_values(baseline, Sample::Baseline, 1)?;
    rank::shift_estimate(&x, &y, confidence)
}

/// [`hodges_lehmann`] on `(value, count)` pairs (e.g. histogram buckets).
pub fn hodges_lehmann_weighted(
    canary: &[(f64, u64)],
    baseline: &[(f64, u64)],
    confidence: f64,
) -> Result<ShiftEstimate, StatsError> {
    let x = Weighted::from_counts(canary, Sample::Canary, 1)?;
    let y = Weighted::from_counts(baseline, Sample::Baseline, 1)?;
    rank::shift_estimate(&x, &y, confidence)
}

/// R's `wdiff(d, zq)` inside `wilcox.test`: the tie-corrected, standardized
/// Wilcoxon statistic of `canary − shift` against `baseline` (with the
/// continuity correction when `correct`), minus `zq`. Exposed for
/// conformance tests.
#[doc(hidden)]
pub fn wilcoxon_diff(
    canary: &[f64],
    baseline: &[f64],
    shift: f64,
    zq: f64,
    correct: bool,
) -> Result<f64, StatsError> {
    let x = Weighted::from_values(canary, Sample::Canary, 1)?;
    let y = Weighted::from_values(baseline, Sample::Baseline, 1)?;
    rank::wilcoxon_diff(&x, &y, shift, zq, correct)
}

/// The standard normal quantile `z` with `P(Z <= z) = p`, for `p` in
/// `(0, 1)` (e.g. `0.975` → 1.96); `NaN` outside.
pub fn normal_quantile(p: f64) -> f64 {
    dist::normal_quantile(p)
}

/// The standard normal CDF `P(Z <= z)` (e.g. `1.96` → 0.975), accurate in
/// the far tails.
pub fn normal_cdf(z: f64) -> f64 {
    dist::normal_sf(-z)
}

/// The Student-t quantile `t` with `P(T <= t) = p` for `df` degrees of
/// freedom, `p` in `(0, 1)` and `df > 0` (infinite `df`: the normal's);
/// `NaN` outside.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    dist::t_quantile(p, df)
}

/// Result of [`welch_t_test`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WelchT {
    /// The t statistic of `mean(canary) − mean(baseline)`; infinite when both
    /// samples are constant and their means differ.
    pub t: f64,
    /// Welch-Satterthwaite degrees of freedom (`n₁ + n₂ − 2` when both
    /// samples are constant).
    pub df: f64,
    /// Two-sided p-value, in `[0, 1]`.
    pub p_value: f64,
}

/// Welch's unequal-variances t-test, two-sided (SciPy
/// `ttest_ind(equal_var=False)`, R `t.test`). Each sample needs at least two
/// values.
///
/// When both samples are constant the test degenerates: equal means give
/// `t = 0, p = 1`, different means `t = ±∞, p = 0`.
pub fn welch_t_test(canary: &[f64], baseline: &[f64]) -> Result<WelchT, StatsError> {
    error::check_sample(canary, Sample::Canary, 2)?;
    error::check_sample(baseline, Sample::Baseline, 2)?;
    let (m1, v1) = mean_var(canary);
    let (m2, v2) = mean_var(baseline);
    welch_from(m1, v1, canary.len() as f64, m2, v2, baseline.len() as f64)
}

/// [`welch_t_test`] from [`Moments`] (count, sum, sum of squares), e.g. of a
/// window's custom metric. Each side needs at least two values.
pub fn welch_t_test_moments(canary: &Moments, baseline: &Moments) -> Result<WelchT, StatsError> {
    for (m, sample) in [(canary, Sample::Canary), (baseline, Sample::Baseline)] {
        error::check_len(m.count, sample, 2)?;
    }
    let m1 = error::finite(canary.sum / canary.count as f64, "canary mean")?;
    let m2 = error::finite(baseline.sum / baseline.count as f64, "baseline mean")?;
    welch_from(
        m1,
        canary.variance().unwrap_or(0.0),
        canary.count as f64,
        m2,
        baseline.variance().unwrap_or(0.0),
        baseline.count as f64,
    )
}

fn mean_var(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let ss: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    (mean, ss / (n - 1.0))
}

fn welch_from(m1: f64, v1: f64, n1: f64, m2: f64, v2: f64, n2: f64) -> Result<WelchT, StatsError> {
    let m1 = error::finite(m1, "canary mean")?;
    let m2 = error::finite(m2, "baseline mean")?;
    let v1 = error::finite(v1, "canary variance")?;
    let v2 = error::finite(v2, "baseline variance")?;
    let diff = error::finite(m1 - m2, "difference of means")?;
    let a = v1 / n1;
    let b = v2 / n2;
    let se2 = a + b;
    if se2 <= 0.0 {
        return Ok(if diff == 0.0 {
            WelchT {
                t: 0.0,
                df: n1 + n2 - 2.0,
                p_value: 1.0,
            }
        } else {
            WelchT {
                t: if diff > 0.0 {
                    f64::INFINITY
                } else {
                    f64::NEG_INFINITY
                },
                df: n1 + n2 - 2.0,
                p_value: 0.0,
            }
        });
    }
    let t = error::finite(diff / se2.sqrt(), "t statistic")?;
    let df = error::finite(
        se2 * se2 / (a * a / (n1 - 1.0) + b * b / (n2 - 1.0)),
        "degrees of freedom",
    )?;
    Ok(WelchT {
        t,
        df,
        p_value: dist::t_two_sided(t, df),
    })
}

/// Result of [`mean_ratio_test`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanRatio {
    /// `mean(canary) / mean(baseline)` (infinite or NaN when the baseline
    /// mean is 0).
    pub ratio: f64,
    /// The t statistic of `mean(canary) − ratio_tested × mean(baseline)`.
    pub t: f64,
    /// Welch-Satterthwaite degrees of freedom.
    pub df: f64,
    /// `P(T ≥ t)`: the one-sided p-value against "the canary's mean is at
    /// most `ratio_tested ×` the baseline's".
    pub p_greater: f64,
    /// `P(T ≤ t)`: against "at least `ratio_tested ×` the baseline's".
    pub p_less: f64,
}

/// Welch's t-test of the canary's mean against `ratio ×` the baseline's,
/// one-sided both ways: `t = (m_c − r m_b) / sqrt(s_c²/n_c + r² s_b²/n_b)`
/// with Welch-Satterthwaite degrees of freedom, the same as SciPy
/// `ttest_ind(canary, ratio * baseline, equal_var=False)`. A relative check
/// "the canary's mean within ±x % of the baseline's" fails on
/// `p_greater` at `ratio = 1 + x` or `p_less` at `ratio = 1 − x`.
///
/// From [`Moments`]; each side needs at least two values; `ratio` must be
/// finite.
pub fn mean_ratio_test(
    canary: &Moments,
    baseline: &Moments,
    ratio: f64,
) -> Result<MeanRatio, StatsError> {
    let ratio = error::finite(ratio, "ratio")?;
    for (m, sample) in [(canary, Sample::Canary), (baseline, Sample::Baseline)] {
        error::check_len(m.count, sample, 2)?;
    }
    let m1 = error::finite(canary.sum / canary.count as f64, "canary mean")?;
    let m2 = error::finite(baseline.sum / baseline.count as f64, "baseline mean")?;
    let w = welch_from(
        m1,
        canary.variance().unwrap_or(0.0),
        canary.count as f64,
        ratio * m2,
        ratio * ratio * baseline.variance().unwrap_or(0.0),
        baseline.count as f64,
    )?;
    let p_greater = dist::t_sf(w.t, w.df);
    Ok(MeanRatio {
        ratio: m1 / m2,
        t: w.t,
        df: w.df,
        p_greater,
        p_less: dist::t_sf(-w.t, w.df),
    })
}

/// Result of [`two_proportion_z_test`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProportionZ {
    /// z score of `rate(canary) − rate(baseline)` with the pooled standard
    /// error (positive when the canary rate is higher; `0` when both rates
    /// are 0 or both are 1).
    pub z: f64,
    /// Two-sided p-value, in `[0, 1]`.
    pub p_value: f64,
}

/// Two-proportion z-test with pooled standard error, two-sided: do the event
/// rates `canary_events / canary_n` and `baseline_events / baseline_n`
/// differ? Each group needs at least one trial and no more events than
/// trials.
pub fn two_proportion_z_test(
    canary_events: u64,
    canary_n: u64,
    baseline_events: u64,
    baseline_n: u64,
) -> Result<ProportionZ, StatsError> {
    error::check_counts(canary_events, canary_n, Sample::Canary)?;
    error::check_counts(baseline_events, baseline_n, Sample::Baseline)?;
    let (x1, n1) = (canary_events as f64, canary_n as f64);
    let (x2, n2) = (baseline_events as f64, baseline_n as f64);
    let p1 = x1 / n1;
    let p2 = x2 / n2;
    let pooled = (x1 + x2) / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    let z = if se > 0.0 { (p1 - p2) / se } else { 0.0 };
    let z = error::finite(z, "z score")?;
    Ok(ProportionZ {
        z,
        p_value: dist::normal_two_sided(z),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_problem() {
        let e = mann_whitney_u(&[], &[1.0]).unwrap_err();
        assert_eq!(
            e,
            StatsError::Empty {
                sample: Sample::Canary,
                min: 1
            }
        );
        assert!(e.to_string().contains("canary sample is empty"));
        let e = welch_t_test(&[1.0, f64::NAN], &[1.0, 2.0]).unwrap_err();
        assert_eq!(
            e,
            StatsError::NaN {
                sample: Sample::Canary,
                index: 1
            }
        );
        let e = welch_t_test(&[1.0, 2.0], &[1.0]).unwrap_err();
        assert!(matches!(e, StatsError::TooSmall { min: 2, .. }));
        let e = two_proportion_z_test(5, 4, 1, 10).unwrap_err();
        assert!(matches!(e, StatsError::EventsExceedTrials { .. }));
        let e = hodges_lehmann(&[1.0], &[f64::INFINITY], 0.95).unwrap_err();
        assert!(matches!(e, StatsError::Infinite { .. }));
        let e = hodges_lehmann(&[1.0, 1.0], &[1.0], 0.95).unwrap_err();
        assert_eq!(e, StatsError::AllTied);
        let e = hodges_lehmann(&[1.0, 2.0], &[1.0], 1.5).unwrap_err();
        assert!(matches!(
            e,
            StatsError::InvalidParameter {
                name: "confidence",
                ..
            }
        ));
    }

    #[test]
    fn all_tied_mann_whitney_is_p_one() {
        let r = mann_whitney_u(&[3.0, 3.0], &[3.0, 3.0, 3.0]).unwrap();
        assert_eq!(r.u, 3.0);
        assert_eq!(r.z, 0.0);
        assert_eq!(r.p_value, 1.0);
    }

    #[test]
    fn constant_welch_degenerates() {
        let r = welch_t_test(&[2.0, 2.0], &[2.0, 2.0, 2.0]).unwrap();
        assert_eq!((r.t, r.p_value), (0.0, 1.0));
        let r = welch_t_test(&[3.0, 3.0], &[2.0, 2.0, 2.0]).unwrap();
        assert_eq!(r.p_value, 0.0);
        assert!(r.t.is_infinite() && r.t > 0.0);
    }

    #[test]
    fn weighted_equals_expanded() {
        let a = [1.0, 1.0, 2.0, 5.0, 5.0, 5.0];
        let b = [1.0, 3.0, 3.0, 4.0];
        let plain = mann_whitney_u(&a, &b).unwrap();
        let weighted = mann_whitney_u_weighted(
            &[(5.0, 3), (1.0, 2), (2.0, 1)],
            &[(3.0, 2), (1.0, 1), (4.0, 1)],
        )
        .unwrap();
        assert_eq!(plain, weighted);
        let h1 = hodges_lehmann(&a, &b, 0.9).unwrap();
        let h2 = hodges_lehmann_weighted(
            &[(5.0, 3), (1.0, 2), (2.0, 1)],
            &[(3.0, 2), (1.0, 1), (4.0, 1)],
            0.9,
        )
        .unwrap();
        assert_eq!(h1, h2);
    }
}
