//! PromQL gates against a real Prometheus server scraping a real exposition.
//!
//! The test serves a registry with two rollouts on loopback (`healthy`: the
//! candidate as good as the baseline; `broken`: 30 % errors and 4× the
//! latency), records live traffic into their controllers' recorders, starts
//! `prometheus` with a 1 s scrape interval, waits until it has samples, then
//! judges: a healthy candidate passes, the broken one fails (and its
//! controller rolls back, which Prometheus then sees), no data and NaN are
//! Inconclusive, a bad query and an unreachable server are Inconclusive with
//! the error in the reason.
//!
//! The `prometheus` binary is required (`PROMETHEUS` may name it): without
//! it the test fails, it never skips.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use fledge_gate::{Recorder, RecorderConfig};
use fledge_prometheus::{
    CONTENT_TYPE, Compare, FledgeCollector, PromCheck, PromClient, PromConfig, PromEvaluator,
    render,
};
use fledge_rollout::machine::{Outcome, PhaseName};
use fledge_rollout::{Controller, Plan};
use fledge_test::server::free_port;
use prometheus_client::registry::Registry;

/// The `prometheus` binary: `$PROMETHEUS`, else on `PATH`, else /usr/bin.
fn prometheus_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PROMETHEUS") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "prometheus not found at PROMETHEUS={}: install it with `apt-get install prometheus` or run scripts/test",
            path.display()
        );
        return path;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("prometheus"))
            .find(|p| p.is_file())
    });
    let found = on_path.or_else(|| {
        let p = PathBuf::from("/usr/bin/prometheus");
        p.is_file().then_some(p)
    });
    match found {
        Some(p) => p,
        None => panic!(
            "prometheus not found: install it with `apt-get install prometheus` or run scripts/test"
        ),
    }
}

/// A Prometheus server, killed on drop.
struct PromServer {
    child: Child,
    url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl PromServer {
    fn start(port: u16, target: &str) -> PromServer {
        let binary = prometheus_binary();
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: fledge\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("write prometheus.yml");
        let log = dir.path().join("prometheus.log");
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        PromServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `query` until its single value satisfies `ok`, or panics after `limit`.
    fn wait_for(&mut self, what: &str, query: &str, limit: Duration, ok: impl Fn(f64) -> bool) {
        let client = PromClient::new(&self.url)
            .expect("client")
            .timeout(Duration::from_secs(1));
        let start = Instant::now();
        let mut last = String::new();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "prometheus exited ({status}) while waiting for {what}:\n{}",
                    self.log()
                );
            }
            match client.query(query).map(|r| r.value.single()) {
                Ok(Ok(v)) if ok(v) => return,
                other => last = format!("{other:?}"),
            }
            thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "timed out after {limit:?} waiting for {what} ({query}); last answer {last}; log:\n{}",
            self.log()
        );
    }
}

impl Drop for PromServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Background threads (exposition server, traffic), stopped and joined on drop.
struct Background {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn serve_one(mut stream: TcpStream, registry: &Registry) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut line = String::new();
    // The request line and headers, up to the blank line.
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let (status, body) = match render(registry) {
        Ok(body) => ("200 OK", body),
        Err(e) => ("500 Internal Server Error", e.to_string()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
    let _ = stream.flush();
}

/// Serves `registry` over HTTP on loopback; returns the `host:port`.
fn exposition_server(registry: Arc<Registry>, bg: &mut Background) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind exposition server");
    let addr = listener.local_addr().expect("address").to_string();
    listener.set_nonblocking(true).expect("nonblocking");
    let stop = bg.stop.clone();
    bg.threads.push(thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((stream, _)) => serve_one(stream, &registry),
                Err(_) => thread::sleep(Duration::from_millis(10)),
            }
        }
    }));
    addr
}

