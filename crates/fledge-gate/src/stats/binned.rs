//! Tests on binned counts, canary against baseline: Pearson's chi-square
//! test of homogeneity (sparse categories pooled until every expected count
//! is at least 5) and the population stability index, with its bins taken
//! at the baseline's quantiles.

use serde::{Deserialize, Serialize};

use super::error::{Sample, StatsError};

/// Smallest expected count per cell [`chi_square_homogeneity`] keeps
/// unpooled (Cochran's rule).
pub const MIN_EXPECTED: f64 = 5.0;

/// Floor of a bin's share in [`psi_from_counts`]: empty bins count as
/// 0.0001 (the usual implementation; shares are not renormalised).
pub const PSI_FLOOR: f64 = 1e-4;

/// Result of [`chi_square_homogeneity`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChiSquare {
    /// Pearson's statistic `Σ (O − E)² / E` over the 2 × `columns` table.
    pub statistic: f64,
    /// Degrees of freedom: `columns − 1`.
    pub df: u64,
    /// `P(χ²_df ≥ statistic)` (SciPy `chi2_contingency(correction=False)`
    /// on the pooled table); `1` when fewer than two columns are left.
    pub p_value: f64,
    /// Columns tested, after dropping empty ones and pooling sparse ones.
    pub columns: usize,
    /// Categories (non-empty columns) that went into pooled columns.
    pub pooled: usize,
}

/// Pearson's chi-square test that the canary's and the baseline's counts
/// over the same categories come from one distribution (a 2 × K
/// contingency table, no continuity correction).
///
/// Categories empty on both sides are dropped. Then, so that every expected
/// count is at least [`MIN_EXPECTED`] (5), the two categories with the
/// smallest totals are pooled into one, repeatedly, until every column's
/// total `t` has `t · min(n_c, n_b) / N ≥ 5` or one column is left; the
/// pooled columns are tested as categories of their own. A table left with
/// one column has no evidence of a difference: statistic 0, `p = 1`.
///
/// `canary` and `baseline` are aligned by index and need the same length;
/// each side needs at least one count.
pub fn chi_square_homogeneity(canary: &[u64], baseline: &[u64]) -> Result<ChiSquare, StatsError> {
    if canary.len() != baseline.len() {
        return Err(StatsError::InvalidParameter {
            name: "baseline",
            value: baseline.len() as f64,
            expected: "as many categories as the canary's",
        });
    }
    let nc = total(canary, Sample::Canary)?;
    let nb = total(baseline, Sample::Baseline)?;
    let mut cols: Vec<(u64, u64)> = canary
        .iter()
        .zip(baseline)
        .map(|(&c, &b)| (c, b))
        .filter(|&(c, b)| c + b > 0)
        .collect();
    let n = (nc + nb) as f64;
    let floor = MIN_EXPECTED * n / nc.min(nb) as f64;
    let sum = |c: &(u64, u64)| c.0 + c.1;
    let mut pooled_sources = vec![1usize; cols.len()];
    loop {
        if cols.len() < 2 {
            break;
        }
        // Indices of the two smallest totals (stable: the first on ties).
        let mut order: Vec<usize> = (0..cols.len()).collect();
        order.sort_by_key(|&i| (sum(&cols[i]), i));
        let (a, b) = (order[0], order[1]);
        if sum(&cols[a]) as f64 >= floor {
            break;
        }
        let (lo, hi) = (a.min(b), a.max(b));
        let merged = (cols[lo].0 + cols[hi].0, cols[lo].1 + cols[hi].1);
        let sources = pooled_sources[lo] + pooled_sources[hi];
        cols.remove(hi);
        pooled_sources.remove(hi);
        cols[lo] = merged;
        pooled_sources[lo] = sources;
    }
    let pooled = pooled_sources.iter().filter(|&&s| s > 1).sum();
    if cols.len() < 2 {
        return Ok(ChiSquare {
            statistic: 0.0,
            df: 0,
            p_value: 1.0,
            columns: cols.len(),
            pooled,
        });
    }
    let (rc, rb) = (nc as f64, nb as f64);
    let mut statistic = 0.0;
    for &(c, b) in &cols {
        let t = (c + b) as f64;
        let (ec, eb) = (rc * t / n, rb * t / n);
        statistic += (c as f64 - ec).powi(2) / ec + (b as f64 - eb).powi(2) / eb;
    }
    let df = cols.len() as u64 - 1;
    Ok(ChiSquare {
        statistic,
        df,
        p_value: chi_square_sf(statistic, df as f64),
        columns: cols.len(),
        pooled,
    })
}

