//! The structured `tracing` events, captured by a test `Layer`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fledge_rollout::control::{Controller, Evaluate, FnHook, HookDecision, Judgement, StepContext};
use fledge_rollout::machine::{Outcome, PhaseName};
use fledge_rollout::plan::{Plan, PlanBuilder};
use fledge_rollout::store::{MemoryStore, Snapshot, Store, StoreError};
use fledge_test::logs::{Capture, captured};
use tracing::Level;
use tracing_subscriber::Registry;
use tracing_subscriber::layer::SubscriberExt;

const GATED: &str = r#"
name = "predict-v2"
baseline = "v1"
candidate = "v2"
steps = [5, 25, 50, 100]
interval = "30s"

[[gates]]
name = "p99 latency"
kind = "threshold"
metric = "latency_p99"
max = 50.0
min_samples = 20
"#;

#[test]
fn a_rollback_is_one_warning_with_the_failing_checks() {
    let (c, capture) = captured(|| {
        let clock = fledge_test::clock::manual();
        let c = Controller::builder(Plan::from_toml(GATED).unwrap())
            .clock(clock.clone())
            .build()
            .unwrap();
        // Three subscribers: still one log line per event.
        c.subscribe_fn(|_| {});
        c.subscribe_fn(|_| {});
        let _rx = c.subscribe();
        let routing = c.routing();
        for user in 0..2_000 {
            let key = format!("user-{user}");
            let v = routing.route(Some(key.as_bytes()), &());
            let ms = if v == routing.candidate() { 80 } else { 12 };
            routing
                .recorder()
                .record(v.get(), Duration::from_millis(ms), false);
        }
        c.tick(clock.advance(Duration::from_secs(1))).unwrap();
        c
    });
    assert_eq!(c.state().phase.name(), PhaseName::RolledBack);

    let started = capture.one("rollout.started");
    assert_eq!(started.level, Level::INFO);
    assert_eq!(started.target, "fledge_rollout::event");
    assert_eq!(started.field("rollout"), "predict-v2");
    assert_eq!(started.field("event"), "started");
    assert_eq!(started.field("seq"), "0");
    assert_eq!(started.field("step"), "0");
    assert_eq!(started.field("weight_bps"), "500");
    assert_eq!(started.field("percent"), "5.0");
    assert_eq!(started.field("input"), "start");

    let verdict = capture.one("rollout.verdict");
    assert_eq!(verdict.level, Level::DEBUG);
    assert_eq!(verdict.target, "fledge_rollout::gate");
    assert_eq!(verdict.field("outcome"), "fail");
    assert_eq!(verdict.field("failed_checks"), "p99 latency");
    assert!(verdict.get("elapsed_ms").is_some());
    let check = capture.one("rollout.check");
    assert_eq!(check.level, Level::DEBUG);
    assert_eq!(check.field("check"), "p99 latency");
    assert_eq!(check.field("metric"), "latency_p99");
    assert_eq!(check.field("outcome"), "fail");
    assert!(!check.field("detail").is_empty());

    let back = capture.one("rollout.rolled_back");
    assert_eq!(back.level, Level::WARN);
    assert_eq!(back.field("rollout"), "predict-v2");
    assert_eq!(back.field("event"), "rolled_back");
    assert_eq!(back.field("seq"), "1");
    assert_eq!(back.field("attempt"), "0");
    assert_eq!(back.field("weight_bps"), "0");
    assert_eq!(back.field("phase"), "rolled_back");
    assert_eq!(back.field("input"), "verdict");
    assert_eq!(back.field("outcome"), "fail");
    assert_eq!(back.field("failed_checks"), "p99 latency");
    assert!(back.field("reason").contains("p99 latency"), "{back:?}");
    assert!(back.get("by").is_none());
    // Nothing else at WARN or above.
    let loud: Vec<_> = capture
        .lines()
        .into_iter()
        .filter(|l| l.level <= Level::WARN)
        .collect();
    assert_eq!(loud.len(), 1, "{loud:#?}");
}

