//! The controller: gates, selector, events, hooks, targeting, plan updates.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fledge_gate::clock::{Clock, ManualClock, Timestamp};
use fledge_rollout::control::{
    ControlError, Controller, FnHook, HookDecision, Judgement, StepContext,
};
use fledge_rollout::machine::{ApprovalKind, EventKind, Outcome, Phase, PhaseName};
use fledge_rollout::plan::{Plan, PlanBuilder};
use fledge_rollout::registry::VersionRegistry;
use fledge_select::Weight;

/// A controller for `plan` on a manual clock at `fledge_test::clock::T0`.
fn on_clock(plan: Plan) -> (Controller, ManualClock) {
    let clock = fledge_test::clock::manual();
    let c = Controller::builder(plan)
        .clock(clock.clone())
        .build()
        .unwrap();
    (c, clock)
}

const CANARY: &str = r#"
name = "predict-v2"
baseline = "v1"
candidate = "v2"
steps = [5, 25, 50, 100]
interval = "30s"
failure_limit = 2
inconclusive_limit = 3

[[gates]]
name = "p99 latency"
kind = "threshold"
metric = "latency_p99"
max = 50.0
critical = true
min_samples = 20

[[gates]]
name = "error rate"
kind = "sequential"
metric = "error_rate"
tau = 0.01
alpha = 0.01
min_samples = 20
"#;

/// Sends `rps` requests with keys `user-<n>` through the controller's routing,
/// recording latency and errors per version.
fn traffic(c: &Controller, rps: u64, tick: u64, canary_ms: u64, canary_errors: bool) {
    let routing = c.routing();
    for i in 0..rps {
        let key = format!("user-{}", tick * rps + i);
        let v = routing.route(Some(key.as_bytes()), &());
        let canary = v == routing.candidate();
        let ms = if canary { canary_ms } else { 10 } + i % 5;
        let error = canary && canary_errors && i % 10 == 0;
        routing
            .recorder()
            .record(v.get(), Duration::from_millis(ms), error);
    }
}

fn run(
    c: &Controller,
    clock: &ManualClock,
    seconds: u64,
    canary_ms: u64,
    errors: bool,
) -> Option<Timestamp> {
    for s in 0..seconds {
        traffic(c, 200, s, canary_ms, errors);
        let now = clock.advance(Duration::from_secs(1));
        c.tick(now).unwrap();
        if c.state().is_terminal() {
            return Some(now);
        }
    }
    None
}

#[test]
fn a_healthy_candidate_is_promoted_through_every_step() {
    let (c, clock) = on_clock(Plan::from_toml(CANARY).unwrap());
    let weights = Arc::new(Mutex::new(Vec::new()));
    let w = weights.clone();
    c.subscribe_fn(move |e| {
        if e.kind == EventKind::StepTaken || e.kind == EventKind::Promoted {
            w.lock().unwrap().push(e.weight.bps());
        }
    });
    assert_eq!(
        c.selector().split().weight_of("v2"),
        Some(Weight::from_bps(500).unwrap())
    );
    if run(&c, &clock, 600, 20, false).is_none() {
        panic!(
            "not finished: {:?}\n{:?}\n{:#?}",
            c.state(),
            c.last_judgement(),
            c.events()
        );
    }
    assert_eq!(c.state().phase, Phase::Promoted);
    assert_eq!(*weights.lock().unwrap(), [2_500, 5_000, 10_000, 10_000]);
    assert_eq!(c.selector().split().weight_of("v2"), Some(Weight::FULL));
    assert!(c.verify_log().unwrap());
    assert!(c.last_judgement().is_some());
}

