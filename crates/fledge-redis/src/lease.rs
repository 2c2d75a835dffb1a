//! [`LeaderLease`]: one replica at a time ticks the rollout's controller.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use crate::error::RedisError;
use crate::fleet::{Conn, Fleet};

/// The default time to live of a lease.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(10);

/// Takes the lease if it is free, or extends it if we hold it.
/// `KEYS[1]`: the lease key; `ARGV`: our token, the TTL in milliseconds.
const ACQUIRE_SCRIPT: &str = r#"
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if cur then
  return 0
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
"#;

/// Extends the lease only if our token still holds it.
const RENEW_SCRIPT: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"#;

/// Deletes the lease only if our token still holds it (also the fleet
/// member's leader lease).
const RELEASE_SCRIPT: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"#;

static ACQUIRE: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(ACQUIRE_SCRIPT));
static RENEW: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(RENEW_SCRIPT));
pub(crate) static RELEASE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(RELEASE_SCRIPT));

/// Who holds a lease, as Redis sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    /// The holder's name, as given to [`Fleet::lease`].
    pub holder: String,
    /// The full token (`holder/nonce`): tells two processes with the same
    /// name apart.
    pub token: String,
    /// How long the lease lives unless renewed (`None`: no expiry was set,
    /// which this crate never does).
    pub expires_in: Option<Duration>,
}

/// A leader lease on Redis: at most one replica at a time holds it, ticks
/// its controller (and takes operator commands), so it is the one saving
/// snapshots; every replica, this one included, keeps its controller in
/// step with a [`Follower`](crate::Follower).
///
/// On acquiring the lease, call
/// [`Controller::resync`](fledge_rollout::Controller::resync) once before
/// the first tick: the controller then continues from the last leader's
/// latest save, and its own saves extend the same version chain without
/// conflict. No second controller is needed. See the crate documentation
/// for the loop.
///
/// The lease is a key holding this lease's unique token, set with
/// `SET key token NX PX ttl`. [`renew`](Self::renew) and
/// [`release`](Self::release) act only if the key still holds our token
/// (checked and done atomically by a Lua script), so a stale holder can
/// never extend or delete a successor's lease.
///
/// # Failure model
///
/// - Renew well within the TTL (every `ttl / 3` is usual). A leader that
///   cannot renew before the TTL runs out — Redis unreachable, the process
///   paused — must stop acting as leader: [`is_leader`](Self::is_leader)
///   turns `false` by itself once the TTL measured from the *start* of the
///   last successful acquire or renew has passed (less a 2 % margin for
///   clock rate differences), even if Redis cannot be asked. Another
///   replica takes the lease once Redis expires the key.
/// - Clock skew between machines does not matter: Redis alone keeps the
///   TTL, and each replica only measures elapsed time on its own monotonic
///   clock, starting before it sent the request, so its idea of the expiry
///   is never later than Redis's.
/// - A stale leader that still acts (a long pause between checking
///   [`is_leader`](Self::is_leader) and saving) cannot overwrite its
///   successor's decisions: [`RedisStore`](crate::RedisStore) saves by
///   compare-and-swap on the snapshot version, so its save fails with
///   `StoreError::Conflict`: it must stop acting as leader (release the
///   lease, which deletes nothing if another replica holds it) and resync
///   its controller, which then serves the new leader's state. This is also
///   why a new leader resyncs before its first tick.
/// - Redis itself is the single point of truth: with a replicated Redis, a
///   failover that loses the latest write can let two replicas hold the
///   lease for up to one TTL (as with any single-instance Redis lock).
#[derive(Debug)]
pub struct LeaderLease {
    conn: Conn,
    key: String,
    holder: String,
    token: String,
    ttl: Duration,
    /// Until when we hold it for sure (local monotonic clock).
    held_until: Mutex<Option<Instant>>,
}

impl LeaderLease {
    pub(crate) fn new(fleet: &Fleet, rollout: &str, holder: &str) -> Self {
        LeaderLease {
            conn: Conn::new(fleet),
            key: fleet.key("lease", rollout),
            holder: holder.to_owned(),
            token: format!("{holder}/{}", nonce()),
            ttl: DEFAULT_LEASE_TTL,
            held_until: Mutex::new(None),
        }
    }

