//! Fleet support for fledge on Redis: many replicas of a serving process run
//! one rollout together.
//!
//! - [`RedisStore`]: a [`Store`](fledge_rollout::Store) keeping the
//!   rollout's snapshot in one Redis key, saved by an atomic
//!   compare-and-swap (a Lua script), so a restarted or replacement
//!   controller resumes the same step with the same sticky salt, and two
//!   controllers can never silently overwrite each other.
//! - [`LeaderLease`]: one replica at a time holds the lease and runs the
//!   controller; the lease expires by itself if its holder stops renewing.
//! - [`Follower`]: the other replicas apply the leader's published split to
//!   their own selector, on every save's pub/sub announcement or by polling.
//!
//! Sticky hashing is deterministic, so every replica sends a user to the
//! same version without asking the others; only the split and the salt
//! travel through Redis.
//!
//! Every replica serves with a controller built from the store (its
//! `Routing` goes to the tower layer) and keeps it in step with a
//! [`Follower`]; the replica holding the [`LeaderLease`] also runs the
//! control loop, on a controller it builds when it takes the lease (so it
//! resumes the latest state). The serving controllers never tick.
//!
//! ```no_run
//! use std::time::Duration;
//! use fledge_redis::{Fleet, Follower};
//! use fledge_rollout::{Controller, Plan};
//!
//! let plan = Plan::from_toml(r#"
//!     name = "predict-v2"
//!     baseline = "v1"
//!     candidate = "v2"
//!     steps = [5, 25, 50, 100]
//!     interval = "30s"
//! "#)?;
//! let fleet = Fleet::open("redis://127.0.0.1:6379/")?.key_prefix("prod:fledge:");
//!
//! // Serving, on every replica: resumes the rollout's step and salt from
//! // Redis, then follows every save of the leader.
//! let serving = Controller::builder(plan.clone()).store(fleet.store("predict-v2")).build()?;
//! let routing = serving.routing().clone(); // hand it to the tower layer
//! let _following = Follower::for_controller(fleet.store("predict-v2"), &serving)
//!     .spawn_with_notifications(&fleet.store("predict-v2"), Duration::from_secs(1));
//!
//! // Control, on the replica holding the lease.
//! let lease = fleet.lease("predict-v2", "replica-a").with_ttl(Duration::from_secs(9));
//! loop {
//!     if lease.try_acquire()? {
//!         // Judge with fleet-wide metrics (`.evaluator(..)`): this
//!         // controller's own recorder sees no requests.
//!         let control = Controller::builder(plan.clone()).store(fleet.store("predict-v2")).build()?;
//!         while lease.is_leader() {
//!             if let Err(e) = control.tick_now() {
//!                 eprintln!("{e}"); // a Conflict: another leader took over
//!                 break;
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
//! # Failure model
//!
//! - Redis unreachable: [`RedisStore`] returns
//!   [`StoreError::Io`](fledge_rollout::StoreError::Io) naming the URL
//!   (password hidden), the key and what failed; the controller keeps
//!   serving and publishing in memory (its decisions are applied before the
//!   save), followers keep their last split, and the leader's
//!   [`LeaderLease::is_leader`] turns `false` when the TTL passes without a
//!   renewal. Nothing panics; connections reopen by themselves.
//! - Two leaders (a paused leader wakes up after its lease expired): the
//!   snapshot's compare-and-swap makes the stale one's save fail with
//!   [`StoreError::Conflict`](fledge_rollout::StoreError::Conflict).
//! - A corrupt or foreign value under the key is reported with the error of
//!   [`Snapshot::from_json`](fledge_rollout::Snapshot::from_json) and never
//!   overwritten; [`RedisStore::delete`] starts over.
//! - Clock skew between replicas does not matter: Redis keeps the lease's
//!   TTL, and replicas only measure elapsed time on their own clocks.
//!
//! - Replicas starting together on an empty store race to save the
//!   rollout's first snapshot: the losers' `build` fails with a conflict;
//!   building again resumes the winner's rollout.
//!
//! # Limits
//!
//! A follower applies the split (candidate weight) to a controller's
//! `Routing`; a new salt (after a restart of the rollout), targeting rules
//! and the mirror share stay those the controller was built with, because
//! `fledge-rollout` has no public way to set them from outside: see
//! [`Follower`].
//!
//! The minimum supported Rust version is 1.85 (hence `redis` 1.2).
#![forbid(unsafe_code)]

mod error;
mod fleet;
mod follower;
mod lease;
mod store;

pub use error::RedisError;
pub use fleet::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_IO_TIMEOUT, DEFAULT_KEY_PREFIX, Fleet};
pub use follower::{Followed, Follower, FollowerHandle};
pub use lease::{DEFAULT_LEASE_TTL, LeaderLease, LeaseHolder};
pub use store::RedisStore;
