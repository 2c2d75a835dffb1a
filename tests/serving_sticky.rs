//! A user keeps their version across steps while the weight grows (everyone
//! on v2 at 5 % is still on v2 at 25 % and 50 %), and is back on stable after
//! a rollback.

#[path = "serving/support.rs"]
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use fledge_rollout::machine::PhaseName;
use support::{Harness, users};

fn on_v2(users: &[String], versions: &[String]) -> BTreeSet<String> {
    users
        .iter()
        .zip(versions)
        .filter(|(_, v)| *v == "v2")
        .map(|(u, _)| u.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_keep_their_version_while_the_weight_grows() {
    let h = Harness::start().await;
    let users = users(2_000);
    let mut previous: BTreeSet<String> = BTreeSet::new();
    let mut sizes = Vec::new();
    for expected_bps in [500, 2_500, 5_000] {
        assert_eq!(h.candidate_bps(), expected_bps);
        let versions = h.who_all(&users).await;
        // Asked twice, a user gets the same answer.
        let again = h.who_all(&users[..200]).await;
        assert_eq!(&versions[..200], &again[..]);
        let now = on_v2(&users, &versions);
        assert!(
            previous.is_subset(&now),
            "a user left v2 while the weight grew"
        );
        let share = now.len() as f64 / users.len() as f64;
        let target = f64::from(expected_bps) / 10_000.0;
        assert!((share - target).abs() < 0.05, "share {share} vs {target}");
        sizes.push(now.len());
        previous = now;
        let report = h.tick_after(Duration::from_secs(10));
        assert_eq!(
            report.state.phase.name(),
            PhaseName::Progressing,
            "{:?}",
            report.judgement
        );
    }
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");

    // An operator rolls back: everyone, including the v2 users, is on v1.
    h.controller
        .rollback("test", Some("manual"))
        .expect("rollback");
    let versions = h.who_all(&users).await;
    assert!(versions.iter().all(|v| v == "v1"));
    assert!(!previous.is_empty());
}
