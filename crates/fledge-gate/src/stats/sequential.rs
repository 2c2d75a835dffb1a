//! Mixture sequential probability ratio test (mSPRT) with always-valid
//! p-values, after Johari, Pekelis and Walsh, "Always Valid Inference:
//! Continuous Monitoring of A/B Tests" (2015/2022).
//!
//! For a difference `θ = μ_canary − μ_baseline` estimated by `Δ` with
//! variance `V = σ²_c / n_c + σ²_b / n_b` (normal approximation; for
//! proportions see [`msprt_proportions`]), and a normal mixing distribution
//! `θ ~ N(θ₀, τ²)` over alternatives, the mixture likelihood ratio is
//!
//! ```text
//! Λ = sqrt(V / (V + τ²)) · exp( τ² (Δ − θ₀)² / (2 V (V + τ²)) )
//! ```
//!
//! `1 / Λ` is a p-value that stays valid however often it is looked at when
//! the running minimum over looks is taken; [`AlwaysValid`] keeps that
//! minimum, and the matching always-valid confidence interval (the running
//! intersection of `{θ₀ : Λ(θ₀) < 1/α}`).

use super::error::{Sample, StatsError, check_counts, finite};
use super::moments::Moments;
use serde::{Deserialize, Serialize};

/// One look of the mixture SPRT: the statistic at the current sample sizes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Msprt {
    /// Observed difference `Δ = canary − baseline`.
    pub difference: f64,
    /// Variance `V` of the difference.
    pub variance: f64,
    /// Mixing standard deviation `τ` used.
    pub tau: f64,
    /// Natural log of the mixture likelihood ratio `Λ` against `θ₀`.
    pub log_likelihood_ratio: f64,
    /// `min(1, 1/Λ)`: this look's p-value; take the running minimum over looks
    /// (see [`AlwaysValid`]) for an always-valid p-value.
    pub p_value: f64,
}

impl Msprt {
    /// Half-width of this look's `1 − alpha` confidence interval for the
    /// difference: `θ₀` with `Λ(θ₀) < 1/α` are within this distance of `Δ`.
    pub fn half_width(&self, alpha: f64) -> f64 {
        let v = self.variance;
        let t2 = self.tau * self.tau;
        let log_term = 0.5 * ((v + t2) / v).ln() - alpha.ln();
        (2.0 * v * (v + t2) / t2 * log_term.max(0.0)).sqrt()
    }
}

fn check_tau(tau: f64) -> Result<(), StatsError> {
    if tau.is_finite() && tau > 0.0 {
        Ok(())
    } else {
        Err(StatsError::InvalidParameter {
            name: "tau",
            value: tau,
            expected: "a positive, finite mixing standard deviation (the size of difference worth detecting)",
        })
    }
}

fn msprt_from(diff: f64, variance: f64, tau: f64, theta0: f64) -> Result<Msprt, StatsError> {
    let diff = finite(diff, "difference")?;
    let variance = finite(variance, "variance of the difference")?;
    let t2 = tau * tau;
    let (log_lr, variance) = if variance > 0.0 {
        let d = diff - theta0;
        let l = 0.5 * (variance / (variance + t2)).ln()
            + t2 * d * d / (2.0 * variance * (variance + t2));
        (l, variance)
    } else if diff == theta0 {
        // No spread and no difference: no evidence either way.
        (0.0, 0.0)
    } else {
        // No spread but a difference: conclusive.
        (f64::INFINITY, 0.0)
    };
    if log_lr.is_nan() {
        return Err(StatsError::NotFinite {
            what: "likelihood ratio",
        });
    }
    let p_value = if log_lr <= 0.0 {
        1.0
    } else {
        (-log_lr).exp().clamp(0.0, 1.0)
    };
    Ok(Msprt {
        difference: diff,
        variance,
        tau,
        log_likelihood_ratio: log_lr,
        p_value,
    })
}

/// mSPRT for a difference in means (`canary − baseline`, null `θ₀ = 0`),
/// with plug-in sample variances. Each group needs at least two values.
///
/// `tau` is the standard deviation of the normal mixture over alternative
/// differences, in the metric's units: pick the size of difference you care
/// to detect.
pub fn msprt_means(canary: &Moments, baseline: &Moments, tau: f64) -> Result<Msprt, StatsError> {
    check_tau(tau)?;
    for (m, sample) in [(canary, Sample::Canary), (baseline, Sample::Baseline)] {
        super::error::check_len(m.count, sample, 2)?;
        if !m.sum.is_finite() || !m.sum_sq.is_finite() {
            return Err(StatsError::NotFinite {
                what: "sum of values",
            });
        }
    }
    let (mc, mb) = (
        canary.sum / canary.count as f64,
        baseline.sum / baseline.count as f64,
    );
    let vc = canary.variance().unwrap_or(0.0);
    let vb = baseline.variance().unwrap_or(0.0);
    let v = vc / canary.count as f64 + vb / baseline.count as f64;
    msprt_from(mc - mb, v, tau, 0.0)
}

