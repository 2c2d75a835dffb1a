//! Exact and small-sample tests that gates use to decide a *failure* only
//! with confidence: binomial tails (a quantile or an error rate against a
//! limit), the conditional binomial test (two event rates, e.g. error rates,
//! however few the events) and one-sample t bounds (a mean against a limit).
//!
//! Normal approximations are anti-conservative when the expected number of
//! events is small: one error among 54 canary requests against none among
//! 746 baseline requests gives a pooled z-test (and the proportions mSPRT)
//! p ≈ 0.009, while under equal rates the chance that the only error lands on
//! the canary is its traffic share, 6.75 %. The tests here are exact in that
//! regime, so the checks use them as the deciding (or confirming) test.

use serde::{Deserialize, Serialize};

use super::dist;
use super::error::{Sample, StatsError, check_counts, check_len, finite};
use super::moments::Moments;

/// Both tails of a binomial count: see [`binomial_tail`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BinomialTail {
    /// `P(X ≥ k)` for `X ~ Binomial(n, p)`: the one-sided p-value of `k`
    /// events against "the event probability is at most `p`".
    pub at_least: f64,
    /// `P(X ≤ k)`: the one-sided p-value against "the event probability is
    /// at least `p`".
    pub at_most: f64,
}

/// The tails of `events` successes in `trials` Bernoulli(`p`) trials:
/// `P(X ≥ events)` and `P(X ≤ events)` for `X ~ Binomial(trials, p)`
/// (SciPy `binom.sf(events − 1, trials, p)` and `binom.cdf(events, trials,
/// p)`), through the regularized incomplete beta function, accurate in
/// relative terms in the far tails and for millions of trials.
///
/// This is the exact test of a rate, or of a quantile, against a limit:
///
/// * an error rate `≤ max`: `events` errors among `trials` requests, `p =
///   max`; reject (the rate is above `max`) when `at_least ≤ α`;
/// * a `q`-quantile `≤ max`: `events` samples above `max` among `trials`;
///   if the quantile were at most `max`, each sample would exceed `max` with
///   probability at most `1 − q`, so with `p = 1 − q`, reject (the quantile
///   is above `max`) when `at_least ≤ α`.
///
/// Errors when `trials` is 0, `events > trials` or `p` is not in `[0, 1]`.
///
/// ```
/// use fledge_gate::stats::binomial_tail;
///
/// // 7 of 60 latencies above 50 ms: is p99 above 50 ms?
/// let t = binomial_tail(7, 60, 0.01)?;
/// assert!(t.at_least < 1e-5); // yes, with overwhelming confidence
/// // 1 of 60 above (the sample p99 is above 50 ms): not evidence at all.
/// assert!(binomial_tail(1, 60, 0.01)?.at_least > 0.4);
/// # Ok::<(), fledge_gate::stats::StatsError>(())
/// ```
pub fn binomial_tail(events: u64, trials: u64, p: f64) -> Result<BinomialTail, StatsError> {
    check_counts(events, trials, Sample::Canary)?;
    if !(0.0..=1.0).contains(&p) {
        return Err(StatsError::InvalidParameter {
            name: "p",
            value: p,
            expected: "a probability in [0, 1]",
        });
    }
    Ok(BinomialTail {
        at_least: dist::binomial_sf(events, trials, p),
        at_most: dist::binomial_cdf(events, trials, p),
    })
}

/// Result of [`conditional_binomial_test`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ConditionalBinomial {
    /// Events on both sides, `E = x_c + x_b`.
    pub events: u64,
    /// The canary's share of the trials, `π = n_c / (n_c + n_b)`: the chance
    /// that an event is the canary's when both rates are equal.
    pub share: f64,
    /// `P(X ≥ x_c)` for `X ~ Binomial(E, π)`: the one-sided p-value against
    /// "the canary's rate is at most the baseline's" (`1` when `E = 0`).
    pub p_greater: f64,
    /// `P(X ≤ x_c)`: the one-sided p-value against "the canary's rate is at
    /// least the baseline's" (`1` when `E = 0`).
    pub p_less: f64,
}

