//! Numbers as the reports print them: values, lifts, p-values. A leaf.

use crate::metric::MetricKind;

/// A metric's value: a rate in percent for conversions, a number otherwise;
/// `-` without data.
pub(crate) fn fmt_value(kind: MetricKind, v: Option<f64>) -> String {
    match (kind, v) {
        (_, None) => "-".to_owned(),
        (MetricKind::Conversion, Some(v)) => format!("{:.3}%", v * 100.0),
        (_, Some(v)) => fmt_num(v),
    }
}

/// A lift: percentage points for conversions, a signed number otherwise.
pub(crate) fn fmt_lift(kind: MetricKind, v: f64) -> String {
    match kind {
        MetricKind::Conversion => format!("{:+.3}pp", v * 100.0),
        _ => {
            let s = fmt_num(v);
            if v >= 0.0 { format!("+{s}") } else { s }
        }
    }
}

/// A number with a precision that suits its size.
pub(crate) fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        format!("{v:.3e}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.4}")
    }
}

/// `p = 0.0123` or `p < 0.0001`, for sentences.
pub(crate) fn p_clause(p: Option<f64>) -> String {
    match p {
        None => "no p-value".to_owned(),
        Some(p) if p < 1e-4 => "p < 0.0001".to_owned(),
        Some(p) => format!("p = {p:.4}"),
    }
}

/// A p-value for a table cell.
pub(crate) fn fmt_p(p: Option<f64>) -> String {
    match p {
        None => "-".to_owned(),
        Some(p) if p < 1e-4 => "<0.0001".to_owned(),
        Some(p) => format!("{p:.4}"),
    }
}
