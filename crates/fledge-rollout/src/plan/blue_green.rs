//! [`BlueGreenBuilder`]: a header preview of green judged by pre-switch
//! gates, one atomic switch watched by switch gates, and blue kept warm.

use std::time::Duration;

use fledge_gate::{CheckSpec, Test};

use super::Plan;
use super::builder::{PREVIEW_HEADER, PlanBuilder};
use super::error::PlanError;

/// Builds a blue-green [`Plan`] on top of [`PlanBuilder::blue_green`]: a
/// `preview` step (0 % of public traffic; requests carrying the
/// [`PREVIEW_HEADER`] `x-fledge-preview: <green>` reach green) judged by the
/// preview gates, then a `switch` step (100 %, one atomic swap) judged by
/// the switch gates, then blue kept warm.
///
/// The [`Controller`](crate::Controller) runs it like any plan; there is no
/// separate blue-green engine:
///
/// - **Preview**: blue serves everyone; [`Plan::preview_header`] names the
///   header that reaches green (give it to QA), and the preview gates judge
///   that traffic against blue's.
/// - **Switch**: when the preview passes (and is approved, with
///   [`approve_switch`](Self::approve_switch)), the next tick moves all
///   traffic to green in one swap ([`Controller::promote`](crate::Controller::promote)
///   switches now, skipping the rest of the preview).
/// - **Switch back**: a failing verdict during the watch or while blue is
///   kept warm, or [`Controller::rollback`](crate::Controller::rollback),
///   moves everyone back to blue in one swap, within the tick.
/// - **Keep warm**: after green is confirmed blue stays warm for
///   [`keep_warm`](Self::keep_warm); then
///   [`Controller::is_finished`](crate::Controller::is_finished) turns true
///   and blue may be released.
///
/// [`BlueGreenStatus::of`](crate::control::BlueGreenStatus::of) says where
/// the release stands, in those words.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use fledge_gate::clock::{Clock, ManualClock, Timestamp};
/// use fledge_rollout::Controller;
/// use fledge_rollout::control::BlueGreenStatus;
/// use fledge_rollout::plan::BlueGreenBuilder;
///
/// let plan = BlueGreenBuilder::new("search", "blue", "green")
///     .preview_gate(toml::from_str("kind = \"threshold\"\nmetric = \"error_rate\"\nmax = 0.01\nmin_samples = 20")?)
///     .preview_for(Duration::from_secs(60))
///     .keep_warm(Duration::from_secs(600))
///     .build()?;
/// assert_eq!(plan.preview_header(), Some(("x-fledge-preview", "green")));
/// let clock = ManualClock::new(Timestamp::from_millis(0));
/// let controller = Controller::builder(plan.clone()).clock(clock.clone()).build()?;
/// let status = |c: &Controller| BlueGreenStatus::of(&c.state(), &plan, clock.now());
/// let routing = controller.routing();
/// let preview: &[(&str, &str)] = &[("x-fledge-preview", "green")];
/// assert_eq!(routing.route(Some(b"u1"), preview), routing.candidate()); // the header reaches green
/// assert_eq!(routing.route(Some(b"u1"), &()), routing.baseline());      // everyone else: blue
/// for _ in 0..50 {
///     routing.recorder().record(routing.candidate().get(), Duration::from_millis(5), false);
/// }
/// controller.tick(clock.advance(Duration::from_secs(61)))?;
/// assert!(matches!(status(&controller), BlueGreenStatus::Switched { .. }));
/// controller.rollback("alice", Some("customer reports"))?; // instant
/// assert!(matches!(status(&controller), BlueGreenStatus::SwitchedBack { .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct BlueGreenBuilder {
    inner: PlanBuilder,
    preview: Vec<CheckSpec>,
    switch: Vec<CheckSpec>,
    preview_for: Duration,
    watch_for: Duration,
    keep_warm: Duration,
    approve: bool,
}

impl BlueGreenBuilder {
    /// A blue-green release of `green` over `blue`: preview 5 minutes, watch
    /// 1 minute after the switch, keep blue warm 10 minutes.
    pub fn new(name: &str, blue: &str, green: &str) -> Self {
        BlueGreenBuilder {
            inner: PlanBuilder::blue_green(name, blue, green),
            preview: Vec::new(),
            switch: Vec::new(),
            preview_for: Duration::from_secs(300),
            watch_for: Duration::from_secs(60),
            keep_warm: Duration::from_secs(600),
            approve: false,
        }
    }

    /// A gate judged on the preview traffic (green) against blue's public
    /// traffic, before the switch. Any kind of check.
    pub fn preview_gate(mut self, check: CheckSpec) -> Self {
        self.preview.push(check);
        self
    }

    /// A gate judged on green after the switch, while blue can still take
    /// over. Blue has no traffic then, so it must be an absolute
    /// (`threshold`) check.
    pub fn switch_gate(mut self, check: CheckSpec) -> Self {
        self.switch.push(check);
        self
    }

    /// How long the preview runs before the gates may switch (default 5 minutes).
    pub fn preview_for(mut self, d: Duration) -> Self {
        self.preview_for = d;
        self
    }

    /// How long green is watched at 100 % before it is confirmed (default 1 minute).
    pub fn watch_for(mut self, d: Duration) -> Self {
        self.watch_for = d;
        self
    }

    /// How long blue stays warm after green is confirmed (default 10 minutes).
    pub fn keep_warm(mut self, d: Duration) -> Self {
        self.keep_warm = d;
        self
    }