/// The conditional binomial test of two event rates: given `E = x_c + x_b`
/// events in all, and equal rates, each event is the canary's with
/// probability `π = n_c / (n_c + n_b)`, so `x_c ~ Binomial(E, π)`; the
/// one-sided p-values are that binomial's tails (SciPy
/// `binomtest(x_c, E, π, alternative="greater" / "less")`).
///
/// This is the exact conditional test for two Poisson rates
/// (Przyborowski and Wileński, 1940), and for binomial rates the limit of
/// Fisher's exact test when events are rare among the trials; with frequent
/// events it is slightly conservative (the binomial has more spread than
/// the hypergeometric). Unlike the z-test it needs no large counts: one
/// canary error and no baseline error is evidence only at level `π`.
///
/// Each group needs at least one trial and no more events than trials.
///
/// ```
/// use fledge_gate::stats::conditional_binomial_test;
///
/// // 1 error in 54 canary requests, 0 in 746 baseline requests.
/// let r = conditional_binomial_test(1, 54, 0, 746)?;
/// assert!((r.p_greater - 54.0 / 800.0).abs() < 1e-12); // 6.75 %, not 0.9 %
/// # Ok::<(), fledge_gate::stats::StatsError>(())
/// ```
pub fn conditional_binomial_test(
    canary_events: u64,
    canary_n: u64,
    baseline_events: u64,
    baseline_n: u64,
) -> Result<ConditionalBinomial, StatsError> {
    let (events, share) = conditioned(canary_events, canary_n, baseline_events, baseline_n)?;
    let (p_greater, p_less) = if events == 0 {
        (1.0, 1.0)
    } else {
        (
            dist::binomial_sf(canary_events, events, share),
            dist::binomial_cdf(canary_events, events, share),
        )
    };
    Ok(ConditionalBinomial {
        events,
        share,
        p_greater,
        p_less,
    })
}

/// What both conditional tests condition on: the events on both sides and
/// the canary's share of the trials, after checking the counts.
fn conditioned(
    canary_events: u64,
    canary_n: u64,
    baseline_events: u64,
    baseline_n: u64,
) -> Result<(u64, f64), StatsError> {
    check_counts(canary_events, canary_n, Sample::Canary)?;
    check_counts(baseline_events, baseline_n, Sample::Baseline)?;
    let share = canary_n as f64 / (canary_n as f64 + baseline_n as f64);
    // Events ≤ trials on each side, so the sum fits whenever the trials' sum
    // does; saturate anyway rather than overflow on absurd counts.
    Ok((canary_events.saturating_add(baseline_events), share))
}

/// Result of [`conditional_binomial_msprt`]: one look of the always-valid
/// exact test of two event rates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ConditionalMixture {
    /// Events on both sides, `E = x_c + x_b`.
    pub events: u64,
    /// The canary's share of the trials, `π = n_c / (n_c + n_b)`.
    pub share: f64,
    /// Natural log of the mixture likelihood ratio against "the canary's
    /// rate is at most the baseline's" (`θ ≤ π`), mixing `θ` over `(π, 1)`
    /// (see [`conditional_binomial_msprt`]).
    pub log_lr_greater: f64,
    /// Likewise against "at least the baseline's", mixing over `(0, π)`.
    pub log_lr_less: f64,
    /// `min(1, exp(−log_lr_greater))`: this look's p-value against "the
    /// canary's rate is at most the baseline's"; the running minimum over
    /// looks is always valid.
    pub p_greater: f64,
    /// `min(1, exp(−log_lr_less))`, likewise against "at least".
    pub p_less: f64,
}

