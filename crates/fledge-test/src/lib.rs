//! Test support for fledge's own test suites (not published).
//!
//! One copy of what the crates' tests kept writing again:
//!
//! - [`store`]: the conformance suite every [`Store`](fledge_rollout::Store)
//!   must pass (compare-and-swap, racing first saves, corrupt and foreign
//!   values left untouched, a controller resumed from another handle);
//!   the memory, file and Redis stores run it.
//! - [`clock`] and [`plans`]: a manual clock at a fixed epoch, the
//!   canonical plans, controllers built on them.
//! - [`server`]: an axum app served on a free loopback port from its own
//!   runtime, stopped on drop; a free loopback port.
//! - [`logs`]: structured `tracing` events captured by a test layer.
//! - [`redis`]: a real `redis-server` on a free loopback port (stop,
//!   restart, freeze, raw commands), killed on drop; never skipped.
//! - [`wait`]: polling until a condition holds, blocking or async.
//!
//! ```
//! use fledge_test::{clock, plans};
//!
//! let clock = clock::manual();
//! let controller = plans::controller(plans::canary("demo"), &clock);
//! assert_eq!(controller.traffic().candidate.bps(), 500);
//! ```

pub mod clock;
pub mod logs;
pub mod plans;
pub mod redis;
pub mod server;
pub mod store;
pub mod wait;
