//! Property tests: published weights, order independence, exact restore.

use fledge_bandit::{Bandit, BanditConfig, Discount, Policy, RewardModel};
use fledge_select::{Selector, Weight};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn policy() -> impl Strategy<Value = Policy> {
    prop_oneof![
        Just(Policy::Uniform),
        (0.0..=1.0f64).prop_map(|epsilon| Policy::EpsilonGreedy { epsilon }),
        (0.0..3.0f64).prop_map(|exploration| Policy::Ucb1 { exploration }),
        (1u32..300).prop_map(|draws| Policy::Thompson { draws }),
    ]
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("arm-{i}")).collect()
}

/// A bandit with `arms` arms, random rewards, some arms retired.
fn bandit_case() -> impl Strategy<Value = (Bandit, u64)> {
    (1usize..=8)
        .prop_flat_map(|arms| {
            (
                Just(arms),
                policy(),
                0u32..=(10_000 / arms as u32),
                prop::collection::vec((0..arms, prop::bool::ANY), 0..200),
                prop::collection::vec(prop::bool::ANY, arms),
                any::<u64>(),
            )
        })
        .prop_map(|(arms, policy, min, rewards, retired, seed)| {
            let config = BanditConfig {
                min_share: Weight::from_bps(min).unwrap(),
                ..BanditConfig::new(policy)
            };
            let mut bandit = Bandit::new(names(arms), config).unwrap();
            for (arm, win) in rewards {
                bandit
                    .record_reward(arm, if win { 1.0 } else { 0.0 })
                    .unwrap();
            }
            for (arm, retire) in retired.into_iter().enumerate() {
                if retire {
                    // Refused for the last active arm: that is the point.
                    let _ = bandit.retire(arm);
                }
            }
            (bandit, seed)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn weights_sum_to_10000_and_respect_the_floor((bandit, seed) in bandit_case()) {
        let mut rng = StdRng::seed_from_u64(seed);
        let weights = bandit.weights(&mut rng);
        prop_assert_eq!(weights.len(), bandit.len());
        prop_assert_eq!(weights.iter().map(|w| w.bps()).sum::<u32>(), 10_000);
        let min = bandit.config().min_share.bps();
        for (arm, w) in weights.iter().enumerate() {
            if bandit.is_retired(arm).unwrap() {
                prop_assert_eq!(w.bps(), 0);
            } else {
                prop_assert!(w.bps() >= min, "arm {} got {} < {}", arm, w.bps(), min);
            }
        }
        // The same split goes through the selector unchanged.
        let selector = Selector::new(bandit.split(&mut StdRng::seed_from_u64(seed)).unwrap());
        let published: Vec<u32> = selector.split().versions().iter().map(|v| v.weight().bps()).collect();
        prop_assert_eq!(published, weights.iter().map(|w| w.bps()).collect::<Vec<_>>());
        // Probabilities are a distribution over the active arms.
        let p = bandit.probabilities(&mut rng);
        prop_assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn choose_never_picks_a_retired_arm((bandit, seed) in bandit_case()) {
        let mut rng = StdRng::seed_from_u64(seed);
        for _ in 0..50 {
            let arm = bandit.choose(&mut rng);
            prop_assert!(!bandit.is_retired(arm).unwrap());
        }
    }

    #[test]
    fn beta_bernoulli_posterior_is_order_independent(
        rewards in prop::collection::vec((0usize..3, prop::bool::ANY), 0..300),
        shuffle_seed in any::<u64>(),
        seed in any::<u64>(),
    ) {
        let mut shuffled = rewards.clone();
        // A seeded Fisher-Yates shuffle (proptest shrinks the seed).
        let mut state = shuffle_seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let feed = |rewards: &[(usize, bool)]| {
            let policy = Policy::Thompson { draws: 500 };
            let mut b = Bandit::new(["a", "b", "c"], BanditConfig::new(policy)).unwrap();
            for &(arm, win) in rewards {
                b.record_reward(arm, if win { 1.0 } else { 0.0 }).unwrap();
            }
            b
        };
        let (a, b) = (feed(&rewards), feed(&shuffled));
        // The Beta posterior is Beta(1 + sum, 1 + count - sum): both exact.
        for arm in 0..3 {
            let (sa, sb) = (a.stats(arm).unwrap(), b.stats(arm).unwrap());
            prop_assert_eq!((sa.count, sa.sum), (sb.count, sb.sum));
        }
        let (mut ra, mut rb) = (StdRng::seed_from_u64(seed), StdRng::seed_from_u64(seed));
        for _ in 0..20 {
            prop_assert_eq!(a.choose(&mut ra), b.choose(&mut rb));
        }
        prop_assert_eq!(a.weights(&mut ra), b.weights(&mut rb));
    }

    #[test]
    fn restore_from_state_is_identical(
        (bandit, seed) in bandit_case(),
        gaussian in prop::bool::ANY,
        ops in prop::collection::vec((any::<u64>(), 0.0..1.0f64), 1..100),
    ) {
        // Rebuild with a journal, a discount and (maybe) Gaussian rewards.
        let mut config = bandit.config().clone();
        config.journal_capacity = 16;
        config.discount = Discount::PerTick { gamma: 0.97 };
        if gaussian {
            config.reward = RewardModel::gaussian();
        }
        let ids: Vec<String> = bandit.ids().iter().map(|i| i.to_string()).collect();
        let mut a = Bandit::new(&ids, config).unwrap();
        let mut rng = StdRng::seed_from_u64(seed);
        for (i, &(id, reward)) in ops.iter().enumerate() {
            if a.decide(id, &mut rng).is_ok() && i % 2 == 0 {
                a.feedback(id, reward).unwrap();
            }
            if i % 10 == 0 {
                a.tick();
            }
        }
        let json = serde_json::to_string(&a.state()).unwrap();
        let mut b = Bandit::from_state(serde_json::from_str(&json).unwrap()).unwrap();
        prop_assert_eq!(a.state(), b.state());
        let (mut ra, mut rb) = (StdRng::seed_from_u64(seed ^ 1), StdRng::seed_from_u64(seed ^ 1));
        for (id, reward) in ops {
            let id = id.wrapping_add(1);
            prop_assert_eq!(a.decide(id, &mut ra), b.decide(id, &mut rb));
            prop_assert_eq!(a.feedback(id, reward), b.feedback(id, reward));
        }
        prop_assert_eq!(a.weights(&mut ra), b.weights(&mut rb));
        prop_assert_eq!(a.state(), b.state());
    }
}
