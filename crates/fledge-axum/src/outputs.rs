//! [`Outputs`]: recording what the model answered, per request at response
//! time, for the plan's output drift gates (`ks`, `psi`, `chi_square`,
//! `output_mean`), which need no ground truth.

use std::fmt;

use fledge_gate::{OutputId, OutputKind, Recorder};
use fledge_select::VersionIndex;
use fledge_tower::RoutingSource;

use crate::extract::Version;

/// The model outputs a rollout's plan declares (`outputs = [...]`), to
/// resolve by name once, at startup, into handles that record per request.
///
/// ```
/// use std::sync::Arc;
/// use axum::{Router, extract::State, routing::post};
/// use fledge_axum::{CanaryLayer, NumericHandle, Outputs, Version};
/// use fledge_gate::{OutputSpec, Recorder, RecorderConfig};
/// use fledge_select::{Selector, Split};
/// use fledge_sticky::{Bucketer, HashMode};
/// use fledge_tower::FixedRouting;
///
/// async fn predict(version: Version, State(forecast): State<NumericHandle>) -> String {
///     let value = if version.id() == "v2" { 41.5 } else { 40.0 };
///     // Under the version that served the request: no allocation, no lookup.
///     forecast.record(&version, value);
///     format!("{value}")
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let selector = Arc::new(Selector::new(Split::from_pairs([("v2", 500), ("v1", 9_500)])?));
/// // A rollout's recorder declares the plan's `outputs`; this one by hand.
/// let recorder = Recorder::new(RecorderConfig::new(2).output(OutputSpec::numeric("forecast")))?;
/// let routes = FixedRouting::new(selector, Bucketer::new(HashMode::Fledge, "p"), Arc::new(recorder));
///
/// let outputs = Outputs::new(routes.clone());
/// let forecast = outputs.numeric("forecast")?; // once, at startup
/// assert!(outputs.numeric("forcast").is_err()); // a typo is an error naming `forecast`
/// let app: Router = Router::new()
///     .route("/predict", post(predict))
///     .with_state(forecast)
///     .layer(CanaryLayer::new(routes));
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
///
/// Recording costs what [`Recorder::record_output`] and
/// [`Recorder::record_label`] cost (an atomic load, an uncontended shard
/// lock, a histogram increment; a label is found in a lock-free registry):
/// no allocation, nothing per user, no table of requests. The handles are
/// cheap to clone (one reference count) and `Send + Sync`: keep them in the
/// application's state.
#[derive(Clone)]
pub struct Outputs {
    recorder: Recorder,
}

impl Outputs {
    /// The outputs declared in `routes`' recorder (for a rollout: the
    /// plan's `outputs`). Pass the same routing handle as the layer and
    /// [`Feedback`](crate::Feedback) (a clone).
    pub fn new<R: RoutingSource>(routes: R) -> Self {
        Outputs {
            recorder: routes.recorder().clone(),
        }
    }

    /// A handle recording the numeric output `name` (a forecast, a score).
    /// Fails when the plan does not declare it, or declares it
    /// categorical.
    pub fn numeric(&self, name: &str) -> Result<NumericHandle, OutputError> {
        let id = self.resolve(name, OutputKind::Numeric)?;
        Ok(NumericHandle {
            recorder: self.recorder.clone(),
            id,
        })
    }

    /// A handle recording the categorical output `name` (a class, the top
    /// item's category). Fails when the plan does not declare it, or
    /// declares it numeric.
    pub fn categorical(&self, name: &str) -> Result<CategoricalHandle, OutputError> {
        let id = self.resolve(name, OutputKind::Categorical)?;
        Ok(CategoricalHandle {
            recorder: self.recorder.clone(),
            id,
        })
    }

    /// The declared outputs' names and kinds, in the plan's order.
    pub fn declared(&self) -> impl ExactSizeIterator<Item = (&str, OutputKind)> {
        self.recorder.outputs().map(|o| (o.name(), o.kind()))
    }

    fn resolve(&self, name: &str, kind: OutputKind) -> Result<OutputId, OutputError> {
        let unknown = || OutputError::Unknown {
            name: name.to_owned(),
            declared: self.declared().map(|(n, _)| n.to_owned()).collect(),
        };
        let id = self.recorder.output_id(name).ok_or_else(unknown)?;
        match self.recorder.output_kind(id) {
            Some(k) if k == kind => Ok(id),
            Some(declared) => Err(OutputError::WrongKind {
                name: name.to_owned(),
                declared,
            }),
            None => Err(unknown()),
        }
    }
}

impl fmt::Debug for Outputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.declared()).finish()
    }
}

