//! A fleet of three replicas of a predict service, as separate OS processes
//! sharing one Redis, rolling out model v2 together.
//!
//! ```text
//! cargo run --release --example fleet                    # healthy v2: promoted
//! cargo run --release --example fleet -- --regress errors  # v2 fails 20 % on every replica: rolled back
//! cargo run --release --example fleet -- --redis redis://127.0.0.1:6379/  # your Redis
//! ```
//!
//! - Starts its own `redis-server` on a free loopback port (or uses
//!   `--redis`), then this same binary three times with a hidden
//!   `--replica NAME` flag: each replica is an axum service behind the
//!   canary layer, joined to the rollout with one call,
//!   `Fleet::join(plan, replica).spawn()`.
//! - Drives load over HTTP across all three (random users in `x-user-id`)
//!   and prints one line per step: per-replica and fleet-wide requests,
//!   the leader, and what its last verdict counted.
//! - In the second step it kills the leader with SIGKILL; another replica
//!   takes over within the lease TTL plus one tick, at the same step with
//!   the same sticky salt, and the killed one is restarted (as Kubernetes
//!   restarts a crashed container).
//! - Every replica mounts fledge-admin's API and dashboard at `/fledge`
//!   over its fleet member (the token is `$FLEDGE_ADMIN_TOKEN`, or one
//!   generated for the run). At the end the driver gives one command to a
//!   follower's admin API (`restart` once the rollout has finished, the
//!   only command a finished rollout takes; `pause` if it has not) and
//!   prints that the leader applied it.
//! - Ends with lines for scripts: `replicas=3 leader_changes=N`,
//!   `judged_share=X` (the share of the fleet's requests in the final
//!   step's window that the leader's last verdict counted),
//!   `propagation_p99_ms=N` (from the leader's save to every replica
//!   serving it), and `result: ...`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command as Process, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use fledge_admin::Admin;
use fledge_axum::{CanaryLayer, Version};
use fledge_redis::{Fleet, Member, ReplicaId};
use fledge_rollout::Plan;
use serde_json::Value;

const REPLICAS: usize = 3;
const TICK: Duration = Duration::from_millis(250);
const LEASE_TTL: Duration = Duration::from_millis(2_000);

fn plan() -> Plan {
    let toml = r#"
name = "predict-v2"
baseline = "v1"
candidate = "v2"
steps = [5, 25, 50, 100]
interval = "4s"
failure_limit = 1
inconclusive_limit = 20

[[gates]]
name = "error rate"
kind = "threshold"
metric = "error_rate"
max = 0.02
min_samples = 100

[[gates]]
name = "p99 < 50ms"
kind = "threshold"
metric = "latency_p99"
max = 50.0
min_samples = 100
"#;
    Plan::from_toml(toml).unwrap_or_else(|e| panic!("the example's plan is valid: {e}"))
}

struct Args {
    redis: Option<String>,
    regress: bool,
    replica: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        redis: None,
        regress: false,
        replica: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--redis" => a.redis = it.next(),
            "--regress" => a.regress = it.next().as_deref() == Some("errors"),
            "--replica" => a.replica = it.next(),
            "-h" | "--help" => {
                println!("usage: fleet [--redis URL] [--regress errors]");
                std::process::exit(0);
            }
            other => {
                eprintln!(
                    "unknown argument {other}; usage: fleet [--redis URL] [--regress errors]"
                );
                std::process::exit(2);
            }
        }
    }
    a
}

fn main() {
    let args = args();
    if let Some(id) = &args.replica {
        let redis = args.redis.clone().unwrap_or_default();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        if let Err(e) = runtime.block_on(replica(id, &redis, args.regress)) {
            eprintln!("replica {id}: {e}");
            std::process::exit(2);
        }
        return;
    }
    if let Err(e) = drive(&args) {
        eprintln!("fleet: {e}");
        std::process::exit(1);
    }
}

// ------------------------------------------------------------------ replica

#[derive(Clone)]
struct App {
    member: Arc<Member>,
    regress: bool,
    served: Arc<std::sync::atomic::AtomicU64>,
}

/// Model v1: the mean of the last points; v2: exponential smoothing.
async fn predict(version: Version, State(app): State<App>) -> Result<String, StatusCode> {
    let n = app.served.fetch_add(1, Ordering::Relaxed);
    let series: Vec<f64> = (0..12).map(|i| 100.0 + f64::from(i) * 0.3).collect();
    let forecast = if version.id() == "v2" {
        if app.regress && n % 5 == 0 {
            return Err(StatusCode::INTERNAL_SERVER_ERROR);
        }
        series.iter().fold(series[0], |l, x| 0.5 * x + 0.5 * l)
    } else {
        series[series.len() - 5..].iter().sum::<f64>() / 5.0
    };
    Ok(format!("{forecast:.3}"))
}

