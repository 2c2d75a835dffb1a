//! [`Bandit`]: arms, their reward statistics, a policy, and the two ways to
//! act on them (per decision and per tick).

use fledge_select::{MAX_VERSIONS, Selector, Split, VersionId, VersionWeight, Weight};
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::journal::{DecisionJournal, JournalState};
use crate::policy::{Arms, random_active};
use crate::reward::ArmStats;
use crate::weights::{TOTAL_BPS, allocate};
use crate::{BanditError, Policy, RewardModel};

/// How past rewards lose weight, for rewards that drift over time.
///
/// Discounting multiplies every arm's statistics (weighted count, sum and
/// squared deviations) by `gamma`, so an observation `t` steps old weighs
/// `gamma^t`: the posterior forgets at a half-life of `ln 2 / (1 - gamma)`
/// steps and drifts back toward the prior for arms that get no new rewards.
///
/// Serde: `{"kind": "none"}`, `{"kind": "per-observation", "gamma": 0.999}`,
/// `{"kind": "per-tick", "gamma": 0.9}`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Discount {
    /// Keep all history (stationary rewards).
    #[default]
    None,
    /// Before each recorded reward, discount every arm by `gamma`
    /// (discounted Thompson sampling / discounted UCB).
    PerObservation {
        /// Factor in `(0, 1]`.
        gamma: f64,
    },
    /// On each [`Bandit::tick`], discount every arm by `gamma`.
    PerTick {
        /// Factor in `(0, 1]`.
        gamma: f64,
    },
}

impl Discount {
    /// Checks `gamma`.
    pub fn validate(&self) -> Result<(), BanditError> {
        match *self {
            Self::None => Ok(()),
            Self::PerObservation { gamma } | Self::PerTick { gamma } => {
                if gamma > 0.0 && gamma <= 1.0 {
                    Ok(())
                } else {
                    Err(BanditError::InvalidDiscount(gamma))
                }
            }
        }
    }
}

/// Everything about a bandit that is configuration rather than learned state.
///
/// Plain data (serde, unknown fields rejected, every field optional):
///
/// ```
/// use fledge_bandit::{BanditConfig, Policy};
///
/// let config: BanditConfig = serde_json::from_str(r#"{
///     "policy": {"kind": "thompson", "draws": 5000},
///     "reward": {"kind": "bernoulli"},
///     "discount": {"kind": "per-tick", "gamma": 0.99},
///     "min_share": 100,
///     "journal_capacity": 50000,
///     "missing_feedback_reward": 0.0
/// }"#)?;
/// assert_eq!(config.policy, Policy::Thompson { draws: 5000 });
/// assert_eq!(config.min_share.bps(), 100);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BanditConfig {
    /// How arms are chosen (default: Thompson sampling).
    pub policy: Policy,
    /// What a reward is (default: Bernoulli conversions).
    pub reward: RewardModel,
    /// How past rewards are forgotten (default: never).
    pub discount: Discount,
    /// Traffic every active arm gets at least, in basis points (serde: a
    /// number), in both the per-decision and the per-tick path: a policy's
    /// share `p` becomes `min_share + (1 - k * min_share) * p` over `k`
    /// active arms. Default 0; `min_share * arms` must not exceed 100 %.
    pub min_share: Weight,
    /// Pending decisions the journal holds before evicting the oldest
    /// (default 100 000).
    pub journal_capacity: usize,
    /// The reward recorded for a decision evicted from the journal without
    /// feedback, or `None` (default) to drop it. Use `Some(0.0)` for
    /// conversions where only successes are reported: a request that did
    /// not convert within the journal's horizon counts as a failure.
    pub missing_feedback_reward: Option<f64>,
}

impl Default for BanditConfig {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            reward: RewardModel::default(),
            discount: Discount::None,
            min_share: Weight::ZERO,
            journal_capacity: 100_000,
            missing_feedback_reward: None,
        }
    }
}

