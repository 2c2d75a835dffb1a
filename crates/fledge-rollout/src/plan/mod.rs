//! Plans: what a rollout does, as data.
//!
//! A [`Plan`] names the baseline and candidate versions, the steps of traffic
//! weight, how long each step bakes, which gates must pass, and how many failed
//! or inconclusive evaluations are tolerated. Plans are read from TOML (the
//! canonical format), JSON or YAML, or built in code with [`PlanBuilder`].
//! Every reader rejects unknown fields, and [`Plan::check`] rejects a plan
//! that does not make sense with a [`PlanError`] naming the field or step.
//!
//! The canonical plan is `examples/plans/canary.toml` in the repository:
//!
//! ```toml
//! name = "predict-v2"
//! baseline = "v1"
//! candidate = "v2"
//! steps = [5, 25, 50, 100]   # percent of traffic on the candidate
//! interval = "30s"           # bake time of each step
//! failure_limit = 2          # failing evaluations before rollback
//! inconclusive_limit = 3     # inconclusive bake intervals before a pause
//! ```
//!
//! Steps can be plain percentages or tables with more settings:
//!
//! ```toml
//! steps = [
//!   { weight = 0, mirror = 100, interval = "2m" },   # shadow first: mirror, serve none
//!   5,
//!   { weight = 25, approval = true },                # a human approves this step
//!   { weight = 50, pause = "10m" },                  # hold 10 minutes, then bake
//!   100,
//! ]
//! ```

mod blue_green;
mod builder;
mod check;
mod error;
mod shadow_first;
mod step;
pub mod targeting;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use fledge_select::VersionId;

use crate::duration;
pub use fledge_gate::{CheckSpec, OutputSpec};

pub use blue_green::BlueGreenBuilder;
pub use builder::{PREVIEW_HEADER, PhasedBuilder, PlanBuilder};
pub use shadow_first::ShadowFirstBuilder;

pub use check::{CheckedPlan, MAX_STEPS, Step};
pub use error::{Format, PlanError};
pub use step::{Hold, StepDetail, StepSpec};
pub use targeting::{Attributes, Condition, TargetRule};

/// A rollout plan, as written in a plan file.
///
/// Obtained from [`Plan::from_toml`] (and the JSON / YAML / file readers),
/// which parse *and* check it, or from a [`PlanBuilder`]. A `Plan` built by
/// hand is checked by [`Plan::check`] and again by the controller, so a bad plan
/// never replaces a running one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The rollout's name (used in events, snapshots and the default salt).
    pub name: String,
    /// A free-text description, shown by `fledge plan check`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The version serving today (blue, stable, champion).
    pub baseline: VersionId,
    /// The version being rolled out (green, canary, challenger).
    pub candidate: VersionId,
    /// The steps, in percent of traffic on the candidate, strictly increasing.
    /// Exclusive with `step_weight` / `max_weight`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepSpec>,
    /// Linear steps: grow by this many percent per step ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_weight: Option<f64>,
    /// ... up to this percentage (inclusive); promotion follows the last step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_weight: Option<f64>,
    /// Default bake time of every step: how long a step must run before its
    /// gates can promote it (e.g. `"30s"`).
    #[serde(with = "duration::serde_str")]
    pub interval: Duration,
    /// Failing evaluations within one step that trigger a rollback (the
    /// `failure_limit`-th failure rolls back; `1` rolls back on the first).
    #[serde(default = "default_failure_limit")]
    pub failure_limit: u32,
    /// Bake intervals in a row that end inconclusive (too little data) before
    /// the rollout pauses for a human.
    #[serde(default = "default_inconclusive_limit")]
    pub inconclusive_limit: u32,
    /// Custom metrics fed through the feedback path (e.g. `"mae"`), which gates
    /// may use besides the built-in ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<String>,
    /// Model outputs recorded per request at response time (a forecast, a
    /// class), which output drift gates (`ks`, `psi`, `chi_square`,
    /// `output_mean`) read by name: e.g. `outputs = [{ name = "forecast",
    /// kind = "numeric" }, { name = "top_category", kind = "categorical",
    /// max_labels = 50 }]` (see fledge-gate's `OutputSpec`). Outputs and
    /// custom metrics share one namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<OutputSpec>,
    /// The gates: fledge-gate check specs (`kind`, `metric`, bounds, ...).
    /// By default every step must pass all of them; a step may name the
    /// subset it uses (by `name`, or the default label `"<metric> <kind>"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<CheckSpec>,
    /// How the gates' results combine into a verdict (fledge-gate's judge
    /// scores; default pass 95, marginal 75).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeScores>,
    /// Sticky bucketing: hash mode and salt.
    #[serde(default, skip_serializing_if = "Sticky::is_default")]
    pub sticky: Sticky,
    /// Targeting rules active during the whole rollout (each step may add its own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targeting: Vec<TargetRule>,
    /// Per-version limits applied by the serving layer (concurrency, timeout).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, VersionLimits>,
    /// Blue-green: how long the baseline stays warm after promotion before
    /// the serving layer may release it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "duration::serde_opt"
    )]
    pub keep_warm: Option<Duration>,
}

fn default_failure_limit() -> u32 {
    1
}

fn default_inconclusive_limit() -> u32 {
    5
}

