//! Fleets of replicas on Redis: every replica of a serving process joins
//! the rollout with one call; together they run it as one process would.
//!
//! ```no_run
//! use fledge_redis::{Fleet, ReplicaId};
//! use fledge_rollout::Plan;
//!
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! let plan = Plan::from_toml(r#"
//!     name = "predict-v2"
//!     baseline = "v1"
//!     candidate = "v2"
//!     steps = [5, 25, 50, 100]
//!     interval = "5m"
//!
//!     [[gates]]
//!     name = "error rate"
//!     kind = "threshold"
//!     metric = "error_rate"
//!     max = 0.01
//!     min_samples = 200
//! "#)?;
//! let fleet = Fleet::open(std::env::var("REDIS_URL")?)?; // rediss:// with feature `tls`
//! let member = fleet
//!     .join(plan, ReplicaId::from_env_or_hostname()) // builds or resumes the controller
//!     .spawn() // on tokio; `.start()` without a runtime
//!     .await?;
//! let routing = member.routing().clone(); // router.layer(CanaryLayer::new(routing))
//! # let _ = routing;
//! // ... serve; then hand the lease over at once:
//! member.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! That is all a replica does. [`Fleet::join`] builds the replica's
//! controller on the shared snapshot (or starts the rollout), and the
//! [`Member`] it returns keeps it in step with the leader's saves, publishes
//! a summary of the requests this replica served, and contends for the
//! leader lease. The lease holder judges the **fleet's** traffic (every
//! replica's summary merged) with the plan's gates, ticks the rollout,
//! and applies operator commands given to **any** replica
//! ([`Member::command`]). [`Member::status`] tells a replica's role, the
//! leader, its last summary and its last error; every error is also a
//! `tracing` event with fields.
//!
//! Operator APIs take a [`Member`] through
//! [`Operate`](fledge_rollout::control::Operate), like a one-process
//! [`Controller`](fledge_rollout::Controller): commands are forwarded to
//! the leader, the last judgement is the leader's, and
//! [`Operate::fleet`](fledge_rollout::control::Operate::fleet) lists the
//! replicas with the age of their last summary and who leads. fledge-admin
//! takes it as is (`Admin::builder().rollout(member.clone())` with the
//! member in an `Arc`): mounted on every replica, its API and dashboard
//! answer from any of them, commands given to a follower answer once the
//! leader applied them (or 409 / 503 / 504 with the reason), and the status
//! lists the fleet.
//!
//! Registry-driven rollouts (fledge-registry's `RedisFleet`, feature
//! `redis`) run on the same parts: a [`LeaderLease`] says which replica
//! writes to the model registry, [`Summaries`] carry each replica's report
//! of the model versions it loaded, and a [`RedisStore`] per rollout keeps
//! the replicas on the leader's rollout; every replica publishes a
//! [`controller_summary`] per rollout to [`Summaries`] of its own, and the
//! leader's gates judge them merged through [`ReadingWindows`].
//!
//! The parts are public for other arrangements: [`RedisStore`] (snapshots
//! by compare-and-swap), [`LeaderLease`] (a blocking lease), [`Follower`]
//! (a blocking follower of a controller or a bare selector),
//! [`Summaries`] (the replicas' window summaries), [`controller_summary`]
//! (what a replica publishes) and [`ReadingWindows`] (a leader's gates on
//! the merged summaries it reads).
//!
//! # How it works
#![doc = include_str!("docs/how-it-works.md")]
//!
//! # Failure model
#![doc = include_str!("docs/failure-model.md")]
//!
//! # What limits the fleet's size
#![doc = include_str!("docs/limits.md")]
//!
//! # Features
//!
//! - `tls`: `rediss://` URLs, by rustls with the ring provider and the
//!   platform's root certificates.
#![forbid(unsafe_code)]

mod coverage;
mod error;
mod fleet;
mod follower;
mod keys;
mod lease;
mod member;
mod replica;
mod store;
mod summaries;

pub use coverage::{
    Coverage, DEFAULT_COVERAGE_FLOOR, DEFAULT_MERGED_SAMPLES, ReadingWindows, controller_summary,
};
pub use error::{FleetError, RedisError};
pub use fleet::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_IO_TIMEOUT, DEFAULT_KEY_PREFIX, Fleet};
pub use follower::{Followed, Follower, FollowerHandle};
pub use lease::{DEFAULT_LEASE_TTL, LeaderLease, LeaseHolder};
pub use member::{
    Applied, DEFAULT_COMMAND_TIMEOUT, DEFAULT_TICK, FleetJudgement, JoinBuilder, Member,
    MemberStatus, Role, StatusError,
};
pub use replica::ReplicaId;
pub use store::RedisStore;
pub use summaries::{DEFAULT_FORGET_AFTER, Reading, ReplicaReading, Summaries};
