//! `GET /rollouts/{name}/series?since=<ms>`: per-version figures over time,
//! for the sparklines of `fledge watch`.
//!
//! Admin APIs before this route answer 404 or 405; `watch` then shows the
//! figures of the status alone. Every field is optional here and unknown
//! fields are ignored: `null` means "no data in that span".

use std::collections::BTreeMap;

use serde::Deserialize;

use super::types::finite_or_none;

/// A page of the series.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Series {
    /// The versions, candidate first.
    #[serde(default)]
    pub(crate) versions: Vec<String>,
    /// The gates' bounds, to show next to the figures.
    #[serde(default)]
    pub(crate) limits: Vec<Limit>,
    /// Oldest first.
    #[serde(default)]
    pub(crate) points: Vec<SeriesPoint>,
    /// The `since` of the next request (ms since the epoch).
    #[serde(default)]
    pub(crate) next: Option<u64>,
}

/// A gate's bound on a metric.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Limit {
    #[serde(default)]
    pub(crate) metric: String,
    #[serde(default, deserialize_with = "finite_or_none")]
    pub(crate) max: Option<f64>,
    #[serde(default, deserialize_with = "finite_or_none")]
    pub(crate) min: Option<f64>,
}

/// One span of time.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SeriesPoint {
    /// The end of the span, ms since the epoch.
    #[serde(default)]
    pub(crate) at: u64,
    /// The span's length in ms.
    #[serde(default)]
    pub(crate) span_ms: u64,
    #[serde(default)]
    pub(crate) versions: Vec<PointVersion>,
}

/// One version's figures in a span.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct PointVersion {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) requests: Option<u64>,
    #[serde(default)]
    pub(crate) errors: Option<u64>,
    #[serde(default, deserialize_with = "finite_or_none")]
    pub(crate) p99_ms: Option<f64>,
    /// Feedback metrics (`abs_error`, ...).
    #[serde(default)]
    pub(crate) metrics: BTreeMap<String, MetricPoint>,
}

/// A feedback metric in a span.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct MetricPoint {
    #[serde(default, deserialize_with = "finite_or_none")]
    pub(crate) mean: Option<f64>,
}

impl SeriesPoint {
    /// `id`'s figures in this span.
    pub(crate) fn version(&self, id: &str) -> Option<&PointVersion> {
        self.versions.iter().find(|v| v.id == id)
    }
}

impl PointVersion {
    /// Requests per second over a span of `span_ms`.
    pub(crate) fn rate(&self, span_ms: u64) -> Option<f64> {
        let requests = self.requests?;
        (span_ms > 0).then(|| requests as f64 * 1000.0 / span_ms as f64)
    }

    /// Errors / requests, when there were requests.
    pub(crate) fn error_rate(&self) -> Option<f64> {
        let requests = self.requests.filter(|&r| r > 0)?;
        Some(self.errors.unwrap_or(0) as f64 / requests as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract of the endpoint, as agreed with fledge-admin.
    const CONTRACT: &str = r#"{"rollout": "predict-v2", "versions": ["v2", "v1"], "candidate": "v2", "baseline": "v1",
 "limits": [{"gate": "p99 < 50ms", "metric": "latency_p99", "max": 50.0, "min": null}],
 "points": [{"at": 1733490000000, "span_ms": 1000, "step": 0, "weight_bps": 500,
             "versions": [{"id": "v2", "requests": 12, "errors": 0, "p50_ms": 3.1, "p99_ms": 9.0,
                           "metrics": {"abs_error": {"count": 10, "mean": 1.02}}},
                          {"id": "v1", "requests": 230, "errors": 1, "p50_ms": 2.9, "p99_ms": 8.1, "metrics": {}}]}],
 "next": 1733490001000}"#;

    #[test]
    fn the_contract_decodes() {
        let s: Series = serde_json::from_str(CONTRACT).expect("the contract decodes");
        assert_eq!(s.versions, ["v2", "v1"]);
        assert_eq!(s.limits[0].max, Some(50.0));
        assert_eq!(s.limits[0].min, None);
        assert_eq!(s.next, Some(1_733_490_001_000));
        let p = &s.points[0];
        let v2 = p.version("v2").expect("v2");
        assert_eq!(v2.rate(p.span_ms), Some(12.0));
        assert_eq!(v2.error_rate(), Some(0.0));
        assert_eq!(v2.metrics["abs_error"].mean, Some(1.02));
        let v1 = p.version("v1").expect("v1");
        assert_eq!(v1.p99_ms, Some(8.1));
    }

    #[test]
    fn nulls_and_unknown_fields_are_tolerated() {
        let s: Series = serde_json::from_str(
            r#"{"points": [{"at": 5, "span_ms": 0, "new": true,
                "versions": [{"id": "v2", "requests": null, "p99_ms": null, "metrics": {"m": {"mean": null}}}]}],
                "future": [1, 2]}"#,
        )
        .expect("decodes");
        let v = &s.points[0].versions[0];
        assert_eq!(v.rate(0), None);
        assert_eq!(v.error_rate(), None);
        assert_eq!(v.metrics["m"].mean, None);
        assert_eq!(s.next, None);
    }
}
