//! The policies: how a bandit turns reward statistics into a choice and into
//! traffic shares.

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::BanditError;
use crate::reward::{ArmStats, Posterior, RewardModel};

/// How a bandit chooses between arms.
///
/// Every policy offers the same two views, and they agree:
/// [`Bandit::choose`](crate::Bandit::choose) draws one arm, and
/// [`Bandit::probabilities`](crate::Bandit::probabilities) is the chance that
/// `choose` returns each arm (what the per-tick split publishes).
///
/// Serde: `{"kind": "thompson"}`, `{"kind": "epsilon-greedy", "epsilon": 0.1}`,
/// `{"kind": "ucb1"}`, `{"kind": "uniform"}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Policy {
    /// A fixed equal split over the active arms: the A/B/n baseline.
    Uniform,
    /// With probability `epsilon` a uniformly random active arm, otherwise the
    /// arm with the best mean reward so far (arms without rewards first, ties
    /// broken at random). Its share: `epsilon / k` each, plus `1 - epsilon`
    /// for the leader.
    EpsilonGreedy {
        /// Exploration probability in `[0, 1]`.
        epsilon: f64,
    },
    /// UCB1 (Auer, Cesa-Bianchi and Fischer, 2002): the arm maximising
    /// `mean + exploration * sqrt(2 ln N / n)`, where `n` is the arm's
    /// (weighted) number of rewards and `N` the total; arms without rewards
    /// first, ties broken at random. Deterministic given the statistics, so its
    /// split gives all (non-floor) traffic to the leader: with feedback that
    /// arrives late, prefer Thompson sampling or a short tick. The bonus
    /// assumes rewards in `[0, 1]`; scale `exploration` with the reward range
    /// for Gaussian rewards.
    Ucb1 {
        /// Multiplier of the confidence bonus (`>= 0`, default 1: classic UCB1).
        #[serde(default = "one")]
        exploration: f64,
    },
    /// Thompson sampling: draw each active arm's expected reward from its
    /// posterior (see [`RewardModel`]) and take the best. Its split is the
    /// probability that each arm is the best, estimated with `draws` Monte Carlo
    /// draws from the caller's RNG.
    Thompson {
        /// Monte Carlo draws per split estimate (`>= 1`, default 10 000: a
        /// standard error under 0.5 percentage points per arm).
        #[serde(default = "default_draws")]
        draws: u32,
    },
}

fn one() -> f64 {
    1.0
}

fn default_draws() -> u32 {
    Policy::DEFAULT_DRAWS
}

impl Default for Policy {
    /// Thompson sampling with the default number of draws.
    fn default() -> Self {
        Self::thompson()
    }
}

impl Policy {
    /// Default Monte Carlo draws for Thompson sampling's split.
    pub const DEFAULT_DRAWS: u32 = 10_000;

    /// The fixed equal split.
    pub fn uniform() -> Self {
        Self::Uniform
    }

    /// Epsilon-greedy; fails unless `epsilon` is in `[0, 1]`.
    pub fn epsilon_greedy(epsilon: f64) -> Result<Self, BanditError> {
        let policy = Self::EpsilonGreedy { epsilon };
        policy.validate()?;
        Ok(policy)
    }

    /// Classic UCB1 (exploration coefficient 1).
    pub fn ucb1() -> Self {
        Self::Ucb1 { exploration: 1.0 }
    }

    /// Thompson sampling with [`Policy::DEFAULT_DRAWS`] draws per split.
    pub fn thompson() -> Self {
        Self::Thompson {
            draws: Self::DEFAULT_DRAWS,
        }
    }

