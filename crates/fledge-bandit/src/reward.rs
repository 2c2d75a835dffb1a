//! Reward models, per-arm sufficient statistics and their posteriors.

use rand::Rng;
use rand::distr::Distribution;
use rand_distr::{Beta, Gamma, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::BanditError;

/// What a reward is, and the prior Thompson sampling starts from.
///
/// * [`RewardModel::Bernoulli`]: conversions. A reward is `0` (no) or `1`
///   (yes); fractional values in `[0, 1]` are accepted and count as partial
///   successes. The posterior of an arm's rate is
///   `Beta(prior_alpha + successes, prior_beta + failures)`.
/// * [`RewardModel::Gaussian`]: continuous rewards (revenue, rating, negative
///   error). Rewards are modelled as Normal with **unknown mean and unknown
///   variance** under the conjugate Normal-Inverse-Gamma prior
///   `σ² ~ InvGamma(prior_shape, prior_rate)`,
///   `μ | σ² ~ Normal(prior_mean, σ² / prior_strength)`. Thompson sampling
///   draws `σ²` from its posterior, then `μ` given `σ²`. The default prior is
///   vague (`prior_strength = 0.01` pseudo-observations); set `prior_mean`
///   near your typical reward and `prior_rate / prior_shape` near its
///   variance if rewards are far from unit scale and you want the first few
///   observations to carry less weight.
///
/// Serde: `{"kind": "bernoulli"}`, `{"kind": "gaussian", "prior_mean": 0.0}`;
/// omitted parameters take their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RewardModel {
    /// Conversions: rewards in `[0, 1]`, Beta posterior.
    Bernoulli {
        /// Prior successes (`> 0`, default 1: the uniform prior).
        #[serde(default = "one")]
        prior_alpha: f64,
        /// Prior failures (`> 0`, default 1).
        #[serde(default = "one")]
        prior_beta: f64,
    },
    /// Continuous rewards: Normal-Inverse-Gamma posterior.
    Gaussian {
        /// Prior mean of an arm's reward (default 0).
        #[serde(default)]
        prior_mean: f64,
        /// Pseudo-observations behind `prior_mean` (`> 0`, default 0.01).
        #[serde(default = "default_strength")]
        prior_strength: f64,
        /// Inverse-Gamma shape of the variance (`> 0`, default 1).
        #[serde(default = "one")]
        prior_shape: f64,
        /// Inverse-Gamma rate (scale) of the variance (`> 0`, default 1).
        #[serde(default = "one")]
        prior_rate: f64,
    },
}

fn one() -> f64 {
    1.0
}

fn default_strength() -> f64 {
    0.01
}

impl Default for RewardModel {
    fn default() -> Self {
        Self::bernoulli()
    }
}

impl RewardModel {
    /// Conversions with the uniform `Beta(1, 1)` prior.
    pub fn bernoulli() -> Self {
        Self::Bernoulli {
            prior_alpha: 1.0,
            prior_beta: 1.0,
        }
    }

    /// Continuous rewards with the default vague Normal-Inverse-Gamma prior.
    pub fn gaussian() -> Self {
        Self::Gaussian {
            prior_mean: 0.0,
            prior_strength: default_strength(),
            prior_shape: 1.0,
            prior_rate: 1.0,
        }
    }