async fn status(State(app): State<App>) -> Json<Value> {
    let c = app.member.controller();
    let state = c.state();
    Json(serde_json::json!({
        "member": app.member.status(),
        "judgement": app.member.fleet_judgement(),
        "phase": state.phase.name().to_string(),
        "step": state.step,
        "salt": state.salt,
        "weight_pct": c.traffic().candidate.percent(),
        "leader": app.member.is_leader(),
        "last_event": c.events().last().map(|e| e.reason.clone()),
    }))
}

async fn replica(id: &str, redis: &str, regress: bool) -> Result<(), Box<dyn std::error::Error>> {
    let fleet = Fleet::open(redis)?;
    // The one call: build (or resume) the controller, follow the leader,
    // publish this replica's windows, contend for the lease.
    let member = fleet
        .join(plan(), ReplicaId::new(id)?)
        .tick(TICK)
        .lease_ttl(LEASE_TTL)
        .publish_every(Duration::from_millis(100))
        .poll_every(Duration::from_millis(500))
        .spawn()
        .await?;
    let member = Arc::new(member);
    // The admin API and dashboard on every replica: any of them takes
    // commands (forwarded to the leader) and shows the fleet.
    let token = std::env::var("FLEDGE_ADMIN_TOKEN")
        .map_err(|_| "FLEDGE_ADMIN_TOKEN is not set (the driver sets it)")?;
    let admin = Admin::builder()
        .rollout(member.clone())
        .token(token)
        .build()?;
    let app = App {
        member: member.clone(),
        regress,
        served: Arc::default(),
    };
    let router = Router::new()
        .route("/predict", post(predict))
        .with_state(app.clone())
        .layer(CanaryLayer::new(member.routing().clone()))
        .merge(Router::new().route("/status", get(status)).with_state(app))
        .nest("/fledge", admin.router());
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    println!("READY {}", listener.local_addr()?);
    // Stopped by the driver closing our stdin: shut down gracefully (the
    // lease is released at once).
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        let _ = tx.send(());
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let _ = rx.await;
        })
        .await?;
    if let Ok(member) = Arc::try_unwrap(member) {
        member.shutdown().await;
    }
    Ok(())
}

// ------------------------------------------------------------------ driver

struct Proc {
    id: String,
    addr: SocketAddr,
    child: Child,
}

fn spawn_replica(id: &str, redis: &str, regress: bool, token: &str) -> Result<Proc, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Process::new(exe);
    cmd.args(["--replica", id, "--redis", redis])
        .env("FLEDGE_ADMIN_TOKEN", token);
    if regress {
        cmd.args(["--regress", "errors"]);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .env("RUST_LOG", "off")
        .spawn()
        .map_err(|e| format!("cannot start replica {id}: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let addr = line
        .strip_prefix("READY ")
        .and_then(|a| a.trim().parse().ok())
        .ok_or_else(|| format!("replica {id} did not start: {line:?}"))?;
    Ok(Proc {
        id: id.to_owned(),
        addr,
        child,
    })
}

fn http(addr: SocketAddr, method: &str, path: &str, user: Option<&str>) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let user = user.map_or_else(String::new, |u| format!("x-user-id: {u}\r\n"));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: 0\r\n{user}\r\n"
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_owned()))
}

/// `POST /fledge<path>` with the admin token and a JSON body: the status
/// code, the answer, and how long it took.
fn admin_post(
    addr: SocketAddr,
    path: &str,
    token: &str,
    body: &str,
) -> Option<(u16, Value, Duration)> {
    let started = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(15))).ok()?;
    let req = format!(
        "POST /fledge{path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((
        code,
        serde_json::from_str(body).unwrap_or(Value::Null),
        started.elapsed(),
    ))
}

/// The admin token: `$FLEDGE_ADMIN_TOKEN`, or 32 random hex digits.
fn admin_token() -> String {
    std::env::var("FLEDGE_ADMIN_TOKEN").unwrap_or_else(|_| {
        let bytes: [u8; 16] = rand::random();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    })
}

