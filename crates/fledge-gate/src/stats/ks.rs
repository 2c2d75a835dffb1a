//! The two-sample Kolmogorov–Smirnov test on weighted values (e.g. the
//! buckets of two output sketches): the statistic `D`, and its two-sided
//! p-value, exact (lattice paths) for small samples and from Kolmogorov's
//! limiting distribution otherwise.

use serde::{Deserialize, Serialize};

use super::error::{Sample, StatsError};

/// Largest `n_canary × n_baseline` for which [`ks_2samp_weighted`] counts
/// lattice paths exactly (about 3 ms); above it, the asymptotic p-value.
pub const KS_EXACT_MAX_PRODUCT: u64 = 1_000_000;

/// How a [`KolmogorovSmirnov`] p-value was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KsMethod {
    /// Exact, by counting the lattice paths that leave the band (SciPy
    /// `ks_2samp(method="exact")`).
    Exact,
    /// Kolmogorov's limiting distribution at `sqrt(n m / (n + m)) · D`
    /// (SciPy `kstwobign.sf`): slightly conservative at finite sizes.
    Asymptotic,
}

/// Result of [`ks_2samp`] / [`ks_2samp_weighted`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KolmogorovSmirnov {
    /// `D = sup_x |F_canary(x) − F_baseline(x)|`, in `[0, 1]`.
    pub statistic: f64,
    /// The signed difference `F_canary(x) − F_baseline(x)` at the `x` where
    /// `|·|` is largest: negative when the canary's values are larger there
    /// (its CDF lags).
    pub signed: f64,
    /// The value `x` where `D` is reached.
    pub location: f64,
    /// Two-sided p-value, in `[0, 1]`.
    pub p_value: f64,
    /// How the p-value was computed.
    pub method: KsMethod,
    /// Values on the canary side.
    pub canary_n: u64,
    /// Values on the baseline side.
    pub baseline_n: u64,
}

/// [`ks_2samp_weighted`] on plain values (SciPy `ks_2samp(canary,
/// baseline)`, `method="exact"` when `n·m ≤` [`KS_EXACT_MAX_PRODUCT`], else
/// the `kstwobign` limit).
pub fn ks_2samp(canary: &[f64], baseline: &[f64]) -> Result<KolmogorovSmirnov, StatsError> {
    let c: Vec<(f64, u64)> = canary.iter().map(|&v| (v, 1)).collect();
    let b: Vec<(f64, u64)> = baseline.iter().map(|&v| (v, 1)).collect();
    ks_2samp_weighted(&c, &b)
}