/// The always-valid version of [`conditional_binomial_test`]: a mixture
/// sequential probability ratio test on the sequence of events, each the
/// canary's with probability `θ` (`θ = π = n_c / (n_c + n_b)` when the
/// rates are equal). With `x_c` of `E` events on the canary, the likelihood
/// ratio of `θ` against `π` is `(θ/π)^x_c ((1 − θ)/(1 − π))^(E − x_c)`.
/// Against "the canary's rate is at most the baseline's" it is mixed over
/// the alternatives `θ > π`: half uniformly over `(π, u)`, where `u` is the
/// `θ` at an odds ratio of 4 (small regressions, detected sooner), half
/// uniformly over `(π, 1)` (gross ones). Each uniform part is
///
/// ```text
/// Λ(lo, hi) = B(x_c + 1, E − x_c + 1) · (I_hi − I_lo)(x_c + 1, E − x_c + 1) / (hi − lo)
///             / (π^x_c (1 − π)^(E − x_c))
/// ```
///
/// (`I` the regularized incomplete beta function), and `Λ = Λ(π, u) / 2 +
/// Λ(π, 1) / 2`. The other side mixes over `(l, π)` (odds ratio 1/4) and
/// `(0, π)` likewise.
///
/// Under the null each `θ`'s ratio is a martingale (a supermartingale for
/// `θ` below `π`) starting at 1, and so is their mixture, so by Ville's
/// inequality `P(Λ ever reaches 1/α) ≤ α`: `min(1, 1/Λ)`, minimized over
/// looks, is an always-valid p-value that needs no normal approximation and
/// no sample floor. It holds exactly when `π` is constant (a step with a
/// fixed traffic split; `π` is estimated from the requests, which far
/// outnumber the events).
///
/// Each group needs at least one trial and no more events than trials.
///
/// ```
/// use fledge_gate::stats::conditional_binomial_msprt;
///
/// // 3 errors in 40 canary requests and none in 760: 3 of 3 errors on a
/// // 5 % share is strong evidence even with always-valid guarantees.
/// let r = conditional_binomial_msprt(3, 40, 0, 760)?;
/// assert!(r.p_greater < 0.001);
/// // 2 of 2 is evidence at 5 %, not yet at 1 %.
/// let r = conditional_binomial_msprt(2, 40, 0, 760)?;
/// assert!(r.p_greater < 0.05 && r.p_greater > 0.01);
/// // 1 in 54 against 0 in 746 is not.
/// assert!(conditional_binomial_msprt(1, 54, 0, 746)?.p_greater > 0.1);
/// # Ok::<(), fledge_gate::stats::StatsError>(())
/// ```
pub fn conditional_binomial_msprt(
    canary_events: u64,
    canary_n: u64,
    baseline_events: u64,
    baseline_n: u64,
) -> Result<ConditionalMixture, StatsError> {
    let (events, share) = conditioned(canary_events, canary_n, baseline_events, baseline_n)?;
    let (log_lr_greater, log_lr_less) = if events == 0 || share >= 1.0 {
        (0.0, 0.0)
    } else {
        let x = canary_events as f64;
        let rest = (events - canary_events) as f64;
        // ln of the null likelihood π^x (1 − π)^(E − x) and of B(x + 1, E − x + 1).
        let ln_null = x * share.ln() + rest * (-share).ln_1p();
        let ln_b = dist::ln_beta(x + 1.0, rest + 1.0);
        // ln of the uniform mixture over θ in (lo, hi), against θ = π.
        let segment = |lo: f64, hi: f64| -> f64 {
            let mass = beta_mass(x + 1.0, rest + 1.0, lo, hi);
            if mass > 0.0 {
                ln_b + mass.ln() - (hi - lo).ln() - ln_null
            } else {
                f64::NEG_INFINITY
            }
        };
        let odds = |r: f64| r * share / (1.0 - share + r * share);
        (
            ln_half_sum(segment(share, odds(NEAR_ODDS_RATIO)), segment(share, 1.0)),
            ln_half_sum(
                segment(odds(1.0 / NEAR_ODDS_RATIO), share),
                segment(0.0, share),
            ),
        )
    };
    let p = |l: f64| {
        if l > 0.0 {
            (-l).exp().clamp(0.0, 1.0)
        } else {
            1.0
        }
    };
    if log_lr_greater.is_nan() || log_lr_less.is_nan() {
        return Err(StatsError::NotFinite {
            what: "likelihood ratio",
        });
    }
    Ok(ConditionalMixture {
        events,
        share,
        log_lr_greater,
        log_lr_less,
        p_greater: p(log_lr_greater),
        p_less: p(log_lr_less),
    })
}

/// The mixture of [`conditional_binomial_msprt`] puts half its weight on
/// alternatives up to this odds ratio (`θ/(1 − θ)` against `π/(1 − π)`),
/// where small regressions live, and half on all of them.
const NEAR_ODDS_RATIO: f64 = 4.0;

