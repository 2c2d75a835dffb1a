//! [`Payload`]: what a webhook posts for one rollout event.

use serde::{Deserialize, Serialize};

use fledge_rollout::machine::{Event, EventKind, Input, PhaseName};

/// The longest reason quoted in [`Payload::text`] (the `reason` field
/// always holds all of it).
const TEXT_REASON_MAX: usize = 600;

/// The JSON body posted for one rollout event.
///
/// `text` is one readable line for chat tools (Slack's incoming webhooks,
/// and the many receivers that copy their format, read only it); the other
/// fields are the same facts, structured, for everything else.
///
/// ```json
/// {
///   "text": "fledge: predict-v2 rolled back, candidate at 0% (was step 1) — gate failed (1 of failure_limit 1): p99 latency 82 ms &gt; 50 ms (by gates)",
///   "rollout": "predict-v2",
///   "kind": "rolled_back",
///   "seq": 1,
///   "attempt": 0,
///   "step": 0,
///   "weight_bps": 0,
///   "percent": 0.0,
///   "phase": "rolled_back",
///   "reason": "gate failed (1 of failure_limit 1): p99 latency 82 ms > 50 ms",
///   "by": "gates",
///   "at": "2026-11-22T10:15:30.250Z",
///   "at_ms": 1795342530250
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Payload {
    /// One line: the rollout, what happened, why and who (Slack `text`;
    /// `&`, `<` and `>` escaped as Slack asks).
    pub text: String,
    /// The rollout's name.
    pub rollout: String,
    /// What happened, in `snake_case` (`rolled_back`, `promoted`, ...).
    pub kind: EventKind,
    /// The event's position in the rollout's log (from 0).
    pub seq: u64,
    /// The rollout's attempt (0 for the first run).
    pub attempt: u32,
    /// The step in effect afterwards (from 0), absent before the first.
    pub step: Option<usize>,
    /// The candidate's weight afterwards, in basis points (0 to 10 000).
    pub weight_bps: u32,
    /// The same weight in percent.
    pub percent: f64,
    /// The phase afterwards, in `snake_case`.
    pub phase: PhaseName,
    /// Why, as recorded in the event log (unescaped).
    pub reason: String,
    /// Who: the operator or hook (`"alice"`, `"hook:ci"`) for commands,
    /// `"gates"` for verdicts, `"plan"` for the plan's timers, `"controller"`
    /// for the start.
    pub by: String,
    /// When, in RFC 3339 (UTC, milliseconds).
    pub at: String,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
}

impl Payload {
    /// The payload for `event` of rollout `rollout`.
    pub fn new(rollout: &str, event: &Event) -> Payload {
        let by = match &event.input {
            Input::Start => "controller",
            Input::Tick => "plan",
            Input::Verdict { .. } => "gates",
            Input::Command { by, .. } => by.as_str(),
        };
        let at_ms = event.at.as_millis();
        Payload {
            text: text(rollout, event, by),
            rollout: rollout.to_owned(),
            kind: event.kind,
            seq: event.seq,
            attempt: event.attempt,
            step: event.step,
            weight_bps: event.weight.bps(),
            percent: event.weight.percent(),
            phase: event.phase,
            reason: event.reason.clone(),
            by: by.to_owned(),
            at: rfc3339(at_ms),
            at_ms,
        }
    }

    /// The payload as JSON.
    pub fn to_json(&self) -> String {
        // A struct of strings and numbers always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// `fledge: <rollout> <what happened> — <why> (by <who>)`, escaped for Slack.
fn text(rollout: &str, e: &Event, by: &str) -> String {
    let weight = e.weight;
    let step = e.step.map(|s| s + 1);
    let at_step = |verb: &str| match step {
        Some(n) => format!("{verb} at {weight} (step {n})"),
        None => format!("{verb} at {weight}"),
    };
    let what = match e.kind {
        EventKind::Started => format!("started, candidate at {weight}"),
        EventKind::StepTaken => match step {
            Some(n) => format!("took step {n}, candidate at {weight}"),
            None => format!("took a step, candidate at {weight}"),
        },
        EventKind::AwaitingApproval => at_step("waits for approval"),
        EventKind::Paused => at_step("paused"),
        EventKind::Resumed => at_step("resumed"),
        EventKind::Frozen => at_step("frozen"),
        EventKind::Promoted => format!("promoted, candidate at {weight}"),
        EventKind::RolledBack => match step {
            Some(n) => format!("rolled back, candidate at {weight} (was step {n})"),
            None => format!("rolled back, candidate at {weight}"),
        },
        EventKind::Aborted => format!("aborted, candidate at {weight}"),
        EventKind::Restarted => format!(
            "restarted (attempt {}), candidate at {weight}",
            e.attempt + 1
        ),
        EventKind::WeightSet => format!("weight set, candidate at {weight}"),
        EventKind::FailureCounted => at_step("counted a gate failure"),
        EventKind::InconclusiveCounted => at_step("extended its bake (inconclusive)"),
        EventKind::Rejected => "refused a command".to_owned(),
    };
    let mut reason = e.reason.trim().to_owned();
    if reason.len() > TEXT_REASON_MAX {
        let mut cut = TEXT_REASON_MAX;
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
        reason.push('…');
    }
    // One line, whatever the reason holds.
    let reason = reason.replace(['\n', '\r'], " ");
    let line = if reason.is_empty() {
        format!("fledge: {rollout} {what} (by {by})")
    } else {
        format!("fledge: {rollout} {what} — {reason} (by {by})")
    };
    slack_escape(&line)
}

/// Slack's three control characters in message text.
fn slack_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `ms` since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn rfc3339(ms: u64) -> String {
    fledge_gate::clock::Timestamp::from_millis(ms)
        .utc()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }

    #[test]
    fn slack_controls_are_escaped() {
        assert_eq!(
            slack_escape("a < b && c > d"),
            "a &lt; b &amp;&amp; c &gt; d"
        );
    }
}