/// Gives one command to a follower's admin API and says who applied it:
/// the leader's count of applied commands moves, the follower's count of
/// forwarded ones too.
fn command_through_a_follower(procs: &[Option<Proc>], token: &str, finished: bool) -> String {
    let statuses: Vec<(usize, Value)> = procs
        .iter()
        .enumerate()
        .filter_map(|(i, p)| Some((i, status_of(p.as_ref()?.addr)?)))
        .collect();
    let Some((li, _)) = statuses.iter().find(|(_, s)| s["leader"] == true) else {
        return "admin: no leader at the end; no command sent".to_owned();
    };
    let Some((fi, _)) = statuses.iter().find(|(_, s)| s["leader"] != true) else {
        return "admin: no follower at the end; no command sent".to_owned();
    };
    let (leader, follower) = (procs[*li].as_ref(), procs[*fi].as_ref());
    let (Some(leader), Some(follower)) = (leader, follower) else {
        return "admin: replicas gone; no command sent".to_owned();
    };
    let applied =
        |p: &Proc| status_of(p.addr).and_then(|s| s["member"]["commands_applied"].as_u64());
    let before = applied(leader).unwrap_or(0);
    // A finished rollout takes only `restart`; a running one is paused.
    let command = if finished { "restart" } else { "pause" };
    let path = format!("/rollouts/{}/{command}", plan().name);
    let body = r#"{"reason": "the fleet example: a command given to a follower"}"#;
    match admin_post(follower.addr, &path, token, body) {
        Some((200, event, took)) => {
            let after = applied(leader).unwrap_or(0);
            format!(
                "admin: POST /fledge{path} to follower {} answered 200 in {} ms: {} (event {}), applied by leader {} (its applied commands {before} -> {after})",
                follower.id,
                took.as_millis(),
                event["kind"].as_str().unwrap_or("?"),
                event["seq"],
                leader.id,
            )
        }
        Some((code, answer, _)) => format!(
            "admin: POST /fledge{path} to follower {} answered {code}: {}",
            follower.id,
            answer["error"].as_str().unwrap_or("?")
        ),
        None => format!(
            "admin: POST /fledge{path} to follower {}: no answer",
            follower.id
        ),
    }
}

fn status_of(addr: SocketAddr) -> Option<Value> {
    let (code, body) = http(addr, "GET", "/status", None)?;
    (code == 200).then(|| serde_json::from_str(&body).ok())?
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Every answered request: (time in ms, replica index).
type Log = Arc<Mutex<Vec<(u64, usize)>>>;

fn start_load(targets: Arc<Mutex<Vec<(usize, SocketAddr)>>>, log: Log, stop: Arc<AtomicBool>) {
    for t in 0..4u64 {
        let (targets, log, stop) = (targets.clone(), log.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = t.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            while !stop.load(Ordering::Relaxed) {
                n ^= n << 13;
                n ^= n >> 7;
                n ^= n << 17;
                let list = targets.lock().map(|l| l.clone()).unwrap_or_default();
                if list.is_empty() {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                let (i, addr) = list[(n % list.len() as u64) as usize];
                let user = format!("user-{}", (n >> 16) % 50_000);
                if http(addr, "POST", "/predict", Some(&user)).is_some()
                    && let Ok(mut l) = log.lock()
                {
                    l.push((unix_ms(), i));
                }
                std::thread::sleep(Duration::from_millis(4));
            }
        });
    }
}

fn redis_server() -> Result<(Child, String), String> {
    let binary = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
        .unwrap_or("redis-server");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let child = Process::new(binary)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            format!("cannot run {binary}: {e}; install redis-server or pass --redis URL")
        })?;
    let url = format!("redis://127.0.0.1:{port}/");
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(b"PING\r\n");
            let mut b = [0u8; 5];
            if s.read(&mut b).is_ok_and(|n| n == 5) {
                return Ok((child, url));
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err("redis-server did not answer PING".to_owned())
}

