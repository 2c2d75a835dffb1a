//! Polling a rollout's status for `watch` and `wait`: the first answer must
//! come (a wrong URL or token fails at once), later failures that pass (the
//! service restarting, a time-out) are reported and polled through.

use std::fmt::Write as _;

use crate::Failure;
use crate::api::{ApiError, Status};
use crate::connect::Target;
use crate::render;

/// Polls one rollout's status.
#[derive(Debug)]
pub(crate) struct Poller {
    pub(crate) target: Target,
    answered: bool,
}

impl Poller {
    pub(crate) fn new(target: Target) -> Self {
        Poller {
            target,
            answered: false,
        }
    }

    /// The status; `Ok(Err(e))` for a passing failure after a first answer.
    pub(crate) fn status(&mut self) -> Result<Result<Status, ApiError>, Failure> {
        match self.target.client.get::<Status>(&self.target.path("")) {
            Ok((status, _)) => {
                self.answered = true;
                Ok(Ok(status))
            }
            Err(e) if self.answered && e.is_transient() => Ok(Err(e)),
            Err(e) => Err(e.into()),
        }
    }
}

/// What a terminal phase means for the exit code: promoted is success,
/// rolled back or aborted is a failure saying why.
pub(crate) fn settle(status: &Status) -> Result<(), Failure> {
    match status.phase.name.as_str() {
        "promoted" => Ok(()),
        _ => Err(Failure::Other(format!(
            "{} was {}",
            status.name,
            render::phase(status)
        ))),
    }
}

/// What a one-line report shows, to tell a change from a poll.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Key {
    phase: crate::api::Phase,
    step: Option<usize>,
    weight: Option<String>,
    verdict: Option<String>,
}

/// The one-line report of a status, and what makes it change.
pub(crate) fn line(status: &Status) -> (Key, String) {
    let weight = render::candidate_weight(status).map(render::percent);
    let key = Key {
        phase: status.phase.clone(),
        step: status.step,
        weight: weight.clone(),
        verdict: status.verdict.as_ref().map(|v| v.outcome.clone()),
    };
    let mut s = format!(
        "{} {} {}: step {}",
        render::time_of_day(status.now),
        status.name,
        render::phase(status),
        render::step_progress(status)
    );
    if let Some(w) = weight {
        let _ = write!(s, ", {} at {w}", status.candidate);
    }
    if let Some(v) = &status.verdict {
        let _ = write!(s, ", verdict {} {}", render::mark(&v.outcome), v.outcome);
        if !v.reason.is_empty() {
            let _ = write!(s, ": {}", v.reason);
        }
    }
    (key, s)
}
