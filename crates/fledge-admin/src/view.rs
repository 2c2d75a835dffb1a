//! The JSON documents of the API: what the routes answer.
//!
//! Every type here is `Serialize` and `Deserialize`, so a Rust client (a CLI,
//! a test, another service) can read the answers back into the same types.
//! Weights are percentages (`25.0` is 25 %), times are milliseconds since the
//! Unix epoch.

use axum::response::{IntoResponse, Response};
use fledge_gate::clock::Timestamp;
use fledge_rollout::control::{Judgement, Operate};
use fledge_rollout::machine::{Event, EventKind, Input, Outcome, Phase, PhaseName};
use fledge_select::Weight;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `GET /rollouts/{name}/series`: [`Series`], fledge-rollout's per-tick
/// history, whose JSON is this API's (see the [crate docs](crate#series)).
pub use fledge_rollout::control::{MetricMean, Series, SeriesLimit, SeriesPoint, VersionPoint};

/// [`RolloutStatus::fleet`]: the replicas of a fleet rollout, the one
/// answering and the leader (fledge-rollout's types, whose JSON is this
/// API's; see the [crate docs](crate#fleets)).
pub use fledge_rollout::control::{FleetView, ReplicaView};

/// How many of the latest events a [`RolloutStatus`] carries.
pub const RECENT_EVENTS: usize = 10;

/// `GET /rollouts`: every rollout the API serves, in name order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutList {
    /// One status per rollout.
    pub rollouts: Vec<RolloutStatus>,
}

/// `GET /rollouts/{name}`: where one rollout stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutStatus {
    /// The rollout's name (the plan's `name`).
    pub name: String,
    /// The plan's description, if it has one.
    pub description: Option<String>,
    /// The version serving today.
    pub baseline: String,
    /// The version being rolled out.
    pub candidate: String,
    /// The plan's steps, in order.
    pub steps: Vec<StepView>,
    /// The phase, as the state machine has it: `{"name": "paused", "reason": ..}`.
    pub phase: Phase,
    /// Whether the phase is terminal (promoted, rolled back, aborted).
    pub terminal: bool,
    /// The step in effect (from 0); `null` before the first step.
    pub step: Option<usize>,
    /// The label of the step in effect (`"step 2"` or the plan's name for it).
    pub step_label: Option<String>,
    /// The weights published in the selector now: what requests get.
    pub weights: Vec<WeightView>,
    /// The share of requests mirrored to the candidate, in percent.
    pub mirror: f64,
    /// When the current step (or its current bake) started.
    pub since: Timestamp,
    /// The controller's clock when this status was taken.
    pub now: Timestamp,
    /// The sticky salt of the current attempt.
    pub salt: String,
    /// When the baseline, kept warm after a promotion, may be released.
    pub warm_until: Option<Timestamp>,
    /// The gates' last verdict, with an explanation per check.
    pub verdict: Option<VerdictView>,
    /// Counters of the rollout's state.
    pub counters: Counters,
    /// The latest events (at most [`RECENT_EVENTS`]), oldest first.
    pub recent_events: Vec<EventView>,
    /// The fleet of replicas running the rollout, when it runs on one (a
    /// `fledge_redis::Member`): the replica answering, the leader, and per
    /// replica its last summary's age, requests and whether it is live.
    /// Absent for a rollout run by one process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetView>,
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepView {
    /// Position in the plan, from 0.
    pub index: usize,
    /// The step's label.
    pub label: String,
    /// The candidate's share of traffic during the step, in percent.
    pub weight: f64,
    /// The share mirrored to the candidate during the step, in percent.
    pub mirror: f64,
    /// Bake time, in milliseconds.
    pub interval_ms: u64,
    /// Whether the step has gates (otherwise time alone promotes it).
    pub gated: bool,
    /// Whether a human must approve before the step is taken.
    pub approval: bool,
}

/// Which side of the rollout a version is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The version being rolled out.
    Candidate,
    /// The version serving today.
    Baseline,
}

/// One version's share of traffic, as published in the selector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightView {
    /// The version's id.
    pub version: String,
    /// Candidate or baseline.
    pub role: Role,
    /// Its share of traffic, in percent.
    pub weight: f64,
    /// How many requests the selector sent it since the process started.
    pub picks: u64,
}

/// The gates' last judgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictView {
    /// Pass, fail or inconclusive.
    pub outcome: Outcome,
    /// The one-line explanation.
    pub reason: String,
    /// The judge's score (share of checks that pass, 0–100), when it has one.
    pub score: Option<f64>,
    /// Every check's result and explanation, in the plan's order. Empty when
    /// the evaluator gives no per-check detail.
    pub checks: Vec<CheckView>,
}

