//! Rank tests on weighted samples: Mann-Whitney U and the Hodges-Lehmann shift.
//!
//! Both work on sorted `(value, weight)` runs, so a latency histogram with
//! millions of requests costs as much as its number of distinct buckets.

use super::dist;
use super::error::{Sample, StatsError};
use serde::{Deserialize, Serialize};

/// A sorted sample of distinct values with positive weights (counts).
#[derive(Debug, Clone, Default)]
pub(crate) struct Weighted {
    pub(crate) values: Vec<f64>,
    pub(crate) weights: Vec<f64>,
    pub(crate) total: f64,
}

impl Weighted {
    /// From plain values (each weight 1), validated.
    pub(crate) fn from_values(
        values: &[f64],
        sample: Sample,
        min: usize,
    ) -> Result<Weighted, StatsError> {
        super::error::check_sample(values, sample, min)?;
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let mut out = Weighted::default();
        for v in sorted {
            // -0.0 and 0.0 compare equal and are merged here.
            match out.values.last() {
                Some(&last) if last == v => {
                    if let Some(w) = out.weights.last_mut() {
                        *w += 1.0;
                    }
                }
                _ => {
                    out.values.push(v);
                    out.weights.push(1.0);
                }
            }
        }
        out.total = values.len() as f64;
        Ok(out)
    }

    /// From `(value, count)` pairs in any order; zero counts are skipped.
    pub(crate) fn from_counts(
        pairs: &[(f64, u64)],
        sample: Sample,
        min: u64,
    ) -> Result<Weighted, StatsError> {
        let mut items: Vec<(f64, u64)> = Vec::with_capacity(pairs.len());
        for (index, &(v, c)) in pairs.iter().enumerate() {
            if c == 0 {
                continue;
            }
            if v.is_nan() {
                return Err(StatsError::NaN { sample, index });
            }
            if v.is_infinite() {
                return Err(StatsError::Infinite { sample, index });
            }
            items.push((v, c));
        }
        let total: u64 = items.iter().fold(0u64, |a, (_, c)| a.saturating_add(*c));
        let min_usize = usize::try_from(min).unwrap_or(usize::MAX);
        if total == 0 {
            return Err(StatsError::Empty {
                sample,
                min: min_usize,
            });
        }
        if total < min {
            return Err(StatsError::TooSmall {
                sample,
                len: usize::try_from(total).unwrap_or(usize::MAX),
                min: min_usize,
            });
        }
        items.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut out = Weighted::default();
        for (v, c) in items {
            match out.values.last() {
                Some(&last) if last == v => {
                    if let Some(w) = out.weights.last_mut() {
                        *w += c as f64;
                    }
                }
                _ => {
                    out.values.push(v);
                    out.weights.push(c as f64);
                }
            }
        }
        out.total = total as f64;
        Ok(out)
    }

    pub(crate) fn min(&self) -> f64 {
        self.values.first().copied().unwrap_or(0.0)
    }

    pub(crate) fn max(&self) -> f64 {
        self.values.last().copied().unwrap_or(0.0)
    }

    pub(crate) fn mean(&self) -> f64 {
        let s: f64 = self
            .values
            .iter()
            .zip(&self.weights)
            .map(|(v, w)| v * w)
            .sum();
        s / self.total
    }
}

/// `U` of `x` (shifted by `-shift`) against `y`, and the tie term `Σ(t³ - t)`.
///
/// `U = Σ_i Σ_j [x_i - shift > y_j] + 0.5 [x_i - shift = y_j]`, which equals
/// the rank sum of `x` minus `n(n + 1) / 2` with average ranks for ties.
pub(crate) fn u_and_ties(x: &Weighted, y: &Weighted, shift: f64) -> (f64, f64) {
    let (mut i, mut j) = (0usize, 0usize);
    let mut y_below = 0.0;
    let mut u = 0.0;
    let mut ties = 0.0;
    let nx = x.values.len();
    let ny = y.values.len();
    while i < nx || j < ny {
        let xv = if i < nx {
            x.values[i] - shift
        } else {
            f64::INFINITY
        };
        let yv = if j < ny { y.values[j] } else { f64::INFINITY };
        let v = if xv <= yv { xv } else { yv };
        // Several distinct x may collapse onto one value after the shift.
        let mut cx = 0.0;
        while i < nx && x.values[i] - shift == v {
            cx += x.weights[i];
            i += 1;
        }
        let mut cy = 0.0;
        while j < ny && y.values[j] == v {
            cy += y.weights[j];
            j += 1;
        }
        if cx == 0.0 && cy == 0.0 {
            // Only reachable with non-finite values, which inputs exclude.
            break;
        }
        u += cx * (y_below + 0.5 * cy);
        let t = cx + cy;
        ties += t * t * t - t;
        y_below += cy;
    }
    (u, ties)
}

fn sigma(n1: f64, n2: f64, ties: f64) -> f64 {
    let n = n1 + n2;
    let inner = (n + 1.0) - ties / (n * (n - 1.0));
    ((n1 * n2 / 12.0) * inner).max(0.0).sqrt()
}

/// Result of [`mann_whitney_u`](super::mann_whitney_u).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MannWhitney {
    /// The U statistic of the first (canary) sample: the number of
    /// (canary, baseline) pairs where the canary value is larger, ties
    /// counting one half.
    pub u: f64,
    /// The continuity-corrected, tie-corrected normal score of `u`
    /// (positive when the canary tends to be larger; `0` when all values tie).
    pub z: f64,
    /// Two-sided p-value of the normal approximation, in `[0, 1]`.
    pub p_value: f64,
}