/// Records traffic every 10 ms until stopped (at most 60 s): the baseline
/// and the healthy candidate at 10 ms with 1 % errors, the broken candidate
/// at 40 ms with 30 % errors.
fn traffic(healthy: Arc<Controller>, broken: Arc<Controller>, bg: &mut Background) {
    let stop = bg.stop.clone();
    bg.threads.push(thread::spawn(move || {
        let start = Instant::now();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(60) {
            for (controller, bad) in [(&healthy, false), (&broken, true)] {
                let routing = controller.routing();
                let recorder = routing.recorder();
                for i in 0..4 {
                    let k = n * 4 + i;
                    recorder.record(
                        routing.baseline().get(),
                        Duration::from_millis(10),
                        k.is_multiple_of(100),
                    );
                    let (ms, error) = if bad {
                        (40, k % 10 < 3)
                    } else {
                        (10, k % 100 == 1)
                    };
                    recorder.record(routing.candidate().get(), Duration::from_millis(ms), error);
                }
            }
            n += 1;
            thread::sleep(Duration::from_millis(10));
        }
    }));
}

fn plan(name: &str) -> Plan {
    Plan::from_toml(&format!(
        r#"
        name = "{name}"
        baseline = "v1"
        candidate = "v2"
        steps = [10, 50, 100]
        interval = "30s"
        "#
    ))
    .expect("plan")
}

const ERROR_RATE: &str = r#"sum(rate(fledge_request_errors_total{rollout="{rollout}",version="{version}"}[{interval}])) / sum(rate(fledge_requests_total{rollout="{rollout}",version="{version}"}[{interval}]))"#;
const MEAN_LATENCY: &str = r#"sum(rate(fledge_request_duration_seconds_sum{rollout="{rollout}",version="{version}"}[{interval}])) / sum(rate(fledge_request_duration_seconds_count{rollout="{rollout}",version="{version}"}[{interval}]))"#;
const P99_LATENCY: &str = r#"histogram_quantile(0.99, sum by (le) (rate(fledge_request_duration_seconds_bucket{rollout="{rollout}",version="{version}"}[{interval}])))"#;
const SAMPLES: &str =
    r#"sum(increase(fledge_requests_total{rollout="{rollout}",version="{version}"}[{interval}]))"#;

fn config(url: &str) -> PromConfig {
    PromConfig::new(url)
        .interval(Duration::from_secs(10))
        .timeout(Duration::from_secs(2))
        .check(
            PromCheck::new("error rate", ERROR_RATE)
                .max(0.05)
                .min_samples(SAMPLES, 20.0),
        )
        .check(
            PromCheck::new("mean latency vs baseline", MEAN_LATENCY)
                .compare(Compare::Ratio)
                .max(1.5),
        )
}

fn evaluator(config: PromConfig, rollout: &str) -> PromEvaluator {
    PromEvaluator::with_versions(config, rollout, "v1", "v2").expect("evaluator")
}