    /// Checks the prior parameters.
    pub fn validate(&self) -> Result<(), BanditError> {
        fn positive(name: &'static str, value: f64) -> Result<(), BanditError> {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(BanditError::InvalidPrior {
                    name,
                    expected: "a positive finite number",
                    value,
                })
            }
        }
        match *self {
            Self::Bernoulli {
                prior_alpha,
                prior_beta,
            } => {
                positive("prior_alpha", prior_alpha)?;
                positive("prior_beta", prior_beta)
            }
            Self::Gaussian {
                prior_mean,
                prior_strength,
                prior_shape,
                prior_rate,
            } => {
                if !prior_mean.is_finite() {
                    return Err(BanditError::InvalidPrior {
                        name: "prior_mean",
                        expected: "a finite number",
                        value: prior_mean,
                    });
                }
                positive("prior_strength", prior_strength)?;
                positive("prior_shape", prior_shape)?;
                positive("prior_rate", prior_rate)
            }
        }
    }

    /// Checks one reward value for an arm.
    pub(crate) fn check_reward(&self, arm: usize, value: f64) -> Result<(), BanditError> {
        if !value.is_finite() {
            return Err(BanditError::NonFiniteReward { arm, value });
        }
        if matches!(self, Self::Bernoulli { .. }) && !(0.0..=1.0).contains(&value) {
            return Err(BanditError::RewardOutOfRange { arm, value });
        }
        Ok(())
    }

    /// The posterior of one arm, ready to sample.
    pub(crate) fn posterior(&self, stats: &ArmStats) -> Posterior {
        match *self {
            Self::Bernoulli {
                prior_alpha,
                prior_beta,
            } => {
                let alpha = prior_alpha + stats.successes();
                let beta = prior_beta + stats.failures();
                let mean = alpha / (alpha + beta);
                match Beta::new(alpha, beta) {
                    Ok(dist) => Posterior::Beta(dist),
                    Err(_) => Posterior::Point(mean),
                }
            }
            Self::Gaussian {
                prior_mean,
                prior_strength,
                prior_shape,
                prior_rate,
            } => {
                let n = stats.count;
                let xbar = stats.mean().unwrap_or(prior_mean);
                let kappa = prior_strength + n;
                let mean = (prior_strength * prior_mean + n * xbar) / kappa;
                let shape = prior_shape + n / 2.0;
                let dev = xbar - prior_mean;
                let rate = prior_rate
                    + stats.m2.max(0.0) / 2.0
                    + prior_strength * n * dev * dev / (2.0 * kappa);
                // Precision tau ~ Gamma(shape, scale = 1 / rate).
                match Gamma::new(shape, 1.0 / rate) {
                    Ok(precision) if kappa.is_finite() && kappa > 0.0 => {
                        Posterior::NormalInverseGamma {
                            mean,
                            kappa,
                            precision,
                        }
                    }
                    _ => Posterior::Point(mean),
                }
            }
        }
    }
}

/// A posterior ready to draw from (built once per decision or per tick).
#[derive(Debug)]
pub(crate) enum Posterior {
    Beta(Beta<f64>),
    NormalInverseGamma {
        mean: f64,
        kappa: f64,
        precision: Gamma<f64>,
    },
    /// Degenerate parameters (only reachable from extreme states): the mean.
    Point(f64),
}

impl Posterior {
    /// One draw of the arm's expected reward.
    pub(crate) fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match self {
            Self::Beta(dist) => dist.sample(rng),
            Self::NormalInverseGamma {
                mean,
                kappa,
                precision,
            } => {
                let tau: f64 = precision.sample(rng);
                let z: f64 = StandardNormal.sample(rng);
                let sd = (1.0 / (tau * kappa)).sqrt();
                let value = mean + sd * z;
                if value.is_finite() { value } else { *mean }
            }
            Self::Point(mean) => *mean,
        }
    }
}

/// The sufficient statistics of one arm's rewards.
///
/// `count`, `sum` and `m2` (sum of squared deviations from the mean, as in
/// Welford's algorithm) are weighted: with discounting every observation's
/// weight shrinks by `gamma` per step, so they are real numbers, not integers.
/// Without discounting and with 0/1 rewards they are exact integers, so the
/// Beta posterior does not depend on the order rewards arrive in.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArmStats {
    /// Weighted number of rewards.
    pub count: f64,
    /// Weighted sum of rewards.
    pub sum: f64,
    /// Weighted sum of squared deviations from the mean.
    pub m2: f64,
    /// Number of rewards ever recorded (not discounted).
    pub observations: u64,
}

