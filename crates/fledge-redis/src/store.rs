//! [`RedisStore`]: rollout snapshots in Redis, saved by compare-and-swap.

use std::io;
use std::sync::LazyLock;

use fledge_rollout::store::{SNAPSHOT_FORMAT, SNAPSHOT_FORMAT_VERSION};
use fledge_rollout::{Snapshot, Store, StoreError};

use crate::error::RedisError;
use crate::fleet::{Conn, Failure, Fleet};

/// The compare-and-swap save, run atomically by Redis.
///
/// `KEYS[1]`: the snapshot key. `ARGV`: the expected version (`""`: none
/// stored), the new snapshot's JSON, its version, the channel to announce it
/// on (`""`: none), the snapshot format and format version it must find,
/// and the time of the save (µs since the epoch, announced after the
/// version as `version micros` so followers can measure propagation).
///
/// Answers `{status, detail}`: `ok` + the new version, `conflict` + the
/// stored version (`""`: none), `unreadable` + the stored value (not a
/// snapshot this build can read: never overwritten), `wrongtype` + the
/// key's type.
const SAVE_SCRIPT: &str = r#"
local cur = redis.pcall('GET', KEYS[1])
if type(cur) == 'table' and cur.err then
  return {'wrongtype', redis.call('TYPE', KEYS[1]).ok}
end
local found = ''
if cur then
  local ok, doc = pcall(cjson.decode, cur)
  if not ok or type(doc) ~= 'table' or doc['format'] ~= ARGV[5]
     or tostring(doc['format_version']) ~= ARGV[6]
     or type(doc['version']) ~= 'number' then
    return {'unreadable', cur}
  end
  found = string.format('%d', doc['version'])
end
if found ~= ARGV[1] then
  return {'conflict', found}
end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[4] ~= '' then
  redis.call('PUBLISH', ARGV[4], ARGV[3] .. ' ' .. ARGV[7])
end
return {'ok', ARGV[3]}
"#;

static SAVE: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(SAVE_SCRIPT));

/// Keeps a rollout's latest [`Snapshot`] in one Redis key, for a fleet of
/// replicas: hand it to
/// [`ControllerBuilder::store`](fledge_rollout::control::ControllerBuilder::store)
/// and the controller resumes from Redis on start and saves there after
/// every decision.
///
/// - The value is the snapshot's JSON (what [`Snapshot::to_json`] writes),
///   readable with `redis-cli GET`.
/// - [`save`](Store::save) is an atomic compare-and-swap on the snapshot's
///   version, run by Redis as one Lua script: if another controller saved
///   since, it returns [`StoreError::Conflict`] and changes nothing. After
///   a save the new version is published on the store's
///   [`channel`](RedisStore::channel), which [`Follower`](crate::Follower)s
///   listen to.
/// - A value that is not a snapshot this build can read (corrupt JSON,
///   another program's data, a future format, a key of another Redis type)
///   is reported by [`load`](Store::load) with the error of
///   [`Snapshot::from_json`] ([`StoreError::Corrupt`] or
///   [`StoreError::Foreign`]) and is never overwritten by `save`.
/// - Redis unreachable, timing out or refusing a command is
///   [`StoreError::Io`] naming the URL (password hidden), the key and what
///   failed. The connection is reopened on the next call.
///
/// A save whose answer was lost (the connection broke after sending it) is
/// checked by reading the key back: if our snapshot is there, the save
/// succeeded.
#[derive(Debug)]
pub struct RedisStore {
    conn: Conn,
    key: String,
    channel: String,
    announce: bool,
}

impl RedisStore {
    pub(crate) fn new(fleet: &Fleet, rollout: &str) -> Self {
        let key = fleet.key("rollout", rollout);
        RedisStore {
            conn: Conn::new(fleet),
            channel: format!("{key}:saved"),
            key,
            announce: true,
        }
    }

    /// A store for rollout `rollout` on the Redis server at `url`, with the
    /// default key prefix and timeouts (see [`Fleet`] to change them).
    pub fn open(url: &str, rollout: &str) -> Result<RedisStore, RedisError> {
        Ok(Fleet::open(url)?.store(rollout))
    }