#[test]
fn commands_say_who_and_why() {
    let ((), capture) = captured(|| {
        let plan = PlanBuilder::canary("cmds", "v1", "v2").build().unwrap();
        let clock = fledge_test::clock::manual();
        let c = Controller::builder(plan).clock(clock).build().unwrap();
        c.pause("alice", Some("lunch")).unwrap();
        c.resume("alice").unwrap();
        c.approve("bob").unwrap_err(); // nothing waits: refused
        c.freeze("carol", None).unwrap();
        c.resume("carol").unwrap();
        c.abort("dave", Some("wrong build")).unwrap();
    });
    let paused = capture.one("rollout.paused");
    assert_eq!(paused.level, Level::INFO);
    assert_eq!(paused.field("input"), "command");
    assert_eq!(paused.field("command"), "pause");
    assert_eq!(paused.field("by"), "alice");
    assert_eq!(paused.field("note"), "lunch");
    assert_eq!(paused.field("phase"), "paused");
    assert!(paused.field("reason").contains("alice"));

    assert_eq!(capture.named("rollout.resumed").len(), 2);
    let rejected = capture.one("rollout.rejected");
    assert_eq!(rejected.level, Level::INFO);
    assert_eq!(rejected.field("by"), "bob");
    assert_eq!(rejected.field("command"), "approve");
    let frozen = capture.one("rollout.frozen");
    assert_eq!(frozen.field("by"), "carol");
    assert!(frozen.get("note").is_none());
    let aborted = capture.one("rollout.aborted");
    assert_eq!(aborted.level, Level::WARN);
    assert_eq!(aborted.field("by"), "dave");
    assert_eq!(aborted.field("note"), "wrong build");
    assert_eq!(aborted.field("weight_bps"), "0");
}

#[test]
fn promotion_is_info_and_every_step_is_logged() {
    let ((), capture) = captured(|| {
        let plan = PlanBuilder::canary("steps", "v1", "v2")
            .interval(Duration::from_secs(10))
            .build()
            .unwrap();
        let clock = fledge_test::clock::manual();
        let c = Controller::builder(plan)
            .clock(clock.clone())
            .build()
            .unwrap();
        for _ in 0..5 {
            c.tick(clock.advance(Duration::from_secs(11))).unwrap();
        }
    });
    let steps: Vec<String> = capture
        .named("rollout.step_taken")
        .iter()
        .map(|l| l.field("weight_bps").to_owned())
        .collect();
    assert_eq!(steps, ["2500", "5000", "10000"]);
    let promoted = capture.one("rollout.promoted");
    assert_eq!(promoted.level, Level::INFO);
    assert_eq!(promoted.field("weight_bps"), "10000");
    assert_eq!(promoted.field("input"), "tick");
    assert_eq!(promoted.field("step_label"), "step 4");
}

/// A store whose saves fail (or panic) once `broken` is set.
#[derive(Debug, Default)]
struct Flaky {
    inner: MemoryStore,
    broken: AtomicBool,
    panics: bool,
}

impl Store for Flaky {
    fn load(&self) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load()
    }
    fn save(&self, snapshot: &Snapshot, expected: Option<u64>) -> Result<u64, StoreError> {
        if self.broken.load(Ordering::SeqCst) {
            if self.panics {
                panic!("the store fell over");
            }
            return Err(StoreError::Io {
                origin: "flaky:rollouts/predict".to_owned(),
                source: std::io::Error::other("connection refused"),
            });
        }
        self.inner.save(snapshot, expected)
    }
}

