//! [`Fleet`]: the Redis server a fleet of replicas shares, and the
//! connection handling behind every type of the crate.

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use std::future::Future;

use fledge_rollout::Plan;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection, PubSub};

use crate::error::RedisError;
use crate::lease::LeaderLease;
use crate::member::JoinBuilder;
use crate::replica::ReplicaId;
use crate::store::RedisStore;
use crate::summaries::Summaries;

/// The default key prefix: keys are `fledge:rollout:<name>` and so on.
pub const DEFAULT_KEY_PREFIX: &str = "fledge:";
/// How long connecting may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one command may take by default (sending it and reading the answer).
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(2);

/// The Redis server the replicas of a fleet share: its URL, the key prefix
/// and the timeouts. Makes [`RedisStore`]s and [`LeaderLease`]s; each of
/// them opens its own connection when first used and reopens it after a
/// failure, so a Redis restart needs no action.
///
/// Opening checks the URL only; nothing is contacted until the first
/// command ([`ping`](Fleet::ping) checks reachability up front).
///
/// A replica usually needs, per rollout, one [`store`](Fleet::store) for
/// its one controller (every replica builds its controller on it and
/// follows it with a [`Follower`](crate::Follower)), one more for the
/// follower's announcements, and one [`lease`](Fleet::lease): the holder
/// resyncs its controller once, then ticks it. See the crate
/// documentation.
///
/// Keys, for a rollout `NAME` and the prefix `P` (default `fledge:`):
///
/// | key | type | holds |
/// |---|---|---|
/// | `P` `rollout:NAME` | string | the rollout's [`Snapshot`](fledge_rollout::Snapshot) as JSON |
/// | `P` `rollout:NAME:saved` | pub/sub channel | the new version, published after every save |
/// | `P` `lease:NAME` | string with a TTL | the leader's token, `holder/nonce` |
#[derive(Clone)]
pub struct Fleet {
    client: redis::Client,
    url: String,
    prefix: String,
    connect_timeout: Duration,
    io_timeout: Duration,
}

impl fmt::Debug for Fleet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fleet")
            .field("url", &self.url)
            .field("prefix", &self.prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("io_timeout", &self.io_timeout)
            .finish()
    }
}