    /// Stops publishing the new version on [`channel`](Self::channel)
    /// after each save (followers then see changes by polling only).
    pub fn without_announcements(mut self) -> Self {
        self.announce = false;
        self
    }

    /// The key holding the snapshot.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The pub/sub channel on which every save publishes the new version.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The fleet this store belongs to.
    pub fn fleet(&self) -> &Fleet {
        self.conn.fleet()
    }

    /// Deletes the stored snapshot (to start a rollout over after a corrupt
    /// or foreign value was reported); `true` if there was one.
    pub fn delete(&self) -> Result<bool, RedisError> {
        let what = format!("deleting snapshot {}", self.key);
        self.conn.run(&what, |con| {
            redis::cmd("DEL")
                .arg(&self.key)
                .query::<u64>(con)
                .map(|n| n > 0)
        })
    }

    /// The raw stored value, as bytes (`None`: no key).
    pub fn raw(&self) -> Result<Option<Vec<u8>>, RedisError> {
        let what = format!("reading snapshot {}", self.key);
        self.conn.run(&what, |con| {
            redis::cmd("GET")
                .arg(&self.key)
                .query::<Option<Vec<u8>>>(con)
        })
    }

    fn origin(&self) -> String {
        format!("redis {} key {}", self.fleet().url(), self.key)
    }

    /// A Redis failure as a [`StoreError`]: there is no variant for an
    /// unreachable backend, so it is [`StoreError::Io`] with the message.
    fn io(&self, error: RedisError) -> StoreError {
        // The origin names the URL and the key: the message need not.
        let (kind, message) = match error {
            RedisError::Unreachable { what, detail, .. } => (
                io::ErrorKind::ConnectionRefused,
                format!(
                    "cannot reach Redis while {what}: {detail}; check that redis-server is running at that address and the URL is right"
                ),
            ),
            RedisError::Refused { what, detail, .. } => (
                io::ErrorKind::Other,
                format!("Redis refused {what}: {detail}"),
            ),
            other => (io::ErrorKind::Other, other.to_string()),
        };
        StoreError::Io {
            origin: self.origin(),
            source: io::Error::new(kind, message),
        }
    }

    /// The key's Redis type, for a WRONGTYPE answer.
    fn key_type(&self) -> String {
        self.conn
            .run("reading the key type", |con| {
                redis::cmd("TYPE").arg(&self.key).query::<String>(con)
            })
            .unwrap_or_else(|_| "value of another type".to_owned())
    }

    fn wrong_type(&self, kind: &str) -> StoreError {
        StoreError::Foreign {
            origin: self.origin(),
            detail: format!("the key holds a Redis {kind}, not a string"),
        }
    }

    /// Reads `bytes` as a snapshot with the errors of [`Snapshot::from_json`].
    fn parse(&self, bytes: &[u8]) -> Result<Snapshot, StoreError> {
        let text = std::str::from_utf8(bytes).map_err(|_| StoreError::Corrupt {
            origin: self.origin(),
            detail: "it is not UTF-8 text".to_owned(),
        })?;
        Snapshot::from_json(text, &self.origin())
    }
}

/// Microseconds since the Unix epoch, by this machine's clock.
pub(crate) fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Writes a snapshot back when the key holds none or an older one (Redis
/// lost data). `KEYS[1]`: the snapshot key. `ARGV`: the JSON, its version,
/// the channel (`""`: none), the time in µs. Answers 1 if written, 0 if the
/// key holds the same version or a newer one, -1 if it holds something this
/// script cannot read (never overwritten).
const RESTORE_SCRIPT: &str = r#"
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, doc = pcall(cjson.decode, cur)
  if not ok or type(doc) ~= 'table' or type(doc['version']) ~= 'number' then
    return -1
  end
  if doc['version'] >= tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1])
if ARGV[3] ~= '' then
  redis.call('PUBLISH', ARGV[3], ARGV[2] .. ' ' .. ARGV[4])
end
return 1
"#;

static RESTORE: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(RESTORE_SCRIPT));