    /// The policy's name as serde spells it: `uniform`, `epsilon-greedy`,
    /// `ucb1`, `thompson`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Uniform => "uniform",
            Self::EpsilonGreedy { .. } => "epsilon-greedy",
            Self::Ucb1 { .. } => "ucb1",
            Self::Thompson { .. } => "thompson",
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), BanditError> {
        match *self {
            Self::Uniform => Ok(()),
            Self::EpsilonGreedy { epsilon } => {
                if (0.0..=1.0).contains(&epsilon) {
                    Ok(())
                } else {
                    Err(BanditError::InvalidEpsilon(epsilon))
                }
            }
            Self::Ucb1 { exploration } => {
                if exploration.is_finite() && exploration >= 0.0 {
                    Ok(())
                } else {
                    Err(BanditError::InvalidExploration(exploration))
                }
            }
            Self::Thompson { draws } => {
                if draws >= 1 {
                    Ok(())
                } else {
                    Err(BanditError::InvalidDraws)
                }
            }
        }
    }

    /// One choice among the active arms (there is at least one).
    pub(crate) fn choose<R: Rng + ?Sized>(
        &self,
        model: &RewardModel,
        arms: Arms<'_>,
        rng: &mut R,
    ) -> usize {
        match *self {
            Self::Uniform => random_active(arms, rng),
            Self::EpsilonGreedy { epsilon } => {
                if rng.random::<f64>() < epsilon {
                    random_active(arms, rng)
                } else {
                    best_by(arms, rng, |s| s.mean())
                }
            }
            Self::Ucb1 { exploration } => {
                let total = total_count(arms);
                best_by(arms, rng, |s| ucb_index(s, total, exploration))
            }
            Self::Thompson { .. } => {
                let mut best = None::<(usize, f64)>;
                for (i, stats) in arms.active() {
                    let draw = model.posterior(stats).draw(rng);
                    if best.is_none_or(|(_, b)| draw > b) {
                        best = Some((i, draw));
                    }
                }
                best.map_or(0, |(i, _)| i)
            }
        }
    }

    /// The chance that [`Policy::choose`] returns each arm (0 for retired
    /// arms); sums to 1.
    pub(crate) fn probabilities<R: Rng + ?Sized>(
        &self,
        model: &RewardModel,
        arms: Arms<'_>,
        rng: &mut R,
    ) -> Vec<f64> {
        let active = arms.active_count().max(1) as f64;
        let uniform: Vec<f64> = arms
            .active
            .iter()
            .map(|&a| if a { 1.0 / active } else { 0.0 })
            .collect();
        match *self {
            Self::Uniform => uniform,
            Self::EpsilonGreedy { epsilon } => {
                let leaders = leaders_by(arms, |s| s.mean());
                let share = (1.0 - epsilon) / leaders.len().max(1) as f64;
                let mut p: Vec<f64> = uniform.iter().map(|u| u * epsilon).collect();
                for i in leaders {
                    p[i] += share;
                }
                p
            }
            Self::Ucb1 { exploration } => {
                let total = total_count(arms);
                let leaders = leaders_by(arms, |s| ucb_index(s, total, exploration));
                let share = 1.0 / leaders.len().max(1) as f64;
                let mut p = vec![0.0; arms.stats.len()];
                for i in leaders {
                    p[i] = share;
                }
                p
            }
            Self::Thompson { draws } => {
                let posteriors: Vec<Option<Posterior>> = arms
                    .stats
                    .iter()
                    .zip(arms.active)
                    .map(|(stats, &active)| active.then(|| model.posterior(stats)))
                    .collect();
                let mut wins = vec![0u32; arms.stats.len()];
                for _ in 0..draws.max(1) {
                    let mut best = None::<(usize, f64)>;
                    for (i, post) in posteriors.iter().enumerate() {
                        if let Some(post) = post {
                            let draw = post.draw(rng);
                            if best.is_none_or(|(_, b)| draw > b) {
                                best = Some((i, draw));
                            }
                        }
                    }
                    if let Some((i, _)) = best {
                        wins[i] += 1;
                    }
                }
                let total = f64::from(draws.max(1));
                wins.iter().map(|&w| f64::from(w) / total).collect()
            }
        }
    }
}

