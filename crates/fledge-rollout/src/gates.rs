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

/// Whether `gate`, reading custom name `metric`, reads it as the right
/// thing: output drift kinds read a declared output of their kind (`ks`,
/// `psi` and `output_mean` a numeric one, `chi_square` a categorical one),
/// other kinds a custom metric, not an output. `output` is the kind of the
/// output of that name, if one is declared. `Some` says what is wrong.
pub(crate) fn output_problem(
    gate: &CheckSpec,
    metric: &str,
    output: Option<fledge_gate::OutputKind>,
) -> Option<String> {
    use fledge_gate::OutputKind;
    use fledge_gate::check::CheckKind;
    let kind = gate.test.kind();
    let wanted = match kind {
        CheckKind::ChiSquare => Some(OutputKind::Categorical),
        CheckKind::Ks | CheckKind::Psi | CheckKind::OutputMean => Some(OutputKind::Numeric),
        _ => None,
    };
    match (wanted, output) {
        (Some(w), Some(o)) if w != o => Some(format!(
            "kind `{kind}` reads a {w} output, and output {metric:?} is {o}"
        )),
        (Some(w), None) => Some(format!(
            "kind `{kind}` reads a model output: declare {metric:?} in `outputs` (kind = \"{w}\")"
        )),
        (None, Some(_)) => Some(format!(
            "{metric:?} is a model output; kind `{kind}` reads custom metrics (use ks, psi, chi_square or output_mean on outputs)"
        )),
        _ => None,
    }
}