#[test]
fn a_failed_save_names_the_store_the_key_and_the_error() {
    let store = Arc::new(Flaky::default());
    let (result, capture) = captured(|| {
        let plan = PlanBuilder::canary("saved", "v1", "v2").build().unwrap();
        let c = Controller::builder(plan)
            .clock(fledge_test::clock::manual())
            .store(store.clone())
            .build()
            .unwrap();
        store.broken.store(true, Ordering::SeqCst);
        c.rollback("erin", Some("bad numbers"))
    });
    assert!(result.is_err());
    // The rollback is applied and logged; the save failure is logged too.
    assert_eq!(capture.one("rollout.rolled_back").field("by"), "erin");
    let failed = capture.one("rollout.store_failed");
    assert_eq!(failed.level, Level::ERROR);
    assert_eq!(failed.target, "fledge_rollout::store");
    assert_eq!(failed.field("rollout"), "saved");
    assert_eq!(failed.field("store"), "Flaky");
    assert_eq!(failed.field("op"), "save");
    assert_eq!(failed.field("origin"), "flaky:rollouts/predict");
    assert_eq!(failed.field("error_kind"), "io");
    assert_eq!(failed.field("last_seq"), "1");
    assert!(failed.field("error").contains("connection refused"));
}

#[test]
fn the_built_in_stores_have_short_kinds() {
    assert_eq!(MemoryStore::new().kind(), "memory");
    assert_eq!(fledge_rollout::FileStore::new("x.json").kind(), "file");
    let boxed: Box<dyn Store> = Box::new(Flaky::default());
    assert_eq!(boxed.kind(), "Flaky");
}

#[derive(Debug)]
struct Panicking;

impl Evaluate for Panicking {
    fn evaluate(&self, _: &StepContext<'_>) -> Judgement {
        panic!("PromQL client exploded");
    }
}

#[test]
fn a_panicking_evaluator_is_logged_once_per_window_and_judged_inconclusive() {
    let ((), capture) = captured(|| {
        let plan = PlanBuilder::canary("panicky", "v1", "v2").build().unwrap();
        let clock = fledge_test::clock::manual();
        let c = Controller::builder(plan)
            .clock(clock.clone())
            .evaluator(Panicking)
            .judge_every_step()
            .build()
            .unwrap();
        for _ in 0..3 {
            let report = c.tick(clock.advance(Duration::from_secs(1))).unwrap();
            let j = report.judgement.unwrap();
            assert_eq!(j.outcome, Outcome::Inconclusive);
            assert!(j.reason.contains("PromQL client exploded"), "{j}");
        }
    });
    let line = capture.one("rollout.evaluator_panicked");
    assert_eq!(line.level, Level::ERROR);
    assert_eq!(line.field("rollout"), "panicky");
    assert_eq!(line.field("panic"), "PromQL client exploded");
    assert_eq!(line.field("suppressed"), "0");
    assert_eq!(capture.named("rollout.verdict").len(), 3);
}

#[test]
fn a_panicking_sync_hook_is_logged_and_the_step_keeps_waiting() {
    let ((), capture) = captured(|| {
        let plan = PlanBuilder::canary("hooked", "v1", "v2")
            .interval(Duration::from_secs(1))
            .build()
            .unwrap();
        let clock = fledge_test::clock::manual();
        let c = Controller::builder(plan)
            .clock(clock.clone())
            .confirm_hook(FnHook::new("ci", |_| -> HookDecision {
                panic!("CI is down")
            }))
            .build()
            .unwrap();
        c.tick(clock.advance(Duration::from_secs(2))).unwrap();
        assert_eq!(c.state().phase.name(), PhaseName::AwaitingApproval);
        c.tick(clock.advance(Duration::from_secs(2))).unwrap();
        assert_eq!(c.state().phase.name(), PhaseName::AwaitingApproval);
    });
    let line = capture.one("rollout.hook_panicked");
    assert_eq!(line.target, "fledge_rollout::hook");
    assert_eq!(line.field("hook"), "ci");
    assert_eq!(line.field("panic"), "CI is down");
    assert_eq!(line.field("step"), "0");
    // The first step waits for confirmation from the start.
    assert_eq!(
        capture.one("rollout.started").field("phase"),
        "awaiting_approval"
    );
}

