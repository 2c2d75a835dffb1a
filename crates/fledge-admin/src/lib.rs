//! Control API and live dashboard for fledge rollouts, on axum.
//!
//! Mount [`Admin::router`] in your service (e.g. under `/fledge`) and an
//! operator can see where each rollout stands, how each version has served
//! since it started (charts on the dashboard, the series endpoint for
//! tools), read why it did what it did, and take the wheel: promote, pause,
//! resume, roll back, set the weight. Mounted on every replica of a fleet
//! (fledge-redis), it answers from any of them: commands are forwarded to
//! the leader and the status lists the replicas (see [Fleets](crate#fleets)).
//! The router carries its own state, so it nests into an application of any
//! state type.
//!
//! ```
//! use std::sync::Arc;
//! use axum::{Router, routing::get};
//! use fledge_admin::{Admin, ReadAccess};
//! use fledge_rollout::{Controller, Plan};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let plan = Plan::from_toml(r#"
//!     name = "predict-v2"
//!     baseline = "v1"
//!     candidate = "v2"
//!     steps = [5, 25, 50, 100]
//!     interval = "30s"
//! "#)?;
//! let controller = Arc::new(Controller::builder(plan).build()?);
//!
//! // In production, read the token from the environment or a secret store.
//! let token = std::env::var("FLEDGE_ADMIN_TOKEN")
//!     .unwrap_or_else(|_| "a-long-random-secret-token".to_owned());
//! let admin = Admin::builder()
//!     .rollout(controller.clone())
//!     .token(token)
//!     .read_access(ReadAccess::Open)
//!     .operator_header("x-forwarded-user")
//!     .build()?;
//!
//! let app: Router = Router::new()
//!     .route("/predict", get(|| async { "..." }))
//!     .nest("/fledge", admin.router()); // dashboard at /fledge, API at /fledge/rollouts
//! // axum::serve(listener, app).await?;
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! # Routes
//!
#![doc = include_str!("docs/routes.md")]
//!
//! # Series
//!
#![doc = include_str!("docs/series.md")]
//!
//! # Dashboard
//!
#![doc = include_str!("docs/dashboard.md")]
//!
//! # Fleets
//!
#![doc = include_str!("docs/fleets.md")]
//!
//! # Security
//!
#![doc = include_str!("docs/security.md")]
//!
//! # Logging
//!
#![doc = include_str!("docs/logging.md")]
//!
//! The minimum supported Rust version is 1.89.

#![forbid(unsafe_code)]

mod api;
mod command;
mod config;
mod csp;
mod dashboard;
mod error;
mod state;
mod view;

use axum::Router;

pub use api::MAX_EVENTS_PAGE;
pub use command::{MAX_BODY_BYTES, MAX_REASON_LEN};
pub use config::{
    Admin, AdminBuilder, AdminError, DEFAULT_OPERATOR, IntoOperate, MAX_TOKEN_LEN, MIN_TOKEN_LEN,
};
pub use dashboard::DASHBOARD_HTML;
pub use state::{MAX_OPERATOR_LEN, ReadAccess};
pub use view::{
    CheckView, Counters, ErrorBody, EventPage, EventView, FleetView, MetricMean, RECENT_EVENTS,
    ReplicaView, Role, RolloutList, RolloutStatus, Series, SeriesLimit, SeriesPoint, StepView,
    VerdictView, VersionPoint, WeightView,
};

/// The admin routes over `controllers` (any [`IntoOperate`]: controllers,
/// fleet members) with `token`, reads behind the token and commands
/// recorded as given by [`DEFAULT_OPERATOR`]. Use [`Admin::builder`] for the
/// other settings.
///
/// Like [`Admin::router`], the router fits an application of any state `S`.
///
/// ```
/// # use std::sync::Arc;
/// # use fledge_rollout::{Controller, PlanBuilder};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let controller = Arc::new(Controller::builder(PlanBuilder::canary("demo", "v1", "v2").build()?).build()?);
/// let app: axum::Router = axum::Router::new()
///     .nest("/fledge", fledge_admin::router([controller], "a-long-random-secret-token")?);
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
pub fn router<S, R>(
    controllers: impl IntoIterator<Item = R>,
    token: impl Into<String>,
) -> Result<Router<S>, AdminError>
where
    S: Clone + Send + Sync + 'static,
    R: IntoOperate,
{
    Ok(Admin::builder()
        .rollouts(controllers)
        .token(token)
        .build()?
        .router())
}
