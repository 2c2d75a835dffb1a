//! Configuration: which rollouts, the token, read access, the operator's
//! name; checked once by [`AdminBuilder::build`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use axum::Router;
use fledge_rollout::control::Operate;
use http::HeaderName;

use crate::api;
use crate::state::{MAX_OPERATOR_LEN, Operator, ReadAccess, Shared, Token, valid_operator};

/// The shortest admin token accepted, in characters.
pub const MIN_TOKEN_LEN: usize = 16;
/// The longest admin token accepted, in characters.
pub const MAX_TOKEN_LEN: usize = 1024;
/// The operator recorded when no operator header is configured.
pub const DEFAULT_OPERATOR: &str = "admin";

/// Why an [`Admin`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// No token was given: mutating routes would be open to anyone.
    #[error(
        "no admin token: call AdminBuilder::token with a secret of at least {MIN_TOKEN_LEN} random characters (e.g. `openssl rand -hex 32`), read from the environment or a secret store"
    )]
    MissingToken,
    /// The token is too short or too long.
    #[error(
        "the admin token is {len} characters long; use {MIN_TOKEN_LEN} to {MAX_TOKEN_LEN} random characters (e.g. `openssl rand -hex 32`)"
    )]
    TokenLength {
        /// Its length.
        len: usize,
    },
    /// The token has characters that cannot travel in an `Authorization` header.
    #[error(
        "the admin token may hold only visible ASCII characters (no spaces, no control characters), as it travels in an `Authorization: Bearer` header"
    )]
    TokenCharacters,
    /// Two rollouts given to the builder have the same name.
    #[error(
        "two controllers run a rollout named {name:?}: rollouts are addressed by name, give their plans distinct names"
    )]
    DuplicateRollout {
        /// The name.
        name: String,
    },
    /// The operator header's name is not a valid HTTP header name.
    #[error("{header:?} is not a valid HTTP header name for the operator: {reason}")]
    OperatorHeader {
        /// The name given.
        header: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The fixed operator name is empty, too long or has control characters.
    #[error(
        "the operator name {name:?} is invalid: use 1 to {MAX_OPERATOR_LEN} characters without control characters"
    )]
    OperatorName {
        /// The name given.
        name: String,
    },
}

/// Checks the token's length and characters.
fn check_token(token: &str) -> Result<Token, AdminError> {
    let len = token.chars().count();
    if !(MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&len) {
        return Err(AdminError::TokenLength { len });
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AdminError::TokenCharacters);
    }
    Ok(Token::new(token))
}

/// The admin API over a set of rollouts: build it with [`Admin::builder`],
/// mount [`Admin::router`] in your service.
///
/// Cheap to clone (one `Arc`).
#[derive(Debug, Clone)]
pub struct Admin {
    shared: Arc<Shared>,
}

impl Admin {
    /// Starts configuring the API.
    pub fn builder() -> AdminBuilder {
        AdminBuilder::default()
    }

    /// The routes, to mount with [`Router::nest`] (e.g. under `/fledge`) or
    /// [`Router::merge`]. See the [crate docs](crate#routes) for the table.
    ///
    /// The router carries its own state, so it fits an application of any
    /// state type `S`: nest it before or after the application's
    /// `.with_state(..)`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use fledge_rollout::{Controller, PlanBuilder};
    /// use axum::{Router, extract::State, routing::get};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let controller = Arc::new(Controller::builder(PlanBuilder::canary("demo", "v1", "v2").build()?).build()?);
    /// #[derive(Clone)]
    /// struct AppState { greeting: &'static str }
    ///
    /// let admin = fledge_admin::Admin::builder()
    ///     .rollout(controller)
    ///     .token("a-long-random-secret-token")
    ///     .build()?;
    /// let app: Router = Router::new()
    ///     .route("/", get(|State(s): State<AppState>| async move { s.greeting }))
    ///     .nest("/fledge", admin.router())
    ///     .with_state(AppState { greeting: "hello" });
    /// # let _ = app;
    /// # Ok(())
    /// # }
    /// ```
    pub fn router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        api::routes(self.shared.clone())
    }

    /// The names of the rollouts served, in order.
    pub fn rollouts(&self) -> impl Iterator<Item = &str> + '_ {
        self.shared.rollouts.keys().map(String::as_str)
    }
}

