//! [`SampleSize`]: how many exposures each variant needs, so you know how
//! long to run an experiment.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use fledge_gate::stats::{normal_cdf, normal_quantile};

use crate::error::ExperimentError;

/// The smallest effect worth detecting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Mde {
    /// In the metric's units: `0.01` takes a 5 % rate to 6 %.
    Absolute(f64),
    /// As a share of the baseline: `0.2` takes a 5 % rate to 6 %.
    Relative(f64),
}

/// How the two-proportion sample size is computed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The classic closed form for the pooled two-proportion z-test (Fleiss,
    /// without continuity correction), per variant:
    /// `n = (z(1−α/2)·√(2·p̄(1−p̄)) + z(power)·√(p₁(1−p₁) + p₂(1−p₂)))² / (p₂ − p₁)²`
    /// with `p̄ = (p₁ + p₂) / 2`. Matches the test the report runs.
    #[default]
    Pooled,
    /// Cohen's effect size `h = 2·asin(√p₂) − 2·asin(√p₁)` and the exact
    /// two-sided normal power equation, as statsmodels'
    /// `NormalIndPower().solve_power(proportion_effectsize(p₂, p₁), ...)`.
    ArcSine,
}

/// What is being compared.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Target {
    Proportions { baseline: f64, method: Method },
    Means { std_dev: f64, baseline: f64 },
}

/// A sample-size calculator for a two-sided test of one treatment against
/// the control, with equal exposures per variant.
///
/// ```
/// use fledge_experiment::{Mde, SampleSize};
///
/// // A 5 % conversion rate; detect a 10 % relative lift (5 % → 5.5 %)
/// // at alpha 0.05 with 80 % power.
/// let n = SampleSize::proportions(0.05, Mde::Relative(0.10)).per_variant()?;
/// assert_eq!(n, 31_234);
/// // Three treatments against one control (Bonferroni: alpha / 3), and how
/// // long that takes at 20,000 exposures a day over the four variants.
/// let plan = SampleSize::proportions(0.05, Mde::Relative(0.10)).comparisons(3);
/// let days = plan.duration(20_000.0, 4)?.as_secs_f64() / 86_400.0;
/// assert!(days > 8.0 && days < 9.0, "{days}");
/// # Ok::<(), fledge_experiment::ExperimentError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SampleSize {
    target: Target,
    mde: Mde,
    alpha: f64,
    power: f64,
    comparisons: usize,
}

impl SampleSize {
    /// Conversions: a baseline rate in `(0, 1)` and the smallest lift worth
    /// detecting. Defaults: alpha 0.05, power 0.8, one comparison,
    /// [`Method::Pooled`].
    pub fn proportions(baseline_rate: f64, mde: Mde) -> Self {
        SampleSize {
            target: Target::Proportions {
                baseline: baseline_rate,
                method: Method::Pooled,
            },
            mde,
            alpha: 0.05,
            power: 0.8,
            comparisons: 1,
        }
    }

    /// Continuous values (revenue, rating) with standard deviation
    /// `std_dev` per exposure and baseline mean `baseline_mean` (used only
    /// by a relative MDE). Normal approximation, exact two-sided power.
    pub fn means(std_dev: f64, baseline_mean: f64, mde: Mde) -> Self {
        SampleSize {
            target: Target::Means {
                std_dev,
                baseline: baseline_mean,
            },
            mde,
            alpha: 0.05,
            power: 0.8,
            comparisons: 1,
        }
    }

    /// The significance level (two-sided), default 0.05.
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// The power: the chance to detect an effect of exactly the MDE, default 0.8.
    pub fn power(mut self, power: f64) -> Self {
        self.power = power;
        self
    }

    /// How many treatments are compared with the control: the level becomes
    /// `alpha / comparisons` (Bonferroni; conservative for Holm).
    pub fn comparisons(mut self, comparisons: usize) -> Self {
        self.comparisons = comparisons;
        self
    }

    /// The two-proportion method (ignored for means).
    pub fn method(mut self, method: Method) -> Self {
        if let Target::Proportions { baseline, .. } = self.target {
            self.target = Target::Proportions { baseline, method };
        }
        self
    }

    fn check(&self) -> Result<(f64, f64), ExperimentError> {
        let unit = |field: &str, v: f64| {
            if v > 0.0 && v < 1.0 {
                Ok(())
            } else {
                Err(ExperimentError::range(field, v, "strictly between 0 and 1"))
            }
        };
        unit("alpha", self.alpha)?;
        unit("power", self.power)?;
        if self.comparisons == 0 {
            return Err(ExperimentError::range(
                "comparisons",
                0.0,
                "at least 1 treatment compared with the control",
            ));
        }
        let (base, mde) = match (self.target, self.mde) {
            (Target::Proportions { baseline, .. }, m) => {
                unit("baseline_rate", baseline)?;
                (baseline, m)
            }
            (Target::Means { std_dev, baseline }, m) => {
                if !(std_dev.is_finite() && std_dev > 0.0) {
                    return Err(ExperimentError::range(
                        "std_dev",
                        std_dev,
                        "a positive, finite standard deviation per exposure",
                    ));
                }
                if !baseline.is_finite() {
                    return Err(ExperimentError::range(
                        "baseline_mean",
                        baseline,
                        "a finite mean",
                    ));
                }
                (baseline, m)
            }
        };
        let delta = match mde {
            Mde::Absolute(d) => d,
            Mde::Relative(r) => r * base,
        };
        if !(delta.is_finite() && delta != 0.0) {
            return Err(ExperimentError::range(
                "mde",
                delta,
                "a non-zero, finite effect (a relative MDE needs a non-zero baseline)",
            ));
        }
        if let Target::Proportions { .. } = self.target {
            unit("baseline_rate + mde", base + delta)?;
        }
        Ok((base, delta))
    }

