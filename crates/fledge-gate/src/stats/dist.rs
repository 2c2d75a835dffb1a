//! Distribution functions (thin wrappers over `statrs`, clamped and NaN-free).

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};
use statrs::function::{beta, erf, gamma};

/// Standard normal upper tail `P(Z > z)`, accurate in the far tail.
pub(crate) fn normal_sf(z: f64) -> f64 {
    if z.is_nan() {
        return 1.0;
    }
    (0.5 * erf::erfc(z / std::f64::consts::SQRT_2)).clamp(0.0, 1.0)
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

/// One-sided Student-t p-value `P(T >= t)` with `df` degrees of freedom.
pub(crate) fn t_sf(t: f64, df: f64) -> f64 {
    if t.is_nan() {
        return 1.0;
    }
    if t == f64::INFINITY {
        return 0.0;
    }
    if t == f64::NEG_INFINITY {
        return 1.0;
    }
    let half = 0.5 * t_two_sided(t, df);
    if t >= 0.0 { half } else { 1.0 - half }
}

/// Student-t quantile for `p` in `(0, 1)` and `df > 0`; `NaN` outside
/// (statrs asserts there). Infinite `df` is the normal quantile.
pub(crate) fn t_quantile(p: f64, df: f64) -> f64 {
    if !(p > 0.0 && p < 1.0) || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if df.is_infinite() {
        return normal_quantile(p);
    }
    match StudentsT::new(0.0, 1.0, df) {
        Ok(t) => t.inverse_cdf(p),
        Err(_) => f64::NAN,
    }
}

/// Most continued-fraction terms [`beta_reg`] evaluates. The fraction
/// converges in about `sqrt(max(a, b))` terms, so this covers counts far
/// beyond any window (statrs stops at 140, too few past a few thousand).
const BETA_CF_MAX_TERMS: u32 = 1_000_000;

/// The regularized incomplete beta function `I_x(a, b)` for `a, b > 0` and
/// `x` in `[0, 1]` (Lentz's continued fraction, as statrs and Numerical
/// Recipes, without statrs' 140-term cap). The side of the fraction is
/// chosen so that small results are computed directly, not as `1 − (1 − r)`:
/// tails stay accurate in relative terms.
pub(crate) fn beta_reg(a: f64, b: f64, x: f64) -> f64 {
    if x.is_nan() || a.is_nan() || b.is_nan() || a <= 0.0 || b <= 0.0 {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    if x < (a + 1.0) / (a + b + 2.0) {
        beta_cf_scaled(a, b, x)
    } else {
        1.0 - beta_cf_scaled(b, a, 1.0 - x)
    }
}

/// `x^a (1 − x)^b / (a B(a, b))` times the continued fraction: `I_x(a, b)`
/// when `x < (a + 1) / (a + b + 2)`, where the fraction converges fast.
fn beta_cf_scaled(a: f64, b: f64, x: f64) -> f64 {
    let ln_front = a * x.ln() + b * (-x).ln_1p() - ln_beta(a, b) - a.ln();
    let front = ln_front.exp();
    if front == 0.0 {
        return 0.0;
    }
    let eps = 1e-15;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    // Modified Lentz: the fraction's running numerator `c` and the inverse
    // of its denominator `d`, kept away from zero.
    let mut c = 1.0;
    let mut d = 1.0 / not_zero(1.0 - qab * x / qap);
    let mut h = d;
    let mut step = |aa: f64| {
        d = 1.0 / not_zero(1.0 + aa * d);
        c = not_zero(1.0 + aa / c);
        d * c
    };
    for m in 1..=BETA_CF_MAX_TERMS {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        h *= step(m * (b - m) * x / ((qam + m2) * (a + m2)));
        let del = step(-(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)));
        h *= del;
        if (del - 1.0).abs() <= eps {
            break;
        }
    }
    (front * h).clamp(0.0, 1.0)
}

/// `v`, or a tiny positive number where it is (nearly) zero (Lentz's guard).
fn not_zero(v: f64) -> f64 {
    const TINY: f64 = 1e-300;
    if v.abs() < TINY { TINY } else { v }
}

/// `ln B(a, b)` for `a, b > 0` (relative error about `1e-16 × ln Γ(a + b)`,
/// so about `1e-9` at a million trials: far below what a gate resolves).
pub(crate) fn ln_beta(a: f64, b: f64) -> f64 {
    gamma::ln_gamma(a) + gamma::ln_gamma(b) - gamma::ln_gamma(a + b)
}

/// `P(X >= k)` for `X ~ Binomial(n, p)`, `p` in `[0, 1]`.
pub(crate) fn binomial_sf(k: u64, n: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    // P(X >= k) = I_p(k, n − k + 1).
    beta_reg(k as f64, (n - k) as f64 + 1.0, p)
}

/// `P(X <= k)` for `X ~ Binomial(n, p)`, `p` in `[0, 1]`.
pub(crate) fn binomial_cdf(k: u64, n: u64, p: f64) -> f64 {
    if k >= n || p <= 0.0 {
        return 1.0;
    }
    if p >= 1.0 {
        return 0.0;
    }
    // P(X <= k) = I_{1−p}(n − k, k + 1).
    beta_reg((n - k) as f64, k as f64 + 1.0, 1.0 - p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_points() {
        let c = crate::stats::normal_cdf(1.959963984540054);
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