impl BanditConfig {
    /// The default configuration with `policy`.
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            ..Self::default()
        }
    }

    /// Checks every field for a bandit of `arms` arms.
    pub fn validate(&self, arms: usize) -> Result<(), BanditError> {
        self.policy.validate()?;
        self.reward.validate()?;
        self.discount.validate()?;
        let min = self.min_share.bps();
        let total = u64::from(min).saturating_mul(arms as u64);
        if total > u64::from(TOTAL_BPS) {
            return Err(BanditError::MinShareTooLarge {
                min_share_bps: min,
                arms,
                total,
                // More arms than a u32 holds leave none.
                max_bps: u32::try_from(arms).map_or(0, |a| u32::from(TOTAL_BPS) / a.max(1)),
            });
        }
        if self.journal_capacity == 0 {
            return Err(BanditError::InvalidJournalCapacity);
        }
        if let Some(value) = self.missing_feedback_reward {
            self.reward
                .check_reward(0, value)
                .map_err(|_| BanditError::InvalidMissingFeedbackReward(value))?;
        }
        Ok(())
    }
}

/// A multi-armed bandit: named arms, their reward statistics, a [`Policy`]
/// and a bounded [`DecisionJournal`].
///
/// * Per decision: [`choose`](Bandit::choose) an arm (or
///   [`decide`](Bandit::decide), which also journals it under a request id).
/// * Per tick: [`tick`](Bandit::tick), then [`publish`](Bandit::publish) the
///   traffic split to a [`Selector`] (or read [`weights`](Bandit::weights)).
/// * Rewards: [`record_reward`](Bandit::record_reward) for an arm, or
///   [`feedback`](Bandit::feedback) for a journaled request.
///
/// Randomness always comes from the caller's RNG, so a seeded RNG replays
/// exactly. The bandit is plain data: [`state`](Bandit::state) /
/// [`from_state`](Bandit::from_state), or serde directly.
#[derive(Debug, Clone)]
pub struct Bandit {
    config: BanditConfig,
    // `ids`, `stats` and `active` have one entry per arm (built together by
    // `new` and `from_state`), so an index that passed `check_arm` is in
    // range for all three.
    ids: Vec<VersionId>,
    stats: Vec<ArmStats>,
    active: Vec<bool>,
    journal: DecisionJournal,
    ticks: u64,
}

impl Bandit {
    /// A bandit over `arms` (1 to 64 unique [`VersionId`] names, in the
    /// order of the selector's split) with no rewards yet.
    ///
    /// ```
    /// use fledge_bandit::{Bandit, BanditConfig, BanditError, Policy};
    ///
    /// let bandit = Bandit::new(["a", "b"], BanditConfig::new(Policy::ucb1()))?;
    /// assert_eq!(bandit.len(), 2);
    /// assert!(matches!(
    ///     Bandit::new(["a", "a"], BanditConfig::default()),
    ///     Err(BanditError::DuplicateArm { .. })
    /// ));
    /// # Ok::<(), BanditError>(())
    /// ```
    pub fn new<I, S>(arms: I, config: BanditConfig) -> Result<Self, BanditError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let ids = arms
            .into_iter()
            .map(|name| VersionId::new(name.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        check_ids(&ids)?;
        config.validate(ids.len())?;
        let n = ids.len();
        Ok(Self {
            journal: DecisionJournal::new(config.journal_capacity)?,
            config,
            ids,
            stats: vec![ArmStats::default(); n],
            active: vec![true; n],
            ticks: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &BanditConfig {
        &self.config
    }

    /// The policy.
    pub fn policy(&self) -> Policy {
        self.config.policy
    }

    /// Number of arms, retired ones included (never 0).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Arm names, in index order.
    pub fn ids(&self) -> &[VersionId] {
        &self.ids
    }

    /// The index of the arm named `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.ids.iter().position(|id| id == name)
    }

    /// The reward statistics of `arm`.
    pub fn stats(&self, arm: usize) -> Result<&ArmStats, BanditError> {
        self.check_arm(arm)?;
        Ok(&self.stats[arm])
    }

    /// Whether `arm` is retired.
    pub fn is_retired(&self, arm: usize) -> Result<bool, BanditError> {
        self.check_arm(arm)?;
        Ok(!self.active[arm])
    }

    /// Indices of the arms that are not retired (at least one).
    pub fn active_arms(&self) -> impl Iterator<Item = usize> + '_ {
        self.active
            .iter()
            .enumerate()
            .filter_map(|(i, &a)| a.then_some(i))
    }

    /// Ticks so far.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    /// The decision journal.
    pub fn journal(&self) -> &DecisionJournal {
        &self.journal
    }

    fn arms(&self) -> Arms<'_> {
        Arms {
            stats: &self.stats,
            active: &self.active,
        }
    }

    fn active_count(&self) -> usize {
        self.active.iter().filter(|a| **a).count()
    }

    fn check_arm(&self, arm: usize) -> Result<(), BanditError> {
        if arm < self.ids.len() {
            Ok(())
        } else {
            Err(BanditError::UnknownArm {
                arm,
                arms: self.ids.len(),
            })
        }
    }

    /// Chooses an arm for one request: the per-decision path. Never a
    /// retired arm. With a minimum share, a uniformly random active arm with
    /// probability `k * min_share`, else the policy's choice, so the
    /// frequencies match [`probabilities`](Bandit::probabilities).
    /// No allocation.
    pub fn choose<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        let floor = self.floor_fraction();
        if floor > 0.0 && rng.random::<f64>() < floor {
            return random_active(self.arms(), rng);
        }
        self.config
            .policy
            .choose(&self.config.reward, self.arms(), rng)
    }

