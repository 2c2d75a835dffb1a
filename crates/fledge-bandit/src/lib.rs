//! Multi-armed bandits for fledge: let traffic flow to whichever variant
//! performs best, while still exploring the others.
//!
//! A [`Bandit`] holds named arms (the variants of a
//! [`fledge_select::Split`]), their reward statistics and a [`Policy`]:
//!
//! | policy | chooses | its traffic split |
//! |---|---|---|
//! | [`Policy::Thompson`] | the best of one posterior draw per arm | P(arm is best), by Monte Carlo |
//! | [`Policy::Ucb1`] | the best upper confidence bound | all to the leader |
//! | [`Policy::EpsilonGreedy`] | a random arm with probability ε, else the best mean | ε/k each, 1 − ε more to the leader |
//! | [`Policy::Uniform`] | a random arm | equal |
//!
//! Rewards are conversions ([`RewardModel::Bernoulli`], Beta posterior) or
//! continuous values ([`RewardModel::Gaussian`], Normal with unknown mean and
//! variance under a Normal-Inverse-Gamma prior).
//!
//! # Two ways to act
//!
//! * **Per decision** — [`Bandit::choose`] picks an arm for one request from
//!   the current statistics (no allocation); [`Bandit::decide`] also
//!   journals the decision under a request id. Simulations and services that
//!   already hold the bandit behind a lock use this path.
//! * **Per tick** — on the control path, once per tick, [`Bandit::tick`]
//!   applies per-tick discounting and [`Bandit::publish`] turns the policy's
//!   shares into weights in basis points (summing to exactly 10 000, every
//!   active arm at least [`BanditConfig::min_share`], retired arms 0) and
//!   publishes them through [`fledge_select::Selector::publish`] in one
//!   atomic swap. The request path then only asks the selector, lock-free,
//!   and journals the decision ([`Bandit::record_decision`]).
//!
//! Both paths agree: [`Bandit::probabilities`] is the chance that `choose`
//! returns each arm, and [`Bandit::weights`] is that chance in basis points.
//!
//! # Rewards and the decision journal
//!
//! [`Bandit::record_reward`] credits an arm directly. Feedback that arrives
//! later (a click, a purchase, a forecast's actual value) goes through
//! [`Bandit::feedback`] with the request id: the bounded [`DecisionJournal`]
//! (a fixed-capacity ring with a hash index, no per-user state) finds the arm
//! that served the request, evicting and counting the oldest pending
//! decisions when full. For conversions where only successes are reported,
//! [`BanditConfig::missing_feedback_reward`] `= Some(0.0)` counts an evicted
//! decision as a failure. [`Discount`] forgets old rewards, per observation or
//! per tick, for rewards that drift.
//!
//! # Stickiness
//!
//! Stickiness is optional and needs no per-user state. On the tick path,
//! route with the selector's sticky buckets
//! (`selector.pick_by_bucket(bucketer.bucket_str(user))` with a
//! `fledge_sticky::Bucketer`): a user keeps their arm as long as the bucket
//! ranges around their bucket do not move. Ranges are laid out in arm order,
//! so when the weights change only users in buckets whose owner changes move
//! (a shrinking arm also shifts the ranges of the arms after it). A retired
//! arm gets weight 0, so its users move to the others. Publish less often
//! (a longer tick) for steadier assignment. The per-decision path
//! ([`Bandit::choose`]) is not sticky: every call is a fresh draw.
//!
//! # State
//!
//! A bandit is plain data: [`Bandit::state`] gives a serde [`BanditState`]
//! (configuration, statistics, retired flags, pending decisions) and
//! [`Bandit::from_state`] restores it exactly; `Bandit` itself implements
//! `Serialize` and `Deserialize` the same way. All randomness comes from the
//! caller's RNG, so with the same seed a restored bandit makes the same
//! decisions. Nothing here panics on user input: every error is a
//! [`BanditError`] that says what to change.
//!
//! # Example
//!
//! ```
//! use fledge_bandit::{Bandit, BanditConfig, Policy};
//! use fledge_select::{Selector, Weight};
//! use rand::{RngExt, SeedableRng, rngs::StdRng};
//!
//! let mut rng = StdRng::seed_from_u64(7);
//! let config = BanditConfig {
//!     min_share: Weight::from_bps(200)?, // 2 % floor per arm
//!     ..BanditConfig::new(Policy::thompson())
//! };
//! let mut bandit = Bandit::new(["ranker-a", "ranker-b", "ranker-c"], config)?;
//! let selector = Selector::new(bandit.split(&mut rng)?);
//! let rates = [0.02, 0.05, 0.03];
//!
//! for request_id in 0..20_000u64 {
//!     // Request path: pick through the selector, journal the decision.
//!     let arm = selector.pick_by_bucket(rng.random_range(0..10_000)).get();
//!     bandit.record_decision(request_id, arm)?;
//!     // Feedback path: the outcome arrives later, by request id.
//!     let converted = rng.random::<f64>() < rates[arm];
//!     bandit.feedback(request_id, if converted { 1.0 } else { 0.0 })?;
//!     // Control path: once per "tick".
//!     if request_id % 1_000 == 999 {
//!         bandit.tick();
//!         bandit.publish(&selector, &mut rng)?;
//!     }
//! }
//! let best = selector.split().weight_of("ranker-b").unwrap();
//! assert!(best.bps() > 8_000, "{best}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Minimum supported Rust version: 1.89.

#![forbid(unsafe_code)]

mod bandit;
mod error;
mod journal;
mod policy;
mod reward;
mod weights;

pub use bandit::{ArmState, Bandit, BanditConfig, BanditState, Discount};
pub use error::BanditError;
pub use journal::{Decision, DecisionJournal, JournalState, PendingDecision, request_id};
pub use policy::Policy;
pub use reward::{ArmStats, RewardModel};