/// The two-sample Kolmogorov–Smirnov test on `(value, count)` pairs, in any
/// order (e.g. the buckets of two sketches of the same layout).
///
/// `D` is taken at every distinct value, so it equals the KS statistic of
/// the samples the pairs expand to, computed in integers
/// (`max |C_c·n_b − C_b·n_c| / (n_c·n_b)`), without rounding in the search.
///
/// The p-value assumes continuous data (no ties). With ties (repeated
/// values, or values rounded into sketch buckets) the statistic can only be
/// smaller than with the ties broken, so the p-value is conservative: it
/// over-states the chance of a `D` this large, never under-states it.
/// Exact when `n_c · n_b ≤` [`KS_EXACT_MAX_PRODUCT`] (the probability that a
/// random lattice path leaves the band, summed over first exits so small
/// p-values keep their relative precision); otherwise Kolmogorov's limit
/// `Q(sqrt(n_c n_b / (n_c + n_b)) · D)`, which is above the exact value at
/// every size checked against SciPy (conservative too).
///
/// Each side needs at least one value with a positive count; values must
/// be finite.
pub fn ks_2samp_weighted(
    canary: &[(f64, u64)],
    baseline: &[(f64, u64)],
) -> Result<KolmogorovSmirnov, StatsError> {
    let c = sorted(canary, Sample::Canary)?;
    let b = sorted(baseline, Sample::Baseline)?;
    let nc: u64 = c.iter().map(|p| p.1).sum();
    let nb: u64 = b.iter().map(|p| p.1).sum();
    // Walk the union of values; D's numerator in integers.
    let (mut i, mut j) = (0, 0);
    let (mut cc, mut cb) = (0u128, 0u128);
    let mut best: i128 = 0;
    let mut location = f64::NAN;
    while i < c.len() || j < b.len() {
        let x = match (c.get(i), b.get(j)) {
            (Some(a), Some(z)) => a.0.min(z.0),
            (Some(a), None) => a.0,
            (None, Some(z)) => z.0,
            (None, None) => break,
        };
        while let Some(p) = c.get(i).filter(|p| p.0 == x) {
            cc += u128::from(p.1);
            i += 1;
        }
        while let Some(p) = b.get(j).filter(|p| p.0 == x) {
            cb += u128::from(p.1);
            j += 1;
        }
        let diff = (cc * u128::from(nb)) as i128 - (cb * u128::from(nc)) as i128;
        if diff.abs() > best.abs() || location.is_nan() {
            if diff.abs() > best.abs() {
                best = diff;
            }
            location = x;
        }
    }
    let denom = nc as f64 * nb as f64;
    let statistic = (best.unsigned_abs() as f64 / denom).clamp(0.0, 1.0);
    let exact = nc
        .checked_mul(nb)
        .is_some_and(|p| p <= KS_EXACT_MAX_PRODUCT);
    let (p_value, method) = if exact {
        (
            exact_p(nc as usize, nb as usize, best.unsigned_abs()),
            KsMethod::Exact,
        )
    } else {
        let en = nc as f64 * nb as f64 / (nc as f64 + nb as f64);
        (kolmogorov_sf(en.sqrt() * statistic), KsMethod::Asymptotic)
    };
    Ok(KolmogorovSmirnov {
        statistic,
        signed: best as f64 / denom,
        location,
        p_value: p_value.clamp(0.0, 1.0),
        method,
        canary_n: nc,
        baseline_n: nb,
    })
}

