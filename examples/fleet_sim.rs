//! How a fleet's leader scales: 100 and 1,000 simulated replicas against a
//! real redis-server, in one process.
//!
//! ```text
//! cargo run --release --example fleet_sim                  # 100 and 1000 replicas
//! cargo run --release --example fleet_sim -- 100 300 1000  # other sizes
//! cargo run --release --example fleet_sim -- --redis redis://127.0.0.1:6379/ 1000
//! ```
//!
//! For each size: one real leader (`Fleet::join(..).spawn()`, judging the
//! fleet's merged windows every second with a p99 threshold, a relative
//! error-rate check and a sequential error-rate test) and N simulated
//! replicas that publish a realistic window summary every second (two
//! versions, ~150 requests/s each with log-normal latencies, a custom
//! metric with samples) and subscribe to the leader's announcements like a
//! follower (then read the snapshot, as a follower's resync does). The
//! leader saves 20 times (operator commands, pause then resume) and each
//! simulated follower measures the time from the save to its read.
//!
//! Prints per size: the leader's merge-and-judge time per tick (median and
//! max: reading every summary from Redis, decoding and merging them,
//! judging and saving), the bytes per second the fleet writes to Redis,
//! and the propagation p99 over the saves (each save's slowest follower).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command as Process, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fledge_gate::clock::Timestamp;
use fledge_gate::{Recorder, RecorderConfig, WindowSummary};
use fledge_redis::{Fleet, ReplicaId};
use fledge_rollout::Plan;
use fledge_rollout::machine::Command;
use futures::StreamExt;
use rand::RngExt;
use rand_distr::{Distribution, LogNormal};
use tokio::sync::Mutex;

const ROLLOUT: &str = "sim";

fn plan() -> Plan {
    Plan::from_toml(
        r#"
name = "sim"
baseline = "v1"
candidate = "v2"
steps = [5, 25, 50, 100]
interval = "60s"
metrics = ["abs_error"]
inconclusive_limit = 1000

[[gates]]
name = "p99"
kind = "threshold"
metric = "latency_p99"
max = 80.0
min_samples = 50

[[gates]]
name = "errors vs v1"
kind = "relative"
metric = "error_rate"
max_increase = 0.01
min_samples = 50

[[gates]]
name = "errors (sequential)"
kind = "sequential"
metric = "error_rate"
tau = 0.02
min_samples = 50
"#,
    )
    .unwrap_or_else(|e| panic!("the simulation's plan is valid: {e}"))
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A realistic summary: one replica's last 60 s at ~150 requests/s, 5 % on
/// the candidate, log-normal latencies around 12 ms, 0.5 % errors.
fn summary(id: &str, seed: u64) -> Vec<u8> {
    let recorder = Recorder::new(RecorderConfig::new(2).metric("abs_error").shards(1))
        .unwrap_or_else(|e| panic!("{e}"));
    let metric = recorder.metric_id("abs_error");
    let mut rng = rand::rng();
    let latency = LogNormal::new((12.0f64).ln(), 0.5).unwrap_or_else(|e| panic!("{e}"));
    let n = 9_000 + seed % 500;
    for i in 0..n {
        let v = usize::from(i % 20 == 0); // index 0 is the candidate here
        let v = 1 - v;
        let ms: f64 = latency.sample(&mut rng);
        recorder.record(
            v,
            Duration::from_micros((ms * 1e3) as u64),
            rng.random_bool(0.005),
        );
        if let Some(m) = metric {
            recorder.record_metric(v, m, rng.random_range(0.0..3.0));
        }
    }
    let now = Timestamp::from_millis(unix_micros() / 1_000);
    WindowSummary::from_recorder(&recorder, id, 1, now, Duration::from_secs(60), 64)
        .unwrap_or_else(|e| panic!("{e}"))
        .encode()
}

fn redis_server() -> (Child, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("a free port: {e}"));
    let binary = if std::path::Path::new("/usr/bin/redis-server").is_file() {
        "/usr/bin/redis-server"
    } else {
        "redis-server"
    };
    let child = Process::new(binary)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
        .args(["--maxclients", "4000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {binary}: {e}; install redis-server or pass --redis URL")
        });
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(b"PING\r\n");
            let mut b = [0u8; 5];
            if s.read(&mut b).is_ok_and(|n| n == 5) {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, format!("redis://127.0.0.1:{port}/"))
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 * q).ceil() as usize).saturating_sub(1))
        .copied()
        .unwrap_or(f64::NAN)
}

