//! A real admin API on a loopback port, for running the real `fledge`
//! binary against: a `Controller` of the canonical canary plan on a manual
//! clock, `fledge_admin::Admin`'s router served by axum on a tokio runtime
//! in the test process, and (when asked) a stand-in of the series endpoint.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fledge_admin::Admin;
use fledge_gate::clock::{ManualClock, Timestamp};
use fledge_rollout::machine::PhaseName;
use fledge_rollout::{Controller, Plan};

pub const PLAN: &str = include_str!("../../../../examples/plans/canary.toml");
pub const TOKEN: &str = "cli-test-token-0123456789abcdef";
pub const NAME: &str = "predict-v2";
/// Generous bounds for a loaded CI machine.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The series endpoint's contract, as agreed with fledge-admin (one point).
pub const SERIES_CONTRACT: &str = r#"{"rollout": "predict-v2", "versions": ["v2", "v1"], "candidate": "v2", "baseline": "v1",
 "limits": [{"gate": "p99 < 50ms", "metric": "latency_p99", "max": 50.0, "min": null}],
 "points": [{"at": 1733490000000, "span_ms": 1000, "step": 0, "weight_bps": 500,
             "versions": [{"id": "v2", "requests": 12, "errors": 0, "p50_ms": 3.1, "p99_ms": 9.0,
                           "metrics": {"abs_error": {"count": 10, "mean": 1.02}}},
                          {"id": "v1", "requests": 230, "errors": 1, "p50_ms": 2.9, "p99_ms": 8.1, "metrics": {}}]}],
 "next": 1733490001000}"#;

/// What the test server serves besides the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    /// Nothing: the admin API as it is today (GET .../series is a 405).
    Absent,
    /// A stand-in of `GET /rollouts/{name}/series` answering the contract
    /// above with a few more points, until the real endpoint lands.
    StandIn,
}

/// A running admin API.
pub struct Service {
    pub url: String,
    pub addr: SocketAddr,
    pub controller: Arc<Controller>,
    pub clock: ManualClock,
    /// Requests served so far (any route).
    pub requests: Arc<AtomicUsize>,
    /// Requests to the series stand-in.
    pub series_requests: Arc<AtomicUsize>,
    _runtime: tokio::runtime::Runtime,
}

fn t0() -> Timestamp {
    Timestamp::from_millis(1_733_490_000_000)
}

fn controller(plan: &str, clock: &ManualClock) -> Arc<Controller> {
    let plan = Plan::from_toml(plan).expect("the plan parses");
    Arc::new(
        Controller::builder(plan)
            .clock(clock.clone())
            .build()
            .expect("the controller starts"),
    )
}

#[derive(Clone)]
struct StandIn {
    calls: Arc<AtomicUsize>,
}

/// The stand-in of the series endpoint: the contract's point, then seven
/// more a second apart with figures that move, so sparklines have a shape.
async fn series_stand_in(State(s): State<StandIn>, headers: HeaderMap) -> Response {
    s.calls.fetch_add(1, Ordering::SeqCst);
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {TOKEN}"));
    if !authorized {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"error": "missing or wrong admin token"})),
        )
            .into_response();
    }
    let mut doc: serde_json::Value = serde_json::from_str(SERIES_CONTRACT).expect("contract");
    let first = doc["points"][0].clone();
    let points = doc["points"].as_array_mut().expect("points");
    for i in 1..8_u64 {
        let mut p = first.clone();
        p["at"] = (1_733_490_000_000 + i * 1000).into();
        p["versions"][0]["requests"] = (12 + i * 3).into();
        p["versions"][0]["p99_ms"] = (9.0 + i as f64).into();
        p["versions"][0]["metrics"]["abs_error"]["mean"] = (1.0 + i as f64 / 10.0).into();
        p["versions"][1]["requests"] = (230 - i * 2).into();
        if i == 4 {
            // A span without data on the candidate.
            p["versions"][0]["p99_ms"] = serde_json::Value::Null;
        }
        points.push(p);
    }
    doc["next"] = 1_733_490_008_000_u64.into();
    axum::Json(doc).into_response()
}

async fn count(State(n): State<Arc<AtomicUsize>>, request: Request, next: Next) -> Response {
    n.fetch_add(1, Ordering::SeqCst);
    next.run(request).await
}

impl Service {
    /// The canonical canary plan, commands recorded from `x-forwarded-user`.
    pub fn start(series: Series) -> Service {
        Service::with_plans(&[PLAN], series)
    }

    /// A service with one rollout per plan.
    pub fn with_plans(plans: &[&str], series: Series) -> Service {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let clock = ManualClock::new(t0());
        let controllers: Vec<Arc<Controller>> =
            plans.iter().map(|p| controller(p, &clock)).collect();
        let admin = Admin::builder()
            .rollouts(controllers.iter().cloned())
            .token(TOKEN)
            .operator_header("x-forwarded-user")
            .build()
            .expect("the admin API builds");
        let requests = Arc::new(AtomicUsize::new(0));
        let series_requests = Arc::new(AtomicUsize::new(0));
        let mut app = Router::new().route("/predict", get(|| async { "forecast" }));
        if series == Series::StandIn {
            app = app.route(
                "/fledge/rollouts/{name}/series",
                get(series_stand_in).with_state(StandIn {
                    calls: series_requests.clone(),
                }),
            );
        }
        let app = app
            .nest("/fledge", admin.router())
            .layer(middleware::from_fn_with_state(requests.clone(), count));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Service {
            url: format!("http://{addr}/fledge"),
            addr,
            controller: controllers[0].clone(),
            clock,
            requests,
            series_requests,
            _runtime: runtime,
        }
    }