/// The pairs with positive counts, sorted by value; errors on NaN,
/// infinite values or no weight.
fn sorted(values: &[(f64, u64)], sample: Sample) -> Result<Vec<(f64, u64)>, StatsError> {
    let mut out = Vec::with_capacity(values.len());
    let mut total: u64 = 0;
    for (index, &(v, n)) in values.iter().enumerate() {
        if v.is_nan() {
            return Err(StatsError::NaN { sample, index });
        }
        if v.is_infinite() {
            return Err(StatsError::Infinite { sample, index });
        }
        if n > 0 {
            total = total.checked_add(n).ok_or(StatsError::NotFinite {
                what: "total count",
            })?;
            out.push((v, n));
        }
    }
    if values.is_empty() {
        return Err(StatsError::Empty { sample, min: 1 });
    }
    if total == 0 {
        return Err(StatsError::ZeroWeight { sample });
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(out)
}

/// `P(D ≥ observed)` for two samples of sizes `m` (canary) and `n`
/// (baseline) from one continuous distribution, where the observed `D` is
/// `k / (m n)`: the probability that a uniformly random lattice path from
/// `(0, 0)` to `(m, n)` reaches a point with `|i n − j m| ≥ k`. Summed over
/// the first such point, so a small result keeps its relative precision.
fn exact_p(m: usize, n: usize, k: u128) -> f64 {
    if k == 0 {
        return 1.0;
    }
    let (mi, ni) = (m as i128, n as i128);
    let k = k as i128;
    let inside = |i: usize, j: usize| (i as i128 * ni - j as i128 * mi).abs() < k;
    let total = (m + n) as f64;
    // prev[j]: probability of reaching (i − 1, j) without leaving the band;
    // cur[j]: the same for (i, j).
    let mut prev = vec![0.0f64; n + 1];
    let mut cur = vec![0.0f64; n + 1];
    let mut out = 0.0f64;
    for i in 0..=m {
        for j in 0..=n {
            let reach = if i == 0 && j == 0 {
                1.0
            } else {
                // A step to (i, j) from (i − 1, j) takes a canary value: of
                // the m + n − (i − 1) − j values left, m − (i − 1) are the
                // canary's.
                let from_canary = if i > 0 {
                    prev[j] * (m - (i - 1)) as f64 / (total - (i - 1 + j) as f64)
                } else {
                    0.0
                };
                let from_baseline = if j > 0 {
                    cur[j - 1] * (n - (j - 1)) as f64 / (total - (i + j - 1) as f64)
                } else {
                    0.0
                };
                from_canary + from_baseline
            };
            if inside(i, j) {
                cur[j] = reach;
            } else {
                cur[j] = 0.0;
                out += reach;
            }
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    out.clamp(0.0, 1.0)
}

/// Kolmogorov's limiting distribution, upper tail:
/// `Q(λ) = 2 Σ_{k≥1} (−1)^{k−1} exp(−2 k² λ²)` (SciPy `kstwobign.sf(λ)`),
/// in `[0, 1]`; for `λ < 1.18` through the theta-function form
/// `1 − sqrt(2π)/λ Σ exp(−(2k − 1)² π² / (8 λ²))`, which converges fast
/// there.
pub fn kolmogorov_sf(lambda: f64) -> f64 {
    if lambda.is_nan() || lambda <= 0.0 {
        return 1.0;
    }
    if lambda < 1.18 {
        let y = std::f64::consts::PI * std::f64::consts::PI / (8.0 * lambda * lambda);
        let mut cdf = 0.0;
        for k in 1..=20u32 {
            let odd = f64::from(2 * k - 1);
            let term = (-odd * odd * y).exp();
            cdf += term;
            if term < 1e-17 * cdf {
                break;
            }
        }
        let cdf = (2.0 * std::f64::consts::PI).sqrt() / lambda * cdf;
        return (1.0 - cdf).clamp(0.0, 1.0);
    }
    let mut sum = 0.0;
    let mut sign = 1.0;
    for k in 1..=100u32 {
        let kf = f64::from(k);
        let term = (-2.0 * kf * kf * lambda * lambda).exp();
        sum += sign * term;
        if term < 1e-17 * sum.abs() {
            break;
        }
        sign = -sign;
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_samples_give_zero() {
        let r = ks_2samp(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]).unwrap();
        assert_eq!(r.statistic, 0.0);
        assert_eq!(r.p_value, 1.0);
    }

    #[test]
    fn disjoint_samples_give_one() {
        let r = ks_2samp(&[10.0, 11.0, 12.0, 13.0], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(r.statistic, 1.0);
        // Exactly 2 of the C(8, 4) = 70 orders separate them.
        assert!((r.p_value - 2.0 / 70.0).abs() < 1e-14, "{r:?}");
        assert!(r.signed < 0.0);
    }

    #[test]
    fn weighted_equals_expanded() {
        let a = ks_2samp(&[1.0, 1.0, 2.0, 5.0], &[1.0, 3.0, 3.0, 4.0, 6.0]).unwrap();
        let b = ks_2samp_weighted(
            &[(5.0, 1), (1.0, 2), (2.0, 1)],
            &[(3.0, 2), (1.0, 1), (6.0, 1), (4.0, 1), (9.0, 0)],
        )
        .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn limit_distribution_is_continuous_at_the_switch() {
        let below = kolmogorov_sf(1.18 - 1e-9);
        let above = kolmogorov_sf(1.18 + 1e-9);
        assert!((below - above).abs() < 1e-8, "{below} {above}");
        // scipy.stats.kstwobign.sf(1.0) = 0.26999967167735456
        assert!((kolmogorov_sf(1.0) - 0.269_999_671_677_354_56).abs() < 1e-12);
    }

    #[test]
    fn errors_name_the_sample() {
        assert!(matches!(
            ks_2samp(&[], &[1.0]),
            Err(StatsError::Empty {
                sample: Sample::Canary,
                ..
            })
        ));
        assert!(matches!(
            ks_2samp_weighted(&[(1.0, 1)], &[(2.0, 0)]),
            Err(StatsError::ZeroWeight {
                sample: Sample::Baseline
            })
        ));
        assert!(matches!(
            ks_2samp(&[1.0], &[f64::NAN]),
            Err(StatsError::NaN { .. })
        ));
    }
}
