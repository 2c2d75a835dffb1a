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
            out.push(v, 1.0);
        }
        out.total = values.len() as f64;
        Ok(out)
    }

    /// From `(value, count)` pairs in any order; zero counts are skipped.
    pub(crate) fn from_counts(
        pairs: &[(f64, u64)],
        sample: Sample,
        min: usize,
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
        super::error::check_len(total, sample, min)?;
        items.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut out = Weighted::default();
        for (v, c) in items {
            out.push(v, c as f64);
        }
        out.total = total as f64;
        Ok(out)
    }

    /// Appends `weight` at `v`, values coming in ascending order: an equal
    /// value adds to the last weight (-0.0 and 0.0 compare equal and merge).
    fn push(&mut self, v: f64, weight: f64) {
        match (self.values.last(), self.weights.last_mut()) {
            (Some(&last), Some(w)) if last == v => *w += weight,
            _ => {
                self.values.push(v);
                self.weights.push(weight);
            }
        }
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
    let (xs, xw) = (&x.values[..], &x.weights[..]);
    let (ys, yw) = (&y.values[..], &y.weights[..]);
    let (mut i, mut j) = (0usize, 0usize);
    let (mut u, mut ties, mut y_below) = (0.0, 0.0, 0.0);
    while i < xs.len() {
        let v = xs[i] - shift;
        // Baseline values below this canary value: each its own tie group
        // (baseline values are distinct).
        while j < ys.len() && ys[j] < v {
            let c = yw[j];
            ties += c * c * c - c;
            y_below += c;
            j += 1;
        }
        // Several distinct canary values may collapse onto one after the shift.
        let mut cx = xw[i];
        i += 1;
        while i < xs.len() && xs[i] - shift == v {
            cx += xw[i];
            i += 1;
        }
        let mut cy = 0.0;
        if j < ys.len() && ys[j] == v {
            cy = yw[j];
            j += 1;
        }
        u += cx * (y_below + 0.5 * cy);
        let t = cx + cy;
        ties += t * t * t - t;
        y_below += cy;
    }
    for &c in &yw[j..] {
        ties += c * c * c - c;
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
/// `canary − baseline` and its confidence interval, as R reports them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ShiftEstimate {
    /// The Hodges-Lehmann estimate of the shift (canary − baseline).
    pub estimate: f64,
    /// Lower end of the confidence interval (R's root at `+z`).
    pub low: f64,
    /// Upper end of the confidence interval (R's root at `−z`; see
    /// [`hodges_lehmann`](super::hodges_lehmann) for why it can be below
    /// `low` on data of a scale below `1e-4`).
    pub high: f64,
}

/// R's `wdiff(d, zq)` from `wilcox.test`, two-sided: the standardized
/// Wilcoxon statistic of `x − shift` against `y`, minus `zq`, with the
/// continuity correction when `correct`.
pub(crate) fn wilcoxon_diff(
    x: &Weighted,
    y: &Weighted,
    shift: f64,
    zq: f64,
    correct: bool,
) -> Result<f64, StatsError> {
    let (n1, n2) = (x.total, y.total);
    let (u, ties) = u_and_ties(x, y, shift);
    let dz = u - n1 * n2 / 2.0;
    let correction = if !correct || dz == 0.0 {
        0.0
    } else {
        0.5 * dz.signum()
    };
    let s = sigma(n1, n2, ties);
    if s <= 0.0 || !s.is_finite() {
        return Err(StatsError::AllTied);
    }
    Ok((dz - correction) / s - zq)
}

/// Brent's root finder as R's `uniroot` runs it (`R_zeroin2`: inverse
/// quadratic / secant steps guarded by bisection, absolute tolerance `tol`,
/// at most `max_iter` steps), so results match R's to the last bit. `fa` and
/// `fb` are `f(a)` and `f(b)`, of opposite signs.
fn zeroin(
    f: &mut dyn FnMut(f64) -> Result<f64, StatsError>,
    a0: f64,
    b0: f64,
    fa0: f64,
    fb0: f64,
    tol: f64,
    max_iter: usize,
) -> Result<f64, StatsError> {
    let (mut a, mut b, mut fa, mut fb) = (a0, b0, fa0, fb0);
    let (mut c, mut fc) = (a, fa);
    if fa == 0.0 {
        return Ok(a);
    }
    if fb == 0.0 {
        return Ok(b);
    }
    for _ in 0..=max_iter {
        let prev_step = b - a;
        if fc.abs() < fb.abs() {
            // Make b the best approximation so far.
            a = b;
            b = c;
            c = a;
            fa = fb;
            fb = fc;
            fc = fa;
        }
        let tol_act = 2.0 * f64::EPSILON * b.abs() + tol / 2.0;
        let mut new_step = (c - b) / 2.0;
        if new_step.abs() <= tol_act || fb == 0.0 {
            return Ok(b);
        }
        if prev_step.abs() >= tol_act && fa.abs() > fb.abs() {
            // Interpolation: secant with two points, inverse quadratic with three.
            let cb = c - b;
            let (mut p, mut q);
            if a == c {
                let t1 = fb / fa;
                p = cb * t1;
                q = 1.0 - t1;
            } else {
                let qa = fa / fc;
                let t1 = fb / fc;
                let t2 = fb / fa;
                p = t2 * (cb * qa * (qa - t1) - (b - a) * (t1 - 1.0));
                q = (qa - 1.0) * (t1 - 1.0) * (t2 - 1.0);
            }
            if p > 0.0 {
                q = -q;
            } else {
                p = -p;
            }
            if p < 0.75 * cb * q - (tol_act * q).abs() / 2.0 && p < (prev_step * q / 2.0).abs() {
                new_step = p / q;
            }
        }
        if new_step.abs() < tol_act {
            new_step = if new_step > 0.0 { tol_act } else { -tol_act };
        }
        a = b;
        fa = fb;
        b += new_step;
        fb = f(b)?;
        if (fb > 0.0 && fc > 0.0) || (fb < 0.0 && fc < 0.0) {
            c = a;
            fc = fa;
        }
    }
    Ok(b)
}

/// R's root tolerance in `wilcox.test` (`uniroot(..., tol = 1e-4)`).
const ROOT_TOL: f64 = 1e-4;
/// R's `uniroot` default iteration limit.
const ROOT_MAX_ITER: usize = 1000;

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

    // R: root(zq) returns an end of the range when the statistic does not
    // cross zq inside it, and uniroot(wdiff, c(mumin, mumax), tol = 1e-4)
    // otherwise.
    let root = |zq: f64| -> Result<f64, StatsError> {
        let mut f = |d: f64| wilcoxon_diff(x, y, d, zq, true);
        let f_lower = f(mu_min)?;
        if f_lower <= 0.0 {
            return Ok(mu_min);
        }
        let f_upper = f(mu_max)?;
        if f_upper >= 0.0 {
            return Ok(mu_max);
        }
        zeroin(
            &mut f,
            mu_min,
            mu_max,
            f_lower,
            f_upper,
            ROOT_TOL,
            ROOT_MAX_ITER,
        )
    };
    let low = root(zq)?;
    let high = root(-zq)?;

    // R computes the estimate without the continuity correction.
    let mut f0 = |d: f64| wilcoxon_diff(x, y, d, 0.0, false);
    let f_lower = f0(mu_min)?;
    let f_upper = f0(mu_max)?;
    let estimate = if f_lower.signum() == f_upper.signum() && f_lower != 0.0 {
        // No sign change (only possible with extreme ties): R would stop
        // with an error; the middle of the range is the honest answer.
        mu_min + (mu_max - mu_min) / 2.0
    } else {
        zeroin(
            &mut f0,
            mu_min,
            mu_max,
            f_lower,
            f_upper,
            ROOT_TOL,
            ROOT_MAX_ITER,
        )?
    };
    Ok(ShiftEstimate {
        estimate: super::error::finite(estimate, "shift estimate")?,
        low: super::error::finite(low, "interval")?,
        high: super::error::finite(high, "interval")?,
    })
}