impl Fleet {
    /// A fleet on the Redis server at `url` (`redis://host:port/db`,
    /// `redis://:password@host`, `unix:///path/to/socket`). Checks the URL
    /// only: [`RedisError::Url`] if it cannot be used.
    pub fn open(url: impl AsRef<str>) -> Result<Fleet, RedisError> {
        let url = url.as_ref();
        #[cfg(feature = "tls")]
        {
            // One process-wide crypto provider for rustls; if the
            // application installed one already, that one stays.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let shown = redact(url);
        let client = redis::Client::open(url).map_err(|e| RedisError::Url {
            url: shown.clone(),
            detail: e.to_string(),
        })?;
        Ok(Fleet {
            client,
            url: shown,
            prefix: DEFAULT_KEY_PREFIX.to_owned(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            io_timeout: DEFAULT_IO_TIMEOUT,
        })
    }

    /// Prefixes every key with `prefix` (default [`DEFAULT_KEY_PREFIX`]),
    /// to share one Redis between environments or applications.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long connecting may take (default [`DEFAULT_CONNECT_TIMEOUT`]).
    /// A zero duration is taken as 1 ms.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long one command may take (default [`DEFAULT_IO_TIMEOUT`]), so a
    /// hung server cannot block a controller's tick for ever. A zero
    /// duration is taken as 1 ms.
    pub fn io_timeout(mut self, timeout: Duration) -> Self {
        self.io_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The server's URL, with any password hidden.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The store of rollout `rollout`'s snapshots (key `<prefix>rollout:<rollout>`).
    pub fn store(&self, rollout: &str) -> RedisStore {
        RedisStore::new(self, rollout)
    }

    /// The leader lease of rollout `rollout`, contended for by `holder` (a
    /// name for this replica, such as its host name; shown by
    /// [`LeaderLease::current_holder`]). See [`LeaderLease`].
    pub fn lease(&self, rollout: &str, holder: &str) -> LeaderLease {
        LeaderLease::new(self, rollout, holder)
    }

    /// Joins this replica to rollout `plan` on the fleet: configure with the
    /// returned builder, then [`spawn`](JoinBuilder::spawn) it on tokio (or
    /// [`start`](JoinBuilder::start) it on its own threads). See
    /// [`Member`](crate::Member).
    pub fn join(&self, plan: Plan, replica: ReplicaId) -> JoinBuilder {
        JoinBuilder::new(self.clone(), plan, replica)
    }

    /// The window summaries the replicas of rollout `rollout` publish (what
    /// a member does by itself; for tools and simulations).
    pub fn summaries(&self, rollout: &str) -> Summaries {
        Summaries::new(self, rollout)
    }

    /// Checks that the server answers `PING`.
    pub fn ping(&self) -> Result<(), RedisError> {
        let conn = Conn::new(self);
        conn.run("answering PING", |con| {
            redis::cmd("PING").query::<String>(con).map(|_| ())
        })
    }

    /// How long one command may take.
    pub(crate) fn io_limit(&self) -> Duration {
        self.io_timeout
    }

    /// A multiplexed async connection that reconnects by itself, opened on
    /// first use (call within a tokio runtime).
    pub(crate) fn manager(&self) -> Result<ConnectionManager, RedisError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.io_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            .map_err(|e| self.error("opening a connection", &e))
    }

    /// A new async connection without a response timeout, for blocking
    /// commands (`BLPOP`) bounded by their own timeout.
    pub(crate) async fn dedicated(&self, what: &str) -> Result<MultiplexedConnection, RedisError> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(None);
        self.io(what, self.connect_timeout, async {
            self.client
                .get_multiplexed_async_connection_with_config(&config)
                .await
        })
        .await
    }

    /// A new pub/sub connection.
    pub(crate) async fn pubsub(&self, what: &str) -> Result<PubSub, RedisError> {
        self.io(what, self.connect_timeout, self.client.get_async_pubsub())
            .await
    }

    /// Runs an async Redis operation within `limit`, naming its failure.
    pub(crate) async fn io<T>(
        &self,
        what: &str,
        limit: Duration,
        op: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, RedisError> {
        match tokio::time::timeout(limit, op).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.error(what, &e)),
            Err(_) => Err(RedisError::Unreachable {
                url: self.url.clone(),
                what: what.to_owned(),
                detail: format!("no answer within {limit:?}"),
            }),
        }
    }

    pub(crate) fn key(&self, kind: &str, rollout: &str) -> String {
        format!("{}{kind}:{rollout}", self.prefix)
    }

    /// A new connection, subscribed to nothing, with the I/O timeout set.
    pub(crate) fn connect(&self, what: &str) -> Result<redis::Connection, RedisError> {
        let con = self
            .client
            .get_connection_with_timeout(self.connect_timeout)
            .map_err(|e| self.error(&format!("{what} (connecting)"), &e))?;
        con.set_read_timeout(Some(self.io_timeout))
            .and_then(|()| con.set_write_timeout(Some(self.io_timeout)))
            .map_err(|e| self.error(&format!("{what} (setting timeouts)"), &e))?;
        Ok(con)
    }

    /// Names a client error: unreachable (I/O) or refused (the server said no).
    pub(crate) fn error(&self, what: &str, e: &redis::RedisError) -> RedisError {
        if is_transport(e) {
            RedisError::Unreachable {
                url: self.url.clone(),
                what: what.to_owned(),
                detail: e.to_string(),
            }
        } else {
            RedisError::Refused {
                url: self.url.clone(),
                what: what.to_owned(),
                detail: e.to_string(),
            }
        }
    }
}

/// Whether the error is about the connection rather than the command.
pub(crate) fn is_transport(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
}

/// One lazily opened connection, reopened after a transport failure.
pub(crate) struct Conn {
    fleet: Fleet,
    slot: Mutex<Option<redis::Connection>>,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let connected = self
            .slot
            .lock()
            .map(|s| s.is_some())
            .unwrap_or_else(|p| p.into_inner().is_some());
        f.debug_struct("Conn")
            .field("url", &self.fleet.url)
            .field("connected", &connected)
            .finish()
    }
}