    /// The treated rate or mean the MDE aims at.
    pub fn target_value(&self) -> Result<f64, ExperimentError> {
        let (base, delta) = self.check()?;
        Ok(base + delta)
    }

    /// Exposures per variant, unrounded.
    pub fn per_variant_exact(&self) -> Result<f64, ExperimentError> {
        let (base, delta) = self.check()?;
        let alpha = self.alpha / self.comparisons as f64;
        let za = normal_quantile(1.0 - alpha / 2.0);
        let zb = normal_quantile(self.power);
        let n = match self.target {
            Target::Proportions {
                method: Method::Pooled,
                ..
            } => {
                let (p1, p2) = (base, base + delta);
                let pbar = (p1 + p2) / 2.0;
                let a = za * (2.0 * pbar * (1.0 - pbar)).sqrt();
                let b = zb * (p1 * (1.0 - p1) + p2 * (1.0 - p2)).sqrt();
                (a + b).powi(2) / (delta * delta)
            }
            Target::Proportions {
                method: Method::ArcSine,
                ..
            } => {
                let h = 2.0 * (base + delta).sqrt().asin() - 2.0 * base.sqrt().asin();
                solve_normal_power(h.abs(), alpha, self.power)
            }
            Target::Means { std_dev, .. } => {
                solve_normal_power((delta / std_dev).abs(), alpha, self.power)
            }
        };
        if n.is_finite() && n > 0.0 {
            Ok(n)
        } else {
            Err(ExperimentError::range(
                "mde",
                delta,
                "an effect large enough for a finite sample size",
            ))
        }
    }

    /// Exposures per variant, rounded up.
    pub fn per_variant(&self) -> Result<u64, ExperimentError> {
        let n = self.per_variant_exact()?.ceil();
        Ok(if n >= u64::MAX as f64 {
            u64::MAX
        } else {
            n as u64
        })
    }

    /// Exposures over `variants` variants (control included).
    pub fn total(&self, variants: usize) -> Result<u64, ExperimentError> {
        Ok(self.per_variant()?.saturating_mul(variants as u64))
    }

    /// How long the experiment runs when `daily_exposures` exposures a day
    /// are spread evenly over `variants` variants.
    pub fn duration(
        &self,
        daily_exposures: f64,
        variants: usize,
    ) -> Result<Duration, ExperimentError> {
        if !(daily_exposures.is_finite() && daily_exposures > 0.0) {
            return Err(ExperimentError::range(
                "daily_exposures",
                daily_exposures,
                "a positive number of exposures per day",
            ));
        }
        if variants < 2 {
            return Err(ExperimentError::range(
                "variants",
                variants as f64,
                "at least 2 variants (a control and a treatment)",
            ));
        }
        let days = self.total(variants)? as f64 / daily_exposures;
        Duration::try_from_secs_f64(days * 86_400.0)
            .map_err(|_| ExperimentError::range("duration", days, "a representable number of days"))
    }
}

/// `n` per group with `Φ(d·√(n/2) − z) + Φ(−d·√(n/2) − z) = power`, `z =
/// z(1 − α/2)`: the two-sided power of a normal test with standardized
/// effect `d` and equal groups (statsmodels' `NormalIndPower`, `ratio = 1`).
fn solve_normal_power(d: f64, alpha: f64, power: f64) -> f64 {
    let z = normal_quantile(1.0 - alpha / 2.0);
    let pw = |n: f64| {
        let s = d * (n / 2.0).sqrt();
        normal_cdf(s - z) + normal_cdf(-s - z)
    };
    // The one-tailed closed form is a lower bound; bracket and bisect.
    let zb = normal_quantile(power);
    let mut lo = 0.0_f64;
    let mut hi = (2.0 * ((z + zb) / d).powi(2)).max(1e-9);
    if pw(hi) < power {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if pw(mid) < power {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-10 * hi {
            break;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_is_an_error_naming_the_setting() {
        let e = SampleSize::proportions(1.5, Mde::Absolute(0.01))
            .per_variant()
            .unwrap_err();
        assert!(e.to_string().contains("baseline_rate"), "{e}");
        let e = SampleSize::proportions(0.05, Mde::Absolute(0.0))
            .per_variant()
            .unwrap_err();
        assert!(e.to_string().contains("mde"), "{e}");
        let e = SampleSize::proportions(0.95, Mde::Absolute(0.1))
            .per_variant()
            .unwrap_err();
        assert!(e.to_string().contains("baseline_rate + mde"), "{e}");
        let e = SampleSize::means(0.0, 10.0, Mde::Relative(0.1))
            .per_variant()
            .unwrap_err();
        assert!(e.to_string().contains("std_dev"), "{e}");
        assert!(
            SampleSize::proportions(0.05, Mde::Relative(0.1))
                .power(1.0)
                .per_variant()
                .is_err()
        );
    }

    #[test]
    fn smaller_effects_and_more_power_need_more_exposures() {
        let n = |mde, power| {
            SampleSize::proportions(0.1, Mde::Relative(mde))
                .power(power)
                .per_variant()
                .unwrap()
        };
        assert!(n(0.05, 0.8) > n(0.1, 0.8));
        assert!(n(0.1, 0.9) > n(0.1, 0.8));
    }
}