#[test]
fn plan_replacement_and_resync_are_logged() {
    let ((), capture) = captured(|| {
        let store = MemoryStore::new();
        let plan = PlanBuilder::canary("fleet", "v1", "v2").build().unwrap();
        let leader = Controller::builder(plan.clone())
            .clock(fledge_test::clock::manual())
            .store(store.clone())
            .build()
            .unwrap();
        let follower = Controller::builder(plan)
            .clock(fledge_test::clock::manual())
            .store(store)
            .build()
            .unwrap();
        leader.pause("alice", None).unwrap();
        assert!(follower.resync().unwrap());
        let longer = PlanBuilder::canary("fleet", "v1", "v2")
            .steps([1.0, 5.0, 25.0, 50.0, 100.0])
            .build()
            .unwrap();
        leader.replace_plan(longer).unwrap();
    });
    let resync = capture.one("rollout.resync");
    assert_eq!(resync.field("rollout"), "fleet");
    assert_eq!(resync.field("new_events"), "1");
    assert_eq!(resync.field("rewritten"), "false");
    assert_eq!(resync.field("phase"), "paused");
    let replaced = capture.one("rollout.plan_replaced");
    assert_eq!(replaced.field("steps"), "5");
    assert_eq!(replaced.field("previous_steps"), "4");
    // The leader's pause is logged once, by the leader; the follower's
    // resync is one line of its own.
    assert_eq!(capture.named("rollout.paused").len(), 1);
}

#[cfg(feature = "tokio")]
mod driver {
    use super::*;
    use fledge_rollout::driver::{Driver, TokioClock};

    fn driven(store: Arc<Flaky>) -> Arc<Controller> {
        let plan = PlanBuilder::canary("driven", "v1", "v2")
            .interval(Duration::from_secs(10))
            .build()
            .unwrap();
        let c = Controller::builder(plan)
            .clock(TokioClock::starting_at(fledge_test::clock::T0))
            .store(store)
            .build()
            .unwrap();
        Arc::new(c)
    }

