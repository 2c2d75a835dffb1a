//! Statistical tests: in a seeded simulation, Thompson sampling and UCB1
//! concentrate on the best arm, through both the per-decision and the
//! per-tick (selector) paths.

use fledge_bandit::{Bandit, BanditConfig, Policy, RewardModel};
use fledge_select::Selector;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const RATES: [f64; 3] = [0.2, 0.35, 0.5];
const STEPS: usize = 20_000;
const TAIL: usize = 5_000;

/// Share of the last `TAIL` requests that went to the best arm, per decision.
fn tail_share(policy: Policy, seed: u64) -> f64 {
    let mut bandit = Bandit::new(["a", "b", "c"], BanditConfig::new(policy)).unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut best = 0;
    for t in 0..STEPS {
        let arm = bandit.choose(&mut rng);
        let reward = if rng.random::<f64>() < RATES[arm] {
            1.0
        } else {
            0.0
        };
        bandit.record_reward(arm, reward).unwrap();
        if t >= STEPS - TAIL && arm == 2 {
            best += 1;
        }
    }
    best as f64 / TAIL as f64
}

#[test]
fn thompson_concentrates_on_the_best_arm() {
    for seed in 0..5 {
        let share = tail_share(Policy::thompson(), seed);
        assert!(share > 0.97, "seed {seed}: best-arm share {share}");
    }
}

#[test]
fn ucb1_concentrates_on_the_best_arm() {
    for seed in 0..5 {
        let share = tail_share(Policy::ucb1(), seed);
        assert!(share > 0.85, "seed {seed}: best-arm share {share}");
    }
}

#[test]
fn epsilon_greedy_explores_as_configured() {
    let share = tail_share(Policy::EpsilonGreedy { epsilon: 0.3 }, 1);
    // 0.7 greedy + 0.1 of the exploration: about 0.8.
    assert!((0.75..0.85).contains(&share), "{share}");
}

#[test]
fn thompson_concentrates_through_the_selector() {
    let mut rng = StdRng::seed_from_u64(42);
    let mut bandit = Bandit::new(["a", "b", "c"], BanditConfig::new(Policy::thompson())).unwrap();
    let selector = Selector::new(bandit.split(&mut rng).unwrap());
    for request in 0..STEPS as u64 {
        let arm = selector.pick_by_bucket(rng.random_range(0..10_000)).get();
        bandit.record_decision(request, arm).unwrap();
        let reward = if rng.random::<f64>() < RATES[arm] {
            1.0
        } else {
            0.0
        };
        bandit.feedback(request, reward).unwrap();
        if request % 500 == 499 {
            bandit.tick();
            bandit.publish(&selector, &mut rng).unwrap();
        }
    }
    let best = selector.split().weight_of("c").unwrap();
    assert!(best.bps() > 9_500, "{best}");
}

#[test]
fn gaussian_thompson_finds_the_highest_mean() {
    let means = [1.0, 1.5, 1.2];
    let config = BanditConfig {
        reward: RewardModel::gaussian(),
        ..BanditConfig::new(Policy::thompson())
    };
    let mut bandit = Bandit::new(["a", "b", "c"], config).unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    let normal = rand_distr::Normal::new(0.0, 1.0).unwrap();
    let mut best = 0;
    for t in 0..5_000 {
        let arm = bandit.choose(&mut rng);
        let reward = means[arm] + rng.sample(normal);
        bandit.record_reward(arm, reward).unwrap();
        if t >= 4_000 && arm == 1 {
            best += 1;
        }
    }
    assert!(best > 900, "{best}");
    let mean = bandit.stats(1).unwrap().mean().unwrap();
    assert!((mean - 1.5).abs() < 0.1, "{mean}");
}
