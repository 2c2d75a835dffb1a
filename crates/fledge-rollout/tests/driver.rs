//! The tokio driver, under tokio's paused time.
#![cfg(feature = "tokio")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fledge_gate::clock::Timestamp;
use fledge_rollout::control::{
    Controller, Evaluate, HookDecision, Judgement, StepContext, StepRequest,
};
use fledge_rollout::driver::{AsyncConfirmHook, BoxFuture, Driver, TokioClock};
use fledge_rollout::machine::{EventKind, Outcome, Phase};
use fledge_rollout::plan::PlanBuilder;

fn controller(confirm: bool) -> Arc<Controller> {
    let plan = PlanBuilder::canary("driven", "v1", "v2")
        .interval(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut b = Controller::builder(plan).clock(TokioClock::starting_at(Timestamp::from_millis(0)));
    if confirm {
        b = b.confirm_steps();
    }
    Arc::new(b.build().unwrap())
}

#[tokio::test(start_paused = true)]
async fn the_driver_ticks_to_promotion_and_stops_by_itself() {
    let c = controller(false);
    let started = tokio::time::Instant::now();
    Driver::builder(c.clone())
        .interval(Duration::from_secs(1))
        .stop_when_finished(true)
        .spawn()
        .wait()
        .await;
    assert_eq!(c.state().phase, Phase::Promoted);
    let simulated = started.elapsed();
    assert!(
        simulated >= Duration::from_secs(40) && simulated <= Duration::from_secs(42),
        "{simulated:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_ticking_cleanly() {
    let c = controller(false);
    let driver = Driver::builder(c.clone())
        .interval(Duration::from_secs(1))
        .spawn();
    let handle = driver.shutdown_handle();
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    assert_eq!(c.traffic().candidate.bps(), 2_500);
    driver.shutdown().await;
    let seq = c.state().seq;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(c.state().seq, seq, "no tick after shutdown");
    handle.shutdown(); // harmless afterwards
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_handle_stops_a_waiting_driver() {
    let c = controller(false);
    let driver = Driver::builder(c.clone()).spawn();
    let handle = driver.shutdown_handle();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        handle.shutdown();
    });
    driver.wait().await;
    assert_eq!(c.state().phase, Phase::Progressing);
}

#[derive(Debug)]
struct SlowApprover(Arc<AtomicUsize>);

impl AsyncConfirmHook for SlowApprover {
    fn name(&self) -> &str {
        "slow-ci"
    }
    fn confirm(&self, request: StepRequest) -> BoxFuture<HookDecision> {
        let calls = self.0.clone();
        Box::pin(async move {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(5)).await;
            if request.step == 2 {
                HookDecision::Veto {
                    reason: "change freeze".into(),
                }
            } else {
                HookDecision::Confirm
            }
        })
    }
}

#[tokio::test(start_paused = true)]
async fn async_hooks_confirm_and_veto_steps() {
    let c = controller(true);
    let calls = Arc::new(AtomicUsize::new(0));
    let driver = Driver::builder(c.clone())
        .confirm_hook(SlowApprover(calls.clone()))
        .spawn();
    tokio::time::sleep(Duration::from_secs(60)).await;
    driver.shutdown().await;
    let events = c.events();
    let taken: Vec<u32> = events
        .iter()
        .filter(|e| e.kind == EventKind::StepTaken)
        .map(|e| e.weight.bps())
        .collect();
    assert_eq!(taken, [500, 2_500]);
    let last = events.last().unwrap();
    assert_eq!(last.kind, EventKind::Paused);
    assert!(
        last.reason.contains("change freeze") && last.reason.contains("hook:slow-ci"),
        "{}",
        last.reason
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

/// Tells when `evaluate` starts, then blocks until released.
#[derive(Debug)]
struct Gatekeeper {
    entered: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    release: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
    done: Arc<std::sync::atomic::AtomicBool>,
}

impl Evaluate for Gatekeeper {
    fn evaluate(&self, _: &StepContext<'_>) -> Judgement {
        if let Some(tx) = self.entered.lock().unwrap().take() {
            let _ = tx.send(());
        }
        let _ = self
            .release
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(10));
        self.done.store(true, Ordering::SeqCst);
        Judgement::new(Outcome::Inconclusive, "waited")
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_the_tick_in_progress() {
    let (entered_tx, entered) = tokio::sync::oneshot::channel();
    let (release, release_rx) = std::sync::mpsc::channel();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let plan = PlanBuilder::canary("slow-judge", "v1", "v2")
        .build()
        .unwrap();
    let c = Controller::builder(plan)
        .clock(TokioClock::starting_at(Timestamp::from_millis(0)))
        .evaluator(Gatekeeper {
            entered: std::sync::Mutex::new(Some(entered_tx)),
            release: std::sync::Mutex::new(release_rx),
            done: done.clone(),
        })
        .judge_every_step()
        .build()
        .unwrap();
    let driver = Driver::builder(Arc::new(c)).spawn();
    entered.await.unwrap(); // the first tick is judging, off this thread
    let shutdown = tokio::spawn(driver.shutdown());
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(!shutdown.is_finished(), "shutdown returned during a tick");
    release.send(()).unwrap();
    shutdown.await.unwrap();
    assert!(done.load(Ordering::SeqCst));
}