/// Where a [`Conn::run`] failed: before the command was sent, or after
/// (when its effect is unknown).
#[derive(Debug)]
pub(crate) enum Failure {
    /// Connecting failed: the command was not sent.
    Connect(RedisError),
    /// The command failed; on a transport failure it may have run.
    Command {
        /// The error.
        error: RedisError,
        /// Whether it was a transport failure (the effect is unknown).
        transport: bool,
    },
}

impl Failure {
    pub(crate) fn into_error(self) -> RedisError {
        match self {
            Failure::Connect(e) | Failure::Command { error: e, .. } => e,
        }
    }
}

impl Conn {
    pub(crate) fn new(fleet: &Fleet) -> Self {
        Conn {
            fleet: fleet.clone(),
            slot: Mutex::new(None),
        }
    }

    pub(crate) fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    /// Runs `f` on the connection (opening it first if needed).
    pub(crate) fn run<T>(
        &self,
        what: &str,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, RedisError> {
        self.try_run(what, f).map_err(Failure::into_error)
    }

    /// [`run`](Self::run), telling a failure to connect from a failed command.
    pub(crate) fn try_run<T>(
        &self,
        what: &str,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, Failure> {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        let con = match slot.take() {
            Some(con) => slot.insert(con),
            None => slot.insert(self.fleet.connect(what).map_err(Failure::Connect)?),
        };
        match f(con) {
            Ok(v) => Ok(v),
            Err(e) => {
                let transport = is_transport(&e);
                if transport {
                    // The connection may be out of step (a late answer):
                    // start afresh next time.
                    *slot = None;
                }
                Err(Failure::Command {
                    error: self.fleet.error(what, &e),
                    transport,
                })
            }
        }
    }
}

/// `url` with the password (and a user name's password) replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    let mut shown = match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (authority, tail) = rest.split_at(authority_end);
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => {
                    let hidden = match userinfo.split_once(':') {
                        Some((user, _)) => format!("{user}:***"),
                        // Not a form redis accepts, but hide it anyway.
                        None => "***".to_owned(),
                    };
                    format!("{scheme}://{hidden}@{host}{tail}")
                }
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    };
    // Unix socket URLs can carry the password as a query parameter.
    if let Some(query) = shown.find('?')
        && let Some(at) = shown[query..].find("pass=").map(|p| query + p + 5)
    {
        let end = shown[at..].find('&').map_or(shown.len(), |e| at + e);
        shown.replace_range(at..end, "***");
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact("redis://127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
        assert_eq!(
            redact("redis://:s3cret@db.internal:6379/2"),
            "redis://:***@db.internal:6379/2"
        );
        assert_eq!(
            redact("rediss://app:p@ss@db:6380"),
            "rediss://app:***@db:6380"
        );
        assert_eq!(redact("unix:///run/redis.sock"), "unix:///run/redis.sock");
        assert_eq!(
            redact("unix://x@/run/redis.sock?db=1&pass=secret"),
            "unix://***@/run/redis.sock?db=1&pass=***"
        );
        assert_eq!(
            redact("unix:///run/redis.sock?pass=secret"),
            "unix:///run/redis.sock?pass=***"
        );
        assert_eq!(redact("not a url"), "not a url");
    }

    #[test]
    fn a_bad_url_is_a_typed_error_without_the_password() {
        let err = Fleet::open("http://:hunter2@example.com").unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, RedisError::Url { .. }), "{err:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("expected redis://"), "{text}");
    }

    #[test]
    fn keys_use_the_prefix() {
        let fleet = Fleet::open("redis://127.0.0.1:1/")
            .unwrap()
            .key_prefix("staging:fledge:");
        assert_eq!(
            fleet.key("rollout", "predict"),
            "staging:fledge:rollout:predict"
        );
        assert_eq!(fleet.prefix(), "staging:fledge:");
    }
}
