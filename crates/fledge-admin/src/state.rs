//! What every route shares: the rollouts by name, the token, who may read,
//! and where the operator's name comes from. A leaf: the configuration
//! (`config`) builds it, the routes (`api`) read it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use fledge_rollout::control::{FleetView, Operate};
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

/// How long a rollout's fleet view is reused: every open dashboard polls
/// the status every second, and reading a fleet's view reads every
/// replica's last summary from Redis.
pub(crate) const FLEET_VIEW_REUSE: Duration = Duration::from_secs(1);

/// The routes' state, behind one `Arc`.
pub(crate) struct Shared {
    pub(crate) rollouts: BTreeMap<String, Arc<dyn Operate>>,
    pub(crate) token: Token,
    pub(crate) reads: ReadAccess,
    pub(crate) operator: Operator,
    /// The last fleet view read per rollout, and when.
    pub(crate) fleet_views: Mutex<BTreeMap<String, (Instant, Option<FleetView>)>>,
}

impl Shared {
    /// The fleet `rollout` runs on (`None`: one process), read at most once
    /// per [`FLEET_VIEW_REUSE`]; a reused view's summary ages are advanced
    /// by the time since it was read. Blocks (a fleet reads Redis): call it
    /// off the async workers.
    pub(crate) fn fleet_view(&self, name: &str, rollout: &dyn Operate) -> Option<FleetView> {
        let cached = self
            .fleet_views
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned();
        if let Some((at, view)) = cached {
            let elapsed = at.elapsed();
            if elapsed < FLEET_VIEW_REUSE {
                return view.map(|mut v| {
                    for r in &mut v.replicas {
                        r.summary_age = r.summary_age.map(|a| a + elapsed);
                    }
                    v
                });
            }
        }
        let view = rollout.fleet();
        self.fleet_views
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), (Instant::now(), view.clone()));
        view
    }
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
