//! Property tests of the experiment strategies:
//!
//! 1. an A/B/n split publishes exactly the configured weights (summing to
//!    10 000 bps), every user keeps their variant, the variant owns the
//!    user's bucket, and users outside the segment always get the control
//!    and are never counted;
//! 2. champion / challenger shares always sum to 10 000, the champion keeps
//!    at least half and more than any challenger, standby and retired
//!    variants get nothing — through any sequence of enter / retire;
//! 3. decisions are monotone in the evidence: more conversions for a
//!    treatment never move it from winner to "no difference" or loser;
//!    Holm never adjusts above Bonferroni and is monotone in the raw p-values.

use fledge_experiment::{
    AbTest, ChampionChallenger, Condition, Correction, Decision, MetricSpec, Role,
};
use fledge_gate::clock::Timestamp;
use fledge_select::VersionIndex;
use proptest::prelude::*;

fn t0() -> Timestamp {
    Timestamp::from_millis(1_000)
}

/// Weights in bps summing to 10 000 for `n` variants, each > 0.
fn weights(n: usize) -> impl Strategy<Value = Vec<u32>> {
    prop::collection::vec(1u32..1_000, n).prop_map(|raw| {
        let total: u32 = raw.iter().sum();
        let mut w: Vec<u32> = raw.iter().map(|r| (r * 10_000 / total).max(1)).collect();
        let sum: u32 = w.iter().sum();
        // Give the rounding remainder to the largest, keeping every weight > 0.
        let (imax, _) = w.iter().enumerate().max_by_key(|(_, v)| **v).unwrap();
        w[imax] = w[imax] + 10_000 - sum;
        w
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn ab_splits_are_exact_sticky_and_segmented(
        w in (2usize..7).prop_flat_map(weights),
        users in prop::collection::vec(any::<u64>(), 1..200),
        segmented in any::<bool>(),
    ) {
        let mut b = AbTest::builder("prop").metric(MetricSpec::conversion("buy")).fixed_horizon(100);
        for (i, bps) in w.iter().enumerate() {
            let pct = f64::from(*bps) / 100.0;
            b = if i == 0 { b.control("v0", pct) } else { b.variant(&format!("v{i}"), pct) };
        }
        if segmented {
            b = b.segment(Condition::attribute_equals("tier", "gold"));
        }
        let ab = b.build(t0()).unwrap();
        let r = ab.routing();
        let split = r.selector().split();
        let got: Vec<u32> = split.versions().iter().map(|v| v.weight().bps()).collect();
        prop_assert_eq!(&got, &w);
        prop_assert_eq!(got.iter().sum::<u32>(), 10_000);
        let gold: &[(&str, &str)] = &[("tier", "gold")];
        let plain: &[(&str, &str)] = &[("tier", "silver")];
        for u in &users {
            let key = format!("user-{u}");
            let a1 = r.route(Some(key.as_bytes()), gold);
            let a2 = r.assign(Some(key.as_bytes()), gold);
            prop_assert_eq!(a1, a2, "sticky");
            prop_assert!(a1.in_experiment);
            let bucket = r.bucket(key.as_bytes());
            prop_assert!(split.bucket_range(a1.variant).contains(&bucket));
            let other = r.route(Some(key.as_bytes()), plain);
            if segmented {
                prop_assert_eq!(other.variant, r.control());
                prop_assert!(!other.in_experiment);
            } else {
                prop_assert_eq!(other, a1);
            }
        }
        let counted: u64 = r.exposures().iter().sum();
        let expected = users.len() as u64 * if segmented { 1 } else { 2 };
        prop_assert_eq!(counted, expected);
    }

    #[test]
    fn champion_shares_hold_through_any_changes(
        k in 1usize..5,
        standby in 0usize..4,
        share in 1u32..13,
        ops in prop::collection::vec((any::<bool>(), 0usize..9), 0..25),
    ) {
        let mut b = ChampionChallenger::builder("prop")
            .champion("c0")
            .challenger_share(f64::from(share))
            .metric(MetricSpec::conversion("buy"), 0.01);
        for i in 1..=k {
            b = b.challenger(&format!("c{i}"));
        }
        for i in 0..standby {
            b = b.standby(&format!("s{i}"));
        }
        let fits = k as u32 * share <= 50;
        let cc = match b.build(t0()) {
            Ok(cc) => cc,
            Err(e) => {
                prop_assert!(!fits, "refused a setup that fits: {e}");
                return Ok(());
            }
        };
        prop_assert!(fits);
        let ids: Vec<String> = cc.roles().iter().map(|(id, _)| id.to_string()).collect();
        for (enter, pick) in ops {
            let id = &ids[pick % ids.len()];
            let _ = if enter { cc.enter(id, "prop", t0()) } else { cc.retire(id, "prop", t0()) };
            let split = cc.routing().selector().split();
            let total: u32 = split.versions().iter().map(|v| v.weight().bps()).sum();
            prop_assert_eq!(total, 10_000);
            let champion = cc.champion();
            let cw = split.weight_of(champion.as_str()).unwrap().bps();
            prop_assert!(cw >= 5_000, "champion has {cw} bps");
            for (id, role) in cc.roles() {
                let w = split.weight_of(id.as_str()).unwrap().bps();
                match role {
                    Role::Champion => prop_assert_eq!(w, cw),
                    Role::Challenger => {
                        prop_assert_eq!(w, share * 100);
                        prop_assert!(w < cw);
                    }
                    Role::Standby | Role::Retired => prop_assert_eq!(w, 0),
                }
            }
        }
    }

    #[test]
    fn more_conversions_never_hurt_the_decision(
        n in 500u64..5_000,
        control_rate in 0.01f64..0.3,
        steps in prop::collection::vec(0u64..200, 1..6),
    ) {
        let control_events = (n as f64 * control_rate) as u64;
        let mut events = 0u64;
        let mut last = Decision::Loser;
        for step in steps {
            events = (events + step).min(n);
            let ab = AbTest::builder("mono")
                .control("a", 50.0)
                .variant("b", 50.0)
                .metric(MetricSpec::conversion("buy"))
                .fixed_horizon(n)
                .build(t0())
                .unwrap();
            let r = ab.routing();
            let (a, b) = (VersionIndex::new(0).unwrap(), VersionIndex::new(1).unwrap());
            for _ in 0..n {
                r.expose(a);
                r.expose(b);
            }
            for _ in 0..control_events {
                r.recorder().record_feedback(a.get(), "buy", 1.0).unwrap();
            }
            for _ in 0..events {
                r.recorder().record_feedback(b.get(), "buy", 1.0).unwrap();
            }
            let d = ab.tick(t0()).comparison("b").unwrap().decision;
            prop_assert!(d >= last, "{events} events: {d:?} after {last:?}");
            last = d;
        }
    }

    #[test]
    fn holm_is_monotone_and_within_bonferroni(
        ps in prop::collection::vec(0.0f64..1.0, 1..8),
        bump in 0usize..8,
        by in 0.0f64..0.2,
    ) {
        let raw: Vec<Option<f64>> = ps.iter().map(|p| Some(*p)).collect();
        let holm = Correction::Holm.adjust(&raw);
        let bonf = Correction::Bonferroni.adjust(&raw);
        for ((h, b), p) in holm.iter().zip(&bonf).zip(&ps) {
            let (h, b) = (h.unwrap(), b.unwrap());
            prop_assert!(h <= b + 1e-12 && h >= *p - 1e-12 && h <= 1.0);
        }
        let i = bump % ps.len();
        let mut higher = raw.clone();
        higher[i] = Some((ps[i] + by).min(1.0));
        let holm2 = Correction::Holm.adjust(&higher);
        for (a, b) in holm.iter().zip(&holm2) {
            prop_assert!(b.unwrap() >= a.unwrap() - 1e-12);
        }
    }
}
