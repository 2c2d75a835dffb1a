//! Prometheus' HTTP API answers (`/api/v1/query`), parsed with serde.
//!
//! Prometheus writes sample values as strings (`"0.25"`, `"NaN"`, `"+Inf"`,
//! `"-Inf"`) next to a float Unix timestamp, and reports failures as
//! `{"status": "error", "errorType": .., "error": ..}` (with HTTP 400, 422,
//! 503, ...). [`parse_response`] turns a body into a [`QueryResponse`] or a
//! [`QueryError`] that says what went wrong.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

/// Why a query produced no usable answer: transport, HTTP, API or parse
/// errors. A PromQL gate reports any of them as Inconclusive, with this text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The request did not complete: connection refused, time-out, DNS, TLS.
    #[error(
        "cannot query Prometheus at {url}: {message} (check the address, that Prometheus is running and reachable, and the time-out)"
    )]
    Transport {
        /// The endpoint asked.
        url: String,
        /// The client's error.
        message: String,
    },
    /// Prometheus (or a proxy in front of it) answered with an HTTP error and
    /// a body that is not an API error.
    #[error("Prometheus at {url} answered HTTP {status}: {body}")]
    Status {
        /// The endpoint asked.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// Prometheus refused or failed the query (`"status": "error"`), e.g. a
    /// PromQL syntax error (`bad_data`) or a time-out (`timeout`).
    #[error("Prometheus rejected the query ({error_type}): {error}")]
    Api {
        /// Prometheus' `errorType`.
        error_type: String,
        /// Prometheus' `error`.
        error: String,
    },
    /// The body is not a Prometheus API answer (a wrong URL, a proxy's page).
    #[error(
        "the answer is not a Prometheus query response ({message}): check that the URL points at Prometheus' HTTP API"
    )]
    Parse {
        /// What serde said.
        message: String,
    },
    /// A sample value is not a number Prometheus writes.
    #[error("the sample value {0:?} is not a number")]
    BadValue(String),
}

/// One instant-vector element: a series' labels and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series' labels (`__name__` is absent after most functions).
    pub labels: BTreeMap<String, String>,
    /// Unix time of the value, in seconds.
    pub timestamp: f64,
    /// The value (`NaN` and infinities included).
    pub value: f64,
}

/// The `data` of a successful query.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryValue {
    /// An instant vector: zero or more series.
    Vector(Vec<Sample>),
    /// A scalar (e.g. `scalar(...)` or a number literal).
    Scalar {
        /// Unix time, in seconds.
        timestamp: f64,
        /// The value.
        value: f64,
    },
    /// A range vector (a query ending in `[5m]`): not a single value.
    Matrix {
        /// How many series it holds.
        series: usize,
    },
    /// A string literal.
    String(String),
}

impl QueryValue {
    /// The query's single value, or why there is none: an empty vector,
    /// several series, a range vector or a string.
    pub fn single(&self) -> Result<f64, NoValue> {
        match self {
            QueryValue::Scalar { value, .. } => Ok(*value),
            QueryValue::Vector(samples) => match samples.as_slice() {
                [] => Err(NoValue::Empty),
                [one] => Ok(one.value),
                many => Err(NoValue::Several(many.len())),
            },
            QueryValue::Matrix { .. } => Err(NoValue::RangeVector),
            QueryValue::String(_) => Err(NoValue::NotANumber),
        }
    }
}

/// Why a successful query has no single value (see [`QueryValue::single`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoValue {
    /// An empty vector: no series matched (no data yet, a wrong label).
    Empty,
    /// A vector of several series.
    Several(usize),
    /// A range vector.
    RangeVector,
    /// A string result.
    NotANumber,
}

impl fmt::Display for NoValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoValue::Empty => f.write_str("no data (empty vector)"),
            NoValue::Several(n) => write!(
                f,
                "{n} series returned; aggregate the query to one value (e.g. sum(...))"
            ),
            NoValue::RangeVector => {
                f.write_str("a range vector returned; wrap it in a function such as rate(...)")
            }
            NoValue::NotANumber => f.write_str("a string returned, not a number"),
        }
    }
}

/// A successful answer: its value and Prometheus' warnings.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResponse {
    /// The result.
    pub value: QueryValue,
    /// Warnings Prometheus attached (e.g. from remote reads).
    pub warnings: Vec<String>,
}