fn drive(args: &Args) -> Result<(), String> {
    let started = Instant::now();
    let (mut own_redis, url) = match &args.redis {
        Some(url) => (None, url.clone()),
        None => {
            let (child, url) = redis_server()?;
            (Some(child), url)
        }
    };
    println!("redis {url}; {REPLICAS} replica processes, lease TTL {LEASE_TTL:?}, tick {TICK:?}");
    let token = admin_token();
    let mut procs: Vec<Option<Proc>> = Vec::new();
    for i in 0..REPLICAS {
        procs.push(Some(spawn_replica(
            &format!("r{i}"),
            &url,
            args.regress,
            &token,
        )?));
    }
    if let Some(p) = procs.first().and_then(Option::as_ref) {
        println!(
            "admin API and dashboard on every replica, e.g. http://{}/fledge (token from $FLEDGE_ADMIN_TOKEN, or generated for this run)",
            p.addr
        );
    }
    let targets = Arc::new(Mutex::new(
        procs
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().map(|p| (i, p.addr)))
            .collect::<Vec<_>>(),
    ));
    let log: Log = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    start_load(targets.clone(), log.clone(), stop.clone());

    let mut leaders: Vec<String> = Vec::new();
    let mut last_step: Option<(Option<u64>, String)> = None;
    let mut step_started_ms = unix_ms();
    let mut killed: Option<(usize, Instant, u64, String)> = None;
    let mut restart_at: Option<(usize, Instant)> = None;
    let mut applied: BTreeMap<u64, f64> = BTreeMap::new();
    let mut last_judgement: Option<Value> = None;
    let mut result = None;
    while started.elapsed() < Duration::from_secs(55) {
        std::thread::sleep(Duration::from_millis(100));
        let statuses: Vec<Option<Value>> = procs
            .iter()
            .map(|p| p.as_ref().and_then(|p| status_of(p.addr)))
            .collect();
        for s in statuses.iter().flatten() {
            for a in s["member"]["applied"].as_array().into_iter().flatten() {
                let (Some(v), Some(d)) = (a["version"].as_u64(), a["delay_ms"].as_f64()) else {
                    continue;
                };
                let e = applied.entry(v).or_insert(0.0);
                *e = e.max(d);
            }
        }
        let leader = statuses
            .iter()
            .enumerate()
            .find(|(_, s)| s.as_ref().is_some_and(|s| s["leader"] == true));
        let Some((li, Some(ls))) = leader.map(|(i, s)| (i, s.clone())) else {
            continue;
        };
        let lid = procs[li]
            .as_ref()
            .map_or_else(String::new, |p| p.id.clone());
        if leaders.last() != Some(&lid) {
            if let Some((_, at, step, salt)) = &killed {
                println!(
                    "[{:>5.1}s] {lid} took over {:.2} s after the kill, at step {}/4 (was {}/4), same salt: {}",
                    started.elapsed().as_secs_f64(),
                    at.elapsed().as_secs_f64(),
                    ls["step"].as_u64().map_or(0, |s| s + 1),
                    step + 1,
                    ls["salt"].as_str() == Some(salt.as_str())
                );
            }
            leaders.push(lid.clone());
        }
        if !ls["judgement"].is_null() {
            last_judgement = Some(ls["judgement"].clone());
        }
        let step = ls["step"].as_u64();
        let phase = ls["phase"].as_str().unwrap_or("").to_owned();
        if last_step.as_ref() != Some(&(step, phase.clone())) {
            let now = unix_ms();
            if last_step.is_some() {
                print_step(
                    started,
                    &procs,
                    &log,
                    step_started_ms,
                    now,
                    &last_judgement,
                    &leaders,
                );
            }
            step_started_ms = now;
            last_step = Some((step, phase.clone()));
            println!(
                "[{:>5.1}s] {} at step {}/4: v2 {:.0} %, leader {lid}",
                started.elapsed().as_secs_f64(),
                phase,
                step.map_or(0, |s| s + 1),
                ls["weight_pct"].as_f64().unwrap_or(0.0)
            );
        }
        if phase == "promoted" || phase == "rolled back" || phase == "aborted" {
            result = Some((phase, ls["last_event"].as_str().unwrap_or("").to_owned()));
            break;
        }
        // Midway through the second step: kill the leader.
        if killed.is_none()
            && step == Some(1)
            && unix_ms() - step_started_ms > 1_000
            && let Some(mut p) = procs[li].take()
        {
            if let Ok(mut t) = targets.lock() {
                t.retain(|(i, _)| *i != li);
            }
            let _ = p.child.kill();
            let _ = p.child.wait();
            println!(
                "[{:>5.1}s] killed the leader {} with SIGKILL at step 2/4",
                started.elapsed().as_secs_f64(),
                p.id
            );
            killed = Some((
                li,
                Instant::now(),
                1,
                ls["salt"].as_str().unwrap_or("").to_owned(),
            ));
            restart_at = Some((li, Instant::now() + Duration::from_millis(2_500)));
        }
        if let Some((i, at)) = restart_at
            && Instant::now() >= at
        {
            let p = spawn_replica(&format!("r{i}"), &url, args.regress, &token)?;
            println!(
                "[{:>5.1}s] restarted r{i} (its controller resumes the rollout from Redis)",
                started.elapsed().as_secs_f64()
            );
            if let Ok(mut t) = targets.lock() {
                t.push((i, p.addr));
            }
            procs[i] = Some(p);
            restart_at = None;
        }
    }
    // The verdict's share of the fleet's requests in its window.
    if result.is_none() {
        let end = unix_ms();
        print_step(
            started,
            &procs,
            &log,
            step_started_ms,
            end,
            &last_judgement,
            &leaders,
        );
    }
    stop.store(true, Ordering::Relaxed);
    let share = last_judgement.as_ref().and_then(|j| {
        let c = &j["coverage"];
        let (from, to) = (c["window_start_ms"].as_u64()?, c["window_end_ms"].as_u64()?);
        let counted = c["requests"].as_u64()? as f64;
        let sent = log
            .lock()
            .ok()?
            .iter()
            .filter(|(t, _)| *t >= from && *t <= to)
            .count() as f64;
        (sent > 0.0).then(|| (counted / sent).min(1.0))
    });
    let mut delays: Vec<f64> = applied.values().copied().collect();
    delays.sort_by(f64::total_cmp);
    let p99 = delays
        .get(((delays.len() as f64 * 0.99).ceil() as usize).saturating_sub(1))
        .copied();
    let admin_line = command_through_a_follower(&procs, &token, result.is_some());
    // Graceful shutdown: closing stdin lets each replica release the lease.
    for p in procs.iter_mut().flatten() {
        drop(p.child.stdin.take());
    }
    for p in procs.iter_mut().flatten() {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(p.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = p.child.kill();
        let _ = p.child.wait();
    }
    if let Some(r) = own_redis.as_mut() {
        let _ = r.kill();
        let _ = r.wait();
    }
    println!(
        "propagation: {} saves, max per save over every replica {}",
        delays.len(),
        delays
            .last()
            .map_or_else(|| "-".to_owned(), |d| format!("{d:.1} ms"))
    );
    println!("{admin_line}");
    println!(
        "replicas={REPLICAS} leader_changes={}",
        leaders.len().saturating_sub(1)
    );
    println!(
        "judged_share={}",
        share.map_or_else(|| "n/a".to_owned(), |s| format!("{s:.3}"))
    );
    println!(
        "propagation_p99_ms={}",
        p99.map_or_else(|| "n/a".to_owned(), |d| format!("{d:.1}"))
    );
    match result {
        Some((phase, _)) if phase == "promoted" => println!("result: promoted"),
        Some((phase, why)) if phase == "rolled back" => println!("result: rolled back ({why})"),
        Some((phase, why)) => println!("result: {phase} ({why})"),
        None => println!(
            "result: unfinished after {:.0} s",
            started.elapsed().as_secs_f64()
        ),
    }
    Ok(())
}

