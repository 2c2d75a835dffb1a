//! [`WindowSource`]: where the plan's gates read the windows they judge.
//!
//! By default the [`GateEvaluator`](super::GateEvaluator) reads the
//! controller's own [`Recorder`]: the requests this process served. A
//! fleet of replicas judges the fleet's traffic instead by handing the
//! controller a source that merges every replica's windows
//! ([`ControllerBuilder::window_source`](super::ControllerBuilder::window_source));
//! the same checks and judge then run on the merged windows.

use std::fmt;
use std::time::Duration;

use fledge_gate::clock::Timestamp;
use fledge_gate::{Recorder, Window};
use fledge_select::VersionIndex;

/// What the gate evaluator asks a [`WindowSource`] for at one tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowRequest {
    /// The candidate's version index (the recorder's).
    pub candidate: VersionIndex,
    /// The baseline's version index.
    pub baseline: VersionIndex,
    /// The tick's time.
    pub now: Timestamp,
    /// How far back the windows reach: the step's bake time.
    pub span: Duration,
    /// The step judged.
    pub step: usize,
    /// The rollout's attempt.
    pub attempt: u32,
}

/// The candidate's and the baseline's windows, and what to say about them.
#[derive(Debug, Clone)]
pub struct Windows {
    /// The candidate's window.
    pub canary: Window,
    /// The baseline's window.
    pub baseline: Window,
    /// Appended to the judgement's reason (e.g. which replicas' traffic
    /// the windows cover).
    pub note: Option<String>,
}

/// Where the gate evaluator reads its windows. An error makes the step's
/// judgement Inconclusive with the error as its reason: a source that
/// cannot vouch for its windows (too few replicas reported) says so
/// rather than let a partial view pass.
///
/// Called once per tick on the control path, outside the controller's
/// lock; it may block briefly, but should hand over data gathered before
/// the tick rather than do I/O.
pub trait WindowSource: Send + Sync + fmt::Debug {
    /// The windows for `request`, or why there are none.
    fn windows(&self, request: &WindowRequest) -> Result<Windows, String>;
}

/// The recorder's own windows: this process's traffic.
impl WindowSource for Recorder {
    fn windows(&self, request: &WindowRequest) -> Result<Windows, String> {
        let window = |v: VersionIndex| {
            self.window(v.get(), request.now, request.span)
                .map_err(|e| format!("no window: {e}"))
        };
        Ok(Windows {
            canary: window(request.candidate)?,
            baseline: window(request.baseline)?,
            note: None,
        })
    }
}

/// A shared source (kept by its owner to feed it, handed to the controller).
impl<T: WindowSource + ?Sized> WindowSource for std::sync::Arc<T> {
    fn windows(&self, request: &WindowRequest) -> Result<Windows, String> {
        (**self).windows(request)
    }
}