impl RedisStore {
    /// Writes `snapshot` with its own version if the key holds none or an
    /// older one (Redis lost data: restarted without persistence, failed
    /// over to a replica behind), announcing it; `true` if written. Every
    /// replica whose controller finds the store behind it does this, so the
    /// newest state any replica holds is what the fleet continues from.
    pub(crate) fn restore(&self, snapshot: &Snapshot) -> Result<bool, RedisError> {
        let json = snapshot.to_json()?;
        let what = format!(
            "restoring snapshot {} (version {})",
            self.key, snapshot.version
        );
        let answer = self.conn.run(&what, |con| {
            RESTORE
                .key(&self.key)
                .arg(&json)
                .arg(snapshot.version.to_string())
                .arg(if self.announce {
                    self.channel.as_str()
                } else {
                    ""
                })
                .arg(unix_micros().to_string())
                .invoke::<i64>(con)
        })?;
        match answer {
            1 => Ok(true),
            0 => Ok(false),
            _ => Err(RedisError::Refused {
                url: self.fleet().url().to_owned(),
                what,
                detail: "the key holds a value that is not a snapshot; it was left untouched"
                    .to_owned(),
            }),
        }
    }
}

impl Store for RedisStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn load(&self) -> Result<Option<Snapshot>, StoreError> {
        let what = "loading the snapshot".to_owned();
        let value = self.conn.try_run(&what, |con| {
            redis::cmd("GET")
                .arg(&self.key)
                .query::<Option<Vec<u8>>>(con)
        });
        match value {
            Ok(Some(bytes)) => self.parse(&bytes).map(Some),
            Ok(None) => Ok(None),
            Err(Failure::Command {
                error: RedisError::Refused { detail, .. },
                ..
            }) if detail.contains("WRONGTYPE") => Err(self.wrong_type(&self.key_type())),
            Err(f) => Err(self.io(f.into_error())),
        }
    }

    fn save(&self, snapshot: &Snapshot, expected: Option<u64>) -> Result<u64, StoreError> {
        let version = expected.map_or(1, |v| v.saturating_add(1));
        let mut saved = snapshot.clone();
        saved.version = version;
        let json = saved.to_json()?;
        let what = format!("saving the snapshot (version {version})");
        let answer = self.conn.try_run(&what, |con| {
            SAVE.key(&self.key)
                .arg(expected.map_or_else(String::new, |v| v.to_string()))
                .arg(&json)
                .arg(version.to_string())
                .arg(if self.announce {
                    self.channel.as_str()
                } else {
                    ""
                })
                .arg(SNAPSHOT_FORMAT)
                .arg(SNAPSHOT_FORMAT_VERSION.to_string())
                .arg(unix_micros().to_string())
                .invoke::<(String, Vec<u8>)>(con)
        });
        let (status, detail) = match answer {
            Ok(answer) => answer,
            Err(Failure::Command {
                error,
                transport: true,
            }) => {
                // The script may have run before the connection broke: if
                // our snapshot is stored, it did.
                return match self.raw() {
                    Ok(Some(stored)) if stored == json.as_bytes() => Ok(version),
                    _ => Err(self.io(error)),
                };
            }
            Err(f) => return Err(self.io(f.into_error())),
        };
        let detail_text = String::from_utf8_lossy(&detail);
        match status.as_str() {
            "ok" => Ok(version),
            "conflict" => Err(StoreError::Conflict {
                origin: self.origin(),
                expected,
                found: detail_text.parse().ok(),
            }),
            "unreadable" => match self.parse(&detail) {
                Err(e) => Err(e),
                // Snapshot::from_json accepts what the script could not
                // read: refuse rather than overwrite it.
                Ok(_) => Err(StoreError::Corrupt {
                    origin: self.origin(),
                    detail: "its version could not be read by the save script".to_owned(),
                }),
            },
            "wrongtype" => Err(self.wrong_type(&detail_text)),
            other => Err(self.io(RedisError::Refused {
                url: self.fleet().url().to_owned(),
                what,
                detail: format!("unexpected answer {other:?} from the save script"),
            })),
        }
    }
}
