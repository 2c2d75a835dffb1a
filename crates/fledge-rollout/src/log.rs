//! Structured [`tracing`] events: what a rollout did, and what failed.
//!
//! The controller emits one `tracing` event per rollout [`Event`], once,
//! whoever subscribes (not once per subscriber), plus events for failures
//! of stores, evaluators and confirm hooks. Every event carries its data as
//! fields, not in a formatted message, so a JSON log or an OpenTelemetry
//! exporter can filter on `rollout`, `event`, `by` or `failed_checks`.
//! Nothing is printed unless the application installs a `tracing`
//! subscriber (e.g. `tracing_subscriber::fmt().json().init()`).
//!
//! # Rollout events (target `fledge_rollout::event`)
//!
//! | name | level | when |
//! |---|---|---|
//! | `rollout.started` | INFO | the rollout began |
//! | `rollout.step_taken` | INFO | a step's weight was published |
//! | `rollout.awaiting_approval` | INFO | the next step waits for a human or a confirm hook |
//! | `rollout.paused` | INFO, WARN when gates or a hook caused it | the rollout holds its weights |
//! | `rollout.resumed` | INFO | a pause or a freeze ended |
//! | `rollout.frozen` | INFO | neither promotion nor rollback until resumed |
//! | `rollout.promoted` | INFO | the candidate has all the traffic |
//! | `rollout.rolled_back` | WARN | the candidate has no traffic any more |
//! | `rollout.aborted` | WARN | an operator stopped the rollout |
//! | `rollout.restarted` | INFO | a finished rollout started again |
//! | `rollout.weight_set` | INFO | an operator set the candidate's weight |
//! | `rollout.failure_counted` | WARN | a failing verdict below `failure_limit` |
//! | `rollout.inconclusive_counted` | INFO | an inconclusive bake was extended |
//! | `rollout.rejected` | INFO | a command was refused in this state |
//!
//! Their fields: `rollout` (the plan's name), `event` (the kind in
//! `snake_case`, as in the event log's JSON), `seq`, `attempt`, `step`
//! (from 0, absent before the first step), `step_label`, `weight_bps`,
//! `percent`, `phase` (afterwards), `input` (`start`, `tick`, `verdict`,
//! `command`), `reason` (the event's reason, as in the log); for commands
//! `command`, `by` and `note` (the operator's own words, if any); for
//! verdicts `outcome`, `score` and `failed_checks` (the failing checks'
//! names, comma-separated).
//!
//! The controller also emits, at the same target:
//!
//! | name | level | fields |
//! |---|---|---|
//! | `rollout.plan_replaced` | INFO | `rollout`, `step`, `steps`, `previous_steps` |
//! | `rollout.resync` | INFO | `rollout`, `version`, `seq`, `new_events`, `rewritten`, `phase`, `step`, `weight_bps` |
//!
//! # Verdicts (target `fledge_rollout::gate`)
//!
//! | name | level | fields |
//! |---|---|---|
//! | `rollout.verdict` | DEBUG, every judged tick | `rollout`, `seq`, `attempt`, `step`, `step_label`, `outcome`, `score`, `failed_checks`, `inconclusive_checks`, `reason`, `elapsed_ms` |
//! | `rollout.check` | DEBUG (TRACE when it passed) | `rollout`, `step`, `check`, `metric`, `outcome`, `critical`, `canary`, `baseline`, `bound`, `p_value`, `detail` |
//!
//! A verdict that changes something is also the `reason` of the rollout
//! event it caused (a rollback says which checks failed and by how much).
//!
//! # Failures
//!
//! | name | target | level | fields |
//! |---|---|---|---|
//! | `rollout.store_failed` | `fledge_rollout::store` | ERROR | `rollout`, `store` ([`Store::kind`](crate::store::Store::kind)), `op` (`load`, `save`), `origin` (the file, or URL and key), `error_kind` (`io`, `corrupt`, `foreign`, `conflict`, `serialize`), `expected`, `found` (conflicts), `last_seq` (the last event the controller holds), `suppressed`, `error` |
//! | `rollout.evaluator_panicked` | `fledge_rollout::gate` | ERROR | `rollout`, `step`, `attempt`, `panic`, `suppressed`; the tick goes on with an inconclusive judgement |
//! | `rollout.hook_panicked` | `fledge_rollout::hook` | ERROR | `rollout`, `hook`, `step`, `panic`, `suppressed`; the step keeps waiting |
//! | `rollout.tick_failed` | `fledge_rollout::driver` | ERROR | `rollout`, `error_kind`, `error`, `suppressed` (the tokio driver; store failures are logged where they happen instead) |
//!
//! Failures that repeat every tick (a store that is down, a panicking
//! evaluator) are rate-limited with [`RateLimited`]: the first is logged,
//! then at most one per window with `suppressed` counting those skipped.
//!
//! Rollout events are emitted under the controller's state lock, so they
//! come out in the log's order; install a non-blocking writer (e.g.
//! `tracing-appender`) if your log sink can stall.