fn total(counts: &[u64], sample: Sample) -> Result<u64, StatsError> {
    if counts.is_empty() {
        return Err(StatsError::Empty { sample, min: 1 });
    }
    let t = counts
        .iter()
        .try_fold(0u64, |a, &c| a.checked_add(c))
        .ok_or(StatsError::NotFinite {
            what: "total count",
        })?;
    if t == 0 {
        return Err(StatsError::ZeroWeight { sample });
    }
    Ok(t)
}

/// `P(χ²_df ≥ x)`: the regularized upper incomplete gamma `Q(df/2, x/2)`.
pub(crate) fn chi_square_sf(x: f64, df: f64) -> f64 {
    if x.is_nan() || df <= 0.0 {
        return 1.0;
    }
    if x <= 0.0 {
        return 1.0;
    }
    if x.is_infinite() {
        return 0.0;
    }
    statrs::function::gamma::checked_gamma_ur(df / 2.0, x / 2.0)
        .map(|p| p.clamp(0.0, 1.0))
        .unwrap_or(1.0)
}

/// One bin of a [`Psi`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PsiBin {
    /// Upper edge (inclusive); `+∞` for the last bin. The bin starts after
    /// the previous bin's edge (`−∞` for the first).
    pub upper: f64,
    /// Canary values in the bin.
    pub canary: u64,
    /// Baseline values in the bin.
    pub baseline: u64,
}

/// Result of [`psi`] / [`psi_weighted`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Psi {
    /// The population stability index, `≥ 0`.
    pub value: f64,
    /// The bins, in ascending order.
    pub bins: Vec<PsiBin>,
    /// Values on the canary side.
    pub canary_n: u64,
    /// Values on the baseline side.
    pub baseline_n: u64,
}

impl Psi {
    /// The PSI two samples of these sizes from one distribution show on
    /// average over these bins: about `(bins − 1) · (1/n_c + 1/n_b)` (the
    /// index is, for small differences, a chi-square statistic divided by
    /// the effective sample size). A PSI near this is noise.
    pub fn noise_floor(&self) -> f64 {
        let k = self.bins.len().saturating_sub(1) as f64;
        k * (1.0 / self.canary_n as f64 + 1.0 / self.baseline_n as f64)
    }
}

/// [`psi_weighted`] on plain values.
pub fn psi(canary: &[f64], baseline: &[f64], bins: usize) -> Result<Psi, StatsError> {
    let c: Vec<(f64, u64)> = canary.iter().map(|&v| (v, 1)).collect();
    let b: Vec<(f64, u64)> = baseline.iter().map(|&v| (v, 1)).collect();
    psi_weighted(&c, &b, bins)
}

/// The population stability index of the canary's values against the
/// baseline's, over `bins` bins cut at the baseline's quantiles.
///
/// Edges: for `k = 1 .. bins − 1`, the baseline's `k / bins` quantile in
/// the inverted-CDF sense (the smallest value `x` with `F_b(x) ≥ k / bins`,
/// NumPy `quantile(method="inverted_cdf")`); repeated edges, and edges at
/// or above the baseline's largest value, are dropped, so every bin holds
/// baseline values (a heavy atom gives fewer, larger bins). Bin `i` is
/// `(edge_{i−1}, edge_i]`. Then [`psi_from_counts`] on the bins' counts.
///
/// `(value, count)` pairs in any order; finite values; each side needs a
/// positive count; `bins ≥ 2`.
pub fn psi_weighted(
    canary: &[(f64, u64)],
    baseline: &[(f64, u64)],
    bins: usize,
) -> Result<Psi, StatsError> {
    if bins < 2 {
        return Err(StatsError::InvalidParameter {
            name: "bins",
            value: bins as f64,
            expected: "at least 2 bins",
        });
    }
    let c = sorted(canary, Sample::Canary)?;
    let b = sorted(baseline, Sample::Baseline)?;
    let nb: u64 = b.iter().map(|p| p.1).sum();
    let nc: u64 = c.iter().map(|p| p.1).sum();
    let max = b.last().map_or(f64::INFINITY, |p| p.0);
    // Edges at the baseline's k/bins quantiles: C(x) · bins ≥ k · n_b.
    let mut edges: Vec<f64> = Vec::with_capacity(bins);
    let mut cum: u128 = 0;
    let mut k: u128 = 1;
    let (kb, nbb) = (bins as u128, u128::from(nb));
    for &(x, n) in &b {
        cum += u128::from(n);
        while k < kb && cum * kb >= k * nbb {
            if x < max && edges.last() != Some(&x) {
                edges.push(x);
            }
            k += 1;
        }
    }
    let mut out: Vec<PsiBin> = edges
        .iter()
        .map(|&upper| PsiBin {
            upper,
            canary: 0,
            baseline: 0,
        })
        .collect();
    out.push(PsiBin {
        upper: f64::INFINITY,
        canary: 0,
        baseline: 0,
    });
    let index = |x: f64| edges.partition_point(|&e| e < x);
    for &(x, n) in &c {
        out[index(x)].canary += n;
    }
    for &(x, n) in &b {
        out[index(x)].baseline += n;
    }
    let cc: Vec<u64> = out.iter().map(|b| b.canary).collect();
    let bc: Vec<u64> = out.iter().map(|b| b.baseline).collect();
    Ok(Psi {
        value: psi_from_counts(&cc, &bc)?,
        bins: out,
        canary_n: nc,
        baseline_n: nb,
    })
}