/// mSPRT for a difference in proportions (`canary − baseline` event rates,
/// null `θ₀ = 0`), with the pooled variance `V = p̄(1 − p̄)(1/n_c + 1/n_b)`
/// (the variance under the null, as in the pooled z-test).
///
/// Like every normal-approximation test it is anti-conservative while the
/// expected number of events is tiny (a handful of early errors on a small
/// canary looks stronger than it is): give it a sample floor of a few
/// expected events (e.g. `min_samples` ≥ 3 / baseline rate in a check).
pub fn msprt_proportions(
    canary_events: u64,
    canary_n: u64,
    baseline_events: u64,
    baseline_n: u64,
    tau: f64,
) -> Result<Msprt, StatsError> {
    check_tau(tau)?;
    check_counts(canary_events, canary_n, Sample::Canary)?;
    check_counts(baseline_events, baseline_n, Sample::Baseline)?;
    let (nc, nb) = (canary_n as f64, baseline_n as f64);
    let pc = canary_events as f64 / nc;
    let pb = baseline_events as f64 / nb;
    let pooled = (canary_events as f64 + baseline_events as f64) / (nc + nb);
    let v = pooled * (1.0 - pooled) * (1.0 / nc + 1.0 / nb);
    msprt_from(pc - pb, v, tau, 0.0)
}

/// The significance level of the `look`-th test of a step (1 for the
/// first) when a step's whole budget is `alpha`: `alpha · 6 / (π² look²)`.
///
/// The levels add up to `alpha` over any number of looks
/// (`Σ 1/k² = π²/6`), so a check that tests every tick with fixed-sample
/// p-values (Kolmogorov–Smirnov, chi-square, t) and fails when one is at
/// most its look's level falsely fails with probability at most `alpha`
/// over the whole step, however the looks' data overlap (the union bound).
/// The first look gets 61 % of the budget, the 10th 0.6 %, the 100th
/// 0.006 %: tests whose critical values grow like `sqrt(ln(1/α))` (KS,
/// normal and chi-square tails) pay little for it. `0` for `look = 0`.
///
/// ```
/// use fledge_gate::stats::look_alpha;
/// let total: f64 = (1..=100_000).map(|k| look_alpha(0.05, k)).sum();
/// assert!(total < 0.05 && total > 0.04999);
/// ```
pub fn look_alpha(alpha: f64, look: u64) -> f64 {
    if look == 0 {
        return 0.0;
    }
    let k = look as f64;
    alpha * 6.0 / (std::f64::consts::PI * std::f64::consts::PI * k * k)
}

/// Running state of an always-valid test across looks: the running minimum
/// p-value and the running intersection of confidence intervals.
///
/// Start a new one (or [`reset`](AlwaysValid::reset)) when the data starts
/// over, e.g. at a new rollout step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AlwaysValid {
    /// Significance level `α` for the interval.
    pub alpha: f64,
    /// Running minimum of the looks' p-values.
    pub p_value: f64,
    /// Running intersection of the `1 − α` intervals (lower end).
    pub low: f64,
    /// Running intersection of the `1 − α` intervals (upper end).
    pub high: f64,
    /// Number of looks taken.
    pub looks: u64,
}

impl AlwaysValid {
    /// A fresh state at level `alpha`.
    pub fn new(alpha: f64) -> AlwaysValid {
        AlwaysValid {
            alpha,
            p_value: 1.0,
            low: f64::NEG_INFINITY,
            high: f64::INFINITY,
            looks: 0,
        }
    }

    /// Forgets all looks.
    pub fn reset(&mut self) {
        *self = AlwaysValid::new(self.alpha);
    }

    /// Takes one look.
    pub fn observe(&mut self, look: &Msprt) {
        self.looks += 1;
        self.p_value = self.p_value.min(look.p_value);
        if look.variance > 0.0 {
            let h = look.half_width(self.alpha);
            self.low = self.low.max(look.difference - h);
            self.high = self.high.min(look.difference + h);
        } else if look.log_likelihood_ratio.is_infinite() {
            self.low = self.low.max(look.difference);
            self.high = self.high.min(look.difference);
        }
    }

    /// Whether the null (no difference) is rejected at level `alpha`.
    pub fn rejected(&self) -> bool {
        self.p_value <= self.alpha
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_difference_gives_p_one() {
        let a = Moments::from_slice(&[1.0, 2.0, 3.0, 4.0]);
        let r = msprt_means(&a, &a, 1.0).unwrap();
        assert_eq!(r.difference, 0.0);
        assert_eq!(r.p_value, 1.0);
    }

    #[test]
    fn big_difference_rejects() {
        let r = msprt_proportions(200, 1000, 10, 1000, 0.05).unwrap();
        assert!(r.p_value < 1e-6, "{r:?}");
        let mut s = AlwaysValid::new(0.05);
        s.observe(&r);
        assert!(s.rejected());
        assert!(s.low > 0.0 && s.high > s.low);
    }

    #[test]
    fn since_subtracts() {
        let mut a = Moments::default();
        a.push(1.0);
        let origin = a;
        a.push(3.0);
        a.push(5.0);
        let d = a.since(&origin);
        assert_eq!(d.count, 2);
        assert_eq!(d.mean(), Some(4.0));
        assert_eq!(d.variance(), Some(2.0));
    }
}