    /// The lease's time to live (default [`DEFAULT_LEASE_TTL`], at least
    /// 1 ms): how long a leader that stops renewing keeps it, so how long a
    /// crashed leader leaves the rollout without a controller.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// The TTL.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// This replica's name.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// This lease's token (`holder/nonce`), unique to this `LeaderLease`.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The lease key.
    pub fn key(&self) -> &str {
        &self.key
    }

    fn ttl_ms(&self) -> String {
        u64::try_from(self.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
            .to_string()
    }

    fn run(&self, script: &redis::Script, what: &str) -> Result<bool, RedisError> {
        let started = Instant::now();
        let result = self.conn.run(&format!("{what} lease {}", self.key), |con| {
            script
                .key(&self.key)
                .arg(&self.token)
                .arg(self.ttl_ms())
                .invoke::<i64>(con)
        });
        let mut held = self
            .held_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok(1) => {
                // Redis started the TTL after we sent the request; leave a
                // margin for our clock running slower than the server's.
                let margin = self.ttl / 50;
                *held = Some(started + self.ttl.saturating_sub(margin));
                Ok(true)
            }
            Ok(_) => {
                *held = None;
                Ok(false)
            }
            // Unknown: keep the local deadline, which expires by itself.
            Err(e) => Err(e),
        }
    }

    /// Takes the lease if nobody holds it, or extends it if we already do;
    /// `true` if we hold it now.
    pub fn try_acquire(&self) -> Result<bool, RedisError> {
        self.run(&ACQUIRE, "acquiring")
    }

    /// Extends the lease by the TTL if we still hold it; `false` (and
    /// [`is_leader`](Self::is_leader) turns `false`) if it expired or
    /// someone else holds it now. An error leaves `is_leader` to expire
    /// on time.
    pub fn renew(&self) -> Result<bool, RedisError> {
        self.run(&RENEW, "renewing")
    }

    /// Gives the lease up (at shutdown, so another replica need not wait
    /// for the TTL); `true` if we held it. Never deletes another holder's
    /// lease. `is_leader` is `false` afterwards, even on error.
    pub fn release(&self) -> Result<bool, RedisError> {
        *self
            .held_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        let what = format!("releasing lease {}", self.key);
        self.conn.run(&what, |con| {
            RELEASE
                .key(&self.key)
                .arg(&self.token)
                .invoke::<i64>(con)
                .map(|n| n == 1)
        })
    }

    /// Whether we hold the lease for sure right now, by our last successful
    /// acquire or renew and the local monotonic clock (asks nothing of
    /// Redis). Check it right before acting as leader.
    pub fn is_leader(&self) -> bool {
        self.remaining().is_some()
    }

    /// How long we hold the lease for sure (`None`: we do not).
    pub fn remaining(&self) -> Option<Duration> {
        let held = *self
            .held_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        held.and_then(|until| until.checked_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
    }

    /// Who holds the lease now, as Redis sees it (`None`: nobody).
    pub fn current_holder(&self) -> Result<Option<LeaseHolder>, RedisError> {
        let what = format!("reading lease {}", self.key);
        let (token, pttl) = self.conn.run(&what, |con| {
            redis::pipe()
                .cmd("GET")
                .arg(&self.key)
                .cmd("PTTL")
                .arg(&self.key)
                .query::<(Option<String>, i64)>(con)
        })?;
        Ok(token.map(|token| LeaseHolder {
            holder: token
                .rsplit_once('/')
                .map_or_else(|| token.clone(), |(h, _)| h.to_owned()),
            expires_in: u64::try_from(pttl).ok().map(Duration::from_millis),
            token,
        }))
    }
}

/// A token suffix unique to this lease: random per process (the hasher's
/// seed), the process id, the time and a counter.
pub(crate) fn nonce() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(t) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    format!("{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_name_the_holder() {
        let fleet = Fleet::open("redis://127.0.0.1:1/").unwrap();
        let a = fleet.lease("predict", "replica-a");
        let b = fleet.lease("predict", "replica-a");
        assert_ne!(a.token(), b.token());
        assert!(a.token().starts_with("replica-a/"));
        assert_eq!(a.key(), "fledge:lease:predict");
        assert_eq!(a.ttl(), DEFAULT_LEASE_TTL);
        assert_eq!(a.with_ttl(Duration::ZERO).ttl(), Duration::from_millis(1));
    }

    #[test]
    fn not_leader_before_acquiring() {
        let lease = Fleet::open("redis://127.0.0.1:1/")
            .unwrap()
            .lease("predict", "a");
        assert!(!lease.is_leader());
        assert_eq!(lease.remaining(), None);
    }
}
