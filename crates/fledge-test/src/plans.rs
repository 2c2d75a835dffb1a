//! Plan fixtures, controllers built on them, and traffic to drive them.

use std::sync::Arc;
use std::time::Duration;

use fledge_gate::clock::ManualClock;
use fledge_rollout::plan::{Plan, PlanBuilder};
use fledge_rollout::{Controller, Store};

/// The canonical plan of `examples/plans/canary.toml` (5 / 25 / 50 / 100 %,
/// 30 s bakes, a p99 threshold and a sequential error-rate gate).
pub const CANARY_TOML: &str = include_str!("../../../examples/plans/canary.toml");

/// A canary `v1` → `v2` named `name`: steps 5 / 25 / 50 / 100 %, 10 s bakes,
/// no gates (each step passes on its bake time).
pub fn canary(name: &str) -> Plan {
    PlanBuilder::canary(name, "v1", "v2")
        .interval(Duration::from_secs(10))
        .build()
        .unwrap_or_else(|e| panic!("fixture plan {name}: {e}"))
}

/// The canonical plan ([`CANARY_TOML`]).
pub fn canonical() -> Plan {
    Plan::from_toml(CANARY_TOML).unwrap_or_else(|e| panic!("examples/plans/canary.toml: {e}"))
}

/// A controller of `plan` on `clock`, with the in-memory store.
pub fn controller(plan: Plan, clock: &ManualClock) -> Arc<Controller> {
    Arc::new(
        Controller::builder(plan)
            .clock(clock.clone())
            .build()
            .unwrap_or_else(|e| panic!("fixture controller: {e}")),
    )
}

/// A controller of `plan` on `clock`, saving to `store`.
pub fn controller_on(plan: Plan, clock: &ManualClock, store: impl Store + 'static) -> Controller {
    Controller::builder(plan)
        .clock(clock.clone())
        .store(store)
        .build()
        .unwrap_or_else(|e| panic!("fixture controller: {e}"))
}

/// One second of traffic on `controller`: `n` requests per version (the
/// candidate answering in `candidate_ms`, the baseline in 10 ms, no
/// errors), then a tick one second later on `clock`.
pub fn round(controller: &Controller, clock: &ManualClock, n: u32, candidate_ms: u64) {
    let routing = controller.routing();
    let (candidate, baseline) = (routing.candidate().get(), routing.baseline().get());
    for _ in 0..n {
        let recorder = routing.recorder();
        recorder.record(candidate, Duration::from_millis(candidate_ms), false);
        recorder.record(baseline, Duration::from_millis(10), false);
    }
    controller
        .tick(clock.advance(Duration::from_secs(1)))
        .unwrap_or_else(|e| panic!("tick: {e}"));
}