    /// Chooses an arm for `request_id` and journals the decision so
    /// [`feedback`](Bandit::feedback) can find it. Fails, recording nothing,
    /// if `request_id` is already pending.
    pub fn decide<R: Rng + ?Sized>(
        &mut self,
        request_id: u64,
        rng: &mut R,
    ) -> Result<usize, BanditError> {
        if self.journal.get(request_id).is_some() {
            return Err(BanditError::DuplicateRequest { request_id });
        }
        let arm = self.choose(rng);
        self.record_decision(request_id, arm)?;
        Ok(arm)
    }

    /// Journals that `arm` served `request_id` (an arm picked elsewhere, e.g.
    /// by the [`Selector`] on the tick path). If this evicts an older pending
    /// decision and a [`missing_feedback_reward`](BanditConfig::missing_feedback_reward)
    /// is set, that reward is recorded for the evicted decision's arm.
    pub fn record_decision(&mut self, request_id: u64, arm: usize) -> Result<(), BanditError> {
        self.check_arm(arm)?;
        if let Some(evicted) = self.journal.record(request_id, arm)?
            && let Some(value) = self.config.missing_feedback_reward
        {
            self.record_reward(evicted.arm, value)?;
        }
        Ok(())
    }

    /// Records a reward for `arm`: `0`/`1` (or a fraction) for Bernoulli
    /// rewards, any finite number for Gaussian ones. Rewards for retired arms
    /// count too (they matter if the arm is un-retired).
    pub fn record_reward(&mut self, arm: usize, value: f64) -> Result<(), BanditError> {
        self.check_arm(arm)?;
        self.config.reward.check_reward(arm, value)?;
        if let Discount::PerObservation { gamma } = self.config.discount {
            self.discount_all(gamma);
        }
        self.stats[arm].add(value);
        Ok(())
    }

    /// Records the reward for a journaled request and returns the arm that
    /// served it. The decision leaves the journal, so a request is credited
    /// once. An invalid reward fails without consuming the decision.
    pub fn feedback(&mut self, request_id: u64, reward: f64) -> Result<usize, BanditError> {
        let Some(arm) = self.journal.get(request_id) else {
            return Err(BanditError::UnknownRequest {
                request_id,
                capacity: self.journal.capacity(),
                evicted: self.journal.evicted(),
            });
        };
        self.check_arm(arm)?;
        self.config.reward.check_reward(arm, reward)?;
        self.journal.take(request_id);
        self.record_reward(arm, reward)?;
        Ok(arm)
    }

    /// The control-path step: applies [`Discount::PerTick`] (if configured)
    /// and counts the tick. Call it once per evaluation tick, before
    /// [`publish`](Bandit::publish).
    pub fn tick(&mut self) {
        if let Discount::PerTick { gamma } = self.config.discount {
            self.discount_all(gamma);
        }
        self.ticks = self.ticks.saturating_add(1);
    }

