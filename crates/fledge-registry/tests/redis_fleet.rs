//! Registry-driven rollouts on a fleet: two replicas (two watchers, each
//! with its own `RedisFleet`) in one test process, sharing a real
//! redis-server and a directory registry. `r0` leads; `r1` may not.
//!
//! - The challenger takes traffic only once both replicas loaded it; the
//!   follower joins the leader's rollout from Redis and writes nothing to
//!   the registry.
//! - A replica that cannot load the challenger blocks it and is named:
//!   rejected (`load_failed`, the reason naming the replica) by default;
//!   waiting, named in the leader's status, with `LoadFailure::Wait`,
//!   until the replica leaves.
//! - The leader's gates judge every replica's traffic: a failing challenger
//!   served only by the follower is rolled back by the leader, and a
//!   healthy one is promoted on verdicts covering both replicas.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{LIMIT, Toy, Traffic, artifact};
use fledge_redis::ReplicaId;
use fledge_registry::{
    DirSource, Fleet, LoadFailure, ModelSource, ModelVerdict, ModelVersion, RedisFleet,
    RedisFleetBuilder, ReplicaLoad, SourceError, WatchPhase, Watcher, tags,
};
use fledge_rollout::Plan;
use fledge_test::redis::RedisServer;
use fledge_test::wait;

// ------------------------------------------------------------------ replicas

/// The directory registry, counting the writes made through this handle.
#[derive(Debug, Clone)]
struct Counting {
    inner: DirSource,
    writes: Arc<AtomicUsize>,
}

impl Counting {
    fn new(inner: &DirSource) -> Counting {
        Counting {
            inner: inner.clone(),
            writes: Arc::default(),
        }
    }

    fn writes(&self) -> usize {
        self.writes.load(Ordering::Relaxed)
    }
}

impl ModelSource for Counting {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    fn location(&self) -> String {
        self.inner.location()
    }
    fn aliases(&self, model: &str) -> Result<BTreeMap<String, String>, SourceError> {
        self.inner.aliases(model)
    }
    fn version(&self, model: &str, version: &str) -> Result<ModelVersion, SourceError> {
        self.inner.version(model, version)
    }
    fn versions(&self, model: &str) -> Result<Vec<ModelVersion>, SourceError> {
        self.inner.versions(model)
    }
    fn set_alias(&self, model: &str, alias: &str, version: &str) -> Result<(), SourceError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.set_alias(model, alias, version)
    }
    fn delete_alias(&self, model: &str, alias: &str) -> Result<(), SourceError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.delete_alias(model, alias)
    }
    fn set_tag(
        &self,
        model: &str,
        version: &str,
        key: &str,
        value: &str,
    ) -> Result<(), SourceError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.set_tag(model, version, key, value)
    }
    fn download(&self, version: &ModelVersion, cache: &Path) -> Result<PathBuf, SourceError> {
        self.inner.download(version, cache)
    }
}

/// How a replica's loader treats version 2: held until released, or
/// failing with a message.
#[derive(Debug, Default)]
struct Gate {
    hold: AtomicBool,
    fail: Mutex<Option<String>>,
}

fn registry() -> (tempfile::TempDir, DirSource) {
    registry_with("last")
}

/// Version 2 of kind `kind` (`broken` answers 500).
fn registry_with(kind: &str) -> (tempfile::TempDir, DirSource) {
    let root = tempfile::tempdir().unwrap();
    let source = DirSource::new(root.path());
    for (v, kind) in [("1", "mean"), ("2", kind)] {
        let dir = source.create_version("fc", v).unwrap();
        std::fs::write(dir.join("model.json"), artifact(kind)).unwrap();
    }
    source.set_alias("fc", "champion", "1").unwrap();
    (root, source)
}

async fn fleet(
    server: &RedisServer,
    replica: &str,
    f: impl FnOnce(RedisFleetBuilder) -> RedisFleetBuilder,
) -> RedisFleet {
    let redis = fledge_redis::Fleet::open(server.url()).unwrap();
    let b = RedisFleet::builder(redis, "fc", ReplicaId::new(replica).unwrap())
        .tick(Duration::from_millis(100))
        .lease_ttl(Duration::from_secs(2));
    f(b).start().await.expect("the fleet starts")
}

