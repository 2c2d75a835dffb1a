//! Distribution functions (thin wrappers over `statrs`, clamped and NaN-free).

use statrs::distribution::{ContinuousCDF, Normal};
use statrs::function::{beta, erf};

/// Standard normal upper tail `P(Z > z)`, accurate in the far tail.
pub(crate) fn normal_sf(z: f64) -> f64 {
    if z.is_nan() {
        return 1.0;
    }
    (0.5 * erf::erfc(z / std::f64::consts::SQRT_2)).clamp(0.0, 1.0)
}

/// Standard normal CDF `P(Z <= z)`.
#[cfg(test)]
pub(crate) fn normal_cdf(z: f64) -> f64 {
    normal_sf(-z)
}

/// Two-sided normal p-value `P(|Z| >= |z|)`, clamped to `[0, 1]`.
pub(crate) fn normal_two_sided(z: f64) -> f64 {
    (2.0 * normal_sf(z.abs())).clamp(0.0, 1.0)
}

/// Standard normal quantile for `p` in `(0, 1)`; `NaN` outside (statrs
/// panics there, so the range is checked here).
pub(crate) fn normal_quantile(p: f64) -> f64 {
    if p > 0.0 && p < 1.0 {
        Normal::standard().inverse_cdf(p)
    } else {
        f64::NAN
    }
}

/// Two-sided Student-t p-value `P(|T| >= |t|)` with `df` degrees of freedom.
pub(crate) fn t_two_sided(t: f64, df: f64) -> f64 {
    if t.is_infinite() {
        return 0.0;
    }
    if !df.is_finite() {
        return normal_two_sided(t);
    }
    let x = df / (df + t * t);
    beta::checked_beta_reg(df / 2.0, 0.5, x.clamp(0.0, 1.0))
        .map(|p| p.clamp(0.0, 1.0))
        .unwrap_or(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_points() {
        let c = normal_cdf(1.959963984540054);
        assert!(
            (c - 0.975).abs() < 1e-10,
            "{c:e} {:e}",
            normal_quantile(0.975)
        );
        assert!((normal_quantile(0.01) + 2.326347874040841).abs() < 1e-9);
        // scipy.stats.norm.sf(10) = 7.619853024160527e-24
        assert!((normal_sf(10.0) / 7.619853024160527e-24 - 1.0).abs() < 1e-9);
        // scipy.stats.t.sf(2.0, 5) * 2 ≈ 0.1019
        assert!((t_two_sided(2.0, 5.0) - 0.10193947882985835).abs() < 1e-10);
        for p in [0.0, 1.0, -0.5, 1.5, f64::NAN] {
            assert!(normal_quantile(p).is_nan(), "{p}");
        }
    }
}
