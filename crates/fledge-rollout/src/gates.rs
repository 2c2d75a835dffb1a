//! How plans use fledge-gate's check specs.

use std::str::FromStr;

use fledge_gate::{CheckSpec, MetricRef};

/// The built-in metrics, for error messages.
pub(crate) const BUILTIN_METRICS: &str =
    "error_rate, latency, latency_mean, latency_pNN (e.g. latency_p99)";

/// Whether `name` can be declared as a custom metric; `Err` says why not.
pub(crate) fn custom_metric_problem(name: &str) -> Option<String> {
    match MetricRef::from_str(name) {
        Ok(MetricRef::Custom(_)) => None,
        Ok(_) => Some("this is a built-in metric: do not declare it".to_owned()),
        Err(e) => Some(e.reason),
    }
}

/// The gate's name: its label (`name`, or `"<metric> <kind>"`).
pub(crate) fn gate_name(gate: &CheckSpec) -> String {
    gate.label()
}

/// The gate crate's own validation.
pub(crate) fn validate(gate: &CheckSpec) -> Result<(), String> {
    gate.validate().map_err(|e| e.to_string())
}

/// The custom metric a gate reads, if any (built-ins always exist).
pub(crate) fn custom_metric_of(gate: &CheckSpec) -> Option<&str> {
    match &gate.metric {
        MetricRef::Custom(name) => Some(name),
        _ => None,
    }
}