#[test]
fn a_failing_candidate_rolls_back_in_the_tick_of_the_failing_verdict() {
    let (c, clock) = on_clock(Plan::from_toml(CANARY).unwrap());
    let rx = c.subscribe();
    let mut failures = 0;
    for s in 0..120 {
        traffic(&c, 200, s, 90, false);
        let report = c.tick(clock.advance(Duration::from_secs(1))).unwrap();
        if report
            .judgement
            .as_ref()
            .is_some_and(|j| j.outcome == Outcome::Fail)
        {
            failures += 1;
        }
        if failures == 2 {
            // The second failure (failure_limit 2) rolled back in this very tick.
            assert_eq!(report.state.phase.name(), PhaseName::RolledBack);
            assert_eq!(c.selector().split().weight_of("v2"), Some(Weight::ZERO));
            assert!(
                report
                    .events
                    .iter()
                    .any(|e| e.kind == EventKind::RolledBack)
            );
            break;
        }
        assert_ne!(report.state.phase.name(), PhaseName::RolledBack);
    }
    assert_eq!(failures, 2);
    let events: Vec<_> = rx.try_iter().collect();
    let last = events.last().unwrap();
    assert_eq!(last.kind, EventKind::RolledBack);
    assert!(last.reason.contains("p99 latency"), "{}", last.reason);
    // Every user is back on the baseline.
    let routing = c.routing();
    for i in 0..1000 {
        let key = format!("user-{i}");
        assert_eq!(routing.route(Some(key.as_bytes()), &()), routing.baseline());
    }
    // Terminal: ticks and verdicts change nothing, restart starts over.
    let before = c.state();
    c.tick(clock.advance(Duration::from_secs(1))).unwrap();
    assert_eq!(c.state(), before);
    assert!(matches!(
        c.promote("alice"),
        Err(ControlError::Rejected { .. })
    ));
    c.restart("alice").unwrap();
    assert_eq!(c.state().salt, "predict-v2/v2#1");
    assert_eq!(c.traffic().candidate.bps(), 500);
}

#[test]
fn sticky_users_keep_their_version_as_the_weight_grows() {
    let plan = PlanBuilder::canary("sticky", "v1", "v2")
        .interval(Duration::from_secs(5))
        .build()
        .unwrap();
    let (c, clock) = on_clock(plan);
    let routing = c.routing().clone();
    let keys: Vec<String> = (0..2000).map(|i| format!("k{i}")).collect();
    let on_canary = |k: &String| routing.route(Some(k.as_bytes()), &()) == routing.candidate();
    let mut previous: Vec<bool> = keys.iter().map(on_canary).collect();
    for _ in 0..40 {
        c.tick(clock.advance(Duration::from_secs(1))).unwrap();
        let now: Vec<bool> = keys.iter().map(on_canary).collect();
        for (was, is) in previous.iter().zip(&now) {
            assert!(
                !*was || *is,
                "a canary user went back to stable while the weight grew"
            );
        }
        previous = now;
    }
    assert_eq!(c.state().phase, Phase::Promoted);
}

#[test]
fn manual_approval_and_operator_commands() {
    let plan = PlanBuilder::canary("ops", "v1", "v2")
        .interval(Duration::from_secs(10))
        .approval_before(1)
        .build()
        .unwrap();
    let (c, clock) = on_clock(plan);
    for _ in 0..11 {
        c.tick(clock.advance(Duration::from_secs(1))).unwrap();
    }
    assert_eq!(
        c.state().phase,
        Phase::AwaitingApproval {
            kind: ApprovalKind::Manual
        }
    );
    assert_eq!(c.traffic().candidate.bps(), 500);
    let e = c.approve("alice").unwrap();
    assert_eq!(e.kind, EventKind::StepTaken);
    assert_eq!(c.traffic().candidate.bps(), 2_500);
    // Set weight: at most the step's, and it pauses.
    assert!(matches!(
        c.set_weight(Weight::from_bps(3_000).unwrap(), "bob"),
        Err(ControlError::Rejected { .. })
    ));
    c.set_weight(Weight::from_bps(1_000).unwrap(), "bob")
        .unwrap();
    assert_eq!(
        c.selector().split().weight_of("v2"),
        Some(Weight::from_bps(1_000).unwrap())
    );
    assert_eq!(c.state().phase.name(), PhaseName::Paused);
    c.resume("bob").unwrap();
    assert_eq!(c.traffic().candidate.bps(), 2_500);
    // Freeze: no rollback, no promotion.
    c.freeze("carol", Some("schema migrated")).unwrap();
    assert!(matches!(
        c.rollback("carol", None),
        Err(ControlError::Rejected { .. })
    ));
    assert!(matches!(
        c.promote("carol"),
        Err(ControlError::Rejected { .. })
    ));
    assert_eq!(c.traffic().candidate.bps(), 2_500);
    c.resume("carol").unwrap();
    let e = c.rollback("carol", Some("customer report")).unwrap();
    assert_eq!(e.kind, EventKind::RolledBack);
    assert!(e.reason.contains("carol") && e.reason.contains("customer report"));
    assert_eq!(c.traffic().candidate, Weight::ZERO);
    assert!(c.verify_log().unwrap());
}

