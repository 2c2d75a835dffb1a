//! Model versions as a registry describes them, the tags fledge writes, and
//! how registry versions become fledge [`VersionId`]s.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use fledge_select::{MAX_ID_LEN, SelectError, VersionId};
use serde::{Deserialize, Serialize};

/// The tags fledge writes on model versions (keys and value limits).
pub mod tags {
    /// The outcome: `promoted`, `rolled_back`, `aborted` or `load_failed`
    /// (see [`ModelVerdict`](super::ModelVerdict)).
    pub const VERDICT: &str = "fledge.verdict";
    /// Why, in words: the gate that failed, the operator's reason, the
    /// loader's error.
    pub const REASON: &str = "fledge.reason";
    /// Prefix of the per-step summaries: `fledge.step.1 = "pass: ..."`,
    /// counted from 1 like the plan's step labels.
    pub const STEP_PREFIX: &str = "fledge.step.";
    /// The rollout that judged the version (`<model>-<candidate id>`).
    pub const ROLLOUT: &str = "fledge.rollout";
    /// On a promoted version: the champion it replaced.
    pub const PREVIOUS_CHAMPION: &str = "fledge.previous_champion";
    /// The longest tag value fledge writes, in characters. MLflow 3 accepts
    /// 100 000 characters for model version tags, older servers 5 000;
    /// longer values are cut at a character boundary and end with `…`.
    pub const MAX_VALUE_CHARS: usize = 5_000;

    /// The tag key of step `number` (counted from 1).
    pub fn step(number: usize) -> String {
        format!("{STEP_PREFIX}{number}")
    }

    /// `value` cut to [`MAX_VALUE_CHARS`] characters.
    pub fn clamp(value: &str) -> String {
        if value.chars().count() <= MAX_VALUE_CHARS {
            return value.to_owned();
        }
        let mut out: String = value.chars().take(MAX_VALUE_CHARS - 1).collect();
        out.push('…');
        out
    }
}

/// What fledge decided about a version, written as the
/// [`fledge.verdict`](tags::VERDICT) tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelVerdict {
    /// Promoted: it is (or was) the champion.
    Promoted,
    /// Rolled back by a failing gate or an operator.
    RolledBack,
    /// The rollout was aborted (by an operator, or the challenger alias was
    /// removed while it ran).
    Aborted,
    /// The loader failed (or timed out): it never took traffic.
    LoadFailed,
}

impl ModelVerdict {
    /// `promoted`, `rolled_back`, `aborted` or `load_failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelVerdict::Promoted => "promoted",
            ModelVerdict::RolledBack => "rolled_back",
            ModelVerdict::Aborted => "aborted",
            ModelVerdict::LoadFailed => "load_failed",
        }
    }

    /// Reads a tag value; `None` for anything else.
    pub fn parse(value: &str) -> Option<ModelVerdict> {
        match value.trim() {
            "promoted" => Some(ModelVerdict::Promoted),
            "rolled_back" => Some(ModelVerdict::RolledBack),
            "aborted" => Some(ModelVerdict::Aborted),
            "load_failed" => Some(ModelVerdict::LoadFailed),
            _ => None,
        }
    }

    /// Whether the version was rejected: never canaried again.
    pub fn is_rejection(self) -> bool {
        self != ModelVerdict::Promoted
    }
}

impl fmt::Display for ModelVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One version of a registered model, as the [`ModelSource`](crate::ModelSource)
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelVersion {
    /// The registered model's name.
    pub model: String,
    /// The version (MLflow: `"1"`, `"2"`, ...; a directory: its name).
    pub version: String,
    /// Where the artifacts are (MLflow's `source`, e.g.
    /// `mlflow-artifacts:/0/<run>/artifacts/model`; a directory: its path).
    pub source: Option<String>,
    /// The run that produced it, if any.
    pub run_id: Option<String>,
    /// MLflow's status (`READY`, `PENDING_REGISTRATION`,
    /// `FAILED_REGISTRATION`); `None` when the source has none.
    pub status: Option<String>,
    /// The description, if any.
    pub description: Option<String>,
    /// The version's tags.
    pub tags: BTreeMap<String, String>,
    /// The aliases pointing at it.
    pub aliases: Vec<String>,
}

impl ModelVersion {
    /// A version with no metadata.
    pub fn new(model: impl Into<String>, version: impl Into<String>) -> Self {
        ModelVersion {
            model: model.into(),
            version: version.into(),
            source: None,
            run_id: None,
            status: None,
            description: None,
            tags: BTreeMap::new(),
            aliases: Vec::new(),
        }
    }

    /// The value of tag `key`.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }

