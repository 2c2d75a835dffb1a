//! [`Moments`]: count, sum and sum of squares, the exact summary that
//! recorders accumulate and the mean-based tests read.

use serde::{Deserialize, Serialize};

/// Count, sum and sum of squares of a sample: enough for means, variances and
/// the sequential test, and cheap to accumulate on the request path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    /// Number of values.
    pub count: u64,
    /// Sum of the values.
    pub sum: f64,
    /// Sum of the squared values.
    pub sum_sq: f64,
}

impl Moments {
    /// Moments of a slice.
    pub fn from_slice(values: &[f64]) -> Moments {
        let mut m = Moments::default();
        for &v in values {
            m.push(v);
        }
        m
    }

    /// Adds one value.
    pub fn push(&mut self, value: f64) {
        self.count += 1;
        self.sum += value;
        self.sum_sq += value * value;
    }

    /// Adds another set of moments.
    pub fn merge(&mut self, other: &Moments) {
        self.count += other.count;
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
    }

    /// The moments of the values in `self` that are not in `earlier`
    /// (`self − earlier`, for "since the step started"); counts saturate at 0.
    pub fn since(&self, earlier: &Moments) -> Moments {
        if earlier.count >= self.count {
            return Moments::default();
        }
        Moments {
            count: self.count - earlier.count,
            sum: self.sum - earlier.sum,
            sum_sq: (self.sum_sq - earlier.sum_sq).max(0.0),
        }
    }

    /// The mean, or `None` when empty.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// The unbiased sample variance, or `None` with fewer than two values.
    pub fn variance(&self) -> Option<f64> {
        if self.count < 2 {
            return None;
        }
        let n = self.count as f64;
        let mean = self.sum / n;
        Some(((self.sum_sq - n * mean * mean) / (n - 1.0)).max(0.0))
    }
}