#[test]
fn sync_confirm_hooks_approve_or_veto_each_step() {
    let clock = fledge_test::clock::manual();
    let plan = PlanBuilder::canary("hooks", "v1", "v2")
        .interval(Duration::from_secs(5))
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let k = calls.clone();
    let c = Controller::builder(plan)
        .clock(clock.clone())
        .confirm_hook(FnHook::new("ci", move |req| {
            let n = k.fetch_add(1, Ordering::SeqCst);
            match (req.step, n) {
                (_, 0) => HookDecision::Pending,
                (3, _) => HookDecision::Veto {
                    reason: "release freeze".into(),
                },
                _ => HookDecision::Confirm,
            }
        }))
        .build()
        .unwrap();
    // Step 0 waits for confirmation from the start.
    assert_eq!(
        c.state().phase,
        Phase::AwaitingApproval {
            kind: ApprovalKind::Confirm
        }
    );
    assert_eq!(c.pending_confirmation().unwrap().step, 0);
    c.tick(clock.advance(Duration::from_secs(1))).unwrap(); // pending
    assert_eq!(c.traffic().candidate, Weight::ZERO);
    c.tick(clock.advance(Duration::from_secs(1))).unwrap(); // confirmed
    assert_eq!(c.traffic().candidate.bps(), 500);
    for _ in 0..30 {
        c.tick(clock.advance(Duration::from_secs(1))).unwrap();
    }
    let s = c.state();
    assert_eq!(s.phase.name(), PhaseName::Paused, "{s:?}");
    assert_eq!(c.traffic().candidate.bps(), 5_000);
    let last = c.events().pop().unwrap();
    assert!(
        last.reason.contains("release freeze") && last.reason.contains("hook:ci"),
        "{}",
        last.reason
    );
}

#[test]
fn async_answers_are_applied_unless_stale() {
    let clock = fledge_test::clock::manual();
    let plan = PlanBuilder::canary("async", "v1", "v2")
        .interval(Duration::from_secs(5))
        .build()
        .unwrap();
    let c = Controller::builder(plan)
        .clock(clock.clone())
        .confirm_steps()
        .build()
        .unwrap();
    let request = c.pending_confirmation().unwrap();
    // A human approves first: the hook's late answer is stale and ignored.
    c.approve("alice").unwrap();
    assert_eq!(
        c.resolve_confirmation(&request, HookDecision::Confirm, "hook:web")
            .unwrap(),
        None
    );
    for _ in 0..6 {
        c.tick(clock.advance(Duration::from_secs(1))).unwrap();
    }
    let request = c.pending_confirmation().unwrap();
    assert_eq!(request.step, 1);
    let e = c
        .resolve_confirmation(&request, HookDecision::Confirm, "hook:web")
        .unwrap()
        .unwrap();
    assert_eq!(e.kind, EventKind::StepTaken);
    assert_eq!(c.traffic().candidate.bps(), 2_500);
}