/// `I_hi(a, b) − I_lo(a, b)`, the Beta(a, b) mass on `(lo, hi)`, subtracted
/// in the tail where both terms are small so that it keeps its relative
/// precision.
fn beta_mass(a: f64, b: f64, lo: f64, hi: f64) -> f64 {
    let lower = dist::beta_reg(a, b, lo);
    let mass = if lower < 0.5 {
        dist::beta_reg(a, b, hi) - lower
    } else {
        dist::beta_reg(b, a, 1.0 - lo) - dist::beta_reg(b, a, 1.0 - hi)
    };
    mass.max(0.0)
}

/// `ln(e^a / 2 + e^b / 2)` without overflow.
fn ln_half_sum(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    if hi == f64::NEG_INFINITY {
        return hi;
    }
    hi + (0.5 * (1.0 + (lo - hi).exp())).ln()
}

/// Result of [`one_sample_t_test`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OneSampleT {
    /// The sample mean.
    pub mean: f64,
    /// Its standard error `s / √n`.
    pub std_error: f64,
    /// Degrees of freedom, `n − 1`.
    pub df: f64,
    /// `(mean − μ₀) / std_error`; `±∞` for a constant sample off `μ₀`, `0`
    /// for one on it.
    pub t: f64,
    /// `P(T ≥ t)`: the one-sided p-value against "the mean is at most `μ₀`".
    pub p_greater: f64,
    /// `P(T ≤ t)`: the one-sided p-value against "the mean is at least `μ₀`".
    pub p_less: f64,
}

impl OneSampleT {
    /// The one-sided lower confidence bound on the mean at level
    /// `confidence` (e.g. `0.99`): `mean − t(confidence, df) · std_error`;
    /// `NaN` unless `confidence` is in `(0, 1)`.
    pub fn lower_bound(&self, confidence: f64) -> f64 {
        self.mean - self.margin(confidence)
    }

    /// The one-sided upper confidence bound on the mean at level
    /// `confidence`: `mean + t(confidence, df) · std_error`.
    pub fn upper_bound(&self, confidence: f64) -> f64 {
        self.mean + self.margin(confidence)
    }

    fn margin(&self, confidence: f64) -> f64 {
        let q = dist::t_quantile(confidence, self.df);
        if self.std_error == 0.0 && q.is_finite() {
            0.0
        } else {
            q * self.std_error
        }
    }
}