#[derive(Deserialize)]
struct RawResponse {
    status: String,
    #[serde(default)]
    data: Option<RawData>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum RawData {
    Vector(Vec<RawSample>),
    Scalar(RawPoint),
    String((f64, String)),
    Matrix(Vec<serde::de::IgnoredAny>),
}

#[derive(Deserialize)]
struct RawSample {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: RawPoint,
}

type RawPoint = (f64, String);

/// Parses a value as Prometheus writes it: a decimal number, `NaN`, `+Inf`
/// or `-Inf`.
pub fn parse_value(text: &str) -> Result<f64, QueryError> {
    match text {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        other => other
            .parse::<f64>()
            .ok()
            // Rust also reads "inf" and "nan" spellings Prometheus never writes.
            .filter(|v| v.is_finite())
            .ok_or_else(|| QueryError::BadValue(other.to_owned())),
    }
}

/// Parses the body of an `/api/v1/query` answer.
///
/// An `"error"` status becomes [`QueryError::Api`]; a body that is not the
/// API's JSON becomes [`QueryError::Parse`].
pub fn parse_response(body: &str) -> Result<QueryResponse, QueryError> {
    let raw: RawResponse = serde_json::from_str(body).map_err(|e| QueryError::Parse {
        message: e.to_string(),
    })?;
    if raw.status != "success" {
        return Err(QueryError::Api {
            error_type: raw.error_type.unwrap_or_else(|| "unknown".into()),
            error: raw
                .error
                .unwrap_or_else(|| format!("status {:?} without an error message", raw.status)),
        });
    }
    let Some(data) = raw.data else {
        return Err(QueryError::Parse {
            message: "a success without `data`".into(),
        });
    };
    let value = match data {
        RawData::Vector(samples) => QueryValue::Vector(
            samples
                .into_iter()
                .map(|s| {
                    Ok(Sample {
                        labels: s.metric,
                        timestamp: s.value.0,
                        value: parse_value(&s.value.1)?,
                    })
                })
                .collect::<Result<_, QueryError>>()?,
        ),
        RawData::Scalar((timestamp, value)) => QueryValue::Scalar {
            timestamp,
            value: parse_value(&value)?,
        },
        RawData::String((_, s)) => QueryValue::String(s),
        RawData::Matrix(series) => QueryValue::Matrix {
            series: series.len(),
        },
    };
    Ok(QueryResponse {
        value,
        warnings: raw.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn ok(name: &str) -> QueryResponse {
        parse_response(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn vector_with_one_sample() {
        let r = ok("vector_one.json");
        assert_eq!(r.value.single(), Ok(0.0125));
        let QueryValue::Vector(samples) = &r.value else {
            panic!("not a vector: {r:?}")
        };
        assert_eq!(
            samples[0].labels.get("version").map(String::as_str),
            Some("v2")
        );
        assert_eq!(samples[0].timestamp, 1_700_000_000.123);
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn empty_vector_has_no_value() {
        let r = ok("vector_empty.json");
        assert_eq!(r.value, QueryValue::Vector(Vec::new()));
        assert_eq!(r.value.single(), Err(NoValue::Empty));
        assert!(NoValue::Empty.to_string().contains("no data"));
    }

    #[test]
    fn several_series_have_no_single_value() {
        let r = ok("vector_two.json");
        assert_eq!(r.value.single(), Err(NoValue::Several(2)));
        assert!(NoValue::Several(2).to_string().contains("sum("));
    }

    #[test]
    fn nan_and_infinities() {
        let r = ok("vector_nan.json");
        assert!(r.value.single().is_ok_and(f64::is_nan));
        let r = ok("vector_inf.json");
        let QueryValue::Vector(samples) = &r.value else {
            panic!("not a vector: {r:?}")
        };
        assert_eq!(samples[0].value, f64::INFINITY);
        assert_eq!(samples[1].value, f64::NEG_INFINITY);
    }

    #[test]
    fn scalar_and_string_and_matrix() {
        let r = ok("scalar.json");
        assert_eq!(
            r.value,
            QueryValue::Scalar {
                timestamp: 1_700_000_000.5,
                value: 42.0
            }
        );
        assert_eq!(r.value.single(), Ok(42.0));
        let r = ok("string.json");
        assert_eq!(r.value, QueryValue::String("hello".into()));
        assert_eq!(r.value.single(), Err(NoValue::NotANumber));
        let r = ok("matrix.json");
        assert_eq!(r.value, QueryValue::Matrix { series: 1 });
        assert_eq!(r.value.single(), Err(NoValue::RangeVector));
    }

    #[test]
    fn warnings_and_unknown_fields_are_kept_or_ignored() {
        let r = ok("vector_warnings.json");
        assert_eq!(r.warnings, vec!["PromQL info: something".to_owned()]);
        assert_eq!(r.value.single(), Ok(3.0));
    }

    #[test]
    fn api_errors() {
        let e = parse_response(&fixture("error_bad_data.json")).err();
        let Some(QueryError::Api { error_type, error }) = &e else {
            panic!("not an API error: {e:?}")
        };
        assert_eq!(error_type, "bad_data");
        assert!(error.contains("parse error"), "{error}");
        let text = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.starts_with("Prometheus rejected the query (bad_data)"),
            "{text}"
        );
    }

    #[test]
    fn not_an_api_answer() {
        for body in [
            "<html>502 Bad Gateway</html>",
            "",
            "{}",
            "{\"status\":\"success\"}",
        ] {
            let e = parse_response(body).err();
            assert!(matches!(e, Some(QueryError::Parse { .. })), "{body}: {e:?}");
        }
        let e = parse_response(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"abc"]}]}}"#,
        );
        assert_eq!(e, Err(QueryError::BadValue("abc".into())));
        let e =
            parse_response(r#"{"status":"success","data":{"resultType":"heatmap","result":[]}}"#);
        assert!(matches!(e, Err(QueryError::Parse { .. })), "{e:?}");
    }

    #[test]
    fn values_as_prometheus_writes_them() {
        assert_eq!(parse_value("1e-3"), Ok(0.001));
        assert_eq!(parse_value("-2.5"), Ok(-2.5));
        assert_eq!(parse_value("+Inf"), Ok(f64::INFINITY));
        assert_eq!(parse_value("-Inf"), Ok(f64::NEG_INFINITY));
        assert!(parse_value("NaN").is_ok_and(f64::is_nan));
        assert!(parse_value("nan").is_err());
        assert!(parse_value("infinity").is_err());
        assert!(parse_value("").is_err());
    }
}