#[test]
fn targeting_sends_testers_to_the_candidate_regardless_of_weight() {
    let plan = PlanBuilder::phased("ranker", "v1", "v2")
        .internal_header("x-fledge-internal", "true")
        .beta_attribute(20.0, "region", ["eu-west-1"])
        .configure(|b| b.interval(Duration::from_secs(5)))
        .build()
        .unwrap();
    let (c, _clock) = on_clock(plan);
    let r = c.routing();
    assert_eq!(c.traffic().candidate, Weight::ZERO);
    let tester: &[(&str, &str)] = &[("X-Fledge-Internal", "true")];
    let eu: &[(&str, &str)] = &[("region", "eu-west-1")];
    assert_eq!(r.route(Some(b"anyone"), tester), r.candidate());
    assert_eq!(r.route(Some(b"anyone"), &()), r.baseline());
    assert_eq!(r.target(eu), None, "regions join at beta");
    c.promote("alice").unwrap(); // alpha
    c.promote("alice").unwrap(); // beta
    assert_eq!(r.target(eu), Some(r.candidate()));
    assert_eq!(r.target(tester), Some(r.candidate()));
    c.rollback("alice", None).unwrap();
    assert_eq!(
        r.target(tester),
        None,
        "a rolled-back candidate gets no request"
    );
    assert!(!r.has_rules());
}

#[test]
fn a_bad_plan_never_replaces_a_running_one() {
    let plan = Plan::from_toml(CANARY).unwrap();
    let (c, _clock) = on_clock(plan.clone());
    c.promote("alice").unwrap();
    c.promote("alice").unwrap(); // step 2 (50 %)
    let mut bad = plan.clone();
    bad.failure_limit = 0;
    assert!(matches!(c.replace_plan(bad), Err(ControlError::Plan(_))));
    let mut short = plan.clone();
    short.steps.truncate(2);
    assert!(matches!(
        c.replace_plan(short),
        Err(ControlError::Incompatible { .. })
    ));
    let mut other = plan.clone();
    other.candidate = fledge_select::VersionId::new("v3").unwrap();
    assert!(matches!(
        c.replace_plan(other),
        Err(ControlError::Incompatible { .. })
    ));
    assert_eq!(c.plan(), plan);
    let mut better = plan.clone();
    better.failure_limit = 3;
    c.replace_plan(better.clone()).unwrap();
    assert_eq!(c.plan(), better);
}

#[test]
fn callbacks_may_call_back_into_the_controller() {
    let clock = fledge_test::clock::manual();
    let plan = PlanBuilder::canary("reentrant", "v1", "v2")
        .build()
        .unwrap();
    let c = Arc::new(
        Controller::builder(plan)
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (c2, s2) = (Arc::downgrade(&c), seen.clone());
    c.subscribe_fn(move |e| {
        s2.lock().unwrap().push(e.kind);
        if e.kind == EventKind::StepTaken
            && let Some(c) = c2.upgrade()
        {
            let _ = c.pause("watchdog", None);
        }
    });
    c.subscribe_fn(|_| panic!("a broken subscriber"));
    c.promote("alice").unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [EventKind::StepTaken, EventKind::Paused]
    );
    assert_eq!(c.state().phase.name(), PhaseName::Paused);
}

#[test]
fn the_registry_follows_promotion_and_rollback() {
    let registry: VersionRegistry<&'static str> = VersionRegistry::new();
    registry.register("v1", Arc::new("model one")).unwrap();
    registry.register("v2", Arc::new("model two")).unwrap();
    let plan = PlanBuilder::canary("reg", "v1", "v2").build().unwrap();
    let (c, _clock) = on_clock(plan);
    let r = registry.clone();
    c.subscribe_fn(move |e| {
        r.follow(e, "v1", "v2").unwrap();
    });
    registry.follow(&c.events()[0], "v1", "v2").unwrap();
    let stable = registry.alias("stable").unwrap();
    let canary = registry.alias("canary").unwrap();
    assert_eq!((*stable.load(), *canary.load()), ("model one", "model two"));
    c.rollback("alice", None).unwrap();
    assert_eq!(*canary.load(), "model one");
    c.restart("alice").unwrap();
    assert_eq!(*canary.load(), "model two");
    c.promote_full("alice").unwrap();
    assert_eq!(*stable.load(), "model two");
    assert!(registry.unregister("v2").is_err());
}