pub(crate) fn mann_whitney(x: &Weighted, y: &Weighted) -> Result<MannWhitney, StatsError> {
    let (n1, n2) = (x.total, y.total);
    let (u, ties) = u_and_ties(x, y, 0.0);
    let mu = n1 * n2 / 2.0;
    let s = sigma(n1, n2, ties);
    let d = u - mu;
    let z = if s > 0.0 && d != 0.0 {
        (d - d.signum() * 0.5) / s
    } else {
        0.0
    };
    let z = super::error::finite(z, "Mann-Whitney z score")?;
    Ok(MannWhitney {
        u,
        z,
        p_value: dist::normal_two_sided(z),
    })
}

/// Result of [`hodges_lehmann`](super::hodges_lehmann): the location shift
/// `canary - baseline` and its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ShiftEstimate {
    /// The Hodges-Lehmann estimate of the shift (canary − baseline).
    pub estimate: f64,
    /// Lower end of the confidence interval.
    pub low: f64,
    /// Upper end of the confidence interval.
    pub high: f64,
}

/// R's `wdiff(d, zq)` from `wilcox.test` with `correct = TRUE`, two-sided.
pub(crate) fn wilcoxon_diff(
    x: &Weighted,
    y: &Weighted,
    shift: f64,
    zq: f64,
) -> Result<f64, StatsError> {
    let (n1, n2) = (x.total, y.total);
    let (u, ties) = u_and_ties(x, y, shift);
    let dz = u - n1 * n2 / 2.0;
    let correction = if dz > 0.0 {
        0.5
    } else if dz < 0.0 {
        -0.5
    } else {
        0.0
    };
    let s = sigma(n1, n2, ties);
    if s <= 0.0 || !s.is_finite() {
        return Err(StatsError::AllTied);
    }
    Ok((dz - correction) / s - zq)
}

/// Converges on the jump of the non-increasing step function `f` between
/// `lo` (where `f > 0`) and `hi` (where `f < 0`), to floating-point
/// resolution. Returns the boundary points `(last > 0, first < 0)` of a
/// zero plateau when there is one: `(a, b)` with `f` zero in between.
fn bracket_sign_change(
    f: &mut dyn FnMut(f64) -> Result<f64, StatsError>,
    mut lo: f64,
    mut hi: f64,
) -> Result<(f64, f64), StatsError> {
    // Boundary between f > 0 and f <= 0.
    let (mut a_lo, mut a_hi) = (lo, hi);
    for _ in 0..200 {
        let mid = a_lo + (a_hi - a_lo) / 2.0;
        if mid <= a_lo || mid >= a_hi {
            break;
        }
        if f(mid)? > 0.0 {
            a_lo = mid;
        } else {
            a_hi = mid;
        }
    }
    // Boundary between f >= 0 and f < 0, starting from the first boundary.
    lo = a_lo;
    for _ in 0..200 {
        let mid = lo + (hi - lo) / 2.0;
        if mid <= lo || mid >= hi {
            break;
        }
        if f(mid)? >= 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok((a_lo, hi))
}

pub(crate) fn shift_estimate(
    x: &Weighted,
    y: &Weighted,
    confidence: f64,
) -> Result<ShiftEstimate, StatsError> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(StatsError::InvalidParameter {
            name: "confidence",
            value: confidence,
            expected: "a confidence level strictly between 0 and 1, e.g. 0.95",
        });
    }
    let mu_min = super::error::finite(x.min() - y.max(), "shift range")?;
    let mu_max = super::error::finite(x.max() - y.min(), "shift range")?;
    let alpha = 1.0 - confidence;
    let zq = dist::normal_quantile(1.0 - alpha / 2.0);

    let root = |zq: f64| -> Result<f64, StatsError> {
        let mut f = |d: f64| wilcoxon_diff(x, y, d, zq);
        let f_lower = f(mu_min)?;
        if f_lower <= 0.0 {
            return Ok(mu_min);
        }
        let f_upper = f(mu_max)?;
        if f_upper >= 0.0 {
            return Ok(mu_max);
        }
        let (a, b) = bracket_sign_change(&mut f, mu_min, mu_max)?;
        // A strict jump gives a == b up to rounding; a zero plateau is
        // reported at its midpoint.
        Ok(a + (b - a) / 2.0)
    };
    let low = root(zq)?;
    let high = root(-zq)?;

    // The estimate: the zero of wdiff(d, 0), the midpoint of the plateau
    // where the corrected statistic is exactly zero (the median of the
    // pairwise differences).
    let mut f0 = |d: f64| wilcoxon_diff(x, y, d, 0.0);
    let f_lower = f0(mu_min)?;
    let f_upper = f0(mu_max)?;
    let estimate = if f_lower <= 0.0 && f_upper >= 0.0 {
        mu_min + (mu_max - mu_min) / 2.0
    } else if f_lower <= 0.0 {
        mu_min
    } else if f_upper >= 0.0 {
        mu_max
    } else {
        let (a, b) = bracket_sign_change(&mut f0, mu_min, mu_max)?;
        a + (b - a) / 2.0
    };
    let (low, high) = if low <= high {
        (low, high)
    } else {
        (high, low)
    };
    Ok(ShiftEstimate {
        estimate: super::error::finite(estimate, "shift estimate")?,
        low: super::error::finite(low, "interval")?,
        high: super::error::finite(high, "interval")?,
    })
}