    fn discount_all(&mut self, gamma: f64) {
        for s in &mut self.stats {
            s.discount(gamma);
        }
    }

    /// Share of traffic the minimum-share floor takes in total.
    fn floor_fraction(&self) -> f64 {
        let k = self.active_count() as f64;
        (f64::from(self.config.min_share.bps()) * k / f64::from(TOTAL_BPS)).min(1.0)
    }

    /// The chance that [`choose`](Bandit::choose) returns each arm, minimum
    /// share included, as fractions summing to 1 (0 for retired arms).
    /// Thompson sampling estimates it with Monte Carlo draws from `rng`.
    pub fn probabilities<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<f64> {
        let p = self
            .config
            .policy
            .probabilities(&self.config.reward, self.arms(), rng);
        let k = self.active_count().max(1) as f64;
        let floor = self.floor_fraction();
        p.iter()
            .zip(&self.active)
            .map(|(&p, &a)| {
                if a {
                    floor / k + (1.0 - floor) * p
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// The traffic split as weights in arm order: the policy's shares
    /// rounded to basis points that sum to exactly 10 000, every active arm
    /// at least [`min_share`](BanditConfig::min_share), retired arms 0.
    ///
    /// ```
    /// use fledge_bandit::{Bandit, BanditConfig, Policy};
    /// use fledge_select::Weight;
    /// use rand::{SeedableRng, rngs::StdRng};
    ///
    /// let config = BanditConfig {
    ///     min_share: Weight::from_bps(500)?,
    ///     ..BanditConfig::new(Policy::thompson())
    /// };
    /// let mut bandit = Bandit::new(["a", "b", "c"], config)?;
    /// for _ in 0..200 {
    ///     bandit.record_reward(0, 0.0)?;
    ///     bandit.record_reward(1, 1.0)?;
    ///     bandit.record_reward(2, 0.0)?;
    /// }
    /// let weights = bandit.weights(&mut StdRng::seed_from_u64(1));
    /// let bps: Vec<u32> = weights.iter().map(|w| w.bps()).collect();
    /// assert_eq!(bps, vec![500, 9000, 500]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn weights<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<Weight> {
        let p = self
            .config
            .policy
            .probabilities(&self.config.reward, self.arms(), rng);
        let min = u16::try_from(self.config.min_share.bps()).unwrap_or(TOTAL_BPS);
        allocate(&p, &self.active, min)
            .into_iter()
            .map(|bps| Weight::from_bps(u32::from(bps)).unwrap_or(Weight::ZERO))
            .collect()
    }

    /// The traffic split over the arms, in arm order, with
    /// [`weights`](Bandit::weights). Build the [`Selector`] from the first
    /// one.
    pub fn split<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<Split, BanditError> {
        let weights = self.weights(rng);
        Ok(Split::new(
            self.ids
                .iter()
                .zip(weights)
                .map(|(id, w)| VersionWeight::new(id.clone(), w)),
        )?)
    }

    /// Computes the [`split`](Bandit::split) and publishes it to `selector`
    /// (one atomic swap); returns the selector's new version. The selector
    /// must have been built with this bandit's arms, in the same order.
    pub fn publish<R: Rng + ?Sized>(
        &self,
        selector: &Selector,
        rng: &mut R,
    ) -> Result<u64, BanditError> {
        Ok(selector.publish(self.split(rng)?)?)
    }

    /// Retires `arm`: weight 0 and never chosen, until
    /// [`unretire`](Bandit::unretire). Its statistics are kept, and feedback
    /// for its past decisions still counts. Retiring a retired arm does
    /// nothing; retiring the last active arm fails.
    pub fn retire(&mut self, arm: usize) -> Result<(), BanditError> {
        self.check_arm(arm)?;
        if self.active[arm] && self.active_count() == 1 {
            return Err(BanditError::LastActiveArm {
                arm,
                name: self.ids[arm].to_string(),
            });
        }
        self.active[arm] = false;
        Ok(())
    }

    /// Brings `arm` back with the statistics it had.
    pub fn unretire(&mut self, arm: usize) -> Result<(), BanditError> {
        self.check_arm(arm)?;
        self.active[arm] = true;
        Ok(())
    }

    /// The whole bandit as plain data.
    pub fn state(&self) -> BanditState {
        BanditState {
            config: self.config.clone(),
            arms: self
                .ids
                .iter()
                .zip(&self.stats)
                .zip(&self.active)
                .map(|((id, stats), &active)| ArmState {
                    id: id.clone(),
                    retired: !active,
                    stats: *stats,
                })
                .collect(),
            journal: self.journal.state(),
            ticks: self.ticks,
        }
    }

    /// Restores a bandit from [`state`](Bandit::state), checking everything.
    /// With the same RNG the restored bandit makes exactly the same decisions
    /// and publishes exactly the same splits.
    ///
    /// JSON note: `serde_json` needs its `float_roundtrip` feature to read
    /// every `f64` back bit for bit; without it a restored posterior may
    /// differ in the last bit.
    pub fn from_state(state: BanditState) -> Result<Self, BanditError> {
        let ids: Vec<VersionId> = state.arms.iter().map(|a| a.id.clone()).collect();
        check_ids(&ids)?;
        state.config.validate(ids.len())?;
        for arm in &state.arms {
            arm.stats.validate(&state.config.reward).map_err(|e| {
                BanditError::InvalidState(format!("arm {:?}: {e}", arm.id.as_str()))
            })?;
        }
        if state.arms.iter().all(|a| a.retired) {
            return Err(BanditError::InvalidState(
                "every arm is retired; at least one must be active".into(),
            ));
        }
        if state.journal.capacity != state.config.journal_capacity {
            return Err(BanditError::InvalidState(format!(
                "journal capacity {} differs from the configured {}",
                state.journal.capacity, state.config.journal_capacity
            )));
        }
        if let Some(p) = state.journal.pending.iter().find(|p| p.arm >= ids.len()) {
            return Err(BanditError::InvalidState(format!(
                "pending request {} refers to arm {}, but there are {} arms",
                p.request_id,
                p.arm,
                ids.len()
            )));
        }
        Ok(Self {
            journal: DecisionJournal::from_state(state.journal)?,
            stats: state.arms.iter().map(|a| a.stats).collect(),
            active: state.arms.iter().map(|a| !a.retired).collect(),
            ids,
            config: state.config,
            ticks: state.ticks,
        })
    }
}

fn check_ids(ids: &[VersionId]) -> Result<(), BanditError> {
    if ids.is_empty() {
        return Err(BanditError::NoArms);
    }
    if ids.len() > MAX_VERSIONS {
        return Err(BanditError::TooManyArms {
            count: ids.len(),
            max: MAX_VERSIONS,
        });
    }
    for (i, id) in ids.iter().enumerate() {
        if ids[..i].contains(id) {
            return Err(BanditError::DuplicateArm {
                name: id.to_string(),
            });
        }
    }
    Ok(())
}

impl Serialize for Bandit {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.state().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Bandit {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let state = BanditState::deserialize(deserializer)?;
        Bandit::from_state(state).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<BanditState> for Bandit {
    type Error = BanditError;

    fn try_from(state: BanditState) -> Result<Self, Self::Error> {
        Bandit::from_state(state)
    }
}

/// A [`Bandit`] as plain data: configuration, per-arm statistics, the
/// pending decisions. Serialize it to persist a bandit, and restore it with
/// [`Bandit::from_state`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BanditState {
    /// The configuration.
    pub config: BanditConfig,
    /// The arms, in index order.
    pub arms: Vec<ArmState>,
    /// The decision journal.
    pub journal: JournalState,
    /// Ticks so far.
    pub ticks: u64,
}

/// One arm in a [`BanditState`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArmState {
    /// The arm's name.
    pub id: VersionId,
    /// Whether it is retired.
    pub retired: bool,
    /// Its reward statistics.
    pub stats: ArmStats,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn bandit(policy: Policy) -> Bandit {
        Bandit::new(["a", "b", "c"], BanditConfig::new(policy)).unwrap()
    }

    #[test]
    fn construction_errors() {
        let none: [&str; 0] = [];
        assert_eq!(
            Bandit::new(none, BanditConfig::default()).unwrap_err(),
            BanditError::NoArms
        );
        assert!(matches!(
            Bandit::new(["ok", "not ok"], BanditConfig::default()),
            Err(BanditError::Select(_))
        ));
        let many: Vec<String> = (0..65).map(|i| format!("arm{i}")).collect();
        assert!(matches!(
            Bandit::new(&many, BanditConfig::default()),
            Err(BanditError::TooManyArms { count: 65, max: 64 })
        ));
        let config = BanditConfig {
            min_share: Weight::from_bps(4_000).unwrap(),
            ..BanditConfig::default()
        };
        let err = Bandit::new(["a", "b", "c"], config).unwrap_err();
        assert_eq!(
            err,
            BanditError::MinShareTooLarge {
                min_share_bps: 4_000,
                arms: 3,
                total: 12_000,
                max_bps: 3_333
            }
        );
        assert!(err.to_string().contains("at most 3333 bps"));
        // An absurd arm count is an error, not an overflow or a division by 0.
        let config = BanditConfig {
            min_share: Weight::from_bps(1).unwrap(),
            ..BanditConfig::default()
        };
        assert!(matches!(
            config.validate(usize::MAX),
            Err(BanditError::MinShareTooLarge { max_bps: 0, .. })
        ));
        let config = BanditConfig {
            discount: Discount::PerTick { gamma: 0.0 },
            ..BanditConfig::default()
        };
        assert_eq!(
            Bandit::new(["a"], config).unwrap_err(),
            BanditError::InvalidDiscount(0.0)
        );
        let config = BanditConfig {
            journal_capacity: 0,
            ..BanditConfig::default()
        };
        assert_eq!(
            Bandit::new(["a"], config).unwrap_err(),
            BanditError::InvalidJournalCapacity
        );
        let config = BanditConfig {
            missing_feedback_reward: Some(2.0),
            ..BanditConfig::default()
        };
        assert_eq!(
            Bandit::new(["a"], config).unwrap_err(),
            BanditError::InvalidMissingFeedbackReward(2.0)
        );
        let config = BanditConfig::new(Policy::EpsilonGreedy { epsilon: -0.5 });
        assert_eq!(
            Bandit::new(["a"], config).unwrap_err(),
            BanditError::InvalidEpsilon(-0.5)
        );
    }

    #[test]
    fn reward_errors() {
        let mut b = bandit(Policy::thompson());
        assert_eq!(
            b.record_reward(3, 1.0),
            Err(BanditError::UnknownArm { arm: 3, arms: 3 })
        );
        assert!(matches!(
            b.record_reward(0, f64::NAN),
            Err(BanditError::NonFiniteReward { arm: 0, .. })
        ));
        assert!(matches!(
            b.record_reward(0, -1.0),
            Err(BanditError::RewardOutOfRange { arm: 0, .. })
        ));
        assert_eq!(b.stats(0).unwrap().observations, 0);
    }

    #[test]
    fn retire_and_unretire() {
        let mut b = bandit(Policy::uniform());
        let mut rng = StdRng::seed_from_u64(1);
        b.retire(1).unwrap();
        b.retire(1).unwrap();
        assert!(b.is_retired(1).unwrap());
        assert!((0..1_000).all(|_| b.choose(&mut rng) != 1));
        let w = b.weights(&mut rng);
        assert_eq!(
            w.iter().map(|w| w.bps()).collect::<Vec<_>>(),
            vec![5000, 0, 5000]
        );
        b.retire(0).unwrap();
        assert!(matches!(
            b.retire(2),
            Err(BanditError::LastActiveArm { arm: 2, .. })
        ));
        assert!((0..100).all(|_| b.choose(&mut rng) == 2));
        b.unretire(1).unwrap();
        assert_eq!(b.active_arms().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(
            b.unretire(7),
            Err(BanditError::UnknownArm { arm: 7, arms: 3 })
        );
    }

    #[test]
    fn feedback_through_the_journal() {
        let mut b = bandit(Policy::thompson());
        let mut rng = StdRng::seed_from_u64(2);
        let arm = b.decide(42, &mut rng).unwrap();
        assert_eq!(
            b.decide(42, &mut rng),
            Err(BanditError::DuplicateRequest { request_id: 42 })
        );
        assert!(matches!(
            b.feedback(42, f64::NAN),
            Err(BanditError::NonFiniteReward { .. })
        ));
        assert_eq!(b.feedback(42, 1.0), Ok(arm));
        assert_eq!(b.stats(arm).unwrap().sum, 1.0);
        let err = b.feedback(42, 1.0).unwrap_err();
        assert!(matches!(
            err,
            BanditError::UnknownRequest { request_id: 42, .. }
        ));
        assert!(err.to_string().contains("raise the capacity"));
        assert!(b.record_decision(43, 9).is_err());
    }

    #[test]
    fn missing_feedback_counts_as_failure() {
        let config = BanditConfig {
            journal_capacity: 2,
            missing_feedback_reward: Some(0.0),
            ..BanditConfig::new(Policy::uniform())
        };
        let mut b = Bandit::new(["a", "b"], config).unwrap();
        b.record_decision(1, 0).unwrap();
        b.record_decision(2, 1).unwrap();
        b.feedback(2, 1.0).unwrap();
        b.record_decision(3, 1).unwrap();
        b.record_decision(4, 1).unwrap(); // evicts request 1 without feedback
        assert_eq!(b.journal().evicted(), 1);
        assert_eq!(b.stats(0).unwrap().count, 1.0);
        assert_eq!(b.stats(0).unwrap().sum, 0.0);
        assert_eq!(b.stats(1).unwrap().sum, 1.0);
    }

    #[test]
    fn discounting() {
        let config = BanditConfig {
            discount: Discount::PerObservation { gamma: 0.5 },
            ..BanditConfig::default()
        };
        let mut b = Bandit::new(["a", "b"], config).unwrap();
        b.record_reward(0, 1.0).unwrap();
        b.record_reward(1, 1.0).unwrap();
        assert_eq!(b.stats(0).unwrap().count, 0.5);
        assert_eq!(b.stats(1).unwrap().count, 1.0);
        let config = BanditConfig {
            discount: Discount::PerTick { gamma: 0.5 },
            ..BanditConfig::default()
        };
        let mut b = Bandit::new(["a", "b"], config).unwrap();
        b.record_reward(0, 1.0).unwrap();
        b.record_reward(0, 0.0).unwrap();
        b.tick();
        assert_eq!(b.stats(0).unwrap().count, 1.0);
        assert_eq!(b.stats(0).unwrap().mean(), Some(0.5));
        assert_eq!(b.ticks(), 1);
    }

    #[test]
    fn discounting_follows_a_drift() {
        // Arm a is best for the first half, arm b for the second.
        let config = BanditConfig {
            discount: Discount::PerObservation { gamma: 0.995 },
            ..BanditConfig::default()
        };
        let mut b = Bandit::new(["a", "b"], config).unwrap();
        let mut rng = StdRng::seed_from_u64(9);
        let mut late_b = 0;
        for t in 0..20_000 {
            let arm = b.choose(&mut rng);
            let rate = match (arm, t < 10_000) {
                (0, true) | (1, false) => 0.6,
                _ => 0.4,
            };
            let reward = if rng.random::<f64>() < rate { 1.0 } else { 0.0 };
            b.record_reward(arm, reward).unwrap();
            if t >= 15_000 && arm == 1 {
                late_b += 1;
            }
        }
        assert!(late_b > 4_000, "{late_b}");
    }

    #[test]
    fn min_share_in_both_paths() {
        let config = BanditConfig {
            min_share: Weight::from_bps(1_000).unwrap(),
            ..BanditConfig::new(Policy::ucb1())
        };
        let mut b = Bandit::new(["a", "b", "c"], config).unwrap();
        for _ in 0..100 {
            b.record_reward(0, 0.0).unwrap();
            b.record_reward(1, 1.0).unwrap();
            b.record_reward(2, 0.0).unwrap();
        }
        let mut rng = StdRng::seed_from_u64(4);
        let p = b.probabilities(&mut rng);
        assert!((p[0] - 0.1).abs() < 1e-12 && (p[1] - 0.8).abs() < 1e-12);
        let w: Vec<u32> = b.weights(&mut rng).iter().map(|w| w.bps()).collect();
        assert_eq!(w, vec![1000, 8000, 1000]);
        let mut counts = [0u32; 3];
        for _ in 0..20_000 {
            counts[b.choose(&mut rng)] += 1;
        }
        assert!((1_700..2_300).contains(&counts[0]), "{counts:?}");
        assert!((15_500..16_500).contains(&counts[1]), "{counts:?}");
    }

    #[test]
    fn split_and_publish() {
        let mut b = bandit(Policy::thompson());
        let mut rng = StdRng::seed_from_u64(5);
        let selector = Selector::new(b.split(&mut rng).unwrap());
        for _ in 0..300 {
            b.record_reward(2, 1.0).unwrap();
            b.record_reward(0, 0.0).unwrap();
            b.record_reward(1, 0.0).unwrap();
        }
        b.retire(0).unwrap();
        let version = b.publish(&selector, &mut rng).unwrap();
        assert!(version > 0);
        let split = selector.split();
        assert_eq!(split.weight_of("a").unwrap().bps(), 0);
        assert_eq!(split.weight_of("c").unwrap().bps(), 10_000);
        // A selector over other arms is refused.
        let other = Selector::new(Split::from_pairs([("x", 10_000)]).unwrap());
        assert!(matches!(
            b.publish(&other, &mut rng),
            Err(BanditError::Select(_))
        ));
    }

    #[test]
    fn state_round_trip() {
        let config = BanditConfig {
            discount: Discount::PerTick { gamma: 0.9 },
            journal_capacity: 8,
            ..BanditConfig::new(Policy::thompson())
        };
        let mut a = Bandit::new(["a", "b", "c"], config).unwrap();
        let mut rng = StdRng::seed_from_u64(6);
        for id in 0..20u64 {
            let arm = a.decide(id, &mut rng).unwrap();
            if id % 3 == 0 {
                a.feedback(id, if arm == 2 { 1.0 } else { 0.0 }).unwrap();
            }
        }
        a.tick();
        a.retire(1).unwrap();
        let json = serde_json::to_string(&a).unwrap();
        let mut b: Bandit = serde_json::from_str(&json).unwrap();
        assert_eq!(a.state(), b.state());
        let (mut ra, mut rb) = (StdRng::seed_from_u64(7), StdRng::seed_from_u64(7));
        assert_eq!(a.weights(&mut ra), b.weights(&mut rb));
        for id in 100..200u64 {
            assert_eq!(a.decide(id, &mut ra), b.decide(id, &mut rb));
            assert_eq!(
                a.feedback(id - 5, 1.0).is_ok(),
                b.feedback(id - 5, 1.0).is_ok()
            );
        }
        assert_eq!(a.state(), b.state());
    }

    #[test]
    fn invalid_states_are_refused() {
        let b = bandit(Policy::thompson());
        let mut s = b.state();
        s.arms.iter_mut().for_each(|a| a.retired = true);
        assert!(matches!(
            Bandit::from_state(s),
            Err(BanditError::InvalidState(_))
        ));
        let mut s = b.state();
        s.arms[0].stats.sum = 5.0;
        assert!(matches!(
            Bandit::from_state(s),
            Err(BanditError::InvalidState(_))
        ));
        let mut s = b.state();
        s.journal.capacity = 3;
        assert!(Bandit::from_state(s).is_err());
        let mut s = b.state();
        s.arms[1].id = s.arms[0].id.clone();
        assert!(matches!(
            Bandit::from_state(s),
            Err(BanditError::DuplicateArm { .. })
        ));
        let json = r#"{"config":{},"arms":[],"journal":{"capacity":100000,"filled":0,"next":0,"evicted":0,"pending":[]},"ticks":0}"#;
        let err = serde_json::from_str::<Bandit>(json).unwrap_err();
        assert!(err.to_string().contains("at least one arm"), "{err}");
    }
}