#[test]
fn promql_gates_against_a_real_prometheus() {
    let binary = prometheus_binary();
    let prom_port = free_port();
    let url = format!("http://127.0.0.1:{prom_port}");
    let clock = fledge_test::clock::manual();
    let controller = |name: &str| {
        let plan = plan(name);
        let evaluator = PromEvaluator::new(config(&url), &plan).expect("evaluator");
        Arc::new(
            Controller::builder(plan)
                .clock(clock.clone())
                .evaluator(evaluator)
                .judge_every_step()
                .build()
                .expect("controller"),
        )
    };
    let healthy = controller("healthy");
    let broken = controller("broken");
    // A version that never sees traffic: its error ratio is 0/0 = NaN.
    let idle = Arc::new(Recorder::new(RecorderConfig::new(1)).expect("recorder"));

    let mut registry = Registry::default();
    FledgeCollector::new()
        .controller(healthy.clone())
        .controller(broken.clone())
        .recorder("idle", idle, ["v0"])
        .register(&mut registry);

    let mut bg = Background {
        stop: Arc::new(AtomicBool::new(false)),
        threads: Vec::new(),
    };
    let target = exposition_server(Arc::new(registry), &mut bg);
    traffic(healthy.clone(), broken.clone(), &mut bg);
    let started = Instant::now();
    let mut prom = PromServer::start(prom_port, &target);
    eprintln!("{} serving at {url}, scraping {target}", binary.display());

    prom.wait_for(
        "the target up",
        r#"up{job="fledge"}"#,
        Duration::from_secs(20),
        |v| v == 1.0,
    );
    prom.wait_for(
        "four scrapes of both rollouts",
        r#"min(count_over_time(fledge_requests_total{version="v2"}[10s]))"#,
        Duration::from_secs(20),
        |v| v >= 4.0,
    );
    eprintln!("samples after {:?}", started.elapsed());

    // A healthy candidate passes.
    let j = evaluator(config(&url), "healthy").judge(Duration::from_secs(30), false);
    assert_eq!(j.outcome, Outcome::Pass, "{j}");
    assert_eq!(j.reason, "prometheus: 2 of 2 checks pass");
    let detail = serde_json::to_value(&j.verdict).unwrap_or_default();
    assert_eq!(detail["verdict"], "pass");
    let rate = detail["checks"][0]["canary"].as_f64().unwrap_or(f64::NAN);
    assert!((0.0..0.05).contains(&rate), "healthy error rate {rate}");
    assert!(
        detail["checks"][0]["canary_samples"].as_u64().unwrap_or(0) >= 20,
        "{detail}"
    );

    // The broken one fails both checks, each named with its value and bound.
    let j = evaluator(config(&url), "broken").judge(Duration::from_secs(30), false);
    assert_eq!(j.outcome, Outcome::Fail, "{j}");
    assert!(
        j.reason.starts_with("prometheus: 2 of 2 checks fail"),
        "{j}"
    );
    assert!(
        j.reason.contains("error rate: value 0.") && j.reason.contains("> max 0.05: fail"),
        "{j}"
    );
    assert!(
        j.reason.contains("mean latency vs baseline: v2 / v1 = "),
        "{j}"
    );
    assert!(j.reason.contains(r#"rollout="broken",version="v2""#), "{j}");
    let detail = serde_json::to_value(&j.verdict).unwrap_or_default();
    let rate = detail["checks"][0]["canary"].as_f64().unwrap_or(f64::NAN);
    assert!((0.2..0.4).contains(&rate), "broken error rate {rate}");
    let latency = detail["checks"][1]["canary"].as_f64().unwrap_or(f64::NAN);
    assert!(
        (0.035..0.045).contains(&latency),
        "broken mean latency {latency}"
    );

    // No data: an empty vector, and NaN from 0/0.
    // A fleet-wide p99 from the latency histogram's buckets: 10 ms passes a
    // 25 ms bound, 40 ms does not.
    let p99 = || {
        PromConfig::new(&url)
            .interval(Duration::from_secs(10))
            .timeout(Duration::from_secs(2))
            .check(PromCheck::new("p99 latency", P99_LATENCY).max(0.025))
    };
    let j = evaluator(p99(), "healthy").judge(Duration::from_secs(30), false);
    assert_eq!(j.outcome, Outcome::Pass, "{j}");
    let value = serde_json::to_value(&j.verdict).unwrap_or_default()["checks"][0]["canary"]
        .as_f64()
        .unwrap_or(f64::NAN);
    assert!((0.005..=0.01).contains(&value), "healthy p99 {value}");
    let j = evaluator(p99(), "broken").judge(Duration::from_secs(30), false);
    assert_eq!(j.outcome, Outcome::Fail, "{j}");
    let value = serde_json::to_value(&j.verdict).unwrap_or_default()["checks"][0]["canary"]
        .as_f64()
        .unwrap_or(f64::NAN);
    assert!((0.025..=0.05).contains(&value), "broken p99 {value}");

    let ghost = PromConfig::new(&url).check(
        PromCheck::new(
            "ghost",
            r#"sum(rate(fledge_requests_total{rollout="ghost"}[10s]))"#,
        )
        .max(1.0),
    );
    let j = evaluator(ghost, "ghost").judge(Duration::from_secs(30), false);
    assert_eq!(j.outcome, Outcome::Inconclusive, "{j}");
    assert!(j.reason.contains("ghost: no data (empty vector)"), "{j}");
    let idle = PromConfig::new(&url)
        .interval(Duration::from_secs(10))
        .check(PromCheck::new("idle errors", ERROR_RATE).max(0.05));
    let j = PromEvaluator::with_versions(idle, "idle", "v0", "v0")
        .expect("evaluator")
        .judge(Duration::from_secs(30), false);
    assert_eq!(j.outcome, Outcome::Inconclusive, "{j}");
    assert!(j.reason.contains("idle errors: NaN"), "{j}");

    // Too few samples.
    let few = PromConfig::new(&url)
        .interval(Duration::from_secs(10))
        .check(
            PromCheck::new("error rate", ERROR_RATE)
                .max(0.05)
                .min_samples(SAMPLES, 1e9),
        );
    let j = evaluator(few, "healthy").judge(Duration::from_secs(30), false);
    assert_eq!(j.outcome, Outcome::Inconclusive, "{j}");
    assert!(j.reason.contains("too few samples"), "{j}");

    // A query Prometheus rejects.
    let bad = PromConfig::new(&url).check(PromCheck::new("typo", "sum(rate(").max(1.0));
    let j = evaluator(bad, "healthy").judge(Duration::from_secs(30), false);
    assert_eq!(j.outcome, Outcome::Inconclusive, "{j}");
    assert!(
        j.reason
            .contains("Prometheus rejected the query (bad_data)"),
        "{j}"
    );

    // Prometheus unreachable.
    let down = format!("http://127.0.0.1:{}", free_port());
    let j = evaluator(config(&down), "healthy").judge(Duration::from_secs(30), false);
    assert_eq!(j.outcome, Outcome::Inconclusive, "{j}");
    assert!(
        j.reason
            .contains(&format!("cannot query Prometheus at {down}/api/v1/query")),
        "{j}"
    );

    // Through the controllers: the broken one rolls back in its tick, the
    // healthy one takes its next step once baked.
    let report = broken
        .tick(clock.advance(Duration::from_secs(1)))
        .expect("tick");
    assert_eq!(
        report.judgement.as_ref().map(|j| j.outcome),
        Some(Outcome::Fail),
        "{report:?}"
    );
    assert_eq!(
        report.state.phase.name(),
        PhaseName::RolledBack,
        "{report:?}"
    );
    assert_eq!(broken.traffic().candidate.bps(), 0);
    let report = healthy
        .tick(clock.advance(Duration::from_secs(30)))
        .expect("tick");
    assert_eq!(
        report.judgement.as_ref().map(|j| j.outcome),
        Some(Outcome::Pass),
        "{report:?}"
    );
    assert_eq!(report.state.step, Some(1), "{report:?}");

    // ... and Prometheus sees it at the next scrapes.
    prom.wait_for(
        "the rollback",
        r#"fledge_rollout_phase{rollout="broken",phase="rolled_back"} * on(rollout) fledge_rollout_events_total{kind="rolled_back"}"#,
        Duration::from_secs(10),
        |v| v == 1.0,
    );
    prom.wait_for(
        "the healthy step",
        r#"fledge_rollout_step{rollout="healthy"} + on(rollout) fledge_traffic_weight_ratio{version="v2"}"#,
        Duration::from_secs(10),
        |v| (v - 1.5).abs() < 1e-9,
    );
    drop(bg);
    drop(prom);
    eprintln!("done after {:?}", started.elapsed());
}