/// The judge's score thresholds (see fledge-gate's `JudgeSpec`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeScores {
    /// Score at or above which (with every check decided) the verdict is Pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_score: Option<f64>,
    /// Score below which the verdict is Fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marginal_score: Option<f64>,
}

/// Sticky bucketing settings of a plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sticky {
    /// The hash: `fledge` (default), or any other [`fledge_sticky::HashMode`] name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// The salt. Default: `"<name>/<candidate>"`, so each new rollout
    /// reshuffles who is in the canary. Restarting a rollout appends `#<n>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
}

impl Sticky {
    fn is_default(&self) -> bool {
        self.hash.is_none() && self.salt.is_none()
    }

    /// The hash mode named by `hash` (`fledge` when unset); an unknown name
    /// is [`PlanError::UnknownHash`].
    pub fn mode(&self) -> Result<fledge_sticky::HashMode, PlanError> {
        match &self.hash {
            Some(h) => h
                .parse()
                .map_err(|_| PlanError::UnknownHash { hash: h.clone() }),
            None => Ok(fledge_sticky::HashMode::Fledge),
        }
    }
}

/// Per-version limits, enforced by the serving layer (`fledge-tower`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionLimits {
    /// The most requests in flight on this version at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// A request on this version that takes longer fails (and counts as a failure).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "duration::serde_opt"
    )]
    pub timeout: Option<Duration>,
    /// What happens to a request when the version's concurrency limit is full.
    #[serde(default)]
    pub overflow: Overflow,
}

/// What to do with a request that finds its version's concurrency limit full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overflow {
    /// Send it to the baseline instead (counted against the candidate).
    #[default]
    Stable,
    /// Reject it (HTTP 503).
    Reject,
}

impl Plan {
    /// Starts a [`PlanBuilder`] for a canary: steps 5/25/50/100 %.
    pub fn canary(name: &str, baseline: &str, candidate: &str) -> PlanBuilder {
        PlanBuilder::canary(name, baseline, candidate)
    }

    /// Reads and checks a TOML plan.
    pub fn from_toml(text: &str) -> Result<Plan, PlanError> {
        Self::parse(text, Format::Toml)
    }

    /// Reads and checks a JSON plan.
    pub fn from_json(text: &str) -> Result<Plan, PlanError> {
        Self::parse(text, Format::Json)
    }

    /// Reads and checks a YAML plan (feature `yaml`; without it, a
    /// [`PlanError::FormatDisabled`]).
    pub fn from_yaml(text: &str) -> Result<Plan, PlanError> {
        Self::parse(text, Format::Yaml)
    }

    /// Reads and checks a plan in the given format.
    pub fn parse(text: &str, format: Format) -> Result<Plan, PlanError> {
        let plan = Self::parse_unchecked(text, format)?;
        plan.check()?;
        Ok(plan)
    }

    /// Reads a plan without checking it (the fields are well-typed, but e.g.
    /// steps may not be increasing). Use [`Plan::check`] afterwards.
    pub fn parse_unchecked(text: &str, format: Format) -> Result<Plan, PlanError> {
        let parsed: Result<Plan, String> = match format {
            Format::Toml => toml::from_str(text).map_err(|e| e.to_string()),
            Format::Json => serde_json::from_str(text).map_err(|e| e.to_string()),
            #[cfg(feature = "yaml")]
            Format::Yaml => yaml_serde::from_str(text).map_err(|e| e.to_string()),
            #[cfg(not(feature = "yaml"))]
            Format::Yaml => return Err(PlanError::FormatDisabled { format }),
        };
        parsed.map_err(|message| PlanError::Parse {
            format,
            message: message.trim_end().to_owned(),
        })
    }

    /// Reads and checks a plan file; the format follows the extension
    /// (`.toml`, `.json`, `.yaml` / `.yml`).
    pub fn from_path(path: impl AsRef<Path>) -> Result<Plan, PlanError> {
        let path = path.as_ref();
        let format = Format::from_path(path)?;
        let bytes = std::fs::read(path).map_err(|source| PlanError::Io {
            path: path.display().to_string(),
            source,
        })?;
        // Bytes that are not text are a bad plan, not a failure to read it.
        let text = String::from_utf8(bytes).map_err(|e| PlanError::NotText {
            path: path.display().to_string(),
            offset: e.utf8_error().valid_up_to(),
        })?;
        Self::parse(&text, format)
    }

    /// Writes the plan as TOML.
    pub fn to_toml(&self) -> Result<String, PlanError> {
        toml::to_string(self).map_err(|e| PlanError::Serialize {
            message: e.to_string(),
        })
    }

    /// Writes the plan as pretty JSON.
    pub fn to_json(&self) -> Result<String, PlanError> {
        serde_json::to_string_pretty(self).map_err(|e| PlanError::Serialize {
            message: e.to_string(),
        })
    }

    /// The salt this plan's first attempt uses: `sticky.salt`, or
    /// `"<name>/<candidate>"`.
    pub fn base_salt(&self) -> String {
        self.sticky
            .salt
            .clone()
            .unwrap_or_else(|| format!("{}/{}", self.name, self.candidate))
    }

    /// Whether `other` is the same rollout (same name, baseline and
    /// candidate), so that one may take over the other's snapshot.
    pub fn same_rollout(&self, other: &Plan) -> bool {
        self.name == other.name
            && self.baseline == other.baseline
            && self.candidate == other.candidate
    }
}
