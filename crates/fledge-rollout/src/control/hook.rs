//! Confirm hooks: approve or veto a step before it is taken.
//!
//! The idea is Flagger's confirm-promotion webhook. When a controller has
//! confirm hooks (or [`ControllerBuilder::confirm_steps`](super::ControllerBuilder::confirm_steps)),
//! every step that is due waits in
//! [`Phase::AwaitingApproval`](crate::machine::Phase::AwaitingApproval) with
//! [`ApprovalKind::Confirm`](crate::machine::ApprovalKind::Confirm). Then:
//!
//! - **Sync hooks** ([`ConfirmHook`]) are asked on every tick. When all
//!   [`HookDecision::Confirm`], the step is taken in that tick; when one
//!   [`HookDecision::Veto`]es, the rollout pauses with the hook's reason (a
//!   human resumes it); otherwise ([`HookDecision::Pending`]) it keeps waiting
//!   and asks again next tick. Failing gates still roll back while it waits.
//! - **Async hooks** (an HTTP call, a CI job) cannot run inside a sync tick.
//!   The tick leaves the step pending; whoever drives the controller reads
//!   [`Controller::pending_confirmation`](super::Controller::pending_confirmation),
//!   runs the hook, and hands the answer to
//!   [`Controller::resolve_confirmation`](super::Controller::resolve_confirmation).
//!   The tokio driver does exactly that with an async hook. A stale answer
//!   (the rollout moved on meanwhile) is ignored.
//! - A human may always `approve` (or `promote`) a waiting step.

use std::fmt;

use serde::{Deserialize, Serialize};

use fledge_gate::clock::Timestamp;
use fledge_select::Weight;

/// The step a confirm hook is asked about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRequest {
    /// The rollout's name.
    pub rollout: String,
    /// The rollout's attempt (0 for the first run).
    pub attempt: u32,
    /// The step that would be taken (from 0).
    pub step: usize,
    /// Its label (`"step 2"`, `"beta"`).
    pub label: String,
    /// The candidate's weight it would publish.
    pub weight: Weight,
    /// When the step became due.
    pub since: Timestamp,
    /// The event sequence number at which the request was made; an answer is
    /// applied only if the rollout has not moved on since.
    pub seq: u64,
}

/// A hook's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookDecision {
    /// Take the step.
    Confirm,
    /// Not decided yet: ask again on the next tick.
    Pending,
    /// Do not take the step: the rollout pauses with this reason.
    Veto {
        /// Why.
        reason: String,
    },
}

/// A synchronous confirm hook, asked on every tick while a step waits.
pub trait ConfirmHook: Send + Sync + fmt::Debug {
    /// The hook's name, recorded as `hook:<name>` in events.
    fn name(&self) -> &str;
    /// Whether the step may be taken.
    fn confirm(&self, request: &StepRequest) -> HookDecision;
}

/// A [`ConfirmHook`] from a closure.
pub struct FnHook<F> {
    name: String,
    f: F,
}

impl<F> FnHook<F>
where
    F: Fn(&StepRequest) -> HookDecision + Send + Sync,
{
    /// A hook named `name` answering with `f`.
    pub fn new(name: impl Into<String>, f: F) -> Self {
        FnHook {
            name: name.into(),
            f,
        }
    }
}

impl<F> fmt::Debug for FnHook<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnHook").field("name", &self.name).finish()
    }
}

impl<F> ConfirmHook for FnHook<F>
where
    F: Fn(&StepRequest) -> HookDecision + Send + Sync,
{
    fn name(&self) -> &str {
        &self.name
    }
    fn confirm(&self, request: &StepRequest) -> HookDecision {
        (self.f)(request)
    }
}