#[test]
fn the_registry_switches_back_after_a_promotion_kept_warm() {
    let registry: VersionRegistry<&'static str> = VersionRegistry::new();
    registry.register("blue", Arc::new("term overlap")).unwrap();
    registry.register("green", Arc::new("tf-idf")).unwrap();
    let plan = PlanBuilder::blue_green("reg-bg", "blue", "green")
        .build()
        .unwrap();
    let (c, _clock) = on_clock(plan);
    let r = registry.clone();
    c.subscribe_fn(move |e| {
        r.follow(e, "blue", "green").unwrap();
    });
    registry.follow(&c.events()[0], "blue", "green").unwrap();
    let stable = registry.alias("stable").unwrap();
    let canary = registry.alias("canary").unwrap();
    c.promote_full("alice").unwrap();
    assert_eq!((*stable.load(), *canary.load()), ("tf-idf", "tf-idf"));
    // Blue is kept warm: the switch back points both aliases at it again.
    c.rollback("bob", Some("tickets")).unwrap();
    assert_eq!(
        (*stable.load(), *canary.load()),
        ("term overlap", "term overlap")
    );
    assert!(registry.unregister("blue").is_err());
    assert!(registry.unregister("green").is_ok());
}

#[derive(Debug)]
struct Scripted(Mutex<Vec<Outcome>>);

impl fledge_rollout::control::Evaluate for Scripted {
    fn evaluate(&self, ctx: &StepContext<'_>) -> Judgement {
        let outcome = self.0.lock().unwrap().pop().unwrap_or(Outcome::Pass);
        Judgement::new(outcome, format!("scripted at step {}", ctx.step.index))
    }
}

#[test]
fn inconclusive_bakes_extend_then_pause_for_a_human() {
    let clock = fledge_test::clock::manual();
    let plan = Plan::from_toml(CANARY).unwrap(); // inconclusive_limit 3
    let c = Controller::builder(plan)
        .clock(clock.clone())
        .evaluator(Scripted(Mutex::new(vec![Outcome::Inconclusive; 1000])))
        .build()
        .unwrap();
    let mut paused_at = None;
    for s in 1..=200u64 {
        c.tick(clock.advance(Duration::from_secs(1))).unwrap();
        if c.state().phase.name() == PhaseName::Paused {
            paused_at = Some(s);
            break;
        }
    }
    // Three 30 s bake intervals end inconclusive: the third pauses.
    assert_eq!(paused_at, Some(90));
    assert_eq!(c.traffic().candidate.bps(), 500);
    let kinds: Vec<_> = c.events().iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Started,
            EventKind::InconclusiveCounted,
            EventKind::InconclusiveCounted,
            EventKind::Paused
        ]
    );
    let _ = clock.now();
}

#[test]
fn judge_every_step_lets_an_evaluator_judge_a_plan_without_gates() {
    let plan = PlanBuilder::canary("external", "v1", "v2")
        .interval(Duration::from_secs(10))
        .build()
        .unwrap();
    assert!(plan.check().unwrap().steps().iter().all(|s| !s.is_gated()));
    let failing = || Scripted(Mutex::new(vec![Outcome::Fail; 100]));

    // By default a step without plan gates goes by time alone: the
    // evaluator is never asked, and step 1 is taken after its bake.
    let clock = fledge_test::clock::manual();
    let c = Controller::builder(plan.clone())
        .clock(clock.clone())
        .evaluator(failing())
        .build()
        .unwrap();
    for _ in 0..11 {
        let report = c.tick(clock.advance(Duration::from_secs(1))).unwrap();
        assert!(report.judgement.is_none());
    }
    assert_eq!(c.state().step, Some(1));

    // With judge_every_step the evaluator decides: its failures roll back.
    let clock = fledge_test::clock::manual();
    let c = Controller::builder(plan)
        .clock(clock.clone())
        .evaluator(failing())
        .judge_every_step()
        .build()
        .unwrap();
    for _ in 0..3 {
        c.tick(clock.advance(Duration::from_secs(1))).unwrap();
    }
    assert_eq!(c.state().phase.name(), PhaseName::RolledBack);
    assert_eq!(c.traffic().candidate, Weight::ZERO);
    assert!(c.verify_log().unwrap());
}