async fn watcher(
    source: &Counting,
    fleet: &RedisFleet,
    gate: Arc<Gate>,
    plan: Plan,
) -> Watcher<Toy> {
    let cache = std::env::temp_dir().join(format!("fledge-registry-test-{}", std::process::id()));
    Watcher::builder(source.clone(), "fc", plan)
        .loader(move |version: ModelVersion, dir| {
            let gate = gate.clone();
            async move {
                if version.version == "2" {
                    if let Some(e) = gate.fail.lock().unwrap().clone() {
                        return Err(e);
                    }
                    while gate.hold.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                common::load(version, dir).await
            }
        })
        .poll_interval(Duration::from_millis(100))
        .tick_interval(Duration::from_millis(100))
        .backoff_max(Duration::from_millis(400))
        .grace(Duration::from_secs(60))
        .cache_dir(cache)
        .fleet(fleet.clone())
        .start()
        .await
        .expect("the watcher starts")
}

/// Two replicas: `r0` leads (started first), `r1` follows.
struct Replicas {
    _root: tempfile::TempDir,
    source: DirSource,
    fleets: [RedisFleet; 2],
    sources: [Counting; 2],
    watchers: [Watcher<Toy>; 2],
    gate: Arc<Gate>,
}

async fn replicas(
    server: &RedisServer,
    leader: impl FnOnce(RedisFleetBuilder) -> RedisFleetBuilder,
) -> Replicas {
    replicas_with(server, leader, false, common::plan()).await
}

/// `r1` may lead too when `both_lead` (it takes over when `r0` leaves).
async fn replicas_with(
    server: &RedisServer,
    leader: impl FnOnce(RedisFleetBuilder) -> RedisFleetBuilder,
    both_lead: bool,
    plan: Plan,
) -> Replicas {
    replicas_on(registry(), server, leader, both_lead, plan).await
}

async fn replicas_on(
    (root, source): (tempfile::TempDir, DirSource),
    server: &RedisServer,
    leader: impl FnOnce(RedisFleetBuilder) -> RedisFleetBuilder,
    both_lead: bool,
    plan: Plan,
) -> Replicas {
    let f0 = fleet(server, "r0", leader).await;
    assert!(f0.is_leader(), "{:?}", f0.status());
    let f1 = fleet(server, "r1", |b| b.leader_eligible(both_lead)).await;
    assert!(!f1.is_leader());
    let sources = [Counting::new(&source), Counting::new(&source)];
    let gate = Arc::new(Gate::default());
    let w0 = watcher(&sources[0], &f0, Arc::new(Gate::default()), plan.clone()).await;
    let w1 = watcher(&sources[1], &f1, gate.clone(), plan).await;
    Replicas {
        _root: root,
        source,
        fleets: [f0, f1],
        sources,
        watchers: [w0, w1],
        gate,
    }
}

fn not_loaded(replica: &str) -> ReplicaLoad {
    ReplicaLoad {
        replica: replica.to_owned(),
        error: None,
    }
}

// ------------------------------------------------------------------ tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_challenger_takes_traffic_only_once_every_replica_has_it_and_only_the_leader_writes() {
    let server = RedisServer::start();
    let r = replicas(&server, |b| b).await;
    let [w0, w1] = &r.watchers;
    let traffic = [Traffic::start(w0), Traffic::start(w1)];
    // r1's loader holds version 2 until released.
    r.gate.hold.store(true, Ordering::Relaxed);
    r.source.set_alias("fc", "challenger", "2").unwrap();

    // The leader has it, and waits for r1: no traffic, nothing written.
    let s = w0
        .wait_for(LIMIT, |s| {
            s.phase == WatchPhase::Staged && s.waiting_for == [not_loaded("r1")]
        })
        .await
        .expect("the leader waits for r1, naming it");
    assert!(s.leader);
    w1.wait_for(LIMIT, |s| s.phase == WatchPhase::Loading)
        .await
        .expect("r1 is loading it");
    let polls = s.polls;
    w0.wait_for(LIMIT, |s| s.polls >= polls + 10).await.unwrap();
    let s = w0.status();
    assert_eq!(s.phase, WatchPhase::Staged, "{s:?}");
    assert_eq!(s.candidate_bps, 0);
    for t in &traffic {
        assert_eq!(t.of("v2"), (0, 0), "v2 took no traffic before r1 loaded it");
        assert!(t.of("v1").0 > 0);
    }
    assert_eq!(
        r.source.version("fc", "2").unwrap().tag(tags::ROLLOUT),
        None
    );
    let report = r.fleets[0].status();
    assert!(report.report.loaded["fc"].contains("2"), "{report:?}");

    // r1 loads it: the leader starts the canary; r1 joins it from Redis.
    r.gate.hold.store(false, Ordering::Relaxed);
    let released = Instant::now();
    let s = w0
        .wait_for(LIMIT, |s| s.phase == WatchPhase::Canary)
        .await
        .expect("the canary starts once r1 has it");
    assert!(s.waiting_for.is_empty());
    let took = released.elapsed();
    w1.wait_for(LIMIT, |s| {
        s.phase == WatchPhase::Canary && s.rollout.as_deref() == Some("fc-v2")
    })
    .await
    .expect("the follower serves the leader's rollout");
    assert!(
        wait::until_async(LIMIT, || traffic[1].of("v2").0 > 0).await,
        "the follower routes to v2 by the shared rollout"
    );

    // Promoted by the leader; the follower follows; only r0 wrote.
    w0.wait_for(LIMIT, |s| {
        s.champion.version == "2" && s.pending_writes == 0
    })
    .await
    .expect("promoted");
    w1.wait_for(LIMIT, |s| s.champion.version == "2")
        .await
        .expect("the follower's champion is v2 too");
    let v2 = r.source.version("fc", "2").unwrap();
    assert_eq!(v2.verdict(), Some(ModelVerdict::Promoted));
    assert_eq!(v2.tag(tags::ROLLOUT), Some("fc-v2"));
    assert!(r.sources[0].writes() > 0);
    assert_eq!(
        r.sources[1].writes(),
        0,
        "the follower wrote to the registry"
    );
    assert!(!w1.status().leader);
    println!("canary started {took:?} after the last replica loaded the challenger");
    for t in traffic {
        t.stop().await;
    }
    for w in r.watchers {
        w.shutdown().await;
    }
    for f in &r.fleets {
        f.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_cannot_load_the_challenger_blocks_it_and_is_named() {
    let server = RedisServer::start();
    let r = replicas(&server, |b| b).await;
    let [w0, w1] = &r.watchers;
    let traffic = [Traffic::start(w0), Traffic::start(w1)];
    *r.gate.fail.lock().unwrap() = Some("out of GPU memory (needs 9 GiB, 2 free)".to_owned());
    r.source.set_alias("fc", "challenger", "2").unwrap();

    let s = w0
        .wait_for(LIMIT, |s| {
            s.rejection("2").is_some() && s.pending_writes == 0
        })
        .await
        .expect("the leader rejects the challenger");
    let rejection = s.rejection("2").unwrap();
    assert_eq!(rejection.verdict, ModelVerdict::LoadFailed);
    assert_eq!(
        rejection.reason,
        "replica r1 could not load it: out of GPU memory (needs 9 GiB, 2 free)"
    );
    // Written to the registry by the leader alone.
    let v2 = r.source.version("fc", "2").unwrap();
    assert_eq!(v2.verdict(), Some(ModelVerdict::LoadFailed));
    assert!(
        v2.tag(tags::REASON)
            .unwrap_or_default()
            .contains("replica r1"),
        "{:?}",
        v2.tags
    );
    assert!(!r.source.aliases("fc").unwrap().contains_key("challenger"));
    assert_eq!(r.sources[1].writes(), 0);
    // r1's report says why, for operators reading Redis.
    let report = r.fleets[1].status().report;
    assert!(report.failed["fc"]["2"].contains("GPU"), "{report:?}");
    // v2 never took traffic, on either replica; v1 served throughout.
    assert!(w0.models().get("v2").is_none(), "the leader unloaded it");
    for t in &traffic {
        assert_eq!(t.of("v2"), (0, 0));
        assert!(t.of("v1").0 > 0);
    }
    for t in traffic {
        t.stop().await;
    }
    for w in r.watchers {
        w.shutdown().await;
    }
    for f in &r.fleets {
        f.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_wait_the_challenger_waits_for_the_failing_replica_until_it_leaves() {
    let server = RedisServer::start();
    let r = replicas(&server, |b| b.on_load_failure(LoadFailure::Wait)).await;
    let w0 = &r.watchers[0];
    let traffic = Traffic::start(w0);
    *r.gate.fail.lock().unwrap() = Some("out of GPU memory".to_owned());
    r.source.set_alias("fc", "challenger", "2").unwrap();

    let failing = ReplicaLoad {
        replica: "r1".to_owned(),
        error: Some("out of GPU memory".to_owned()),
    };
    let s = w0
        .wait_for(LIMIT, |s| s.waiting_for == [failing.clone()])
        .await
        .expect("the leader names the replica that cannot load it");
    assert_eq!(s.phase, WatchPhase::Staged);
    assert_eq!(
        failing.to_string(),
        "r1 (cannot load it: out of GPU memory)"
    );
    let polls = s.polls;
    w0.wait_for(LIMIT, |s| s.polls >= polls + 10).await.unwrap();
    assert_eq!(w0.status().phase, WatchPhase::Staged);
    assert_eq!(traffic.of("v2"), (0, 0));
    assert!(r.source.version("fc", "2").unwrap().tags.is_empty());

    // The failing replica leaves the fleet: the canary starts.
    let Replicas {
        watchers: [w0, w1],
        fleets: [f0, f1],
        ..
    } = r;
    w1.shutdown().await;
    f1.shutdown().await;
    w0.wait_for(LIMIT, |s| s.phase == WatchPhase::Canary)
        .await
        .expect("the canary starts without the replica that left");
    assert!(wait::until_async(LIMIT, || traffic.of("v2").0 > 0).await);
    traffic.stop().await;
    w0.shutdown().await;
    f0.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_that_takes_over_mid_canary_finishes_it_and_writes_the_outcome() {
    let server = RedisServer::start();
    let slow = Plan::from_toml(
        r#"
        name = "toy"
        baseline = "champion"
        candidate = "challenger"
        steps = [50, 100]
        interval = "3s"

        [[gates]]
        name = "errors"
        kind = "threshold"
        metric = "error_rate"
        max = 0.05
        min_samples = 20
        confidence = 0
        "#,
    )
    .unwrap();
    let r = replicas_with(&server, |b| b, true, slow).await;
    let Replicas {
        watchers: [w0, w1],
        fleets: [f0, f1],
        sources,
        source,
        _root,
        ..
    } = r;
    let traffic = [Traffic::start(&w0), Traffic::start(&w1)];
    source.set_alias("fc", "challenger", "2").unwrap();
    for w in [&w0, &w1] {
        w.wait_for(LIMIT, |s| s.phase == WatchPhase::Canary)
            .await
            .expect("both serve the canary");
    }
    assert!(f0.is_leader() && !f1.is_leader());
    let step = w1
        .controller()
        .expect("the follower's controller")
        .state()
        .step;
    assert_eq!(step, Some(0), "still at the first step");

    // r0 leaves mid-canary (releasing its lease): r1 leads at its next
    // tick, continues the same rollout from Redis and writes the outcome.
    traffic[0].counts.lock().unwrap().clear();
    w0.shutdown().await;
    f0.shutdown().await;
    assert!(
        wait::until_async(LIMIT, || f1.is_leader()).await,
        "{:?}",
        f1.status()
    );
    let s = w1
        .wait_for(LIMIT, |s| {
            s.champion.version == "2" && s.pending_writes == 0
        })
        .await
        .expect("the new leader promotes");
    assert!(s.leader);
    let v2 = source.version("fc", "2").unwrap();
    assert_eq!(v2.verdict(), Some(ModelVerdict::Promoted));
    assert_eq!(
        source
            .aliases("fc")
            .unwrap()
            .get("champion")
            .map(String::as_str),
        Some("2")
    );
    assert!(sources[1].writes() > 0, "the new leader wrote the outcome");
    let events = w1.controller().map(|c| c.events()).unwrap_or_default();
    assert!(
        events
            .iter()
            .filter(|e| e.kind == fledge_rollout::EventKind::Started)
            .count()
            == 1,
        "one rollout, continued: {events:?}"
    );
    for t in traffic {
        t.stop().await;
    }
    w1.shutdown().await;
    f1.shutdown().await;
}

/// The common plan, tolerant of judgements without enough data (a loaded
/// machine, a replica whose summary is not read yet): they never pause it.
fn patient_plan() -> Plan {
    let mut plan = common::plan();
    plan.inconclusive_limit = 10_000;
    plan
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_judges_the_followers_traffic_and_rolls_back_a_failing_challenger() {
    let started = Instant::now();
    let server = RedisServer::start();
    let r = replicas_on(
        registry_with("broken"),
        &server,
        |b| b,
        false,
        patient_plan(),
    )
    .await;
    let [w0, w1] = &r.watchers;
    // Only the follower serves: the leader's own recorder sees nothing.
    let traffic = Traffic::start(w1);
    r.source.set_alias("fc", "challenger", "2").unwrap();

    w1.wait_for(LIMIT, |s| {
        s.phase == WatchPhase::Canary && s.rollout.as_deref() == Some("fc-v2")
    })
    .await
    .expect("the follower serves the leader's rollout");
    let s = w0
        .wait_for(LIMIT, |s| {
            s.rejection("2").is_some() && s.pending_writes == 0
        })
        .await
        .expect("the leader rolls the challenger back on the follower's errors");
    let rejection = s.rejection("2").unwrap();
    assert_eq!(rejection.verdict, ModelVerdict::RolledBack, "{rejection:?}");
    // The verdict says what it covered: the follower's requests.
    assert!(
        rejection.reason.contains("fleet: ") && rejection.reason.contains("/2 replicas"),
        "{}",
        rejection.reason
    );
    let v2 = r.source.version("fc", "2").unwrap();
    assert_eq!(
        v2.verdict(),
        Some(ModelVerdict::RolledBack),
        "{:?}",
        v2.tags
    );
    assert!(
        v2.tag(tags::REASON).unwrap_or_default().contains("fleet: "),
        "{:?}",
        v2.tags
    );
    assert_eq!(v2.tag(tags::ROLLOUT), Some("fc-v2"));
    assert!(!r.source.aliases("fc").unwrap().contains_key("challenger"));
    assert_eq!(
        r.sources[1].writes(),
        0,
        "the follower wrote to the registry"
    );
    let failed = traffic.of("v2").1;
    assert!(failed > 0, "the follower served the failing challenger");
    // Back to the champion on the follower too.
    w1.wait_for(LIMIT, |s| {
        s.phase == WatchPhase::Serving && s.champion.version == "1"
    })
    .await
    .expect("the follower serves the champion alone");
    assert!(r.fleets[1].status().summaries_published > 0);
    // The rollout is over: neither replica publishes its windows any more.
    for f in &r.fleets {
        assert!(
            wait::until_async(LIMIT, || f.status().rollouts.is_empty()).await,
            "{:?}",
            f.status()
        );
    }
    println!(
        "rolled back on {failed} failed requests served by the follower ({}); {:?}",
        rejection.reason,
        started.elapsed()
    );
    traffic.stop().await;
    for w in r.watchers {
        w.shutdown().await;
    }
    for f in &r.fleets {
        f.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_challenger_is_promoted_on_verdicts_covering_every_replica() {
    let started = Instant::now();
    let server = RedisServer::start();
    // Every live replica's summary must count for a step to be judged.
    let r = replicas_with(&server, |b| b.coverage_floor(1.0), false, patient_plan()).await;
    let [w0, w1] = &r.watchers;
    let traffic = [Traffic::start(w0), Traffic::start(w1)];
    r.source.set_alias("fc", "challenger", "2").unwrap();

    let s = w0
        .wait_for(LIMIT, |s| {
            s.champion.version == "2" && s.pending_writes == 0
        })
        .await
        .expect("promoted");
    assert!(s.leader);
    w1.wait_for(LIMIT, |s| s.champion.version == "2")
        .await
        .expect("the follower's champion is v2 too");
    let v2 = r.source.version("fc", "2").unwrap();
    assert_eq!(v2.verdict(), Some(ModelVerdict::Promoted), "{:?}", v2.tags);
    for step in [1, 2] {
        let tag = v2.tag(&tags::step(step)).unwrap_or_default().to_owned();
        assert!(tag.starts_with("pass: "), "step {step}: {tag}");
        let covered = requests_covered(&tag);
        assert!(
            tag.contains("fleet: 2/2 replicas") && covered >= 20,
            "step {step} judged both replicas' requests: {tag}"
        );
    }
    for t in &traffic {
        assert!(t.of("v2").0 > 0, "both replicas served the challenger");
    }
    assert!(r.fleets[0].status().summaries_published > 0);
    assert!(r.fleets[1].status().summaries_published > 0);
    println!(
        "promoted: {}; {:?}",
        v2.tag(&tags::step(2)).unwrap_or_default(),
        started.elapsed()
    );
    for t in traffic {
        t.stop().await;
    }
    for w in r.watchers {
        w.shutdown().await;
    }
    for f in &r.fleets {
        f.shutdown().await;
    }
}

/// The `N` of `fleet: a/b replicas, N requests` in a verdict's reason.
fn requests_covered(reason: &str) -> u64 {
    reason
        .split("replicas, ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