use std::any::Any;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fledge_gate::Outcome;

#[cfg(feature = "tokio")]
use crate::control::ControlError;
use crate::control::Judgement;
use crate::machine::{Event, EventKind, Input, PhaseName};
use crate::plan::{CheckedPlan, Step};
use crate::store::StoreError;

/// The target of rollout events.
pub(crate) const EVENTS: &str = "fledge_rollout::event";
/// The target of verdicts, checks and evaluator failures.
pub(crate) const GATE: &str = "fledge_rollout::gate";
/// The target of store failures.
pub(crate) const STORE: &str = "fledge_rollout::store";
/// The target of confirm-hook failures.
pub(crate) const HOOK: &str = "fledge_rollout::hook";
/// The target of the tokio driver's events.
#[cfg(feature = "tokio")]
pub(crate) const DRIVER: &str = "fledge_rollout::driver";

/// Lets one log line through per window and counts the ones held back: a
/// lock-free limiter for events that can repeat on every tick or every
/// request (a store that is down, a version whose bulkhead is full).
///
/// [`check`](Self::check) answers `Some(suppressed)` when the caller may
/// log now — the number of calls held back since the last one let
/// through, to put in the line — and `None` otherwise. The first call is
/// always let through. Two atomics, no lock, no allocation: cheap enough
/// for a request path that is already failing.
///
/// ```
/// use std::time::Duration;
/// use fledge_rollout::log::RateLimited;
///
/// let limit = RateLimited::new(Duration::from_secs(10));
/// assert_eq!(limit.check(), Some(0)); // the first one is logged
/// assert_eq!(limit.check(), None); // then held back until 10 s have passed
/// assert_eq!(limit.check(), None);
/// assert_eq!(limit.suppressed(), 2);
/// if let Some(suppressed) = limit.check() {
///     tracing::warn!(suppressed, "bulkhead full");
/// }
/// ```
pub struct RateLimited {
    origin: Instant,
    every_ms: u64,
    /// Milliseconds after `origin` (plus one) from which the next call may
    /// log; 0: at once.
    next: AtomicU64,
    suppressed: AtomicU64,
}

impl fmt::Debug for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimited")
            .field("every", &Duration::from_millis(self.every_ms))
            .field("suppressed", &self.suppressed())
            .finish()
    }
}