async fn simulate(url: &str, replicas: usize) -> Result<(), Box<dyn std::error::Error>> {
    let fleet = Fleet::open(url)?.key_prefix(format!("sim{replicas}:"));
    let client = redis::Client::open(url)?;
    // The simulated replicas' summaries, encoded once.
    let encoded: Vec<(String, Vec<u8>)> = (0..replicas)
        .map(|i| {
            let id = format!("sim-{i:04}");
            let bytes = summary(&id, i as u64);
            (id, bytes)
        })
        .collect();
    let mean_bytes = encoded.iter().map(|(_, b)| b.len()).sum::<usize>() / replicas.max(1);
    let summaries = Arc::new(fleet.summaries(ROLLOUT));
    // Publish once before the leader starts, then every second.
    let written = Arc::new(AtomicU64::new(0));
    let publish_round = {
        let (summaries, written) = (summaries.clone(), written.clone());
        let encoded = Arc::new(encoded);
        move || {
            let (summaries, written, encoded) =
                (summaries.clone(), written.clone(), encoded.clone());
            async move {
                let tasks: Vec<_> = (0..encoded.len())
                    .map(|i| {
                        let (summaries, written, encoded) =
                            (summaries.clone(), written.clone(), encoded.clone());
                        tokio::spawn(async move {
                            let (id, bytes) = &encoded[i];
                            if summaries.publish_bytes(id, bytes).await.is_ok() {
                                written.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    let _ = t.await;
                }
            }
        }
    };
    publish_round().await;
    let leader = fleet
        .join(plan(), ReplicaId::new("leader")?)
        .tick(Duration::from_secs(1))
        .lease_ttl(Duration::from_secs(5))
        .spawn()
        .await?;
    // Simulated followers: subscribed to the saves; on each, read the
    // snapshot as a follower's resync does, and note the delay.
    let saved_channel = format!("sim{replicas}:rollout:{ROLLOUT}:saved");
    let snapshot_key = format!("sim{replicas}:rollout:{ROLLOUT}");
    // Per save: the slowest follower's delay to the announcement, and to
    // having read the snapshot.
    let delays: Arc<Mutex<std::collections::BTreeMap<u64, (f64, f64)>>> = Arc::default();
    let mut followers = Vec::new();
    for _ in 0..replicas {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(&saved_channel).await?;
        let mut reader = client.get_multiplexed_async_connection().await?;
        let (delays, key) = (delays.clone(), snapshot_key.clone());
        followers.push(tokio::spawn(async move {
            let mut messages = pubsub.on_message();
            while let Some(m) = messages.next().await {
                let payload: String = m.get_payload().unwrap_or_default();
                let mut parts = payload.split(' ');
                let (Some(v), Some(t)) = (
                    parts.next().and_then(|x| x.parse::<u64>().ok()),
                    parts.next().and_then(|x| x.parse::<u64>().ok()),
                ) else {
                    continue;
                };
                let notified = unix_micros().saturating_sub(t) as f64 / 1e3;
                let _: Option<Vec<u8>> = redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut reader)
                    .await
                    .ok()
                    .flatten();
                let d = unix_micros().saturating_sub(t) as f64 / 1e3;
                let mut all = delays.lock().await;
                let e = all.entry(v).or_insert((0.0, 0.0));
                *e = (e.0.max(notified), e.1.max(d));
            }
        }));
    }
    // Run: publish every second, watch the leader's ticks, save 20 times.
    let started = Instant::now();
    written.store(0, Ordering::Relaxed);
    let (mut took, mut read, mut merge) = (Vec::new(), Vec::new(), Vec::new());
    let mut last_tick = None;
    let mut saves = 0;
    let mut counted = 0;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    while started.elapsed() < Duration::from_secs(12) {
        ticker.tick().await;
        publish_round().await;
        let s = leader.status();
        if s.last_tick_ms != last_tick {
            last_tick = s.last_tick_ms;
            if let (Some(t), Some(c)) = (s.last_tick_took_ms, &s.coverage) {
                took.push(t);
                read.push(c.read_ms);
                merge.push(c.merge_ms);
                counted = c.replicas_counted();
            }
        }
        if started.elapsed() > Duration::from_secs(2) && saves < 20 {
            for command in [Command::Pause, Command::Resume] {
                if leader.command(command, "sim", None).await.is_ok() {
                    saves += 1;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut per_save: Vec<f64> = delays.lock().await.values().map(|d| d.1).collect();
    let mut notify: Vec<f64> = delays.lock().await.values().map(|d| d.0).collect();
    let judged = leader
        .fleet_judgement()
        .map(|j| j.judgement.reason)
        .unwrap_or_default();
    leader.shutdown().await;
    for f in followers {
        f.abort();
    }
    let bytes_per_s = written.load(Ordering::Relaxed) as f64 / elapsed;
    println!(
        "replicas={replicas} counted={counted} summary_bytes={mean_bytes} \
         merge_and_judge_ms(median)={:.1} merge_and_judge_ms(max)={:.1} \
         (read {:.1} + merge {:.1} median) redis_write_mb_per_s={:.2} \
         propagation_p99_ms={:.1} (announcement received: {:.1}) saves={}",
        quantile(&mut took.clone(), 0.5),
        quantile(&mut took, 1.0),
        quantile(&mut read, 0.5),
        quantile(&mut merge, 0.5),
        bytes_per_s / 1e6,
        quantile(&mut per_save, 0.99),
        quantile(&mut notify, 0.99),
        per_save.len()
    );
    println!(
        "  last verdict: {}",
        judged.chars().take(160).collect::<String>()
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut url = None;
    let mut sizes = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--redis" => url = it.next(),
            n => sizes.push(n.parse::<usize>()?),
        }
    }
    if sizes.is_empty() {
        sizes = vec![100, 1_000];
    }
    let mut own = None;
    let url = match url {
        Some(u) => u,
        None => {
            let (child, url) = redis_server();
            own = Some(child);
            url
        }
    };
    println!(
        "redis {url}; one leader ticking every second, simulated replicas publishing every second"
    );
    for n in sizes {
        simulate(&url, n).await?;
    }
    if let Some(mut c) = own {
        let _ = c.kill();
        let _ = c.wait();
    }
    Ok(())
}
