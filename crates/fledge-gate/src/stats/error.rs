use std::fmt;

/// Which of the two samples an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sample {
    /// The first argument: the canary (experiment).
    Canary,
    /// The second argument: the baseline (control).
    Baseline,
}

impl fmt::Display for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sample::Canary => "canary",
            Sample::Baseline => "baseline",
        })
    }
}

/// Why a statistical test could not produce a result.
///
/// Every function in [`crate::stats`] returns one of these instead of panicking
/// or returning a NaN p-value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StatsError {
    /// A sample has no values.
    #[error("the {sample} sample is empty: record at least {min} value(s) before testing")]
    Empty {
        /// The empty sample.
        sample: Sample,
        /// The minimum size the test needs.
        min: usize,
    },
    /// A sample has fewer values than the test needs.
    #[error("the {sample} sample has {len} value(s); this test needs at least {min}")]
    TooSmall {
        /// The short sample.
        sample: Sample,
        /// Its length.
        len: usize,
        /// The minimum size the test needs.
        min: usize,
    },
    /// A sample contains NaN.
    #[error("the {sample} sample holds NaN at index {index}: drop or replace missing values first")]
    NaN {
        /// The sample with the NaN.
        sample: Sample,
        /// Index of the first NaN.
        index: usize,
    },
    /// A sample contains an infinite value.
    #[error("the {sample} sample holds an infinite value at index {index}: clamp or drop it first")]
    Infinite {
        /// The sample with the infinite value.
        sample: Sample,
        /// Index of the first infinite value.
        index: usize,
    },
    /// A weighted sample has an entry with weight zero, or no weight at all.
    #[error("the {sample} sample has a zero total weight")]
    ZeroWeight {
        /// The sample with no weight.
        sample: Sample,
    },
    /// A proportion has more events than trials.
    #[error(
        "the {sample} group has {events} events out of {trials} trials: events cannot exceed trials"
    )]
    EventsExceedTrials {
        /// The group.
        sample: Sample,
        /// Number of events (e.g. errors).
        events: u64,
        /// Number of trials (e.g. requests).
        trials: u64,
    },
    /// A parameter is outside its valid range.
    #[error("invalid parameter `{name}` = {value}: {expected}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// The value given.
        value: f64,
        /// What is expected instead.
        expected: &'static str,
    },
    /// The computation overflowed (values too large to square or sum in `f64`).
    #[error(
        "the {what} is not finite: the values are too large for this test; rescale them (e.g. to milliseconds)"
    )]
    NotFinite {
        /// Which quantity overflowed.
        what: &'static str,
    },
    /// Every observation is tied, so a rank-based interval has no spread.
    #[error("cannot compute a confidence interval when all observations are tied")]
    AllTied,
}

/// Checks that a sample of `len` values is non-empty and has at least `min`.
pub(crate) fn check_len(len: u64, sample: Sample, min: usize) -> Result<(), StatsError> {
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len == 0 {
        return Err(StatsError::Empty { sample, min });
    }
    if len < min {
        return Err(StatsError::TooSmall { sample, len, min });
    }
    Ok(())
}

/// Checks event counts: at least one trial, no more events than trials.
pub(crate) fn check_counts(events: u64, trials: u64, sample: Sample) -> Result<(), StatsError> {
    if trials == 0 {
        return Err(StatsError::Empty { sample, min: 1 });
    }
    if events > trials {
        return Err(StatsError::EventsExceedTrials {
            sample,
            events,
            trials,
        });
    }
    Ok(())
}

/// Checks that a sample is non-empty, long enough and finite.
pub(crate) fn check_sample(values: &[f64], sample: Sample, min: usize) -> Result<(), StatsError> {
    check_len(values.len() as u64, sample, min)?;
    for (index, v) in values.iter().enumerate() {
        if v.is_nan() {
            return Err(StatsError::NaN { sample, index });
        }
        if v.is_infinite() {
            return Err(StatsError::Infinite { sample, index });
        }
    }
    Ok(())
}

/// Checks that `value` is finite, or names it.
pub(crate) fn finite(value: f64, what: &'static str) -> Result<f64, StatsError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(StatsError::NotFinite { what })
    }
}
