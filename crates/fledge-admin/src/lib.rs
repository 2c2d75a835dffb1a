//! Control API and live dashboard for fledge rollouts, on axum.
//!
//! Mount [`Admin::router`] next to your service (e.g. under `/fledge`) and an
//! operator can see where each rollout stands, read why it did what it did,
//! and take the wheel: promote, pause, resume, roll back, set the weight.
//! Every command goes through the rollout's [`Controller`], so it is recorded
//! in the event log with the operator and their reason, persisted like any
//! other transition, and refused (409) when the state machine refuses it.
//!
//! # Routes
//!
//! | method | path | what | auth |
//! |---|---|---|---|
//! | `GET` | `/` | the live dashboard (one HTML page, polls `/rollouts` every second) | none (it holds no data) |
//! | `GET` | `/rollouts` | [`RolloutList`]: every rollout's status | reads |
//! | `GET` | `/rollouts/{name}` | [`RolloutStatus`]: plan summary, phase, step, weights, since, salt, last verdict per check, counters, recent events | reads |
//! | `GET` | `/rollouts/{name}/events?since=N&limit=M` | [`EventPage`]: the history from event `N` ("why did it roll back?") | reads |
//! | `POST` | `/rollouts/{name}/{command}` | `promote`, `promote-full`, `pause`, `resume`, `approve`, `freeze`, `rollback`, `abort`, `restart`; body `{"reason": ".."}` or empty; answers the resulting [`EventView`] | token |
//! | `POST` | `/rollouts/{name}/weight` | body `{"weight": 25.0, "reason": ".."}` (percent, at most the current step's; pauses the rollout) | token |
//!
//! Errors answer an [`ErrorBody`] `{"error": "..", "field": ".."}`: 400 for
//! a malformed body, a weight out of range or a missing operator header
//! (`field` names the culprit), 401 without the token, 404 for an unknown
//! rollout or command, 409 when the state machine refuses the command (the
//! refusal is also in the event log), 413 above [`MAX_BODY_BYTES`], 500 when
//! the command was applied but its snapshot could not be saved.
//!
//! # Security
//!
//! **This API changes what production traffic gets: never expose it
//! publicly.** Serve it on an internal port or behind an authenticating
//! proxy, over TLS.
//!
//! - Commands need `Authorization: Bearer <token>`; the token is required
//!   at build time ([`AdminBuilder::token`], at least [`MIN_TOKEN_LEN`]
//!   characters) and compared in constant time. Reads need it too unless
//!   [`ReadAccess::Open`].
//! - The operator recorded in events (`by`) is [`DEFAULT_OPERATOR`], a name
//!   of your choice ([`AdminBuilder::operator`]), or a header your
//!   authenticating proxy sets ([`AdminBuilder::operator_header`]).
//! - The token travels in a header, never a cookie, so other sites cannot
//!   make a browser send commands. The dashboard keeps it in the tab's
//!   `sessionStorage`, builds its view from text nodes only, and is served
//!   with a strict `Content-Security-Policy`.
//!
//! # Example
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
//! The minimum supported Rust version is 1.85.
//!
//! [`Controller`]: fledge_rollout::Controller

#![forbid(unsafe_code)]

mod api;
mod config;
mod dashboard;
mod view;

use std::sync::Arc;

use axum::Router;
use fledge_rollout::Controller;

pub use api::{MAX_BODY_BYTES, MAX_EVENTS_PAGE, MAX_REASON_LEN};
pub use config::{
    Admin, AdminBuilder, AdminError, DEFAULT_OPERATOR, MAX_OPERATOR_LEN, MAX_TOKEN_LEN,
    MIN_TOKEN_LEN, ReadAccess,
};
pub use dashboard::DASHBOARD_HTML;
pub use view::{
    CheckView, Counters, ErrorBody, EventPage, EventView, RECENT_EVENTS, Role, RolloutList,
    RolloutStatus, StepView, VerdictView, VersionWeight,
};

/// The admin routes over `controllers` with `token`, reads behind the token
/// and commands recorded as given by [`DEFAULT_OPERATOR`]. Use
/// [`Admin::builder`] for the other settings.
///
/// ```
/// # use std::sync::Arc;
/// # use fledge_rollout::{Controller, PlanBuilder};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let controller = Arc::new(Controller::builder(PlanBuilder::canary("demo", "v1", "v2").build()?).build()?);
/// let app = axum::Router::new().nest("/fledge", fledge_admin::router([controller], "a-long-random-secret-token")?);
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
pub fn router(
    controllers: impl IntoIterator<Item = Arc<Controller>>,
    token: impl Into<String>,
) -> Result<Router, AdminError> {
    Ok(Admin::builder()
        .rollouts(controllers)
        .token(token)
        .build()?
        .router())
}