/// The population stability index of two binned distributions:
/// `Σ (c_i − b_i) · ln(c_i / b_i)` with `c_i`, `b_i` the canary's and the
/// baseline's shares of bin `i`, each raised to at least [`PSI_FLOOR`]
/// (0.0001) so empty bins count without an infinite logarithm. Always
/// `≥ 0`, and `0` for identical shares. Industry reading: below 0.1 no
/// shift, 0.1–0.2 moderate, above 0.2 a significant shift.
///
/// `canary` and `baseline` are aligned by index and need the same length;
/// each side needs at least one count.
pub fn psi_from_counts(canary: &[u64], baseline: &[u64]) -> Result<f64, StatsError> {
    if canary.len() != baseline.len() {
        return Err(StatsError::InvalidParameter {
            name: "baseline",
            value: baseline.len() as f64,
            expected: "as many bins as the canary's",
        });
    }
    let nc = total(canary, Sample::Canary)? as f64;
    let nb = total(baseline, Sample::Baseline)? as f64;
    let mut value = 0.0;
    for (&c, &b) in canary.iter().zip(baseline) {
        let pc = (c as f64 / nc).max(PSI_FLOOR);
        let pb = (b as f64 / nb).max(PSI_FLOOR);
        value += (pc - pb) * (pc / pb).ln();
    }
    Ok(value.max(0.0))
}

/// The pairs with positive counts, sorted by value; errors on NaN,
/// infinite values or no weight.
fn sorted(values: &[(f64, u64)], sample: Sample) -> Result<Vec<(f64, u64)>, StatsError> {
    if values.is_empty() {
        return Err(StatsError::Empty { sample, min: 1 });
    }
    let mut out = Vec::with_capacity(values.len());
    for (index, &(v, n)) in values.iter().enumerate() {
        if v.is_nan() {
            return Err(StatsError::NaN { sample, index });
        }
        if v.is_infinite() {
            return Err(StatsError::Infinite { sample, index });
        }
        if n > 0 {
            out.push((v, n));
        }
    }
    if out.is_empty() {
        return Err(StatsError::ZeroWeight { sample });
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_distributions() {
        let x: Vec<f64> = (0..1000).map(f64::from).collect();
        let p = psi(&x, &x, 10).unwrap();
        assert_eq!(p.value, 0.0);
        assert_eq!(p.bins.len(), 10);
        assert!(p.bins.iter().all(|b| b.baseline == 100 && b.canary == 100));
        let c = chi_square_homogeneity(&[10, 20, 30], &[10, 20, 30]).unwrap();
        assert_eq!((c.statistic, c.p_value, c.df), (0.0, 1.0, 2));
    }

    #[test]
    fn atoms_merge_bins() {
        // Half the baseline at 0: the 0.1 .. 0.5 quantiles are all 0.
        let mut b = vec![0.0; 50];
        b.extend((1..=50).map(f64::from));
        let p = psi(&b, &b, 10).unwrap();
        assert_eq!(p.bins[0].upper, 0.0);
        assert_eq!(p.bins[0].baseline, 50);
        assert_eq!(p.bins.len(), 6);
        assert!(p.bins.iter().all(|b| b.baseline > 0));
    }

    #[test]
    fn sparse_columns_are_pooled() {
        // Column totals 105, 85, 22, 3, 1, 2 and a floor of 5 · 218 / 103:
        // 1 + 2, then + 3, then + 22 (still below the floor).
        let c = chi_square_homogeneity(&[50, 40, 10, 1, 0, 2], &[55, 45, 12, 2, 1, 0]).unwrap();
        assert_eq!(c.pooled, 4);
        assert_eq!(c.columns, 3);
        assert_eq!(c.df, 2);
        // One column left: no evidence.
        let c = chi_square_homogeneity(&[1, 1], &[1, 0]).unwrap();
        assert_eq!((c.df, c.p_value), (0, 1.0));
    }

    #[test]
    fn empty_bins_use_the_floor() {
        let v = psi_from_counts(&[100, 0], &[50, 50]).unwrap();
        let expected = (1.0 - 0.5) * (1.0f64 / 0.5).ln() + (1e-4 - 0.5) * (1e-4f64 / 0.5).ln();
        assert!((v - expected).abs() < 1e-12);
    }
}