    /// A human approves the switch after the preview passes.
    pub fn approve_switch(mut self) -> Self {
        self.approve = true;
        self
    }

    /// Adjusts anything else (failure limit, metrics, salt, limits) on the
    /// underlying [`PlanBuilder`].
    pub fn configure(mut self, f: impl FnOnce(PlanBuilder) -> PlanBuilder) -> Self {
        self.inner = f(self.inner);
        self
    }

    /// Builds and checks the plan. A switch gate that is not a threshold
    /// check, or two different gates with one name, is
    /// [`PlanError::BadGate`].
    pub fn build(self) -> Result<Plan, PlanError> {
        for check in &self.switch {
            if !matches!(check.test, Test::Threshold { .. }) {
                return Err(PlanError::BadGate {
                    gate: check.label(),
                    message: "after the switch blue has no traffic to compare with: a switch gate must be a threshold check (e.g. error_rate max 0.01)".to_owned(),
                });
            }
        }
        let names = |checks: &[CheckSpec]| checks.iter().map(CheckSpec::label).collect::<Vec<_>>();
        let (preview, switch) = (names(&self.preview), names(&self.switch));
        let mut b = self.inner.keep_warm(self.keep_warm);
        let mut added: Vec<&CheckSpec> = Vec::new();
        for check in self.preview.iter().chain(&self.switch) {
            match added.iter().find(|c| c.label() == check.label()) {
                Some(same) if *same == check => {}
                Some(_) => {
                    return Err(PlanError::BadGate {
                        gate: check.label(),
                        message: "two different gates have this name: give them different names"
                            .to_owned(),
                    });
                }
                None => {
                    added.push(check);
                    b = b.gate(check.clone());
                }
            }
        }
        let mut plan = b.build()?;
        let steps = &mut plan.steps;
        if let Some(step) = steps.first_mut() {
            step.0.interval = Some(self.preview_for);
            step.0.gates = Some(preview);
        }
        if let Some(step) = steps.get_mut(1) {
            step.0.interval = Some(self.watch_for);
            step.0.gates = Some(switch);
            step.0.approval = self.approve;
        }
        plan.check()?;
        Ok(plan)
    }
}

impl Plan {
    /// The header (name, value) that reaches the candidate during a
    /// blue-green preview: the first step's (or the plan's) targeting rule
    /// on [`PREVIEW_HEADER`], if the plan has one.
    pub fn preview_header(&self) -> Option<(&'static str, &str)> {
        let first = self.steps.first().map(|s| s.0.targeting.as_slice());
        first
            .into_iter()
            .flatten()
            .chain(&self.targeting)
            .find(|r| {
                r.condition.header.as_deref() == Some(PREVIEW_HEADER) && r.version == self.candidate
            })
            .map(|r| (PREVIEW_HEADER, r.condition.equals.as_deref().unwrap_or("")))
    }
}

#[cfg(test)]
mod tests {
    use fledge_gate::MetricRef;

    use super::*;

    fn max_errors(name: &str, test: Test) -> CheckSpec {
        CheckSpec::new(MetricRef::ErrorRate, test).named(name)
    }

    fn threshold() -> Test {
        Test::Threshold {
            max: Some(0.05),
            min: None,
        }
    }

    #[test]
    fn gates_are_scoped_to_the_preview_and_the_switch() {
        let plan = BlueGreenBuilder::new("bg", "blue", "green")
            .preview_gate(max_errors("preview errors", threshold()))
            .switch_gate(max_errors("green errors", threshold()))
            .preview_for(Duration::from_secs(10))
            .watch_for(Duration::from_secs(20))
            .approve_switch()
            .build()
            .unwrap();
        let checked = plan.check().unwrap();
        let [preview, switch] = checked.steps() else {
            panic!("two steps: {:?}", checked.steps());
        };
        assert_eq!((preview.weight.bps(), switch.weight.bps()), (0, 10_000));
        assert_eq!(preview.interval, Duration::from_secs(10));
        assert_eq!(switch.interval, Duration::from_secs(20));
        assert!(switch.approval);
        assert_eq!(plan.gates[preview.gates[0]].label(), "preview errors");
        assert_eq!(plan.gates[switch.gates[0]].label(), "green errors");
        assert_eq!(plan.keep_warm, Some(Duration::from_secs(600)));
        assert_eq!(plan.preview_header(), Some((PREVIEW_HEADER, "green")));
    }

    #[test]
    fn switch_gates_must_be_thresholds_and_names_unique() {
        let relative: CheckSpec =
            toml::from_str("kind = \"relative\"\nmetric = \"error_rate\"\nmax_ratio = 1.2")
                .unwrap();
        let err = BlueGreenBuilder::new("bg", "blue", "green")
            .switch_gate(relative)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("threshold check"), "{err}");
        let err = BlueGreenBuilder::new("bg", "blue", "green")
            .preview_gate(max_errors("errors", threshold()))
            .switch_gate(max_errors(
                "errors",
                Test::Threshold {
                    max: Some(0.01),
                    min: None,
                },
            ))
            .build()
            .unwrap_err();
        assert!(matches!(err, PlanError::BadGate { .. }), "{err}");
        assert_eq!(
            PlanBuilder::canary("c", "v1", "v2")
                .build()
                .unwrap()
                .preview_header(),
            None
        );
    }
}
