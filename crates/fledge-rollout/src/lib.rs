//! The rollout engine of fledge: plans, the pure state machine, the
//! controller, persistence and the tokio driver. No HTTP.
//!
//! ```
//! use std::time::Duration;
//! use fledge_gate::clock::{ManualClock, Timestamp};
//! use fledge_rollout::{Controller, Plan};
//! use fledge_rollout::machine::PhaseName;
//!
//! // 1. A plan is data (TOML, JSON or YAML), checked when read.
//! let plan = Plan::from_toml(r#"
//!     name = "predict-v2"
//!     baseline = "v1"
//!     candidate = "v2"
//!     steps = [5, 25, 50, 100]
//!     interval = "30s"
//!
//!     [[gates]]
//!     name = "p99 latency"
//!     kind = "threshold"
//!     metric = "latency_p99"
//!     max = 50.0
//!     min_samples = 20
//! "#)?;
//!
//! // 2. The controller joins a selector, the gates, the state machine and a store.
//! let clock = ManualClock::new(Timestamp::from_millis(0));
//! let controller = Controller::builder(plan).clock(clock.clone()).build()?;
//! let routing = controller.routing(); // what the request path reads, lock-free
//! assert_eq!(controller.traffic().candidate.bps(), 500); // 5 %
//!
//! // 3. Request path: route by sticky key, call the version, record the outcome.
//! for user in 0..2_000 {
//!     let key = format!("user-{user}");
//!     let version = routing.route(Some(key.as_bytes()), &());
//!     let slow = version == routing.candidate(); // v2 regressed: 80 ms
//!     let latency = Duration::from_millis(if slow { 80 } else { 12 });
//!     routing.recorder().record(version.get(), latency, false);
//! }
//!
//! // 4. Control path: one tick judges, transitions and publishes.
//! let report = controller.tick(clock.advance(Duration::from_secs(1)))?;
//! assert_eq!(report.state.phase.name(), PhaseName::RolledBack);
//! assert_eq!(controller.traffic().candidate.bps(), 0); // in this very tick
//! println!("{}", report.events[0].reason); // why: "gate failed ... p99 latency ..."
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The three paths
//!
//! - **Request path** (every request, no locks, no allocation): [`RolloutRouting`]
//!   — targeting rules, sticky bucket, the selector's split, and the gate
//!   recorder. Obtained from [`Controller::routing`].
//! - **Control path** (once per tick): [`Controller::tick`] → windows →
//!   judge → [`machine::Machine::transition`] → [`machine::Action`]s: publish a
//!   split (one atomic swap), emit an [`machine::Event`], persist a
//!   [`store::Snapshot`]. Time is injected (`now`), so every rollout can be
//!   replayed. [`driver`] (feature `tokio`) calls `tick` on an interval.
//! - **Feedback path** (late ground truth): record custom metrics declared
//!   in the plan's `metrics` into [`RolloutRouting::recorder`]; gates read them
//!   like latency.
//!
//! # Modules
//!
//! | module | what |
//! |---|---|
//! | [`plan`] | [`Plan`] (serde, `deny_unknown_fields`), validation with [`plan::PlanError`], builders (canary, linear, phased audiences, [`plan::BlueGreenBuilder`], [`plan::ShadowFirstBuilder`]), targeting rules |
//! | [`machine`] | the pure state machine `(state, input, now) -> (state, actions)`, events, replay |
//! | [`control`] | [`Controller`], [`RolloutRouting`], the gate evaluator, confirm hooks, subscribers, [`control::BlueGreenStatus`] |
//! | [`store`] | the [`store::Store`] trait, [`store::MemoryStore`], [`store::FileStore`] |
//! | [`registry`] | named versions (`Arc<T>`) and atomically repointed aliases |
//! //! | [`driver`] | the tokio driver (feature `tokio`) |
//! | [`duration`] | `"30s"`-style durations |
//! | [`log`] | the structured `tracing` events the controller and the driver emit, and [`log::RateLimited`] |
//!
//! # Features
//!
//! - `tokio`: the [`driver`] module. Off by default: the crate itself has no
//!   async runtime.
//!
//! The minimum supported Rust version is 1.89.
#![cfg_attr(feature = "tokio", doc = "\n\n[`driver`]: crate::driver")]
#![cfg_attr(not(feature = "tokio"), doc = "\n\n[`driver`]: crate#features")]
#![forbid(unsafe_code)]

pub mod control;
#[cfg(feature = "tokio")]
pub mod driver;
pub mod duration;
mod gates;
pub mod log;
pub mod machine;
pub mod plan;
pub mod registry;
pub mod store;

#[doc(inline)]
pub use control::{ControlError, Controller, RolloutRouting, Routed};
#[doc(inline)]
pub use machine::{Command, Event, EventKind, Machine, Phase, State};
#[doc(inline)]
pub use plan::{Plan, PlanBuilder, PlanError};
#[doc(inline)]
pub use registry::VersionRegistry;
#[doc(inline)]
pub use store::{FileStore, MemoryStore, Snapshot, Store, StoreError};
