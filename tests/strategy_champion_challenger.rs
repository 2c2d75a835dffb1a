//! Champion / challenger, evaluated tick by tick on a manual clock: a
//! better challenger is promoted and the old champion kept as a challenger,
//! a worse one and one failing its latency guard are retired, every change
//! is in the history with its evidence, the state survives a serde round
//! trip, and users keep their variant between changes.

use std::time::Duration;

use fledge_experiment::{
    ChampionChallenger, ChampionState, ChangeKind, MetricSpec, OldChampion, Role,
};
use fledge_gate::clock::Timestamp;
use fledge_gate::{CheckSpec, MetricRef, Outcome, Test};

/// A seeded generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn t0() -> Timestamp {
    Timestamp::from_millis(1_800_000_000_000)
}

fn setup() -> ChampionChallenger {
    ChampionChallenger::builder("forecast")
        .champion("mean")
        .challenger("smooth")
        .challenger("naive")
        .challenger("heavy")
        .standby("arima")
        .challenger_share(10.0)
        .metric(MetricSpec::mean("abs_error").lower_is_better(), 0.3)
        .guard(
            CheckSpec::new(
                MetricRef::LatencyQuantile(0.99),
                Test::Relative {
                    max_ratio: Some(2.0),
                    min_ratio: None,
                    max_increase: None,
                    max_decrease: None,
                },
            )
            .named("p99 vs champion")
            .min_samples(50),
        )
        .guard_window(Duration::from_secs(60))
        .old_champion(OldChampion::Challenge)
        .salt("cc-test")
        .build(t0())
        .expect("setup")
}

/// Mean absolute error and latency of each model (the "heavy" model is as
/// accurate as "smooth" but four times slower).
fn model(id: &str) -> (f64, u64) {
    match id {
        "smooth" | "heavy" => (1.0, if id == "heavy" { 40 } else { 10 }),
        "naive" => (3.0, 10),
        _ => (2.0, 10),
    }
}

fn serve(cc: &ChampionChallenger, rng: &mut Rng, users: u32) {
    let r = cc.routing();
    for user in 0..users {
        let key = format!("user-{user}");
        let a = r.route(Some(key.as_bytes()), &());
        let id = r.id(a.variant).expect("id").as_str();
        let (mae, ms) = model(id);
        r.recorder()
            .record(a.variant.get(), Duration::from_millis(ms), false);
        let error = mae * 2.0 * rng.unit(); // uniform on [0, 2·mae]
        r.recorder()
            .record_feedback(a.variant.get(), "abs_error", error)
            .expect("feedback");
    }
}

#[test]
fn winners_are_promoted_and_losers_retired_with_evidence() {
    let cc = setup();
    let mut rng = Rng(2026);
    let split = cc.routing().selector().split();
    let weights: Vec<u32> = split.versions().iter().map(|v| v.weight().bps()).collect();
    assert_eq!(weights, [7_000, 1_000, 1_000, 1_000, 0]);

    // Users keep their variant while nothing changes.
    let before: Vec<_> = (0..200)
        .map(|u| {
            cc.routing()
                .assign(Some(format!("user-{u}").as_bytes()), &())
        })
        .collect();
    serve(&cc, &mut rng, 3_000);
    let after: Vec<_> = (0..200)
        .map(|u| {
            cc.routing()
                .assign(Some(format!("user-{u}").as_bytes()), &())
        })
        .collect();
    assert_eq!(before, after);

    let report = cc.tick(t0() + Duration::from_secs(30));
    println!("{report}");
    assert_eq!(report.champion.as_str(), "smooth", "{report}");
    assert_eq!(cc.role("naive"), Some(Role::Retired));
    assert_eq!(cc.role("heavy"), Some(Role::Retired));
    assert_eq!(
        cc.role("mean"),
        Some(Role::Challenger),
        "kept as a challenger"
    );
    assert_eq!(cc.role("arima"), Some(Role::Standby));
    let heavy = report
        .standings
        .iter()
        .find(|s| s.variant.as_str() == "heavy")
        .expect("heavy");
    assert_eq!(heavy.guards, Some(Outcome::Fail));

    // The history tells who changed and why, with the numbers.
    let history = cc.history();
    let kinds: Vec<(ChangeKind, &str)> = history
        .iter()
        .map(|c| (c.kind, c.variant.as_str()))
        .collect();
    assert_eq!(kinds[0], (ChangeKind::Started, "mean"));
    assert!(kinds.contains(&(ChangeKind::Retired, "naive")));
    assert!(kinds.contains(&(ChangeKind::Retired, "heavy")));
    assert!(kinds.contains(&(ChangeKind::Promoted, "smooth")));
    assert!(kinds.contains(&(ChangeKind::Demoted, "mean")));
    let promoted = history
        .iter()
        .find(|c| c.kind == ChangeKind::Promoted)
        .expect("promotion");
    let evidence = promoted.evidence.as_ref().expect("evidence");
    assert!(evidence.comparison.lift.expect("lift") < -0.5);
    assert!(evidence.comparison.p_value.expect("p") <= evidence.alpha);
    assert!(evidence.guards.as_ref().expect("guards").is_pass());
    assert!(promoted.reason.contains("beat mean"), "{}", promoted.reason);
    let weights: Vec<u32> = promoted
        .split
        .versions()
        .iter()
        .map(|v| v.weight().bps())
        .collect();
    assert_eq!(weights, [1_000, 9_000, 0, 0, 0]);

    // A standby challenger enters; the state is plain data.
    cc.enter("arima", "alice", t0() + Duration::from_secs(40))
        .expect("enter");
    let state = cc.state();
    let json = serde_json::to_string(&state).expect("serialize");
    let back: ChampionState = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back.roles, state.roles);
    assert_eq!(back.history.len(), state.history.len());
    let restored =
        ChampionChallenger::from_state(back, t0() + Duration::from_secs(50)).expect("restore");
    assert_eq!(restored.champion().as_str(), "smooth");
    assert_eq!(
        restored.routing().selector().split(),
        cc.routing().selector().split()
    );
}

#[test]
fn a_challenger_without_enough_data_is_left_alone() {
    let cc = setup();
    let mut rng = Rng(1);
    serve(&cc, &mut rng, 300);
    let report = cc.tick(t0() + Duration::from_secs(10));
    assert!(report.changes.is_empty(), "{report}");
    assert_eq!(cc.champion().as_str(), "mean");
    for s in &report.standings {
        assert!(s.status.contains("more samples"), "{}", s.status);
    }
}