    #[tokio::test(start_paused = true)]
    async fn tick_failures_are_logged_without_on_error_and_ticking_goes_on() {
        let capture = Capture::default();
        let _guard = tracing::subscriber::set_default(Registry::default().with(capture.clone()));
        let store = Arc::new(Flaky::default());
        let c = driven(store.clone());
        store.broken.store(true, Ordering::SeqCst);
        let driver = Driver::builder(c.clone())
            .interval(Duration::from_secs(1))
            .spawn();
        tokio::time::sleep(Duration::from_secs(25)).await;
        driver.shutdown().await;
        // Two steps taken, neither saved: each failure logged where it
        // happened, and no second line from the driver.
        assert_eq!(c.traffic().candidate.bps(), 5_000);
        let failed = capture.named("rollout.store_failed");
        assert_eq!(failed.len(), 2, "{failed:#?}");
        assert!(failed.iter().all(|l| l.field("op") == "save"));
        assert!(capture.named("rollout.tick_failed").is_empty());
        assert_eq!(capture.named("rollout.step_taken").len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_tick_is_logged_once_per_window_and_ticking_goes_on() {
        let capture = Capture::default();
        let _guard = tracing::subscriber::set_default(Registry::default().with(capture.clone()));
        let store = Arc::new(Flaky {
            panics: true,
            ..Flaky::default()
        });
        let c = driven(store.clone());
        store.broken.store(true, Ordering::SeqCst);
        let errors = Arc::new(Mutex::new(0));
        let seen = errors.clone();
        let driver = Driver::builder(c.clone())
            .interval(Duration::from_secs(1))
            .on_error(move |_| *seen.lock().unwrap() += 1)
            .spawn();
        tokio::time::sleep(Duration::from_secs(25)).await;
        driver.shutdown().await;
        // Each step panicked in its save, after publishing: the driver went on.
        assert_eq!(c.traffic().candidate.bps(), 5_000);
        let line = capture.one("rollout.tick_panicked");
        assert_eq!(line.level, Level::ERROR);
        assert_eq!(line.target, "fledge_rollout::driver");
        assert_eq!(line.field("rollout"), "driven");
        assert_eq!(line.field("op"), "tick");
        assert_eq!(line.field("panic"), "the store fell over");
        assert_eq!(*errors.lock().unwrap(), 0, "a panic is not a ControlError");
    }

    /// Blocks in `evaluate` until the async side says so.
    #[derive(Debug)]
    struct WaitsForTheRuntime {
        release: Mutex<std::sync::mpsc::Receiver<()>>,
        runtime_thread: std::thread::ThreadId,
        ran_elsewhere: Arc<AtomicBool>,
    }

    impl Evaluate for WaitsForTheRuntime {
        fn evaluate(&self, _: &StepContext<'_>) -> Judgement {
            let other = std::thread::current().id() != self.runtime_thread;
            self.ran_elsewhere.store(other, Ordering::SeqCst);
            // On the runtime's only thread this would wait forever: the
            // task that releases it could never run.
            let released = self
                .release
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(10));
            let blocked = released == Err(std::sync::mpsc::RecvTimeoutError::Timeout);
            assert!(!blocked, "the tick blocked the runtime");
            Judgement::new(Outcome::Inconclusive, "released")
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_blocking_evaluator_leaves_the_runtime_free() {
        let (tx, rx) = std::sync::mpsc::channel();
        let ran_elsewhere = Arc::new(AtomicBool::new(false));
        let plan = PlanBuilder::canary("blocking", "v1", "v2").build().unwrap();
        let c = Controller::builder(plan)
            .clock(TokioClock::starting_at(fledge_test::clock::T0))
            .evaluator(WaitsForTheRuntime {
                release: Mutex::new(rx),
                runtime_thread: std::thread::current().id(),
                ran_elsewhere: ran_elsewhere.clone(),
            })
            .judge_every_step()
            .build()
            .unwrap();
        let c = Arc::new(c);
        let driver = Driver::builder(c.clone())
            .interval(Duration::from_secs(1))
            .spawn();
        // Runs on the same (only) runtime thread while the tick blocks.
        for _ in 0..3 {
            tokio::task::yield_now().await;
            tx.send(()).unwrap();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        drop(tx); // a tick in progress ends at once
        driver.shutdown().await;
        assert!(ran_elsewhere.load(Ordering::SeqCst));
        assert!(c.last_judgement().is_some());
    }

    #[derive(Debug)]
    struct PanickingHook;

    impl fledge_rollout::driver::AsyncConfirmHook for PanickingHook {
        fn name(&self) -> &str {
            "deploy-bot"
        }
        fn confirm(
            &self,
            _: fledge_rollout::control::StepRequest,
        ) -> fledge_rollout::driver::BoxFuture<HookDecision> {
            Box::pin(async { panic!("deploy-bot is down") })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_async_hook_is_logged_once_per_window_and_asked_again() {
        let capture = Capture::default();
        let _guard = tracing::subscriber::set_default(Registry::default().with(capture.clone()));
        let plan = PlanBuilder::canary("asked", "v1", "v2").build().unwrap();
        let c = Controller::builder(plan)
            .clock(TokioClock::starting_at(fledge_test::clock::T0))
            .confirm_steps()
            .build()
            .unwrap();
        let c = Arc::new(c);
        let driver = Driver::builder(c.clone())
            .interval(Duration::from_secs(1))
            .confirm_hook(PanickingHook)
            .spawn();
        tokio::time::sleep(Duration::from_secs(10)).await;
        driver.shutdown().await;
        assert_eq!(c.state().phase.name(), PhaseName::AwaitingApproval);
        let line = capture.one("rollout.hook_panicked");
        assert_eq!(line.target, "fledge_rollout::driver");
        assert_eq!(line.field("rollout"), "asked");
        assert_eq!(line.field("hook"), "deploy-bot");
        assert_eq!(line.field("panic"), "deploy-bot is down");
    }
}
