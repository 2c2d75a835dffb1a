//! Fleet support for fledge on Redis: many replicas of a serving process run
//! one rollout together.
//!
//! - [`RedisStore`]: a [`Store`](fledge_rollout::Store) keeping the
//!   rollout's snapshot in one Redis key, saved by an atomic
//!   compare-and-swap (a Lua script), so a restarted or replacement
//!   controller resumes the same step with the same sticky salt, and two
//!   controllers can never silently overwrite each other.
//! - [`LeaderLease`]: one replica at a time holds the lease and ticks the
//!   rollout; the lease expires by itself if its holder stops renewing.
//! - [`Follower`]: keeps every replica's controller in step with the
//!   leader's saves by calling
//!   [`Controller::resync`](fledge_rollout::Controller::resync), on every
//!   save's pub/sub announcement or by polling.
//!
//! # Leadership
//!
//! Each replica builds **one** controller on the [`RedisStore`] (so it
//! resumes the rollout's step, salt and event log), serves with its
//! `RolloutRouting` (hand it to the tower layer) and follows it with a
//! [`Follower`]: every newer snapshot — split, sticky salt (a restarted
//! rollout included), targeting rules, mirror share — reaches its
//! `RolloutRouting`, so every replica routes every request as the leader does.
//! Sticky hashing is deterministic: no replica asks another where to send
//! a user.
//!
//! The replica holding the [`LeaderLease`] also drives the same
//! controller: right after acquiring the lease it calls
//! [`resync`](fledge_rollout::Controller::resync) once (the follower may
//! not have seen the last leader's final save yet), then ticks it; its
//! saves continue the snapshot's version chain, so they do not conflict.
//! A stale leader (paused past its TTL while another replica took over)
//! gets [`StoreError::Conflict`](fledge_rollout::StoreError::Conflict)
//! from its next save: it must stop leading and resync (its follower
//! resyncs it anyway on the next announcement).
//!
//! Gates judged by the controller's own recorder see only the requests
//! *this* replica served, so on the leader they would judge a fraction of
//! the fleet's traffic; judge fleet-wide metrics instead, with
//! `fledge-prometheus`'s `PromEvaluator`
//! ([`ControllerBuilder::evaluator`](fledge_rollout::control::ControllerBuilder::evaluator)).
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use fledge_redis::{Fleet, Follower};
//! use fledge_rollout::control::ControlError;
//! use fledge_rollout::{Controller, Plan, StoreError};
//!
//! let plan = Plan::from_toml(r#"
//!     name = "predict-v2"
//!     baseline = "v1"
//!     candidate = "v2"
//!     steps = [5, 25, 50, 100]
//!     interval = "30s"
//! "#)?;
//! let fleet = Fleet::open("redis://127.0.0.1:6379/")?.key_prefix("prod:fledge:");
//! let store = fleet.store("predict-v2");
//!
//! // Every replica: one controller, resumed from Redis, followed. (Add
//! // `.evaluator(..)` with fleet-wide metrics for gated steps.)
//! let controller = Arc::new(Controller::builder(plan).store(fleet.store("predict-v2")).build()?);
//! let routing = controller.routing().clone(); // hand it to the tower layer
//! let _following = Follower::for_controller(controller.clone())
//!     .spawn_with_notifications(&store, Duration::from_secs(1));
//!
//! // The lease holder also ticks it.
//! let lease = fleet.lease("predict-v2", "replica-a").with_ttl(Duration::from_secs(9));
//! loop {
//!     if lease.try_acquire()? {
//!         // Continue from the last leader's latest save.
//!         match controller.resync() {
//!             Ok(_) => {}
//!             Err(e) => { eprintln!("{e}"); let _ = lease.release(); }
//!         }
//!         while lease.is_leader() {
//!             match controller.tick_now() {
//!                 Ok(_) => {}
//!                 Err(ControlError::Store(StoreError::Conflict { .. })) => {
//!                     // Another replica leads now: step down, catch up.
//!                     let _ = lease.release();
//!                     let _ = controller.resync();
//!                     break;
//!                 }
//!                 // Redis down: the decisions are applied and served; the
//!                 // next successful save catches the store up.
//!                 Err(e) => eprintln!("{e}"),
//!             }
//!             std::thread::sleep(Duration::from_secs(3));
//!             // `false` or an error: `is_leader` turns false on time.
//!             let _ = lease.renew();
//!         }
//!     }
//!     std::thread::sleep(Duration::from_secs(3));
//! #   break;
//! }
//! # let _ = routing;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Give operator commands (promote, rollback, ...) to the lease holder's
//! controller (through its admin API). Every replica's controller saves
//! like the leader's, so a command given to an up-to-date replica is
//! saved too, and the leader's next save then conflicts and it steps down;
//! given to a replica that is behind, it conflicts and is undone by the
//! next resync.
//!
//! # Failure model
//!
//! - Redis unreachable: [`RedisStore`] returns
//!   [`StoreError::Io`](fledge_rollout::StoreError::Io) naming the URL
//!   (password hidden), the key and what failed; the leader's controller
//!   keeps deciding and serving in memory (its decisions are applied before
//!   the save), followers keep serving what they had, and the leader's
//!   [`LeaderLease::is_leader`] turns `false` when the TTL passes without a
//!   renewal. Nothing panics; connections reopen by themselves.
//! - Two leaders (a paused leader wakes up after its lease expired): the
//!   snapshot's compare-and-swap makes the stale one's save fail with
//!   [`StoreError::Conflict`](fledge_rollout::StoreError::Conflict); a
//!   resync brings it back to the new leader's state.
//! - A corrupt or foreign value under the key is reported with the error of
//!   [`Snapshot::from_json`](fledge_rollout::Snapshot::from_json) and never
//!   overwritten; [`RedisStore::delete`] starts over.
//! - Redis losing the key (restarted without persistence, or
//!   [`RedisStore::delete`]): `resync` reports
//!   [`ControlError::StoreBehind`](fledge_rollout::control::ControlError::StoreBehind)
//!   (through [`RedisError::Resync`]) and every save of the existing
//!   controllers conflicts, while replicas keep serving their last traffic;
//!   rebuild the controllers (a controller built on an empty store starts
//!   the rollout over, with a new salt).
//! - The leader replaced the plan: followers report
//!   [`RedisError::PlanChanged`] and keep serving until the replica's
//!   controller is rebuilt with the new plan.
//! - Clock skew between replicas does not matter: Redis keeps the lease's
//!   TTL, and replicas only measure elapsed time on their own clocks.
//! - Replicas starting together on an empty store race to save the
//!   rollout's first snapshot: the losers' `build` fails with a conflict;
//!   building again resumes the winner's rollout.
//!
//! Event subscribers
//! ([`Controller::subscribe`](fledge_rollout::Controller::subscribe)) on
//! every replica see the leader's events: a resync hands them the events
//! their controller had not seen.
//!
//! # Limits
//!
//! The minimum supported Rust version is 1.85 (hence `redis` 1.2).
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

pub use coverage::{Coverage, DEFAULT_COVERAGE_FLOOR, DEFAULT_MERGED_SAMPLES};
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
