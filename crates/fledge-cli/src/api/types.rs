//! The admin API's JSON documents, as this command reads them.
//!
//! These mirror `fledge_admin::{RolloutStatus, EventView, ...}` but are
//! tolerant: unknown fields are ignored, names of phases, kinds and outcomes
//! are plain strings, and most fields have defaults, so that one `fledge`
//! works with admin APIs a version older or newer than itself.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A number, or `None` for `null`, a string (`"inf"`, `"NaN"`) or anything else.
pub(super) fn finite_or_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_f64().filter(|x| x.is_finite()),
        _ => None,
    })
}

/// `GET /rollouts`: only the names matter here.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RolloutList {
    pub(crate) rollouts: Vec<Named>,
}

/// A rollout in the list.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Named {
    pub(crate) name: String,
}

/// `GET /rollouts/{name}`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Status {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) baseline: String,
    #[serde(default)]
    pub(crate) candidate: String,
    #[serde(default)]
    pub(crate) steps: Vec<Step>,
    pub(crate) phase: Phase,
    #[serde(default)]
    pub(crate) terminal: bool,
    #[serde(default)]
    pub(crate) step: Option<usize>,
    #[serde(default)]
    pub(crate) weights: Vec<VersionWeight>,
    #[serde(default)]
    pub(crate) mirror: f64,
    /// When the current step (or bake) started, ms since the epoch.
    #[serde(default)]
    pub(crate) since: u64,
    /// The controller's clock, ms since the epoch.
    #[serde(default)]
    pub(crate) now: u64,
    #[serde(default)]
    pub(crate) verdict: Option<Verdict>,
    #[serde(default)]
    pub(crate) counters: Counters,
    #[serde(default)]
    pub(crate) recent_events: Vec<Event>,
}

/// `{"name": "paused", "reason": .., "until": .., "kind": ..}`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub(crate) struct Phase {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) reason: Option<String>,
    #[serde(default)]
    pub(crate) until: Option<u64>,
    /// Who approves (awaiting approval).
    #[serde(default)]
    pub(crate) kind: Option<String>,
}

/// One step of the plan.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Step {
    #[serde(default)]
    pub(crate) label: String,
    #[serde(default)]
    pub(crate) weight: f64,
    #[serde(default)]
    pub(crate) mirror: f64,
    #[serde(default)]
    pub(crate) interval_ms: u64,
    #[serde(default)]
    pub(crate) approval: bool,
}

/// A version's published weight.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct VersionWeight {
    pub(crate) version: String,
    #[serde(default)]
    pub(crate) role: String,
    #[serde(default)]
    pub(crate) weight: f64,
    /// Requests the selector sent it since the process started.
    #[serde(default)]
    pub(crate) picks: u64,
}

/// The gates' last judgement.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Verdict {
    pub(crate) outcome: String,
    #[serde(default)]
    pub(crate) reason: String,
    #[serde(default, deserialize_with = "finite_or_none")]
    pub(crate) score: Option<f64>,
    #[serde(default)]
    pub(crate) checks: Vec<Check>,
}

/// One check of a verdict.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Check {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) metric: String,
    #[serde(default)]
    pub(crate) kind: String,
    pub(crate) outcome: String,
    #[serde(default)]
    pub(crate) critical: bool,
    #[serde(default, deserialize_with = "finite_or_none")]
    pub(crate) canary: Option<f64>,
    #[serde(default, deserialize_with = "finite_or_none")]
    pub(crate) baseline: Option<f64>,
    #[serde(default)]
    pub(crate) canary_samples: u64,
    #[serde(default)]
    pub(crate) baseline_samples: u64,
    #[serde(default, deserialize_with = "finite_or_none")]
    pub(crate) bound: Option<f64>,
    #[serde(default)]
    pub(crate) detail: String,
}

/// Counters of the rollout's state.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Counters {
    #[serde(default)]
    pub(crate) events: u64,
    #[serde(default)]
    pub(crate) failures: u32,
    #[serde(default)]
    pub(crate) inconclusives: u32,
    #[serde(default)]
    pub(crate) attempt: u32,
}

/// One event of the history (also the answer to a command).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Event {
    pub(crate) seq: u64,
    #[serde(default)]
    pub(crate) at: u64,
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) reason: String,
    #[serde(default)]
    pub(crate) by: Option<String>,
    #[serde(default)]
    pub(crate) phase: String,
    #[serde(default)]
    pub(crate) step: Option<usize>,
    #[serde(default)]
    pub(crate) weight: f64,
    #[serde(default)]
    pub(crate) input: Value,
}

impl Event {
    /// The command that caused it, if one did (`rollback`, `set-weight 25%`).
    pub(crate) fn command(&self) -> Option<String> {
        if self.input.get("input")?.as_str()? != "command" {
            return None;
        }
        match self.input.get("command")? {
            Value::String(s) => Some(s.replace('_', "-")),
            // `{"set_weight": {"weight": 2500}}` and the like.
            Value::Object(o) => o.keys().next().map(|k| k.replace('_', "-")),
            _ => None,
        }
    }
}

/// `GET /rollouts/{name}/events`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct EventPage {
    pub(crate) events: Vec<Event>,
    pub(crate) next: u64,
    #[serde(default)]
    pub(crate) total: u64,
}

/// The body of every error answer.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ErrorBody {
    pub(crate) error: String,
    #[serde(default)]
    pub(crate) field: Option<String>,
}
