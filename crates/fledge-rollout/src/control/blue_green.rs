//! [`BlueGreenStatus`]: where a blue-green release stands, in blue-green
//! words, read from the rollout's state.

use std::fmt;

use serde::{Deserialize, Serialize};

use fledge_gate::clock::Timestamp;
use fledge_select::Weight;

use crate::machine::{Phase, State};
use crate::plan::Plan;

/// Where a blue-green release (a plan from
/// [`BlueGreenBuilder`](crate::plan::BlueGreenBuilder) or
/// [`PlanBuilder::blue_green`](crate::plan::PlanBuilder::blue_green)) stands:
/// a view of the controller's [`State`], computed by [`of`](Self::of).
/// `Display` says it in a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum BlueGreenStatus {
    /// Blue serves everyone; requests with the preview header reach green and
    /// the pre-switch gate judges them.
    Previewing {
        /// Since when.
        since: Timestamp,
    },
    /// The preview passed; the switch waits for a human's approval.
    AwaitingSwitch,
    /// Green serves everyone and is watched by the switch gates; a failure
    /// switches back at once.
    Switched {
        /// Since when.
        since: Timestamp,
    },
    /// Green is confirmed; blue stays warm (a switch back is still instant)
    /// until `warm_until`.
    BlueWarm {
        /// When blue may be released.
        warm_until: Timestamp,
    },
    /// Green is confirmed and blue may be released.
    BlueReleasable,
    /// Traffic went back to blue.
    SwitchedBack {
        /// Why.
        reason: String,
    },
    /// Held by an operator, a plan pause or too many inconclusive verdicts.
    Paused {
        /// Why.
        reason: String,
    },
    /// Stopped by an operator; blue serves everyone.
    Aborted {
        /// Why.
        reason: String,
    },
}

impl BlueGreenStatus {
    /// The status of a blue-green release in `state` (the controller's
    /// [`state`](crate::Controller::state)) under `plan` at `now`. Blue is
    /// kept warm for the plan's `keep_warm` after the promotion.
    pub fn of(state: &State, plan: &Plan, now: Timestamp) -> Self {
        match &state.phase {
            Phase::Progressing | Phase::Frozen => {
                if state.traffic.candidate == Weight::FULL {
                    BlueGreenStatus::Switched { since: state.since }
                } else {
                    BlueGreenStatus::Previewing { since: state.since }
                }
            }
            Phase::AwaitingApproval { .. } => BlueGreenStatus::AwaitingSwitch,
            Phase::Paused { reason, .. } => BlueGreenStatus::Paused {
                reason: reason.clone(),
            },
            Phase::Promoted => match plan.keep_warm.map(|k| state.since.saturating_add(k)) {
                Some(until) if now < until => BlueGreenStatus::BlueWarm { warm_until: until },
                _ => BlueGreenStatus::BlueReleasable,
            },
            Phase::RolledBack { reason } => BlueGreenStatus::SwitchedBack {
                reason: reason.clone(),
            },
            Phase::Aborted { reason } => BlueGreenStatus::Aborted {
                reason: reason.clone(),
            },
        }
    }
}

impl fmt::Display for BlueGreenStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlueGreenStatus::Previewing { since } => write!(f, "previewing green since {since}"),
            BlueGreenStatus::AwaitingSwitch => {
                f.write_str("preview passed, switch awaits approval")
            }
            BlueGreenStatus::Switched { since } => write!(f, "switched to green since {since}"),
            BlueGreenStatus::BlueWarm { warm_until } => {
                write!(f, "green confirmed, blue warm until {warm_until}")
            }
            BlueGreenStatus::BlueReleasable => f.write_str("green confirmed, blue may be released"),
            BlueGreenStatus::SwitchedBack { reason } => {
                write!(f, "switched back to blue: {reason}")
            }
            BlueGreenStatus::Paused { reason } => write!(f, "paused: {reason}"),
            BlueGreenStatus::Aborted { reason } => write!(f, "aborted: {reason}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::machine::{ApprovalKind, Traffic};
    use crate::plan::BlueGreenBuilder;

    use super::*;

    fn state(phase: Phase, traffic: Traffic) -> State {
        State {
            phase,
            step: Some(0),
            traffic,
            since: Timestamp::from_millis(1_000),
            failures: 0,
            inconclusives: 0,
            attempt: 0,
            salt: "s".to_owned(),
            seq: 1,
        }
    }

    #[test]
    fn every_phase_reads_as_a_blue_green_status() {
        let plan = BlueGreenBuilder::new("bg", "blue", "green")
            .keep_warm(Duration::from_secs(60))
            .build()
            .unwrap();
        let since = Timestamp::from_millis(1_000);
        let warm_until = since + Duration::from_secs(60);
        let preview = Traffic::BASELINE;
        let switched = Traffic::CANDIDATE;
        let why = || "why".to_owned();
        let cases = [
            (
                Phase::Progressing,
                preview,
                since,
                BlueGreenStatus::Previewing { since },
            ),
            (
                Phase::Progressing,
                switched,
                since,
                BlueGreenStatus::Switched { since },
            ),
            (
                Phase::Frozen,
                switched,
                since,
                BlueGreenStatus::Switched { since },
            ),
            (
                Phase::AwaitingApproval {
                    kind: ApprovalKind::Manual,
                },
                preview,
                since,
                BlueGreenStatus::AwaitingSwitch,
            ),
            (
                Phase::Paused {
                    reason: why(),
                    until: None,
                },
                preview,
                since,
                BlueGreenStatus::Paused { reason: why() },
            ),
            (
                Phase::Promoted,
                switched,
                since,
                BlueGreenStatus::BlueWarm { warm_until },
            ),
            (
                Phase::Promoted,
                switched,
                warm_until,
                BlueGreenStatus::BlueReleasable,
            ),
            (
                Phase::RolledBack { reason: why() },
                preview,
                since,
                BlueGreenStatus::SwitchedBack { reason: why() },
            ),
            (
                Phase::Aborted { reason: why() },
                preview,
                since,
                BlueGreenStatus::Aborted { reason: why() },
            ),
        ];
        for (phase, traffic, now, expected) in cases {
            let got = BlueGreenStatus::of(&state(phase.clone(), traffic), &plan, now);
            assert_eq!(got, expected, "{phase:?} at {now}");
        }
        assert_eq!(
            BlueGreenStatus::BlueWarm { warm_until }.to_string(),
            format!("green confirmed, blue warm until {warm_until}")
        );
    }
}
