//! [`AbConfig`] (an A/B/n test as data) and [`AbBuilder`] (the same in code).

use serde::{Deserialize, Serialize};

use fledge_rollout::plan::Sticky;
use fledge_select::VersionId;

use crate::error::ExperimentError;
use crate::metric::{Correction, MetricSpec, Stopping};
use crate::routing::Condition;

/// One variant of an experiment and its share of traffic, in percent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantShare {
    /// The variant's id.
    pub id: VersionId,
    /// Its share of the experiment's traffic, in percent (`0 < weight ≤ 100`).
    pub weight: f64,
}

fn default_alpha() -> f64 {
    0.05
}

fn default_min_exposures() -> u64 {
    100
}

/// An A/B/n test as data (TOML, JSON or YAML through serde,
/// `deny_unknown_fields`), or built with [`AbTest::builder`](crate::AbTest::builder).
///
/// ```toml
/// name = "checkout-button"
/// variants = [
///   { id = "blue", weight = 50 },     # the first is the control
///   { id = "green", weight = 25 },
///   { id = "orange", weight = 25 },
/// ]
/// metrics = [
///   { name = "purchase", kind = "conversion" },    # the first decides
///   { name = "revenue", kind = "per_exposure", tau = 0.5 },
/// ]
/// segment = [{ attribute = "country", in = ["fr", "de"] }]
/// stopping = { kind = "sequential", tau = 0.01 }
/// correction = "holm"
/// auto_promote = true
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbConfig {
    /// The experiment's name (the default sticky salt is `"ab/<name>"`).
    pub name: String,
    /// The variants and their shares; the first is the control. Shares must
    /// add up to 100.
    pub variants: Vec<VariantShare>,
    /// The metrics; the first decides, the others are reported.
    pub metrics: Vec<MetricSpec>,
    /// Who enters the experiment: requests matching every condition. Others
    /// are served by the control and not counted. Empty: everyone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segment: Vec<Condition>,
    /// The family-wise significance level per metric (default 0.05).
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// The correction for several treatments (default Holm).
    #[serde(default)]
    pub correction: Correction,
    /// When the test may decide.
    pub stopping: Stopping,
    /// Samples each arm needs before any decision (default 100).
    #[serde(default = "default_min_exposures")]
    pub min_exposures: u64,
    /// Give the winner 100 % of the experiment's traffic when it is found.
    #[serde(default)]
    pub auto_promote: bool,
    /// Sticky bucketing: hash mode and salt (default salt `"ab/<name>"`).
    #[serde(default)]
    pub sticky: Sticky,
}

/// Builds an [`AbConfig`] in code; see [`AbTest::builder`](crate::AbTest::builder).
#[derive(Debug, Clone)]
pub struct AbBuilder {
    name: String,
    variants: Vec<(String, f64)>,
    metrics: Vec<MetricSpec>,
    segment: Vec<Condition>,
    alpha: f64,
    correction: Correction,
    stopping: Option<Stopping>,
    min_exposures: u64,
    auto_promote: bool,
    sticky: Sticky,
}

impl AbBuilder {
    /// A builder for a test named `name`, with the defaults: alpha 0.05,
    /// Holm, 100 exposures before any decision, no stopping rule yet.
    pub(crate) fn new(name: &str) -> Self {
        AbBuilder {
            name: name.to_owned(),
            variants: Vec::new(),
            metrics: Vec::new(),
            segment: Vec::new(),
            alpha: default_alpha(),
            correction: Correction::default(),
            stopping: None,
            min_exposures: default_min_exposures(),
            auto_promote: false,
            sticky: Sticky::default(),
        }
    }

    /// The control and its share in percent (listed first).
    pub fn control(mut self, id: &str, percent: f64) -> Self {
        self.variants.insert(0, (id.to_owned(), percent));
        self
    }

    /// A treatment and its share in percent.
    pub fn variant(mut self, id: &str, percent: f64) -> Self {
        self.variants.push((id.to_owned(), percent));
        self
    }

    /// A metric; the first added decides.
    pub fn metric(mut self, metric: MetricSpec) -> Self {
        self.metrics.push(metric);
        self
    }

    /// Only requests matching `condition` (and any other) enter.
    pub fn segment(mut self, condition: Condition) -> Self {
        self.segment.push(condition);
        self
    }

    /// The significance level (default 0.05).
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// The multiple-comparison correction (default Holm).
    pub fn correction(mut self, correction: Correction) -> Self {
        self.correction = correction;
        self
    }

    /// A fixed-horizon test deciding at `exposures` per variant.
    pub fn fixed_horizon(mut self, exposures: u64) -> Self {
        self.stopping = Some(Stopping::FixedHorizon { exposures });
        self
    }

    /// A sequential (always-valid) test; `tau` is the difference worth
    /// detecting in the primary metric's units.
    pub fn sequential(mut self, tau: f64) -> Self {
        self.stopping = Some(Stopping::Sequential {
            tau,
            max_exposures: None,
        });
        self
    }

    /// Any stopping rule.
    pub fn stopping(mut self, stopping: Stopping) -> Self {
        self.stopping = Some(stopping);
        self
    }

    /// Samples each arm needs before any decision (default 100).
    pub fn min_exposures(mut self, n: u64) -> Self {
        self.min_exposures = n;
        self
    }

    /// Give the winner 100 % when it is found.
    pub fn auto_promote(mut self, on: bool) -> Self {
        self.auto_promote = on;
        self
    }

    /// The sticky salt (default `"ab/<name>"`).
    pub fn salt(mut self, salt: &str) -> Self {
        self.sticky.salt = Some(salt.to_owned());
        self
    }

    /// The sticky hash: `fledge`, `unleash`, `growthbook-v1`, `growthbook-v2`.
    pub fn hash(mut self, mode: &str) -> Self {
        self.sticky.hash = Some(mode.to_owned());
        self
    }

    /// The configuration, with variant ids checked.
    pub fn config(self) -> Result<AbConfig, ExperimentError> {
        let variants = self
            .variants
            .into_iter()
            .map(|(id, weight)| {
                VersionId::new(&id)
                    .map(|id| VariantShare { id, weight })
                    .map_err(|source| ExperimentError::InvalidId { id, source })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let stopping = self.stopping.ok_or(ExperimentError::NoStopping)?;
        Ok(AbConfig {
            name: self.name,
            variants,
            metrics: self.metrics,
            segment: self.segment,
            alpha: self.alpha,
            correction: self.correction,
            stopping,
            min_exposures: self.min_exposures,
            auto_promote: self.auto_promote,
            sticky: self.sticky,
        })
    }
}
