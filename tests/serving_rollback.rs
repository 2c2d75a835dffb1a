//! Injected errors roll the candidate back within one evaluation tick: the
//! tick whose verdict fails publishes weight 0 before it returns, and the
//! very next request goes to stable.

#[path = "serving/support.rs"]
mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use fledge_rollout::machine::{Outcome, PhaseName};
use support::{Harness, users};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_errors_roll_back_within_one_tick() {
    let h = Harness::start().await;
    let users = users(1_000);

    // Step 1 healthy, promoted to 25 %.
    h.who_all(&users).await;
    let report = h.tick_after(Duration::from_secs(10));
    assert_eq!(report.state.traffic.candidate.bps(), 2_500);

    // v2 starts failing; one tick (well before the bake ends) judges it.
    h.fail_v2.store(true, Ordering::Relaxed);
    let mut failed_statuses = 0;
    for chunk in users.chunks(32) {
        for u in chunk {
            let (status, version, _) = h.who(u).await;
            if version == "v2" {
                assert_eq!(status, 500);
                failed_statuses += 1;
            }
        }
    }
    assert!(failed_statuses >= 20, "{failed_statuses} v2 requests");
    let report = h.tick_after(Duration::from_secs(1));
    let judgement = report.judgement.expect("the step was judged");
    assert_eq!(judgement.outcome, Outcome::Fail, "{judgement}");
    // Same tick: rolled back and weight 0 already published.
    assert_eq!(report.state.phase.name(), PhaseName::RolledBack);
    assert_eq!(h.candidate_bps(), 0);
    assert_eq!(
        h.controller
            .selector()
            .split()
            .weight_of("v2")
            .map(|w| w.bps()),
        Some(0)
    );

    // No request reaches v2 any more.
    let versions = h.who_all(&users[..300]).await;
    assert!(versions.iter().all(|v| v == "v1"), "{versions:?}");
}