/// A number, or `None` for `null` and the strings fledge-gate writes for
/// non-finite values (`"inf"`, `"-inf"`, `"NaN"`).
fn finite_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_f64().filter(|x| x.is_finite()),
        _ => None,
    })
}

/// A pair of [`finite_or_none`] numbers.
fn finite_pair<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<[Option<f64>; 2]>, D::Error> {
    let finite = |v: &Value| v.as_f64().filter(|x| x.is_finite());
    Ok(match Value::deserialize(d)? {
        Value::Array(a) if a.len() == 2 => Some([finite(&a[0]), finite(&a[1])]),
        _ => None,
    })
}

/// One check of a verdict: its answer and why.
///
/// The fields of [`fledge_gate::CheckResult`], with every number optional:
/// a bound that is not finite (an interval of `[-inf, inf]` before there is
/// data) is `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckView {
    /// The check's name in the plan.
    pub name: String,
    /// The metric (`latency_p99`, `error_rate`, a custom metric).
    pub metric: String,
    /// The test that ran (`threshold`, `relative`, `sequential`, ...).
    pub kind: String,
    /// Pass, fail or inconclusive.
    pub outcome: fledge_gate::Outcome,
    /// Whether its failure fails the verdict at once.
    #[serde(default)]
    pub critical: bool,
    /// The candidate's value (ms for latency).
    #[serde(default, deserialize_with = "finite_or_none")]
    pub canary: Option<f64>,
    /// The baseline's value.
    #[serde(default, deserialize_with = "finite_or_none")]
    pub baseline: Option<f64>,
    /// Samples on the candidate's side.
    #[serde(default)]
    pub canary_samples: u64,
    /// Samples on the baseline's side.
    #[serde(default)]
    pub baseline_samples: u64,
    /// The test's p-value.
    #[serde(default, deserialize_with = "finite_or_none")]
    pub p_value: Option<f64>,
    /// The limit the candidate was held to, or the significance level.
    #[serde(default, deserialize_with = "finite_or_none")]
    pub bound: Option<f64>,
    /// Confidence interval of `candidate - baseline`; an infinite end is `null`.
    #[serde(default, deserialize_with = "finite_pair")]
    pub interval: Option<[Option<f64>; 2]>,
    /// The one-line explanation.
    pub detail: String,
}

impl VerdictView {
    pub(crate) fn new(judgement: Judgement) -> Self {
        let (score, checks) = match &judgement.verdict {
            Some(verdict) => {
                let report = verdict.report();
                (
                    report.score,
                    report.checks.iter().map(CheckView::new).collect(),
                )
            }
            None => (None, Vec::new()),
        };
        VerdictView {
            outcome: judgement.outcome,
            reason: judgement.reason,
            score,
            checks,
        }
    }
}

impl CheckView {
    fn new(check: &fledge_gate::CheckResult) -> Self {
        let finite = |x: f64| x.is_finite().then_some(x);
        CheckView {
            name: check.name.clone(),
            metric: check.metric.clone(),
            kind: check.kind.to_string(),
            outcome: check.outcome,
            critical: check.critical,
            canary: check.canary.and_then(finite),
            baseline: check.baseline.and_then(finite),
            canary_samples: check.canary_samples,
            baseline_samples: check.baseline_samples,
            p_value: check.p_value.and_then(finite),
            bound: check.bound.and_then(finite),
            interval: check.interval.map(|[lo, hi]| [finite(lo), finite(hi)]),
            detail: check.detail.clone(),
        }
    }
}

/// Counters of a rollout's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Events emitted so far (the next event's `seq`).
    pub events: u64,
    /// Failing evaluations counted in the current step.
    pub failures: u32,
    /// Inconclusive bake intervals in a row in the current step.
    pub inconclusives: u32,
    /// Restarts so far (0 for the first run).
    pub attempt: u32,
}

/// One event of the history: a decision and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventView {
    /// Position in the log, from 0.
    pub seq: u64,
    /// When it happened.
    pub at: Timestamp,
    /// What was decided (`rolled_back`, `paused`, `rejected`, ...).
    pub kind: EventKind,
    /// Why, in words: a verdict's explanation, or the command, operator and reason.
    pub reason: String,
    /// The operator who gave the command, if a command caused it.
    pub by: Option<String>,
    /// The phase afterwards.
    pub phase: PhaseName,
    /// The step afterwards.
    pub step: Option<usize>,
    /// The candidate's weight afterwards, in percent.
    pub weight: f64,
    /// The attempt (0 for the first run).
    pub attempt: u32,
    /// What came in: `{"input": "command", "command": "rollback", "by": .., "reason": ..}`,
    /// `{"input": "verdict", ..}` or `{"input": "tick"}`.
    pub input: Input,
}

