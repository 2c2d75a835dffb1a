//! What every route shares: the rollouts by name, the token, who may read,
//! and where the operator's name comes from. A leaf: the configuration
//! (`config`) builds it, the routes (`api`) read it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use fledge_rollout::Controller;
use http::HeaderName;
use subtle::ConstantTimeEq;

/// The longest operator name accepted, in characters.
pub const MAX_OPERATOR_LEN: usize = 128;

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
///
/// It holds whatever it is given: the configuration checks the length and
/// the characters before building one.
#[derive(Clone)]
pub(crate) struct Token(Arc<[u8]>);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// A token of these bytes (already checked).
    pub(crate) fn new(token: &str) -> Self {
        Token(token.as_bytes().into())
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

/// The routes' state, behind one `Arc`.
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