/// What a policy sees of the arms: their statistics and which are active
/// (not retired). Both slices have one entry per arm; at least one is active.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arms<'a> {
    pub(crate) stats: &'a [ArmStats],
    pub(crate) active: &'a [bool],
}

impl<'a> Arms<'a> {
    /// The active arms with their indices.
    fn active(self) -> impl Iterator<Item = (usize, &'a ArmStats)> {
        self.stats
            .iter()
            .zip(self.active)
            .enumerate()
            .filter_map(|(i, (stats, &active))| active.then_some((i, stats)))
    }

    fn active_count(self) -> usize {
        self.active.iter().filter(|a| **a).count()
    }
}

fn total_count(arms: Arms<'_>) -> f64 {
    arms.active().map(|(_, s)| s.count).sum()
}

/// The UCB1 index; `None` (explore first) for arms without rewards.
fn ucb_index(stats: &ArmStats, total: f64, exploration: f64) -> Option<f64> {
    let mean = stats.mean()?;
    let bonus = (2.0 * total.max(1.0).ln() / stats.count).sqrt();
    Some(mean + exploration * bonus)
}

/// Orders an arm's score: arms with no score (no rewards yet) come first.
fn score_key(score: Option<f64>) -> f64 {
    match score {
        None => f64::INFINITY,
        Some(s) if s.is_nan() => f64::NEG_INFINITY,
        Some(s) => s,
    }
}

/// The active arms with the highest score.
fn leaders_by(arms: Arms<'_>, score: impl Fn(&ArmStats) -> Option<f64>) -> Vec<usize> {
    let mut best = f64::NEG_INFINITY;
    let mut leaders = Vec::new();
    for (i, stats) in arms.active() {
        let key = score_key(score(stats));
        if leaders.is_empty() || key > best {
            best = key;
            leaders.clear();
            leaders.push(i);
        } else if key == best {
            leaders.push(i);
        }
    }
    leaders
}

/// The active arm with the highest score, ties broken uniformly at random,
/// without allocating.
fn best_by<R: Rng + ?Sized>(
    arms: Arms<'_>,
    rng: &mut R,
    score: impl Fn(&ArmStats) -> Option<f64>,
) -> usize {
    let mut best = f64::NEG_INFINITY;
    let mut chosen = None;
    let mut ties = 0u32;
    for (i, stats) in arms.active() {
        let key = score_key(score(stats));
        if chosen.is_none() || key > best {
            best = key;
            chosen = Some(i);
            ties = 1;
        } else if key == best {
            // Reservoir sampling over the tied arms.
            ties += 1;
            if rng.random_range(0..ties) == 0 {
                chosen = Some(i);
            }
        }
    }
    chosen.unwrap_or(0)
}