impl From<Event> for EventView {
    fn from(e: Event) -> Self {
        let by = match &e.input {
            Input::Command { by, .. } => Some(by.clone()),
            _ => None,
        };
        EventView {
            seq: e.seq,
            at: e.at,
            kind: e.kind,
            reason: e.reason,
            by,
            phase: e.phase,
            step: e.step,
            weight: e.weight.percent(),
            attempt: e.attempt,
            input: e.input,
        }
    }
}

/// `GET /rollouts/{name}/events`: a page of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventPage {
    /// Events with `seq >= since`, oldest first, at most `limit`.
    pub events: Vec<EventView>,
    /// The `since` to ask for next (one past the last event returned).
    pub next: u64,
    /// How many events the rollout has emitted.
    pub total: u64,
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong and what to do about it.
    pub error: String,
    /// The request field at fault (`weight`, `reason`, ...), if one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// `value` as a JSON answer that no cache keeps. Should it fail to encode,
/// the answer is a 500 whose body is still an [`ErrorBody`].
pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    let (status, bytes) = match serde_json::to_vec(value) {
        Ok(bytes) => (status, bytes),
        Err(e) => {
            // A `Value::String` always encodes: its `Display` is JSON.
            let message = Value::String(format!("cannot encode the answer: {e}"));
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{{\"error\":{message}}}").into_bytes(),
            )
        }
    };
    (
        status,
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        bytes,
    )
        .into_response()
}

fn percent(w: Weight) -> f64 {
    w.percent()
}

/// Reads a rollout's status, with `fleet` as read by the caller. Takes the
/// controller's lock a few times, and a fleet member reads its leader's
/// last judgement: call it off the async runtime (the store may block while
/// a tick persists).
pub(crate) fn status_of(rollout: &dyn Operate, fleet: Option<FleetView>) -> RolloutStatus {
    let controller = rollout.controller();
    // One lock for plan, state and events together: a consistent view.
    let snapshot = controller.snapshot();
    let checked = controller.checked_plan();
    let plan = snapshot.plan;
    let state = snapshot.state;
    let steps: Vec<StepView> = checked
        .steps()
        .iter()
        .map(|s| StepView {
            index: s.index,
            label: s.label(),
            weight: percent(s.weight),
            mirror: percent(s.mirror),
            interval_ms: u64::try_from(s.interval.as_millis()).unwrap_or(u64::MAX),
            gated: s.is_gated(),
            approval: s.approval,
        })
        .collect();
    let step_label = state.step.and_then(|i| checked.step(i)).map(|s| s.label());
    let selector = controller.selector();
    let split = selector.split();
    let weights = split
        .versions()
        .iter()
        .filter_map(|v| {
            let index = selector.index_of(v.id().as_str())?;
            let role = if *v.id() == plan.candidate {
                Role::Candidate
            } else {
                Role::Baseline
            };
            Some(WeightView {
                version: v.id().as_str().to_owned(),
                role,
                weight: percent(v.weight()),
                picks: selector.picks_of(index),
            })
        })
        .collect();
    let skip = snapshot.events.len().saturating_sub(RECENT_EVENTS);
    let recent_events = snapshot
        .events
        .into_iter()
        .skip(skip)
        .map(EventView::from)
        .collect();
    RolloutStatus {
        name: plan.name.clone(),
        description: plan.description.clone(),
        baseline: plan.baseline.as_str().to_owned(),
        candidate: plan.candidate.as_str().to_owned(),
        steps,
        terminal: state.is_terminal(),
        step: state.step,
        step_label,
        weights,
        mirror: percent(controller.traffic().mirror),
        since: state.since,
        now: controller.now(),
        salt: state.salt.clone(),
        warm_until: controller.warm_until(),
        // In a fleet: the leader's, over the fleet's merged windows.
        verdict: rollout.last_judgement().map(VerdictView::new),
        counters: Counters {
            events: state.seq,
            failures: state.failures,
            inconclusives: state.inconclusives,
            attempt: state.attempt,
        },
        recent_events,
        phase: state.phase,
        fleet,
    }
}
