//! A healthy candidate is promoted through every step (5 → 25 → 50 → 100 %)
//! over real HTTP, driven by a manual clock and explicit ticks.

#[path = "serving/support.rs"]
mod support;

use std::time::Duration;

use fledge_rollout::machine::PhaseName;
use support::{Harness, users};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_candidate_is_promoted_through_every_step() {
    let h = Harness::start().await;
    let users = users(800);
    let mut weights = vec![h.candidate_bps()];
    for _ in 0..8 {
        let versions = h.who_all(&users).await;
        assert!(versions.iter().all(|v| v == "v1" || v == "v2"));
        let report = h.tick_after(Duration::from_secs(10));
        weights.push(report.state.traffic.candidate.bps());
        if report.state.phase.name() == PhaseName::Promoted {
            break;
        }
        assert_eq!(
            report.state.phase.name(),
            PhaseName::Progressing,
            "judgement: {:?}",
            report.judgement
        );
    }
    assert_eq!(weights, [500, 2_500, 5_000, 10_000, 10_000]);
    assert_eq!(h.controller.state().phase.name(), PhaseName::Promoted);

    // Promoted: everyone is on v2.
    let versions = h.who_all(&users[..100]).await;
    assert!(versions.iter().all(|v| v == "v2"), "{versions:?}");
}