    /// `fledge args...` against this service, with the token in the
    /// environment and operator alice.
    pub fn fledge(&self, args: &[&str]) -> Command {
        let mut c = fledge(args);
        c.env("FLEDGE_URL", &self.url)
            .env("FLEDGE_ADMIN_TOKEN", TOKEN)
            .env("FLEDGE_OPERATOR", "alice");
        c
    }

    /// Runs `fledge args...` to the end.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::of(self.fledge(args))
    }

    pub fn phase(&self) -> PhaseName {
        self.controller.state().phase.name()
    }

    /// One round of `n` requests per version (`candidate_ms` for the
    /// candidate, 10 ms for the baseline), then a tick a second later.
    pub fn round(&self, n: u32, candidate_ms: u64) {
        let routing = self.controller.routing();
        let (candidate, baseline) = (routing.candidate().get(), routing.baseline().get());
        for _ in 0..n {
            let recorder = routing.recorder();
            recorder.record(candidate, Duration::from_millis(candidate_ms), false);
            recorder.record(baseline, Duration::from_millis(10), false);
        }
        self.controller
            .tick(self.clock.advance(Duration::from_secs(1)))
            .expect("tick");
    }

    /// Healthy traffic until the rollout is promoted.
    pub fn drive_to_promotion(&self) {
        for _ in 0..1_000 {
            if self.phase() == PhaseName::Promoted {
                return;
            }
            self.round(100, 5);
        }
        panic!("not promoted after 1000 ticks: {:?}", self.phase());
    }

    /// A slow candidate until the gates roll it back.
    pub fn drive_to_rollback(&self) {
        for _ in 0..100 {
            if self.phase() == PhaseName::RolledBack {
                return;
            }
            self.round(100, 200);
        }
        panic!("not rolled back after 100 ticks: {:?}", self.phase());
    }

    /// Waits until `cond` holds (polling; no fixed sleep decides anything).
    pub fn until(&self, what: &str, cond: impl Fn() -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// `fledge args...` with no admin API settings from the test's environment.
pub fn fledge(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fledge"));
    c.args(args)
        .current_dir(root())
        .env("RUST_BACKTRACE", "1")
        .env_remove("FLEDGE_URL")
        .env_remove("FLEDGE_ADMIN_TOKEN")
        .env_remove("FLEDGE_ROLLOUT")
        .env_remove("FLEDGE_OPERATOR")
        .env_remove("FLEDGE_OPERATOR_HEADER");
    c
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A finished run.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub out: String,
    pub err: String,
}

impl Run {
    pub fn of(mut c: Command) -> Run {
        Running::start(&mut c).finish()
    }

    /// Asserts the exit code, showing the output otherwise.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code,
            Some(code),
            "stdout:\n{}\nstderr:\n{}",
            self.out,
            self.err
        );
        for s in [&self.out, &self.err] {
            assert!(
                !s.contains("panicked") && !s.contains("stack backtrace"),
                "{s}"
            );
            assert!(!s.contains(TOKEN), "the token was printed: {s}");
        }
        self
    }
}

/// A `fledge` process running in the background, its stdout read line by line.
pub struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    err: Arc<Mutex<String>>,
    started: Instant,
}

impl Running {
    pub fn start(c: &mut Command) -> Running {
        let mut child = c
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).split(b'\n') {
                let Ok(line) = line else { break };
                if tx
                    .send(String::from_utf8_lossy(&line).into_owned())
                    .is_err()
                {
                    break;
                }
            }
        });
        let err = Arc::new(Mutex::new(String::new()));
        let err2 = err.clone();
        thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            *err2.lock().expect("lock") = s;
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
            err,
            started: Instant::now(),
        }
    }

    /// Waits for a line of stdout that `pred` accepts; returns it.
    pub fn line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        if let Some(l) = self.seen.iter().find(|l| pred(l)) {
            return l.clone();
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!(
                        "no line of stdout showed {what}; stdout so far:\n{}\nstderr:\n{}",
                        self.seen.join("\n"),
                        self.err.lock().expect("lock")
                    );
                }
            }
        }
    }

    /// The lines of stdout read so far.
    pub fn drain(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        &self.seen
    }

    /// Waits for the process to exit (killing it after [`PATIENCE`]).
    pub fn finish(mut self) -> Run {
        let deadline = Instant::now() + PATIENCE;
        let status: ExitStatus = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "fledge did not exit within {PATIENCE:?}; stdout:\n{}",
                    self.drain().join("\n")
                );
            }
            thread::sleep(Duration::from_millis(10));
        };
        // The reader threads end with the pipes.
        while let Ok(line) = self.lines.recv_timeout(PATIENCE) {
            self.seen.push(line);
        }
        let deadline = Instant::now() + PATIENCE;
        while Arc::strong_count(&self.err) > 1 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        let err = self.err.lock().expect("lock").clone();
        Run {
            code: status.code(),
            out: self.seen.join("\n"),
            err,
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// How long it has run.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}
