//! [`OutputSpec`]: a model output a recorder keeps per version (numeric or
//! categorical), with its sizes; serde form for rollout plans.

use serde::{Deserialize, Serialize};

use crate::metric::validate_custom_name;

/// Default [`OutputSpec::resolution`] of numeric outputs.
pub const DEFAULT_RESOLUTION: f64 = 1e-6;
/// Default [`OutputSpec::max_abs`] of numeric outputs.
pub const DEFAULT_MAX_ABS: f64 = 1e9;
/// Default [`OutputSpec::max_labels`] of categorical outputs.
pub const DEFAULT_MAX_LABELS: usize = 50;
/// The most labels a categorical output may name.
pub const MAX_LABELS_LIMIT: usize = 4_096;
/// The longest label kept by name, in bytes; longer labels count as other.
pub const MAX_LABEL_LEN: usize = 128;
/// The largest `max_abs / resolution` (the sketch counts integer multiples
/// of the resolution up to this).
pub const MAX_RANGE: f64 = 4.0e18;

/// Whether an output is a number or a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    /// A number per request (a forecast, a score): kept as a sketch of its
    /// distribution plus exact count, sum, sum of squares, min and max.
    Numeric,
    /// A label per request (a class, the top item's category): kept as a
    /// count per label, the labels past `max_labels` in one `other` count.
    Categorical,
}

impl OutputKind {
    /// The serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputKind::Numeric => "numeric",
            OutputKind::Categorical => "categorical",
        }
    }
}

impl std::fmt::Display for OutputKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A model output recorded per request at response time
/// ([`Recorder::record_output`](crate::Recorder::record_output),
/// [`Recorder::record_label`](crate::Recorder::record_label)), declared on
/// the [`RecorderConfig`](crate::RecorderConfig).
///
/// Serde form, as a rollout plan's `outputs = [...]` holds it (unknown
/// fields rejected; fields of the other kind are errors):
///
/// | field | kind | default | meaning |
/// |---|---|---|---|
/// | `name` | both | required | the name checks use as `metric`; custom-metric rules |
/// | `kind` | both | required | `numeric` or `categorical` |
/// | `resolution` | numeric | 1e-6 | values are counted as multiples of this (absolute error ≤ half of it) |
/// | `max_abs` | numeric | 1e9 | larger magnitudes are clamped to it (and counted in `clamped`) |
/// | `max_labels` | categorical | 50 | labels kept by name; later ones count as `other` |
/// | `labels` | categorical | `[]` | labels registered up front, in this order (they count towards `max_labels`) |
///
/// ```
/// use fledge_gate::output::{OutputKind, OutputSpec};
///
/// let outputs: Vec<OutputSpec> = serde_json::from_str(r#"[
///     { "name": "forecast", "kind": "numeric" },
///     { "name": "top_category", "kind": "categorical", "max_labels": 20 }
/// ]"#)?;
/// assert_eq!(outputs[0], OutputSpec::numeric("forecast"));
/// assert_eq!(outputs[1].kind(), OutputKind::Categorical);
/// assert_eq!(outputs[1].label_capacity(), Some(20));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSpec {
    name: String,
    shape: Shape,
}

#[derive(Debug, Clone, PartialEq)]
enum Shape {
    Numeric {
        resolution: f64,
        max_abs: f64,
    },
    Categorical {
        max_labels: usize,
        labels: Vec<String>,
    },
}

impl OutputSpec {
    /// A numeric output with the default resolution (1e-6) and range (±1e9).
    pub fn numeric(name: impl Into<String>) -> OutputSpec {
        OutputSpec {
            name: name.into(),
            shape: Shape::Numeric {
                resolution: DEFAULT_RESOLUTION,
                max_abs: DEFAULT_MAX_ABS,
            },
        }
    }

    /// A categorical output keeping up to 50 labels by name.
    pub fn categorical(name: impl Into<String>) -> OutputSpec {
        OutputSpec {
            name: name.into(),
            shape: Shape::Categorical {
                max_labels: DEFAULT_MAX_LABELS,
                labels: Vec::new(),
            },
        }
    }

    /// Numeric outputs: values are counted as integer multiples of
    /// `resolution` (rounded), so values closer than it are not told apart.
    /// Ignored for categorical outputs.
    pub fn resolution(mut self, resolution: f64) -> Self {
        if let Shape::Numeric { resolution: r, .. } = &mut self.shape {
            *r = resolution;
        }
        self
    }

    /// Numeric outputs: the largest magnitude kept apart; larger ones are
    /// clamped to it. Ignored for categorical outputs.
    pub fn max_abs(mut self, max_abs: f64) -> Self {
        if let Shape::Numeric { max_abs: m, .. } = &mut self.shape {
            *m = max_abs;
        }
        self
    }

    /// Categorical outputs: how many distinct labels are counted by name.
    /// Ignored for numeric outputs.
    pub fn max_labels(mut self, max_labels: usize) -> Self {
        if let Shape::Categorical { max_labels: m, .. } = &mut self.shape {
            *m = max_labels;
        }
        self
    }

    /// Categorical outputs: labels registered at construction, in order,
    /// before any recorded one (so their indices are the same on every
    /// replica). Ignored for numeric outputs.
    pub fn labels<I, S>(mut self, labels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        if let Shape::Categorical { labels: l, .. } = &mut self.shape {
            l.extend(labels.into_iter().map(Into::into));
        }
        self
    }