impl RateLimited {
    /// At most one line per `every` (at least 1 ms).
    pub fn new(every: Duration) -> Self {
        RateLimited {
            origin: Instant::now(),
            every_ms: u64::try_from(every.as_millis()).unwrap_or(u64::MAX).max(1),
            next: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// The window.
    pub fn every(&self) -> Duration {
        Duration::from_millis(self.every_ms)
    }

    /// Whether to log now: `Some(n)` with the `n` calls held back since the
    /// last line, or `None` (this call is counted as held back).
    pub fn check(&self) -> Option<u64> {
        self.check_at(Instant::now())
    }

    /// [`check`](Self::check) at `now` (for a caller that has read a clock
    /// already). Instants before the limiter's creation count as its
    /// creation.
    pub fn check_at(&self, now: Instant) -> Option<u64> {
        let elapsed = now.saturating_duration_since(self.origin);
        let now_ms = u64::try_from(elapsed.as_millis())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1);
        let mut next = self.next.load(Ordering::Relaxed);
        loop {
            if now_ms < next {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            match self.next.compare_exchange_weak(
                next,
                now_ms.saturating_add(self.every_ms),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(self.suppressed.swap(0, Ordering::Relaxed)),
                Err(seen) => next = seen,
            }
        }
    }

    /// Calls held back since the last one let through.
    pub fn suppressed(&self) -> u64 {
        self.suppressed.load(Ordering::Relaxed)
    }
}

/// The controller's limiters for failures that can repeat every tick.
#[derive(Debug)]
pub(crate) struct Limits {
    pub(crate) load: RateLimited,
    pub(crate) evaluator: RateLimited,
    pub(crate) hook: RateLimited,
}

/// The window of [`Limits`].
const FAILURE_WINDOW: Duration = Duration::from_secs(30);

impl Default for Limits {
    fn default() -> Self {
        Limits {
            load: RateLimited::new(FAILURE_WINDOW),
            evaluator: RateLimited::new(FAILURE_WINDOW),
            hook: RateLimited::new(FAILURE_WINDOW),
        }
    }
}

/// An event kind as written in the event log's JSON and in the `event`
/// field of log events (`snake_case`: `rolled_back`).
pub fn kind_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Started => "started",
        EventKind::StepTaken => "step_taken",
        EventKind::AwaitingApproval => "awaiting_approval",
        EventKind::Paused => "paused",
        EventKind::Resumed => "resumed",
        EventKind::Frozen => "frozen",
        EventKind::Promoted => "promoted",
        EventKind::RolledBack => "rolled_back",
        EventKind::Aborted => "aborted",
        EventKind::Restarted => "restarted",
        EventKind::WeightSet => "weight_set",
        EventKind::FailureCounted => "failure_counted",
        EventKind::InconclusiveCounted => "inconclusive_counted",
        EventKind::Rejected => "rejected",
    }
}

/// A phase as written in the event log's JSON and in the `phase` field of
/// log events (`snake_case`: `awaiting_approval`).
pub fn phase_name(phase: PhaseName) -> &'static str {
    match phase {
        PhaseName::Progressing => "progressing",
        PhaseName::Paused => "paused",
        PhaseName::AwaitingApproval => "awaiting_approval",
        PhaseName::Frozen => "frozen",
        PhaseName::Promoted => "promoted",
        PhaseName::RolledBack => "rolled_back",
        PhaseName::Aborted => "aborted",
    }
}

fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "pass",
        Outcome::Fail => "fail",
        Outcome::Inconclusive => "inconclusive",
    }
}

/// The names of a judgement's checks with `outcome`, comma-separated.
fn checks_with(judgement: &Judgement, outcome: Outcome) -> Option<String> {
    let verdict = judgement.verdict.as_ref()?;
    let names: Vec<&str> = verdict
        .report()
        .checks
        .iter()
        .filter(|c| c.outcome == outcome)
        .map(|c| c.name.as_str())
        .collect();
    (!names.is_empty()).then(|| names.join(", "))
}