impl ArmStats {
    /// Mean reward, `None` before the first reward.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0.0).then(|| self.sum / self.count)
    }

    /// Sample variance of the rewards (weighted), `None` with fewer than two.
    pub fn variance(&self) -> Option<f64> {
        (self.count > 1.0).then(|| self.m2.max(0.0) / (self.count - 1.0))
    }

    /// Weighted successes (sum of Bernoulli rewards).
    pub fn successes(&self) -> f64 {
        self.sum.max(0.0)
    }

    /// Weighted failures (count minus successes).
    pub fn failures(&self) -> f64 {
        (self.count - self.sum).max(0.0)
    }

    /// Adds one reward of weight 1 (the caller has checked it).
    pub(crate) fn add(&mut self, value: f64) {
        let old_mean = self.mean().unwrap_or(value);
        self.count += 1.0;
        self.sum += value;
        let new_mean = self.sum / self.count;
        self.m2 += (value - old_mean) * (value - new_mean);
        self.observations = self.observations.saturating_add(1);
    }

    /// Multiplies the weight of every past reward by `gamma`.
    pub(crate) fn discount(&mut self, gamma: f64) {
        self.count *= gamma;
        self.sum *= gamma;
        self.m2 *= gamma;
    }

    /// Checks a restored value.
    pub(crate) fn validate(&self, model: &RewardModel) -> Result<(), String> {
        if !(self.count.is_finite() && self.count >= 0.0) {
            return Err(format!("count must be finite and >= 0, got {}", self.count));
        }
        if !self.sum.is_finite() {
            return Err(format!("sum must be finite, got {}", self.sum));
        }
        if !(self.m2.is_finite() && self.m2 >= 0.0) {
            return Err(format!("m2 must be finite and >= 0, got {}", self.m2));
        }
        if matches!(model, RewardModel::Bernoulli { .. })
            && !(self.sum >= 0.0 && self.sum <= self.count * (1.0 + 1e-9))
        {
            return Err(format!(
                "Bernoulli sum {} must lie in [0, count = {}]",
                self.sum, self.count
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn welford_matches_two_pass() {
        let xs = [3.0, 5.5, -1.0, 2.25, 8.0];
        let mut s = ArmStats::default();
        for x in xs {
            s.add(x);
        }
        let mean = xs.iter().sum::<f64>() / 5.0;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 4.0;
        assert!((s.mean().unwrap() - mean).abs() < 1e-12);
        assert!((s.variance().unwrap() - var).abs() < 1e-12);
        assert_eq!(s.observations, 5);
    }

    #[test]
    fn discount_keeps_mean() {
        let mut s = ArmStats::default();
        s.add(1.0);
        s.add(0.0);
        s.discount(0.5);
        assert_eq!(s.count, 1.0);
        assert_eq!(s.mean(), Some(0.5));
    }

    #[test]
    fn rejects_bad_rewards() {
        let b = RewardModel::bernoulli();
        assert!(matches!(
            b.check_reward(0, f64::NAN),
            Err(BanditError::NonFiniteReward { .. })
        ));
        assert!(matches!(
            b.check_reward(1, 2.0),
            Err(BanditError::RewardOutOfRange { arm: 1, .. })
        ));
        assert!(b.check_reward(0, 0.5).is_ok());
        let g = RewardModel::gaussian();
        assert!(g.check_reward(0, -42.0).is_ok());
        assert!(g.check_reward(0, f64::INFINITY).is_err());
    }

    #[test]
    fn rejects_bad_priors() {
        let bad = RewardModel::Bernoulli {
            prior_alpha: 0.0,
            prior_beta: 1.0,
        };
        assert!(matches!(
            bad.validate(),
            Err(BanditError::InvalidPrior {
                name: "prior_alpha",
                ..
            })
        ));
        let bad = RewardModel::Gaussian {
            prior_mean: f64::NAN,
            prior_strength: 1.0,
            prior_shape: 1.0,
            prior_rate: 1.0,
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn gaussian_posterior_concentrates_on_the_sample_mean() {
        let model = RewardModel::gaussian();
        let mut s = ArmStats::default();
        let mut rng = StdRng::seed_from_u64(7);
        for i in 0..2_000 {
            s.add(10.0 + if i % 2 == 0 { 1.0 } else { -1.0 });
        }
        let post = model.posterior(&s);
        let draws: Vec<f64> = (0..1_000).map(|_| post.draw(&mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 10.0).abs() < 0.01, "{mean}");
        // The posterior sd of the mean is about 1 / sqrt(2000) = 0.022.
        let sd = (draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / 999.0).sqrt();
        assert!((0.015..0.03).contains(&sd), "{sd}");
    }

    #[test]
    fn beta_posterior_mean() {
        let model = RewardModel::bernoulli();
        let mut s = ArmStats::default();
        for i in 0..1_000 {
            s.add(if i % 10 == 0 { 1.0 } else { 0.0 });
        }
        let mut rng = StdRng::seed_from_u64(1);
        let post = model.posterior(&s);
        let mean = (0..2_000).map(|_| post.draw(&mut rng)).sum::<f64>() / 2_000.0;
        assert!((mean - 101.0 / 1002.0).abs() < 0.003, "{mean}");
    }

    #[test]
    fn serde_defaults() {
        let m: RewardModel = serde_json::from_str(r#"{"kind":"gaussian","prior_mean":5}"#).unwrap();
        assert_eq!(
            m,
            RewardModel::Gaussian {
                prior_mean: 5.0,
                prior_strength: 0.01,
                prior_shape: 1.0,
                prior_rate: 1.0
            }
        );
        assert!(serde_json::from_str::<RewardModel>(r#"{"kind":"bernoulli","alpha":1}"#).is_err());
    }
}