/// A rollout the admin API can serve: an `Arc` of any
/// [`Operate`] implementation (a one-process
/// [`Controller`](fledge_rollout::Controller), a fleet member such as
/// `fledge_redis::Member`), or an `Arc<dyn Operate>`.
pub trait IntoOperate {
    /// The rollout as a trait object.
    fn into_operate(self) -> Arc<dyn Operate>;
}

impl<R: Operate + 'static> IntoOperate for Arc<R> {
    fn into_operate(self) -> Arc<dyn Operate> {
        self
    }
}

impl IntoOperate for Arc<dyn Operate> {
    fn into_operate(self) -> Arc<dyn Operate> {
        self
    }
}

/// Configures an [`Admin`]; see [`Admin::builder`].
#[derive(Default)]
pub struct AdminBuilder {
    controllers: Vec<Arc<dyn Operate>>,
    token: Option<String>,
    reads: ReadAccess,
    operator_header: Option<String>,
    operator: Option<String>,
}

impl fmt::Debug for AdminBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminBuilder")
            .field("controllers", &self.controllers.len())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("reads", &self.reads)
            .field("operator_header", &self.operator_header)
            .field("operator", &self.operator)
            .finish()
    }
}

impl AdminBuilder {
    /// Serves this rollout, addressed by its plan's name: an
    /// `Arc<Controller>` (one process), an `Arc` of a fleet member
    /// (`Arc<fledge_redis::Member>`: commands are forwarded to the fleet's
    /// leader, and the status shows the fleet), or any `Arc<dyn Operate>`.
    pub fn rollout(mut self, rollout: impl IntoOperate) -> Self {
        self.controllers.push(rollout.into_operate());
        self
    }

    /// Serves these rollouts (see [`rollout`](Self::rollout)).
    pub fn rollouts<R: IntoOperate>(mut self, rollouts: impl IntoIterator<Item = R>) -> Self {
        self.controllers
            .extend(rollouts.into_iter().map(IntoOperate::into_operate));
        self
    }

    /// The bearer token that commands need (required): `Authorization: Bearer
    /// <token>`. [`MIN_TOKEN_LEN`] to [`MAX_TOKEN_LEN`] visible ASCII
    /// characters; read it from the environment or a secret store.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Who may read status and events (default: [`ReadAccess::Token`]).
    pub fn read_access(mut self, reads: ReadAccess) -> Self {
        self.reads = reads;
        self
    }

    /// Records as the operator (`by`) of each command the value of this
    /// header, which an authenticating proxy in front of the API sets (e.g.
    /// `x-forwarded-user`, `x-auth-request-user`). A command without the
    /// header is refused with 400. Only trust it if the proxy strips the
    /// header from the requests it forwards.
    pub fn operator_header(mut self, header: impl Into<String>) -> Self {
        self.operator_header = Some(header.into());
        self
    }

    /// Records every command as given by `name`, when no operator header is
    /// configured (default: [`DEFAULT_OPERATOR`]).
    pub fn operator(mut self, name: impl Into<String>) -> Self {
        self.operator = Some(name.into());
        self
    }

    /// Checks the configuration.
    pub fn build(self) -> Result<Admin, AdminError> {
        let token = check_token(self.token.as_deref().ok_or(AdminError::MissingToken)?)?;
        let mut rollouts = BTreeMap::new();
        for controller in self.controllers {
            let name = controller.controller().plan().name;
            if rollouts.contains_key(&name) {
                return Err(AdminError::DuplicateRollout { name });
            }
            rollouts.insert(name, controller);
        }
        let operator = match self.operator_header {
            Some(header) => match HeaderName::try_from(header.as_str()) {
                Ok(name) => Operator::Header(name),
                Err(e) => {
                    return Err(AdminError::OperatorHeader {
                        header,
                        reason: e.to_string(),
                    });
                }
            },
            None => {
                let name = self.operator.unwrap_or_else(|| DEFAULT_OPERATOR.to_owned());
                if !valid_operator(&name) {
                    return Err(AdminError::OperatorName { name });
                }
                Operator::Fixed(name)
            }
        };
        Ok(Admin {
            shared: Arc::new(Shared {
                rollouts,
                token,
                reads: self.reads,
                operator,
                fleet_views: Mutex::new(BTreeMap::new()),
            }),
        })
    }
}
