//! [`Summaries`]: the window summaries a rollout's replicas publish to
//! Redis, and the leader's reading of them.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use fledge_gate::WindowSummary;
use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

use crate::error::RedisError;
use crate::fleet::Fleet;
use crate::keys::Keys;

/// Stores a summary and marks its replica as seen, by the server's clock.
/// `KEYS`: the summary key, the replicas set. `ARGV`: the bytes, the TTL
/// in ms, the replica. Returns the server time in ms.
const PUBLISH_SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], string.format('%.0f', now), ARGV[3])
return string.format('%.0f', now)
"#;

/// Forgets replicas not seen for `ARGV[1]` ms and lists the others with
/// when they were last seen, after the server time.
const READ_SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('(%.0f', now - tonumber(ARGV[1])))
local r = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
table.insert(r, 1, string.format('%.0f', now))
return r
"#;

static PUBLISH: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(PUBLISH_SCRIPT));
static READ: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(READ_SCRIPT));

/// How many summary keys one `MGET` reads.
const MGET_CHUNK: usize = 256;

/// The default time a summary is kept after its last publish, and a
/// replica listed after it was last seen.
pub const DEFAULT_FORGET_AFTER: Duration = Duration::from_secs(30);

/// The window summaries of one rollout's replicas in Redis.
///
/// Each replica's latest summary is one key with a TTL; a sorted set lists
/// the replicas by when Redis last received one (the server's clock, so
/// replicas' clock skew does not matter). A replica not heard from for
/// [`forget_after`](Self::forget_after) leaves the set: it no longer
/// counts as part of the fleet.
#[derive(Debug)]
pub struct Summaries {
    fleet: Fleet,
    keys: Keys,
    forget_after: Duration,
    conn: OnceCell<ConnectionManager>,
}

/// One reading of every replica's summary.
#[derive(Debug, Clone)]
pub struct Reading {
    /// Redis's clock at the reading, in ms since the epoch.
    pub server_time_ms: u64,
    /// How long the reading took.
    pub read_time: Duration,
    /// The replicas seen within the forget horizon, in name order.
    pub replicas: Vec<ReplicaReading>,
}

/// One replica in a [`Reading`].
#[derive(Debug, Clone)]
pub struct ReplicaReading {
    /// Its name.
    pub id: String,
    /// How long ago Redis received its last summary.
    pub age: Duration,
    /// That summary, encoded (`None`: expired or deleted).
    pub bytes: Option<Vec<u8>>,
}

impl Reading {
    /// Bytes of all summaries read.
    pub fn bytes(&self) -> usize {
        self.replicas
            .iter()
            .map(|r| r.bytes.as_ref().map_or(0, Vec::len))
            .sum()
    }
}

impl Summaries {
    pub(crate) fn new(fleet: &Fleet, rollout: &str) -> Summaries {
        Summaries {
            fleet: fleet.clone(),
            keys: Keys::new(fleet, rollout),
            forget_after: DEFAULT_FORGET_AFTER,
            conn: OnceCell::new(),
        }
    }

    /// How long after its last summary a replica stops counting as part of
    /// the fleet (default [`DEFAULT_FORGET_AFTER`]; at least 1 s). Its last
    /// summary is kept as long.
    pub fn forget_after(mut self, d: Duration) -> Self {
        self.forget_after = d.max(Duration::from_secs(1));
        self
    }

    async fn conn(&self) -> Result<ConnectionManager, RedisError> {
        self.conn
            .get_or_try_init(|| async { self.fleet.manager() })
            .await
            .cloned()
    }

    fn ms(d: Duration) -> u64 {
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
    }

    /// Publishes `summary` as its source replica's latest. Returns the
    /// bytes written.
    pub async fn publish(&self, summary: &WindowSummary) -> Result<usize, RedisError> {
        let bytes = summary.encode();
        self.publish_bytes(summary.source(), &bytes).await?;
        Ok(bytes.len())
    }

    /// Publishes an encoded summary as `replica`'s latest.
    pub async fn publish_bytes(&self, replica: &str, bytes: &[u8]) -> Result<(), RedisError> {
        let mut conn = self.conn().await?;
        let key = self.keys.summary(replica);
        let what = format!("publishing the window summary {key}");
        self.fleet
            .io(&what, self.fleet.io_limit(), async {
                PUBLISH
                    .key(&key)
                    .key(&self.keys.replicas)
                    .arg(bytes)
                    .arg(Self::ms(self.forget_after))
                    .arg(replica)
                    .invoke_async::<String>(&mut conn)
                    .await
            })
            .await
            .map(|_| ())
    }

    /// Removes `replica` from the fleet (at shutdown): its summary and its
    /// place in the set.
    pub async fn leave(&self, replica: &str) -> Result<(), RedisError> {
        let mut conn = self.conn().await?;
        let what = format!("removing replica {replica} from {}", self.keys.replicas);
        self.fleet
            .io(&what, self.fleet.io_limit(), async {
                redis::pipe()
                    .atomic()
                    .cmd("ZREM")
                    .arg(&self.keys.replicas)
                    .arg(replica)
                    .ignore()
                    .cmd("DEL")
                    .arg(self.keys.summary(replica))
                    .ignore()
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await
    }

    /// Every replica seen within the forget horizon, with its latest
    /// summary (forgetting the others).
    pub async fn read(&self) -> Result<Reading, RedisError> {
        let started = Instant::now();
        let mut conn = self.conn().await?;
        let what = format!("reading the fleet's replicas {}", self.keys.replicas);
        let listed: Vec<String> = self
            .fleet
            .io(&what, self.fleet.io_limit(), async {
                READ.key(&self.keys.replicas)
                    .arg(Self::ms(self.forget_after))
                    .invoke_async::<Vec<String>>(&mut conn)
                    .await
            })
            .await?;
        let mut it = listed.into_iter();
        let now: u64 =
            it.next()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| RedisError::Refused {
                    url: self.fleet.url().to_owned(),
                    what: what.clone(),
                    detail: "the read script answered without the server time".to_owned(),
                })?;
        let mut seen = Vec::new();
        while let (Some(id), Some(score)) = (it.next(), it.next()) {
            let at: u64 = score.parse::<f64>().map_or(0, |s| s.max(0.0) as u64);
            seen.push((id, Duration::from_millis(now.saturating_sub(at))));
        }
        let mut replicas = Vec::with_capacity(seen.len());
        for chunk in seen.chunks(MGET_CHUNK) {
            let keys: Vec<String> = chunk.iter().map(|(id, _)| self.keys.summary(id)).collect();
            let what = format!("reading {} window summaries", keys.len());
            let values: Vec<Option<Vec<u8>>> = self
                .fleet
                .io(&what, self.fleet.io_limit(), async {
                    redis::cmd("MGET")
                        .arg(&keys)
                        .query_async::<Vec<Option<Vec<u8>>>>(&mut conn)
                        .await
                })
                .await?;
            for ((id, age), bytes) in chunk.iter().zip(values) {
                replicas.push(ReplicaReading {
                    id: id.clone(),
                    age: *age,
                    bytes,
                });
            }
        }
        replicas.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Reading {
            server_time_ms: now,
            read_time: started.elapsed(),
            replicas,
        })
    }
}
