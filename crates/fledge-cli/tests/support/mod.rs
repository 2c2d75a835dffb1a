//! A real admin API on a loopback port, for running the real `fledge`
//! binary against: a `Controller` of the canonical canary plan on a manual
//! clock, `fledge_admin::Admin`'s router served by axum on a tokio runtime
//! in the test process, with or without its series endpoint.

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
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fledge_admin::Admin;
use fledge_gate::clock::{ManualClock, Timestamp};
use fledge_rollout::machine::PhaseName;
use fledge_rollout::{Controller, Plan};
use fledge_test::server::Loopback;
use fledge_test::{plans, wait};

pub const PLAN: &str = include_str!("../../../../examples/plans/canary.toml");
pub const TOKEN: &str = "cli-test-token-0123456789abcdef";
pub const NAME: &str = "predict-v2";
/// Generous bounds for a loaded CI machine.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Whether the test server serves the series endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    /// An admin API from before the series endpoint: `GET .../series`
    /// answers 405, as the command route's `POST`-only method does.
    Absent,
    /// The admin API as it is: the real `GET /rollouts/{name}/series`.
    Served,
}

/// A running admin API.
pub struct Service {
    pub url: String,
    pub addr: SocketAddr,
    pub controller: Arc<Controller>,
    pub clock: ManualClock,
    /// Requests served so far (any route).
    pub requests: Arc<AtomicUsize>,
    /// Requests to the series endpoint.
    pub series_requests: Arc<AtomicUsize>,
    _server: Loopback,
}

fn t0() -> Timestamp {
    Timestamp::from_millis(1_733_490_000_000)
}

fn controller(plan: &str, clock: &ManualClock) -> Arc<Controller> {
    plans::controller(Plan::from_toml(plan).expect("the plan parses"), clock)
}

/// Counts series requests and, for [`Series::Absent`], answers them 405.
async fn series_gate(
    State((absent, n)): State<(bool, Arc<AtomicUsize>)>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path().ends_with("/series") {
        n.fetch_add(1, Ordering::SeqCst);
        if absent {
            return StatusCode::METHOD_NOT_ALLOWED.into_response();
        }
    }
    next.run(request).await
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
        let app = Router::new()
            .route("/predict", get(|| async { "forecast" }))
            .nest("/fledge", admin.router())
            .layer(middleware::from_fn_with_state(
                (series == Series::Absent, series_requests.clone()),
                series_gate,
            ))
            .layer(middleware::from_fn_with_state(requests.clone(), count));
        let server = Loopback::serve(app, 2);
        Service {
            url: server.url("/fledge"),
            addr: server.addr(),
            controller: controllers[0].clone(),
            clock,
            requests,
            series_requests,
            _server: server,
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
        plans::round(&self.controller, &self.clock, n, candidate_ms);
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
        assert!(wait::until(PATIENCE, cond), "timed out waiting for {what}");
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
