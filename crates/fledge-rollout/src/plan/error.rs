//! [`PlanError`]: why a plan cannot be read or used.

use std::path::Path;

/// A plan file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// TOML, the canonical format (`.toml`).
    Toml,
    /// JSON (`.json`).
    Json,
    /// YAML (`.yaml`, `.yml`).
    Yaml,
}

impl Format {
    /// The format of a file, from its extension.
    pub fn from_path(path: &Path) -> Result<Format, PlanError> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("toml") => Ok(Format::Toml),
            Some("json") => Ok(Format::Json),
            Some("yaml" | "yml") => Ok(Format::Yaml),
            _ => Err(PlanError::UnknownFormat {
                path: path.display().to_string(),
            }),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Toml => "TOML",
            Format::Json => "JSON",
            Format::Yaml => "YAML",
        })
    }
}

/// Why a plan cannot be read or used. Each variant names the field or step
/// at fault (steps are counted from 0, as in `steps[2]`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The plan file could not be read.
    #[error("cannot read plan file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The extension is not `.toml`, `.json`, `.yaml` or `.yml`.
    #[error(
        "cannot tell the format of plan file {path}: use a .toml, .json, .yaml or .yml extension"
    )]
    UnknownFormat {
        /// The file.
        path: String,
    },
    /// The file's bytes are not UTF-8 text.
    #[error(
        "plan file {path} is not UTF-8 text (invalid byte at offset {offset}): a plan is a TOML, JSON or YAML text file"
    )]
    NotText {
        /// The file.
        path: String,
        /// The offset of the first byte that is not valid UTF-8.
        offset: usize,
    },
    /// The format is known, but this build cannot read it.
    #[error(
        "{format} plans need fledge-rollout's `yaml` feature (`fledge` feature `yaml`); or write the plan in TOML or JSON"
    )]
    FormatDisabled {
        /// The format that was asked for.
        format: Format,
    },
    /// The text is not a well-formed plan (syntax, unknown field, wrong type).
    #[error("invalid {format} plan: {message}")]
    Parse {
        /// The format that was read.
        format: Format,
        /// The parser's message, with the position and the field.
        message: String,
    },
    /// The plan could not be written.
    #[error("cannot write plan: {message}")]
    Serialize {
        /// The serializer's message.
        message: String,
    },
    /// A required text field is empty.
    #[error("`{field}` must not be empty")]
    Empty {
        /// The field.
        field: String,
    },
    /// A version id breaks the naming rule.
    #[error("`{field}`: {source}")]
    InvalidVersion {
        /// The field.
        field: String,
        /// What is wrong with the id.
        #[source]
        source: fledge_select::SelectError,
    },
    /// Baseline and candidate are the same version.
    #[error(
        "`baseline` and `candidate` are both {version:?}: a rollout needs two different versions"
    )]
    SameVersion {
        /// The version named twice.
        version: String,
    },
    /// A field names a version that is neither the baseline nor the candidate.
    #[error("`{field}` names version {version:?}, which is neither the baseline nor the candidate")]
    UnknownVersion {
        /// The field.
        field: String,
        /// The version named.
        version: String,
    },
    /// No step at all.
    #[error(
        "the plan has no steps: set `steps = [5, 25, 50, 100]` or `step_weight` and `max_weight`"
    )]
    NoSteps,
    /// Both `steps` and `step_weight` / `max_weight`.
    #[error("`steps` and `step_weight`/`max_weight` are exclusive: use one way to give the steps")]
    StepsTwice,
    /// `step_weight` without `max_weight`, or the reverse.
    #[error("`{missing}` is missing: `step_weight` and `max_weight` go together")]
    LinearIncomplete {
        /// The field that is missing.
        missing: &'static str,
    },
    /// A weight outside `0..=100` %, or one that is not a whole number of
    /// basis points (0.01 %).
    #[error(
        "`{field}` = {percent}: a weight is a percentage in (0, 100] with at most two decimals"
    )]
    BadWeight {
        /// The field (`steps[2].weight`, `step_weight`, ...).
        field: String,
        /// The value written.
        percent: f64,
    },
    /// A step with weight 0 that neither mirrors nor targets: it would do nothing.
    #[error(
        "`steps[{step}]` has weight 0 but neither `mirror` nor `targeting`: a step must send the candidate some traffic"
    )]
    EmptyStep {
        /// The step.
        step: usize,
    },
    /// Steps that do not strictly increase.
    #[error(
        "`steps[{step}]` = {percent}% does not increase on the step before ({previous}%): steps must be strictly increasing"
    )]
    NotIncreasing {
        /// The step.
        step: usize,
        /// Its weight.
        percent: f64,
        /// The weight of the step before.
        previous: f64,
    },
    /// Linear steps that would be too many.
    #[error(
        "`step_weight` = {step_weight}% up to `max_weight` = {max_weight}% makes {count} steps; at most 1000 are allowed"
    )]
    TooManySteps {
        /// The step weight.
        step_weight: f64,
        /// The max weight.
        max_weight: f64,
        /// How many steps it would make.
        count: u64,
    },
    /// A zero duration where time must pass.
    #[error("`{field}` must be longer than 0s")]
    ZeroDuration {
        /// The field.
        field: String,
    },
    /// A limit of zero where that makes no sense.
    #[error("`{field}` must be at least 1")]
    ZeroLimit {
        /// The field.
        field: String,
    },
    /// Two gates with the same name.
    #[error("two gates are named {name:?}: gate names must be unique")]
    DuplicateGate {
        /// The name.
        name: String,
    },
    /// A gate on a metric that the plan does not have.
    #[error(
        "gate {gate:?} uses metric {metric:?}, which does not exist: declare custom metrics in `metrics` (known: {known})"
    )]
    UnknownMetric {
        /// The gate.
        gate: String,
        /// The metric it names.
        metric: String,
        /// The metrics that exist, comma separated.
        known: String,
    },
    /// A gate spec that the gate crate rejects.
    #[error("gate {gate:?}: {message}")]
    BadGate {
        /// The gate.
        gate: String,
        /// What is wrong.
        message: String,
    },
    /// A custom metric name that is invalid or shadows a built-in one.
    #[error("`metrics` entry {metric:?}: {problem}")]
    BadMetric {
        /// The metric.
        metric: String,
        /// What is wrong.
        problem: String,
    },
    /// A judge score outside `0..=100`, or a marginal score above the pass score.
    #[error("`{field}` = {value}: scores are in 0..=100 and marginal_score is at most pass_score")]
    BadScore {
        /// The field.
        field: &'static str,
        /// The value written.
        value: f64,
    },
    /// A step names a gate that the plan does not define.
    #[error("`steps[{step}].gates` names gate {gate:?}, which the plan does not define")]
    UnknownGate {
        /// The step.
        step: usize,
        /// The gate named.
        gate: String,
    },
    /// A targeting rule that is malformed.
    #[error("`{field}`: {problem}")]
    BadRule {
        /// The field (`targeting[0]`, `steps[1].targeting[0]`).
        field: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// An unknown sticky hash mode.
    #[error(
        "`sticky.hash` = {hash:?}: use fledge, unleash, unleash-node, growthbook-v1, growthbook-v2, growthbook-v1-utf8 or growthbook-v2-utf8"
    )]
    UnknownHash {
        /// The value written.
        hash: String,
    },
}