/// A uniformly random active arm.
pub(crate) fn random_active<R: Rng + ?Sized>(arms: Arms<'_>, rng: &mut R) -> usize {
    let active = arms.active_count();
    if active == 0 {
        return 0;
    }
    let pick = rng.random_range(0..active);
    arms.active().nth(pick).map_or(0, |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn stats(rewards: &[(u32, u32)]) -> Vec<ArmStats> {
        rewards
            .iter()
            .map(|&(ones, zeros)| {
                let mut s = ArmStats::default();
                for _ in 0..ones {
                    s.add(1.0);
                }
                for _ in 0..zeros {
                    s.add(0.0);
                }
                s
            })
            .collect()
    }

    fn views<'a>(stats: &'a [ArmStats], active: &'a [bool]) -> Arms<'a> {
        Arms { stats, active }
    }

    #[test]
    fn validates() {
        assert!(Policy::epsilon_greedy(0.1).is_ok());
        assert_eq!(
            Policy::epsilon_greedy(1.5),
            Err(BanditError::InvalidEpsilon(1.5))
        );
        assert!(Policy::epsilon_greedy(f64::NAN).is_err());
        assert!(Policy::Ucb1 { exploration: -1.0 }.validate().is_err());
        assert_eq!(
            Policy::Thompson { draws: 0 }.validate(),
            Err(BanditError::InvalidDraws)
        );
    }

    #[test]
    fn untried_arms_first() {
        let s = stats(&[(5, 5), (0, 0), (9, 1)]);
        let v = views(&s, &[true, true, true]);
        let mut rng = StdRng::seed_from_u64(3);
        let m = RewardModel::bernoulli();
        assert_eq!(Policy::ucb1().choose(&m, v, &mut rng), 1);
        assert_eq!(
            Policy::EpsilonGreedy { epsilon: 0.0 }.choose(&m, v, &mut rng),
            1
        );
    }

    #[test]
    fn greedy_and_ucb_pick_the_leader() {
        let s = stats(&[(50, 50), (90, 10), (10, 90)]);
        let v = views(&s, &[true, true, true]);
        let mut rng = StdRng::seed_from_u64(3);
        let m = RewardModel::bernoulli();
        assert_eq!(Policy::ucb1().choose(&m, v, &mut rng), 1);
        let p = Policy::EpsilonGreedy { epsilon: 0.3 }.probabilities(&m, v, &mut rng);
        assert!((p[1] - 0.8).abs() < 1e-12 && (p[0] - 0.1).abs() < 1e-12);
        // Retired leader: the next best leads.
        let v = views(&s, &[true, false, true]);
        assert_eq!(Policy::ucb1().choose(&m, v, &mut rng), 0);
        let p = Policy::thompson().probabilities(&m, v, &mut rng);
        assert_eq!(p[1], 0.0);
        assert!(p[0] > 0.99);
    }

    #[test]
    fn ties_are_broken_at_random() {
        let s = stats(&[(5, 5), (5, 5)]);
        let v = views(&s, &[true, true]);
        let mut rng = StdRng::seed_from_u64(11);
        let m = RewardModel::bernoulli();
        let ones = (0..1_000)
            .filter(|_| Policy::ucb1().choose(&m, v, &mut rng) == 1)
            .count();
        assert!((400..600).contains(&ones), "{ones}");
        let p = Policy::ucb1().probabilities(&m, v, &mut rng);
        assert_eq!(p, vec![0.5, 0.5]);
    }

    #[test]
    fn choose_matches_probabilities() {
        let s = stats(&[(30, 70), (35, 65), (10, 90)]);
        let v = views(&s, &[true, true, true]);
        let m = RewardModel::bernoulli();
        let mut rng = StdRng::seed_from_u64(5);
        for policy in [
            Policy::uniform(),
            Policy::EpsilonGreedy { epsilon: 0.2 },
            Policy::thompson(),
        ] {
            let p = policy.probabilities(&m, v, &mut rng);
            let mut counts = [0u32; 3];
            for _ in 0..20_000 {
                counts[policy.choose(&m, v, &mut rng)] += 1;
            }
            for (c, p) in counts.iter().zip(&p) {
                let observed = f64::from(*c) / 20_000.0;
                assert!((observed - p).abs() < 0.02, "{policy:?}: {observed} vs {p}");
            }
        }
    }

    #[test]
    fn serde_names() {
        let p: Policy = serde_json::from_str(r#"{"kind":"epsilon-greedy","epsilon":0.1}"#).unwrap();
        assert_eq!(p, Policy::EpsilonGreedy { epsilon: 0.1 });
        let p: Policy = serde_json::from_str(r#"{"kind":"thompson"}"#).unwrap();
        assert_eq!(p, Policy::thompson());
        let p: Policy = serde_json::from_str(r#"{"kind":"ucb1"}"#).unwrap();
        assert_eq!(p.name(), "ucb1");
        assert_eq!(
            serde_json::to_string(&Policy::Uniform).unwrap(),
            r#"{"kind":"uniform"}"#
        );
    }
}