/// One rollout event. `judgement` is the verdict behind it, when its input
/// was the gates' verdict.
pub(crate) fn event(plan: &CheckedPlan, e: &Event, judgement: Option<&Judgement>) {
    let rollout = plan.plan().name.as_str();
    let kind = kind_name(e.kind);
    let step = e.step.map(|s| s as u64);
    let label = e.step.and_then(|i| plan.step(i)).map(Step::label);
    let step_label = label.as_deref();
    let weight_bps = e.weight.bps();
    let percent = e.weight.percent();
    let phase = phase_name(e.phase);
    let reason = e.reason.as_str();
    let (input, command, by, note, outcome) = match &e.input {
        Input::Start => ("start", None, None, None, None),
        Input::Tick => ("tick", None, None, None, None),
        Input::Verdict { outcome, .. } => ("verdict", None, None, None, Some(*outcome)),
        Input::Command {
            command,
            by,
            reason,
        } => (
            "command",
            Some(command.to_string()),
            Some(by.as_str()),
            reason.as_deref(),
            None,
        ),
    };
    let command = command.as_deref();
    let judgement = judgement.filter(|j| outcome == Some(j.outcome));
    let failed = judgement.and_then(|j| checks_with(j, Outcome::Fail));
    let failed_checks = failed.as_deref();
    let score = judgement
        .and_then(|j| j.verdict.as_ref())
        .and_then(|v| v.report().score);
    let outcome = outcome.map(outcome_name);
    let warned = matches!(e.input, Input::Verdict { .. })
        || matches!(&e.input, Input::Command { by, .. } if by.starts_with("hook:"));

    macro_rules! emit {
        ($level:ident, $name:literal, $message:literal) => {
            tracing::event!(
                name: $name,
                target: EVENTS,
                tracing::Level::$level,
                rollout,
                event = kind,
                seq = e.seq,
                attempt = e.attempt,
                step,
                step_label,
                weight_bps,
                percent,
                phase,
                input,
                command,
                by,
                note,
                outcome,
                score,
                failed_checks,
                reason,
                $message
            )
        };
    }
    match e.kind {
        EventKind::Started => emit!(INFO, "rollout.started", "rollout started"),
        EventKind::StepTaken => emit!(INFO, "rollout.step_taken", "rollout step taken"),
        EventKind::AwaitingApproval => {
            emit!(
                INFO,
                "rollout.awaiting_approval",
                "rollout step awaiting approval"
            )
        }
        EventKind::Paused if warned => emit!(WARN, "rollout.paused", "rollout paused"),
        EventKind::Paused => emit!(INFO, "rollout.paused", "rollout paused"),
        EventKind::Resumed => emit!(INFO, "rollout.resumed", "rollout resumed"),
        EventKind::Frozen => emit!(INFO, "rollout.frozen", "rollout frozen"),
        EventKind::Promoted => emit!(INFO, "rollout.promoted", "rollout promoted"),
        EventKind::RolledBack => emit!(WARN, "rollout.rolled_back", "rollout rolled back"),
        EventKind::Aborted => emit!(WARN, "rollout.aborted", "rollout aborted"),
        EventKind::Restarted => emit!(INFO, "rollout.restarted", "rollout restarted"),
        EventKind::WeightSet => emit!(INFO, "rollout.weight_set", "rollout weight set"),
        EventKind::FailureCounted => {
            emit!(
                WARN,
                "rollout.failure_counted",
                "rollout gate failure counted"
            )
        }
        EventKind::InconclusiveCounted => emit!(
            INFO,
            "rollout.inconclusive_counted",
            "rollout bake extended: inconclusive"
        ),
        EventKind::Rejected => emit!(INFO, "rollout.rejected", "rollout command rejected"),
    }
}

/// The judgement of one tick, and each check's result.
pub(crate) fn verdict(
    rollout: &str,
    step: &Step,
    attempt: u32,
    seq: u64,
    judgement: &Judgement,
    elapsed: Duration,
) {
    if !tracing::enabled!(target: GATE, tracing::Level::DEBUG) {
        return;
    }
    let report = judgement.verdict.as_ref().map(|v| v.report());
    let failed = checks_with(judgement, Outcome::Fail);
    let inconclusive = checks_with(judgement, Outcome::Inconclusive);
    tracing::debug!(
        name: "rollout.verdict",
        target: GATE,
        rollout,
        seq,
        attempt,
        step = step.index as u64,
        step_label = step.label().as_str(),
        outcome = outcome_name(judgement.outcome),
        score = report.and_then(|r| r.score),
        failed_checks = failed.as_deref(),
        inconclusive_checks = inconclusive.as_deref(),
        reason = judgement.reason.as_str(),
        elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        "rollout verdict"
    );
    for check in report.map(|r| r.checks.as_slice()).unwrap_or_default() {
        macro_rules! emit {
            ($level:ident) => {
                tracing::event!(
                    name: "rollout.check",
                    target: GATE,
                    tracing::Level::$level,
                    rollout,
                    step = step.index as u64,
                    check = check.name.as_str(),
                    metric = check.metric.as_str(),
                    outcome = outcome_name(check.outcome),
                    critical = check.critical,
                    canary = check.canary,
                    baseline = check.baseline,
                    bound = check.bound,
                    p_value = check.p_value,
                    detail = check.detail.as_str(),
                    "rollout check"
                )
            };
        }
        if check.outcome == Outcome::Pass {
            emit!(TRACE);
        } else {
            emit!(DEBUG);
        }
    }
}

/// What kind of store failure, and its origin (file, or URL and key).
fn store_error_parts(error: &StoreError) -> (&'static str, &str, Option<u64>, Option<u64>) {
    match error {
        StoreError::Io { origin, .. } => ("io", origin, None, None),
        StoreError::Corrupt { origin, .. } => ("corrupt", origin, None, None),
        StoreError::Foreign { origin, .. } => ("foreign", origin, None, None),
        StoreError::Conflict {
            origin,
            expected,
            found,
        } => ("conflict", origin, *expected, *found),
        StoreError::Serialize { .. } => ("serialize", "", None, None),
    }
}