/// Records one numeric model output per response, under the version that
/// served it (from [`Outputs::numeric`]).
#[derive(Clone)]
pub struct NumericHandle {
    recorder: Recorder,
    id: OutputId,
}

impl NumericHandle {
    /// Records `value` for the request `version` served. No allocation.
    /// NaN and infinite values are not recorded (they are counted in
    /// [`Recorder::dropped`]).
    #[inline]
    pub fn record(&self, version: &Version, value: f64) {
        self.record_index(version.index(), value);
    }

    /// [`record`](Self::record) by version index (e.g. a
    /// [`Chosen`](fledge_tower::Chosen) passed to a spawned task).
    #[inline]
    pub fn record_index(&self, version: VersionIndex, value: f64) {
        self.recorder.record_output(version.get(), self.id, value);
    }
}

impl fmt::Debug for NumericHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NumericHandle")
            .field("output", &self.id)
            .finish_non_exhaustive()
    }
}

/// Records one categorical model output per response, under the version
/// that served it (from [`Outputs::categorical`]).
#[derive(Clone)]
pub struct CategoricalHandle {
    recorder: Recorder,
    id: OutputId,
}

impl CategoricalHandle {
    /// Records `label` for the request `version` served. No allocation:
    /// the label is looked up in the output's registry without a lock; the
    /// first `max_labels` distinct labels are registered (a copy each, once
    /// in the recorder's life), later ones count as `other`.
    #[inline]
    pub fn record(&self, version: &Version, label: &str) {
        self.record_index(version.index(), label);
    }

    /// [`record`](Self::record) by version index.
    #[inline]
    pub fn record_index(&self, version: VersionIndex, label: &str) {
        self.recorder.record_label(version.get(), self.id, label);
    }
}

impl fmt::Debug for CategoricalHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CategoricalHandle")
            .field("output", &self.id)
            .finish_non_exhaustive()
    }
}

/// Why an output name was not resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// The plan's `outputs` do not declare this name.
    #[error("output `{name}` is not declared in the plan's `outputs` ({})", declared_list(.declared))]
    Unknown {
        /// The name asked for.
        name: String,
        /// The outputs the plan declares.
        declared: Vec<String>,
    },
    /// The output is declared with the other kind.
    #[error("output `{name}` is declared {declared}: use Outputs::{}", declared.as_str())]
    WrongKind {
        /// The name asked for.
        name: String,
        /// Its declared kind.
        declared: OutputKind,
    },
}

fn declared_list(declared: &[String]) -> String {
    if declared.is_empty() {
        "it declares none".to_owned()
    } else {
        let names: Vec<String> = declared.iter().map(|n| format!("`{n}`")).collect();
        format!("declared: {}", names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use fledge_gate::{OutputSpec, RecorderConfig};
    use fledge_select::{Selector, Split};
    use fledge_sticky::{Bucketer, HashMode};
    use fledge_tower::FixedRouting;

    fn routes(config: RecorderConfig) -> FixedRouting {
        let selector = Arc::new(Selector::new(
            Split::from_pairs([("v2", 5_000), ("v1", 5_000)]).unwrap(),
        ));
        FixedRouting::new(
            selector,
            Bucketer::new(HashMode::Fledge, "o"),
            Arc::new(Recorder::new(config).unwrap()),
        )
    }

    #[test]
    fn unknown_and_wrong_kind_names_are_typed_errors() {
        let outputs = Outputs::new(routes(
            RecorderConfig::new(2)
                .output(OutputSpec::numeric("forecast"))
                .output(OutputSpec::categorical("top_category")),
        ));
        assert!(outputs.numeric("forecast").is_ok());
        assert!(outputs.categorical("top_category").is_ok());
        let e = outputs.numeric("forcast").unwrap_err();
        assert_eq!(
            e,
            OutputError::Unknown {
                name: "forcast".into(),
                declared: vec!["forecast".into(), "top_category".into()],
            }
        );
        assert_eq!(
            e.to_string(),
            "output `forcast` is not declared in the plan's `outputs` (declared: `forecast`, `top_category`)"
        );
        let e = outputs.numeric("top_category").unwrap_err();
        assert_eq!(
            e.to_string(),
            "output `top_category` is declared categorical: use Outputs::categorical"
        );
        assert!(matches!(
            outputs.categorical("forecast"),
            Err(OutputError::WrongKind {
                declared: OutputKind::Numeric,
                ..
            })
        ));
        let none = Outputs::new(routes(RecorderConfig::new(2)));
        assert_eq!(
            none.categorical("x").unwrap_err().to_string(),
            "output `x` is not declared in the plan's `outputs` (it declares none)"
        );
        assert_eq!(
            format!("{outputs:?}"),
            r#"{"forecast": Numeric, "top_category": Categorical}"#
        );
    }
}
