//! The gates read their windows from a `WindowSource` when one is given:
//! the same checks judge whatever windows it hands over, its note ends the
//! reason, and its error makes the step Inconclusive (never Pass).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fledge_gate::clock::{ManualClock, Timestamp};
use fledge_gate::{Outcome, Recorder, RecorderConfig};
use fledge_rollout::control::{Operate, WindowRequest, WindowSource, Windows};
use fledge_rollout::machine::Command;
use fledge_rollout::{Controller, Plan};

const T0: u64 = 1_800_000_000_000;

fn plan() -> Plan {
    Plan::from_toml(
        r#"
        name = "src"
        baseline = "v1"
        candidate = "v2"
        steps = [5, 50, 100]
        interval = "10s"

        [[gates]]
        name = "errors"
        kind = "threshold"
        metric = "error_rate"
        max = 0.05
        min_samples = 50
        "#,
    )
    .unwrap()
}

/// Hands over the windows of a recorder standing for "the fleet", or an error.
#[derive(Debug)]
struct Fixed {
    fleet: Recorder,
    fail: Mutex<Option<String>>,
    asked: Mutex<Vec<WindowRequest>>,
}

impl WindowSource for Fixed {
    fn windows(&self, request: &WindowRequest) -> Result<Windows, String> {
        self.asked.lock().unwrap().push(*request);
        if let Some(e) = self.fail.lock().unwrap().clone() {
            return Err(e);
        }
        Ok(Windows {
            canary: self
                .fleet
                .window(request.candidate.get(), request.now, request.span)
                .unwrap(),
            baseline: self
                .fleet
                .window(request.baseline.get(), request.now, request.span)
                .unwrap(),
            note: Some("fleet: 3/3 replicas".into()),
        })
    }
}

#[test]
fn gates_judge_the_sources_windows() {
    let source = Arc::new(Fixed {
        fleet: Recorder::new(RecorderConfig::new(2)).unwrap(),
        fail: Mutex::new(None),
        asked: Mutex::new(Vec::new()),
    });
    let clock = ManualClock::new(Timestamp::from_millis(T0));
    let controller = Controller::builder(plan())
        .clock(clock.clone())
        .window_source(source.clone())
        .build()
        .unwrap();
    // This process sees only good traffic; the fleet's candidate fails.
    for i in 0..200 {
        controller
            .routing()
            .recorder()
            .record(0, Duration::from_millis(5), false);
        source.fleet.record(0, Duration::from_millis(5), i % 5 == 0);
        source.fleet.record(1, Duration::from_millis(5), false);
    }
    // A source that cannot vouch for its windows: Inconclusive, its reason.
    *source.fail.lock().unwrap() = Some("fleet coverage 1/3 below the floor".into());
    let report = controller
        .tick(clock.advance(Duration::from_secs(1)))
        .unwrap();
    let j = report.judgement.unwrap();
    assert_eq!(j.outcome, Outcome::Inconclusive);
    assert_eq!(j.reason, "fleet coverage 1/3 below the floor");
    // Its windows: the fleet's errors fail the gate, the note ends the reason.
    *source.fail.lock().unwrap() = None;
    let report = controller
        .tick(clock.advance(Duration::from_secs(1)))
        .unwrap();
    let j = report.judgement.unwrap();
    assert_eq!(j.outcome, Outcome::Fail, "{j}");
    assert!(j.reason.ends_with("; fleet: 3/3 replicas"), "{}", j.reason);
    assert_eq!(controller.traffic().candidate.bps(), 0);
    let asked = source.asked.lock().unwrap();
    assert_eq!(asked[0].span, Duration::from_secs(10));
    assert_eq!(asked[0].step, 0);
    assert_eq!(
        controller.routing().index_of("v2").unwrap(),
        asked[0].candidate
    );
}

#[test]
fn a_controller_operates_itself() {
    let clock = ManualClock::new(Timestamp::from_millis(T0));
    let controller = Controller::builder(plan()).clock(clock).build().unwrap();
    let op: &dyn Operate = &controller;
    let event = op.command(Command::Pause, "alice", Some("lunch")).unwrap();
    assert!(event.reason.contains("alice"), "{event}");
    assert_eq!(op.state(), controller.state());
    assert_eq!(op.events().len(), controller.events().len());
    assert!(op.fleet().is_none());
    assert!(op.last_judgement().is_none());
    let err = op.command(Command::Approve, "bob", None).unwrap_err();
    assert!(
        matches!(err, fledge_rollout::ControlError::Rejected { .. }),
        "{err:?}"
    );
}