/// One-sample Student t-test of a mean against `mu0`, from [`Moments`]
/// (SciPy `ttest_1samp(x, mu0, alternative="greater" / "less")`). The test
/// of a mean against a limit: reject "mean ≤ max" when `p_greater ≤ α`,
/// equivalently when [`OneSampleT::lower_bound`] at `1 − α` is above
/// `max`.
///
/// Needs at least two values; a constant sample gives `t = ±∞` and
/// p-values 0 and 1 when its mean is off `mu0`, and p-values 1 when on it.
pub fn one_sample_t_test(sample: &Moments, mu0: f64) -> Result<OneSampleT, StatsError> {
    check_len(sample.count, Sample::Canary, 2)?;
    let mu0 = finite(mu0, "reference mean")?;
    let n = sample.count as f64;
    let mean = finite(sample.sum / n, "mean")?;
    let variance = finite(sample.variance().unwrap_or(0.0), "variance")?;
    let std_error = (variance / n).sqrt();
    let df = n - 1.0;
    let diff = finite(mean - mu0, "difference from the reference mean")?;
    let (t, p_greater, p_less) = if std_error > 0.0 {
        let t = finite(diff / std_error, "t statistic")?;
        (t, dist::t_sf(t, df), dist::t_sf(-t, df))
    } else if diff > 0.0 {
        (f64::INFINITY, 0.0, 1.0)
    } else if diff < 0.0 {
        (f64::NEG_INFINITY, 1.0, 0.0)
    } else {
        (0.0, 1.0, 1.0)
    };
    Ok(OneSampleT {
        mean,
        std_error,
        df,
        t,
        p_greater: p_greater.clamp(0.0, 1.0),
        p_less: p_less.clamp(0.0, 1.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomial_edges() {
        let t = binomial_tail(0, 10, 0.3).unwrap();
        assert_eq!(t.at_least, 1.0);
        assert!((t.at_most - 0.7f64.powi(10)).abs() < 1e-15);
        let t = binomial_tail(10, 10, 0.3).unwrap();
        assert!((t.at_least - 0.3f64.powi(10)).abs() < 1e-18);
        assert_eq!(t.at_most, 1.0);
        let t = binomial_tail(3, 10, 0.0).unwrap();
        assert_eq!((t.at_least, t.at_most), (0.0, 1.0));
        let t = binomial_tail(3, 10, 1.0).unwrap();
        assert_eq!((t.at_least, t.at_most), (1.0, 0.0));
        assert!(binomial_tail(1, 0, 0.5).is_err());
        assert!(binomial_tail(5, 4, 0.5).is_err());
        assert!(binomial_tail(1, 4, 1.5).is_err());
        assert!(binomial_tail(1, 4, f64::NAN).is_err());
    }

    #[test]
    fn binomial_large_counts_converge() {
        // Far more continued-fraction terms than statrs' 140. SciPy:
        // binom.sf(10_499, 1e6, 0.01), binom.sf(10_099_999, 1e9, 0.01) (at a
        // billion trials ln Γ's rounding leaves a few 1e-6 relative error).
        let t = binomial_tail(10_500, 1_000_000, 0.01).unwrap();
        assert!(
            (t.at_least / 3.1585658792471077e-07 - 1.0).abs() < 1e-9,
            "{t:?}"
        );
        let t = binomial_tail(10_100_000, 1_000_000_000, 0.01).unwrap();
        assert!(
            (t.at_least / 3.0198595274411333e-221 - 1.0).abs() < 1e-5,
            "{t:?}"
        );
        let t = binomial_tail(10_000_000, 1_000_000_000, 0.01).unwrap();
        assert!((t.at_least - 0.5000426867005476).abs() < 1e-5, "{t:?}");
    }

    #[test]
    fn conditional_binomial_small_counts() {
        let r = conditional_binomial_test(1, 54, 0, 746).unwrap();
        assert_eq!(r.events, 1);
        assert!((r.p_greater - 0.0675).abs() < 1e-12);
        assert_eq!(r.p_less, 1.0);
        let r = conditional_binomial_test(0, 54, 0, 746).unwrap();
        assert_eq!((r.p_greater, r.p_less), (1.0, 1.0));
    }

    #[test]
    fn conditional_mixture_edges() {
        let r = conditional_binomial_msprt(0, 10, 0, 10).unwrap();
        assert_eq!((r.p_greater, r.p_less, r.events), (1.0, 1.0, 0));
        // x of x events on the canary: the uniform part on (lo, hi) is
        // Λ = (hi^(x+1) − lo^(x+1)) / ((x + 1)(hi − lo) π^x); half of it on
        // (π, u), u at odds ratio 4, half on (π, 1).
        let r = conditional_binomial_msprt(2, 50, 0, 950).unwrap();
        let pi: f64 = 0.05;
        let part = |lo: f64, hi: f64| (hi.powi(3) - lo.powi(3)) / (3.0 * (hi - lo) * pi * pi);
        let u = 4.0 * pi / (1.0 - pi + 4.0 * pi);
        let lr = 0.5 * part(pi, u) + 0.5 * part(pi, 1.0);
        assert!((r.log_lr_greater - lr.ln()).abs() < 1e-12, "{r:?}");
        assert_eq!(r.p_less, 1.0);
        // Huge counts stay finite.
        let r = conditional_binomial_msprt(60_000, 1_000_000, 1_000_000, 19_000_000).unwrap();
        assert!(r.p_greater < 1e-30 && r.p_less == 1.0, "{r:?}");
    }

    #[test]
    fn one_sample_t_degenerate() {
        let m = Moments::from_slice(&[2.0, 2.0, 2.0]);
        let r = one_sample_t_test(&m, 1.0).unwrap();
        assert_eq!((r.t, r.p_greater, r.p_less), (f64::INFINITY, 0.0, 1.0));
        assert_eq!(r.lower_bound(0.99), 2.0);
        let r = one_sample_t_test(&m, 2.0).unwrap();
        assert_eq!((r.p_greater, r.p_less), (1.0, 1.0));
        assert!(one_sample_t_test(&Moments::from_slice(&[1.0]), 0.0).is_err());
        assert!(one_sample_t_test(&m, f64::NAN).is_err());
        assert!(r.lower_bound(1.0).is_nan());
    }
}