    /// The output's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Numeric or categorical.
    pub fn kind(&self) -> OutputKind {
        match self.shape {
            Shape::Numeric { .. } => OutputKind::Numeric,
            Shape::Categorical { .. } => OutputKind::Categorical,
        }
    }

    /// `(resolution, max_abs)` of a numeric output.
    pub fn numeric_range(&self) -> Option<(f64, f64)> {
        match self.shape {
            Shape::Numeric {
                resolution,
                max_abs,
            } => Some((resolution, max_abs)),
            Shape::Categorical { .. } => None,
        }
    }

    /// `max_labels` of a categorical output.
    pub fn label_capacity(&self) -> Option<usize> {
        match self.shape {
            Shape::Categorical { max_labels, .. } => Some(max_labels),
            Shape::Numeric { .. } => None,
        }
    }

    /// The labels registered up front.
    pub fn initial_labels(&self) -> &[String] {
        match &self.shape {
            Shape::Categorical { labels, .. } => labels,
            Shape::Numeric { .. } => &[],
        }
    }

    /// Checks the name and the sizes; `Err` names the field and the problem.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        validate_custom_name(&self.name).map_err(|r| ("name", r.to_owned()))?;
        match &self.shape {
            Shape::Numeric {
                resolution,
                max_abs,
            } => {
                if !(resolution.is_finite() && *resolution > 0.0) {
                    return Err((
                        "resolution",
                        format!("{resolution} is not a positive, finite number"),
                    ));
                }
                if !(max_abs.is_finite() && *max_abs >= 2.0 * resolution) {
                    return Err((
                        "max_abs",
                        format!(
                            "{max_abs} is not a finite number at least twice the resolution {resolution}"
                        ),
                    ));
                }
                if max_abs / resolution > MAX_RANGE {
                    return Err((
                        "max_abs",
                        format!(
                            "max_abs / resolution = {:e} is above {MAX_RANGE:e}: raise the resolution or lower max_abs",
                            max_abs / resolution
                        ),
                    ));
                }
            }
            Shape::Categorical { max_labels, labels } => {
                if !(1..=MAX_LABELS_LIMIT).contains(max_labels) {
                    return Err((
                        "max_labels",
                        format!("{max_labels} is not between 1 and {MAX_LABELS_LIMIT}"),
                    ));
                }
                if labels.len() > *max_labels {
                    return Err((
                        "labels",
                        format!(
                            "{} labels declared, more than max_labels = {max_labels}",
                            labels.len()
                        ),
                    ));
                }
                for (i, l) in labels.iter().enumerate() {
                    if l.len() > MAX_LABEL_LEN {
                        return Err((
                            "labels",
                            format!("label {l:?} is longer than {MAX_LABEL_LEN} bytes"),
                        ));
                    }
                    if labels[..i].contains(l) {
                        return Err(("labels", format!("label {l:?} is declared twice")));
                    }
                }
            }
        }
        Ok(())
    }
}

/// The flat serde form.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    name: String,
    kind: OutputKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resolution: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_abs: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_labels: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    labels: Option<Vec<String>>,
}

impl Serialize for OutputSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw = match &self.shape {
            Shape::Numeric {
                resolution,
                max_abs,
            } => RawOutput {
                name: self.name.clone(),
                kind: OutputKind::Numeric,
                resolution: Some(*resolution),
                max_abs: Some(*max_abs),
                max_labels: None,
                labels: None,
            },
            Shape::Categorical { max_labels, labels } => RawOutput {
                name: self.name.clone(),
                kind: OutputKind::Categorical,
                resolution: None,
                max_abs: None,
                max_labels: Some(*max_labels),
                labels: (!labels.is_empty()).then(|| labels.clone()),
            },
        };
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for OutputSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = RawOutput::deserialize(deserializer)?;
        let wrong = |field: &str| {
            D::Error::custom(format!(
                "output `{}` (kind `{}`): field `{field}` does not apply to this kind",
                raw.name, raw.kind
            ))
        };
        let spec = match raw.kind {
            OutputKind::Numeric => {
                if raw.max_labels.is_some() {
                    return Err(wrong("max_labels"));
                }
                if raw.labels.is_some() {
                    return Err(wrong("labels"));
                }
                OutputSpec::numeric(raw.name.clone())
                    .resolution(raw.resolution.unwrap_or(DEFAULT_RESOLUTION))
                    .max_abs(raw.max_abs.unwrap_or(DEFAULT_MAX_ABS))
            }
            OutputKind::Categorical => {
                if raw.resolution.is_some() {
                    return Err(wrong("resolution"));
                }
                if raw.max_abs.is_some() {
                    return Err(wrong("max_abs"));
                }
                OutputSpec::categorical(raw.name.clone())
                    .max_labels(raw.max_labels.unwrap_or(DEFAULT_MAX_LABELS))
                    .labels(raw.labels.clone().unwrap_or_default())
            }
        };
        spec.validate().map_err(|(field, problem)| {
            D::Error::custom(format!("output `{}`: field `{field}`: {problem}", raw.name))
        })?;
        Ok(spec)
    }
}
