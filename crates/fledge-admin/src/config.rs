//! Configuration: which rollouts, the token, read access, the operator's name.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use axum::Router;
use fledge_rollout::Controller;
use http::HeaderName;
use subtle::ConstantTimeEq;

/// The shortest admin token accepted, in characters.
pub const MIN_TOKEN_LEN: usize = 16;
/// The longest admin token accepted, in characters.
pub const MAX_TOKEN_LEN: usize = 1024;
/// The longest operator name accepted, in characters.
pub const MAX_OPERATOR_LEN: usize = 128;
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
    /// Two controllers run rollouts with the same name.
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

/// Who may read status and events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadAccess {
    /// Reads need the admin token, like commands (the default).
    #[default]
    Token,
    /// Anyone who can reach the API may read status and events. Commands
    /// still need the token.
    Open,
}

/// The bearer token, compared in constant time. Its `Debug` hides it.
#[derive(Clone)]
pub(crate) struct Token(Arc<[u8]>);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    fn new(token: &str) -> Result<Self, AdminError> {
        let len = token.chars().count();
        if !(MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&len) {
            return Err(AdminError::TokenLength { len });
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(AdminError::TokenCharacters);
        }
        Ok(Token(token.as_bytes().into()))
    }

    /// Whether `given` is the token. The time taken depends on the lengths
    /// only, never on where the bytes differ.
    pub(crate) fn matches(&self, given: &[u8]) -> bool {
        bool::from(self.0.as_ref().ct_eq(given))
    }
}

/// Where the operator recorded in events (`by`) comes from.
#[derive(Debug, Clone)]
pub(crate) enum Operator {
    /// Every command is recorded as given by this name.
    Fixed(String),
    /// The name is read from this header (set by an authenticating proxy);
    /// a command without it is refused.
    Header(HeaderName),
}

/// Checks an operator name: 1 to [`MAX_OPERATOR_LEN`] characters, no control characters.
pub(crate) fn valid_operator(name: &str) -> bool {
    let len = name.chars().count();
    (1..=MAX_OPERATOR_LEN).contains(&len) && !name.chars().any(char::is_control)
}

pub(crate) struct Shared {
    pub(crate) rollouts: BTreeMap<String, Arc<Controller>>,
    pub(crate) token: Token,
    pub(crate) reads: ReadAccess,
    pub(crate) operator: Operator,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admin")
            .field("rollouts", &self.rollouts.keys().collect::<Vec<_>>())
            .field("token", &self.token)
            .field("reads", &self.reads)
            .field("operator", &self.operator)
            .finish()
    }
}

/// The admin API over a set of rollouts: build it with [`Admin::builder`],
/// mount [`Admin::router`] in your service.
///
/// Cheap to clone (one `Arc`).
#[derive(Debug, Clone)]
pub struct Admin {
    pub(crate) shared: Arc<Shared>,
}

impl Admin {
    /// Starts configuring the API.
    pub fn builder() -> AdminBuilder {
        AdminBuilder::default()
    }

    /// The routes, to mount with [`Router::nest`] (e.g. under `/fledge`) or
    /// [`Router::merge`]. See the [crate docs](crate) for the table.
    pub fn router(&self) -> Router {
        crate::api::routes(self.shared.clone())
    }

    /// The names of the rollouts served, in order.
    pub fn rollouts(&self) -> impl Iterator<Item = &str> + '_ {
        self.shared.rollouts.keys().map(String::as_str)
    }
}

/// Configures an [`Admin`]; see [`Admin::builder`].
#[derive(Default)]
pub struct AdminBuilder {
    controllers: Vec<Arc<Controller>>,
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
    /// Serves this controller's rollout, addressed by its plan's name.
    pub fn rollout(mut self, controller: Arc<Controller>) -> Self {
        self.controllers.push(controller);
        self
    }

    /// Serves these controllers' rollouts.
    pub fn rollouts(mut self, controllers: impl IntoIterator<Item = Arc<Controller>>) -> Self {
        self.controllers.extend(controllers);
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
        let token = Token::new(self.token.as_deref().ok_or(AdminError::MissingToken)?)?;
        let mut rollouts = BTreeMap::new();
        for controller in self.controllers {
            let name = controller.plan().name;
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
            }),
        })
    }
}