/// A snapshot that could not be loaded or saved. `limit`: held back when
/// it says so (failures that repeat, like a follower's resync).
pub(crate) fn store_failed(
    rollout: &str,
    store: &str,
    op: &'static str,
    last_seq: Option<u64>,
    error: &StoreError,
    limit: Option<&RateLimited>,
) {
    let suppressed = match limit {
        Some(limit) => match limit.check() {
            Some(n) => n,
            None => return,
        },
        None => 0,
    };
    let (error_kind, origin, expected, found) = store_error_parts(error);
    tracing::error!(
        name: "rollout.store_failed",
        target: STORE,
        rollout,
        store,
        op,
        origin,
        error_kind,
        expected,
        found,
        last_seq,
        suppressed,
        error = %error,
        "rollout snapshot {op} failed"
    );
}

/// The text of a panic's payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "a panic without a message"
    }
}

/// The evaluator panicked; the tick goes on with an inconclusive judgement.
pub(crate) fn evaluator_panicked(
    rollout: &str,
    step: &Step,
    attempt: u32,
    panic: &str,
    limit: &RateLimited,
) {
    let Some(suppressed) = limit.check() else {
        return;
    };
    tracing::error!(
        name: "rollout.evaluator_panicked",
        target: GATE,
        rollout,
        step = step.index as u64,
        attempt,
        panic,
        suppressed,
        "rollout evaluator panicked; judged inconclusive"
    );
}

/// A sync confirm hook panicked; the step keeps waiting.
pub(crate) fn hook_panicked(
    rollout: &str,
    hook: &str,
    step: usize,
    panic: &str,
    limit: &RateLimited,
) {
    let Some(suppressed) = limit.check() else {
        return;
    };
    tracing::error!(
        name: "rollout.hook_panicked",
        target: HOOK,
        rollout,
        hook,
        step = step as u64,
        panic,
        suppressed,
        "rollout confirm hook panicked; the step keeps waiting"
    );
}

/// The kind of a controller error, for the `error_kind` field.
#[cfg(feature = "tokio")]
pub(crate) fn error_kind(error: &ControlError) -> &'static str {
    match error {
        ControlError::Plan(_) => "plan",
        ControlError::Store(e) => store_error_parts(e).0,
        ControlError::ForeignSnapshot { .. } => "foreign_snapshot",
        ControlError::PlanChanged { .. } => "plan_changed",
        ControlError::BadSnapshot { .. } => "bad_snapshot",
        ControlError::StoreBehind { .. } => "store_behind",
        ControlError::Incompatible { .. } => "incompatible",
        ControlError::Rejected { .. } => "rejected",
        ControlError::Recorder(_) => "recorder",
        ControlError::Select(_) => "select",
        ControlError::Unavailable { .. } => "unavailable",
        ControlError::TimedOut { .. } => "timed_out",
    }
}

/// Whether the controller logged this error where it happened (store
/// failures), so a driver need not log it again.
#[cfg(feature = "tokio")]
pub(crate) fn logged_at_source(error: &ControlError) -> bool {
    matches!(error, ControlError::Store(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lets_one_through_per_window_and_counts_the_rest() {
        let limit = RateLimited::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(limit.check_at(t0), Some(0));
        assert_eq!(limit.check_at(t0 + Duration::from_secs(1)), None);
        assert_eq!(limit.check_at(t0 + Duration::from_secs(9)), None);
        assert_eq!(limit.suppressed(), 2);
        assert_eq!(limit.check_at(t0 + Duration::from_secs(11)), Some(2));
        assert_eq!(limit.suppressed(), 0);
        assert_eq!(limit.check_at(t0 + Duration::from_secs(12)), None);
        assert_eq!(limit.check_at(t0 + Duration::from_secs(30)), Some(1));
    }

    #[test]
    fn concurrent_callers_let_exactly_one_through() {
        let limit = std::sync::Arc::new(RateLimited::new(Duration::from_secs(3600)));
        let through: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let limit = limit.clone();
                    s.spawn(move || (0..1000).filter(|_| limit.check().is_some()).count() as u64)
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(through, 1);
        assert_eq!(limit.suppressed(), 3999);
    }
}