/// One line for the step that just ended: requests per replica and for
/// the fleet, and what the leader's last verdict counted.
fn print_step(
    started: Instant,
    procs: &[Option<Proc>],
    log: &Log,
    from: u64,
    to: u64,
    judgement: &Option<Value>,
    leaders: &[String],
) {
    let mut per = [0u64; REPLICAS];
    if let Ok(l) = log.lock() {
        for (t, i) in l.iter() {
            if *t >= from && *t < to {
                per[*i] += 1;
            }
        }
    }
    let replicas: Vec<String> = per
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let gone = if procs[i].is_none() { "(down)" } else { "" };
            format!("r{i} {n:>5}{gone}")
        })
        .collect();
    let verdict = judgement.as_ref().map_or_else(String::new, |j| {
        let c = &j["coverage"];
        format!(
            " | verdict {} over {}/{} replicas, {} req",
            j["judgement"]["outcome"].as_str().unwrap_or("?"),
            c["counted"].as_array().map_or(0, Vec::len),
            c["counted"].as_array().map_or(0, Vec::len)
                + c["not_counted"].as_array().map_or(0, Vec::len),
            c["requests"].as_u64().unwrap_or(0)
        )
    });
    println!(
        "[{:>5.1}s]   requests: {} | fleet {:>5}{verdict} (leader {})",
        started.elapsed().as_secs_f64(),
        replicas.join("  "),
        per.iter().sum::<u64>(),
        leaders.last().map_or("-", String::as_str)
    );
}