    /// The [`fledge.verdict`](tags::VERDICT) tag, if set to a known verdict.
    pub fn verdict(&self) -> Option<ModelVerdict> {
        self.tag(tags::VERDICT).and_then(ModelVerdict::parse)
    }

    /// Whether a verdict tag rejects it (rolled back, aborted, load failed).
    pub fn is_rejected(&self) -> bool {
        self.verdict().is_some_and(ModelVerdict::is_rejection)
    }

    /// Whether its artifacts can be read: no status, or `READY`.
    pub fn is_ready(&self) -> bool {
        self.status
            .as_deref()
            .is_none_or(|s| s.eq_ignore_ascii_case("READY"))
    }
}

impl fmt::Display for ModelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} version {}", self.model, self.version)
    }
}

type IdFn = dyn Fn(&str, &str) -> String + Send + Sync;

/// How a registry version becomes a fledge [`VersionId`] (ASCII letters,
/// digits, `-`, `_`, `.`, starting with a letter or digit, at most 64
/// bytes). The id names the version in routing (`x-fledge-version`, the
/// `Chosen` extension), in the rollout's plan and in metrics.
#[derive(Clone, Default)]
pub enum IdScheme {
    /// `v` followed by the version: `"4"` → `v4` (the default).
    #[default]
    V,
    /// `<model>-<version>`: `forecaster` `"4"` → `forecaster-4`; characters
    /// not allowed in ids become `-`, and the model part is shortened to fit
    /// 64 bytes.
    ModelDashVersion,
    /// A function of `(model, version)`; its result must be a valid id.
    Custom(Arc<IdFn>),
}

impl fmt::Debug for IdScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdScheme::V => f.write_str("V"),
            IdScheme::ModelDashVersion => f.write_str("ModelDashVersion"),
            IdScheme::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

impl IdScheme {
    /// A custom scheme.
    pub fn custom(f: impl Fn(&str, &str) -> String + Send + Sync + 'static) -> Self {
        IdScheme::Custom(Arc::new(f))
    }

    /// The id of `version` of `model`.
    ///
    /// ```
    /// use fledge_registry::IdScheme;
    /// assert_eq!(IdScheme::V.id("forecaster", "4")?.as_str(), "v4");
    /// assert_eq!(IdScheme::ModelDashVersion.id("sales forecast", "4")?.as_str(), "sales-forecast-4");
    /// # Ok::<(), fledge_select::SelectError>(())
    /// ```
    pub fn id(&self, model: &str, version: &str) -> Result<VersionId, SelectError> {
        let raw = match self {
            IdScheme::V => format!("v{}", sanitize(version)),
            IdScheme::ModelDashVersion => {
                let version = sanitize(version);
                let room = MAX_ID_LEN.saturating_sub(version.len() + 1);
                let model: String = sanitize(model)
                    .trim_start_matches(['-', '_', '.'])
                    .chars()
                    .take(room)
                    .collect();
                format!("{model}-{version}")
            }
            IdScheme::Custom(f) => f(model, version),
        };
        VersionId::new(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(IdScheme::V.id("m", "12").unwrap().as_str(), "v12");
        assert_eq!(IdScheme::V.id("m", "a b").unwrap().as_str(), "va-b");
        let long = "x".repeat(100);
        let id = IdScheme::ModelDashVersion.id(&long, "7").unwrap();
        assert!(id.as_str().len() <= MAX_ID_LEN && id.as_str().ends_with("-7"));
        let custom = IdScheme::custom(|m, v| format!("{m}_{v}"));
        assert_eq!(custom.id("fc", "3").unwrap().as_str(), "fc_3");
        assert!(IdScheme::custom(|_, _| "/bad".into()).id("m", "1").is_err());
    }

    #[test]
    fn verdicts_and_clamping() {
        for v in [
            ModelVerdict::Promoted,
            ModelVerdict::RolledBack,
            ModelVerdict::Aborted,
            ModelVerdict::LoadFailed,
        ] {
            assert_eq!(ModelVerdict::parse(v.as_str()), Some(v));
        }
        assert!(!ModelVerdict::Promoted.is_rejection());
        let mut mv = ModelVersion::new("m", "1");
        assert!(!mv.is_rejected() && mv.is_ready());
        mv.tags.insert(tags::VERDICT.into(), "rolled_back".into());
        assert!(mv.is_rejected());
        mv.status = Some("PENDING_REGISTRATION".into());
        assert!(!mv.is_ready());
        let long = "é".repeat(tags::MAX_VALUE_CHARS + 10);
        let cut = tags::clamp(&long);
        assert_eq!(cut.chars().count(), tags::MAX_VALUE_CHARS);
        assert!(cut.ends_with('…'));
        assert_eq!(tags::clamp("short"), "short");
        assert_eq!(tags::step(2), "fledge.step.2");
    }
}
