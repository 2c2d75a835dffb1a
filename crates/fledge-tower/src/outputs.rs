//! [`Outputs`]: recording what the model answered, per request at response
//! time, for the plan's output drift gates (`ks`, `psi`, `chi_square`,
//! `output_mean`), which need no ground truth. Shared by the framework
//! adapters (`fledge_axum::Outputs`, `fledge_actix::Outputs` re-export these
//! types): the handles take the [`Chosen`] version, which their `Version`
//! extractors dereference to.

use std::fmt;

use fledge_gate::{OutputId, OutputKind, Recorder};
use fledge_select::VersionIndex;

use crate::chosen::Chosen;
use crate::routes::RoutingSource;

/// The model outputs a rollout's plan declares (`outputs = [...]`), to
/// resolve by name once, at startup, into handles that record per request.
///
/// ```
/// use std::convert::Infallible;
/// use std::sync::Arc;
/// use fledge_gate::{OutputSpec, Recorder, RecorderConfig};
/// use fledge_select::{Selector, Split};
/// use fledge_sticky::{Bucketer, HashMode};
/// use fledge_tower::{CanaryLayer, Chosen, FixedRouting, Outputs};
/// use tower::Layer;
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
/// let handler = tower::service_fn(move |req: http::Request<String>| {
///     let forecast = forecast.clone();
///     async move {
///         let chosen = Chosen::current().or_else(|| req.extensions().get::<Chosen>().copied());
///         let value = if chosen.map(|c| c.id()) == Some("v2") { 41.5 } else { 40.0 };
///         if let Some(chosen) = chosen {
///             // Under the version that served the request: no allocation, no lookup.
///             forecast.record(&chosen, value);
///         }
///         Ok::<_, Infallible>(http::Response::new(format!("{value}")))
///     }
/// });
/// let service = CanaryLayer::new(routes).layer(handler);
/// # let _ = service;
/// # Ok(())
/// # }
/// ```
///
/// Recording costs what [`Recorder::record_output`] and
/// [`Recorder::record_label`] cost (an atomic load, an uncontended shard
/// lock, a histogram increment; a label is found in a lock-free registry):
/// no allocation, nothing per user, no table of requests. The handles are
/// cheap to clone (one reference count) and `Send + Sync`: keep them in the
/// application's state (axum's `State`, actix-web's `web::Data`).
#[derive(Clone)]
pub struct Outputs {
    recorder: Recorder,
}

impl Outputs {
    /// The outputs declared in `routes`' recorder (for a rollout: the
    /// plan's `outputs`). Pass the same routing handle as the layer (a
    /// clone).
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
    /// Records `value` for the request `version` served (an adapter's
    /// `Version` extractor dereferences to [`Chosen`]: pass `&version`). No
    /// allocation. NaN and infinite values are not recorded (they are
    /// counted in [`Recorder::dropped`]).
    #[inline]
    pub fn record(&self, version: &Chosen, value: f64) {
        self.record_index(version.index(), value);
    }

    /// [`record`](Self::record) by version index (e.g. a [`Chosen`]'s,
    /// passed to a spawned task).
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
    /// in the recorder's life), later ones count as `other`. An adapter's
    /// `Version` dereferences to [`Chosen`]: pass `&version`.
    #[inline]
    pub fn record(&self, version: &Chosen, label: &str) {
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

    use crate::routes::FixedRouting;

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

    #[test]
    fn handles_record_under_the_chosen_version() {
        let outputs = Outputs::new(routes(
            RecorderConfig::new(2)
                .output(OutputSpec::numeric("forecast"))
                .output(OutputSpec::categorical("top_category")),
        ));
        let v2 = Chosen::new(VersionIndex::new(0).unwrap(), "v2", crate::Reason::Sticky);
        let forecast = outputs.numeric("forecast").unwrap();
        forecast.record(&v2, 41.5);
        assert_eq!(outputs.recorder.dropped(), 0);
        forecast.record_index(v2.index(), f64::NAN);
        assert_eq!(outputs.recorder.dropped(), 1);
        outputs
            .categorical("top_category")
            .unwrap()
            .record(&v2, "kitchen");
        let id = outputs.recorder.output_id("top_category").unwrap();
        assert_eq!(
            outputs.recorder.labels(id),
            Some(vec!["kitchen".to_owned()])
        );
    }
}
