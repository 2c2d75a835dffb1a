//! Metric names: what a check reads from a [`Window`](crate::Window), and the
//! rules for custom metric names shared by the [`Recorder`](crate::Recorder)
//! (which declares them) and check specs (which refer to them).
//!
//! Uses only [`crate::explain`] (to print quantiles).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::explain;

/// The metric a check reads from a [`Window`](crate::Window).
///
/// Serialized as a string:
///
/// | string | meaning | unit |
/// |---|---|---|
/// | `error_rate` | errors / requests | fraction (`0.01` = 1 %) |
/// | `latency` | the whole latency distribution (rank tests) | ms |
/// | `latency_mean` | mean latency | ms |
/// | `latency_p50`, `latency_p99`, `latency_p999`, `latency_p99.95` | a latency quantile (`p999` = 99.9th percentile; without a dot, digits after the first two are decimals) | ms |
/// | any other name | a custom metric declared on the recorder; its mean, or its samples for rank tests | the metric's |
///
/// Custom names use ASCII letters, digits, `_`, `-` and `.`; names starting
/// with `latency` or `error` are reserved.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricRef {
    /// `error_rate`.
    ErrorRate,
    /// `latency`: the distribution.
    Latency,
    /// `latency_mean`.
    LatencyMean,
    /// `latency_pNN`: the quantile, in `(0, 1)`.
    LatencyQuantile(f64),
    /// A custom metric by name.
    Custom(String),
}

impl MetricRef {
    /// Whether this is a custom metric.
    pub fn is_custom(&self) -> bool {
        matches!(self, MetricRef::Custom(_))
    }

    /// Whether the metric names a single number per window (everything but
    /// `latency`).
    pub fn is_scalar(&self) -> bool {
        !matches!(self, MetricRef::Latency)
    }

    /// The unit used in explanations.
    pub fn unit(&self) -> &'static str {
        match self {
            MetricRef::Latency | MetricRef::LatencyMean | MetricRef::LatencyQuantile(_) => " ms",
            _ => "",
        }
    }
}

/// Whether `name` is reserved for built-in metrics.
pub(crate) fn is_reserved_name(name: &str) -> bool {
    name.starts_with("latency") || name.starts_with("error")
}

/// Checks a custom metric name: what [`RecorderConfig::metric`](crate::RecorderConfig::metric)
/// accepts and what a check's `metric` may name besides the built-in ones.
pub(crate) fn validate_custom_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    if name.len() > 64 {
        return Err("it is longer than 64 bytes");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err("use only ASCII letters, digits, `_`, `-` and `.`");
    }
    if is_reserved_name(name) {
        return Err("names starting with `latency` or `error` are reserved for built-in metrics");
    }
    Ok(())
}

/// Why a metric string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid metric `{name}`: {reason}")]
pub struct MetricParseError {
    /// The rejected string.
    pub name: String,
    /// What is wrong.
    pub reason: String,
}

impl FromStr for MetricRef {
    type Err = MetricParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| MetricParseError {
            name: s.to_owned(),
            reason: reason.to_owned(),
        };
        match s {
            "error_rate" => return Ok(MetricRef::ErrorRate),
            "latency" => return Ok(MetricRef::Latency),
            "latency_mean" => return Ok(MetricRef::LatencyMean),
            _ => {}
        }
        if let Some(p) = s.strip_prefix("latency_p") {
            let percent = parse_percentile(p).ok_or_else(|| {
                err("expected latency_pNN with NN a percentile in (0, 100), e.g. latency_p99 or latency_p99.9")
            })?;
            return Ok(MetricRef::LatencyQuantile(percent / 100.0));
        }
        if is_reserved_name(s) {
            return Err(err(
                "built-in metrics are error_rate, latency, latency_mean and latency_pNN (e.g. latency_p99)",
            ));
        }
        validate_custom_name(s).map_err(err)?;
        Ok(MetricRef::Custom(s.to_owned()))
    }
}

/// `"99"` → 99, `"999"` → 99.9, `"9995"` → 99.95, `"99.9"` → 99.9, `"5"` → 5.
/// Three or more digits without a dot must start with `9` (`p100` is an
/// error, not 10.0).
fn parse_percentile(p: &str) -> Option<f64> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    if !p.contains('.') && p.len() > 2 && !p.starts_with('9') {
        return None;
    }
    let value: f64 = if p.contains('.') || p.len() <= 2 {
        p.parse().ok()?
    } else {
        format!("{}.{}", &p[..2], &p[2..]).parse().ok()?
    };
    (value > 0.0 && value < 100.0).then_some(value)
}

impl fmt::Display for MetricRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricRef::ErrorRate => f.write_str("error_rate"),
            MetricRef::Latency => f.write_str("latency"),
            MetricRef::LatencyMean => f.write_str("latency_mean"),
            MetricRef::LatencyQuantile(q) => {
                write!(f, "latency_p{}", explain::trimmed(q * 100.0, 6))
            }
            MetricRef::Custom(name) => f.write_str(name),
        }
    }
}

impl Serialize for MetricRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MetricRef {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
