//! The dashboard in a real browser: a running service (a controller on a
//! manual clock, the admin router on a loopback port, traffic recorded for
//! both versions, ticks driven by the test) and `tests/browser/dashboard.mjs`
//! driving the system's Chromium through `playwright-core` against it.
//!
//! The script asks the service to move the rollout on through `/test/*`
//! routes of this test's own app (more ticks, the next step, a regression)
//! and checks what the page shows after each: charts with points for both
//! versions, a step marker after a step, a working pause button with a
//! typed token (checked through the API too), a rollback marker after a
//! rollback, a page with open reads that asks for the token before a
//! command, the fleet panel of a rollout run by a fleet of replicas (a
//! stand-in member with three replicas, one stale), and no console error
//! or failed request. It saves a screenshot
//! of the several-step rollout: `target/tmp/dashboard.png`, or the path in
//! `FLEDGE_DASHBOARD_SCREENSHOT` (`docs/dashboard.png` refreshes the
//! README's).
//!
//! Needs `node`, `chromium` and the harness's packages, which
//! `scripts/test` installs; without them the test fails and says how to
//! install them.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::post;
use fledge_admin::{Admin, FleetView, ReadAccess, ReplicaView};
use fledge_gate::clock::{ManualClock, Timestamp};
use fledge_rollout::control::{ControlError, Operate};
use fledge_rollout::machine::{Command as RolloutCommand, Event, PhaseName};
use fledge_rollout::{Controller, Plan};
use serde::Deserialize;

const TOKEN: &str = "browser-test-token-0123456789";
const NAME: &str = "predict-v2";
/// The whole run, browser included: generous for a loaded CI machine.
const DEADLINE: Duration = Duration::from_secs(150);

const PLAN: &str = r#"
name = "predict-v2"
description = "Forecasting model v2 replaces v1."
baseline = "v1"
candidate = "v2"
steps = [5, 25, 50, 100]
interval = "15s"
failure_limit = 2
inconclusive_limit = 5
metrics = ["abs_error"]

[[gates]]
name = "p99 < 50ms"
kind = "threshold"
metric = "latency_p99"
max = 50.0
critical = true
min_samples = 50

[[gates]]
name = "error rate"
kind = "sequential"
metric = "error_rate"
tau = 0.01
alpha = 0.01
min_samples = 50

[[gates]]
name = "abs error <= 2"
kind = "threshold"
metric = "abs_error"
max = 2.0
min_samples = 20
"#;

/// A small deterministic generator (xorshift64*): the same traffic every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Roughly normal (a sum of four uniforms), mean 0, sd 1.
    fn normal(&mut self) -> f64 {
        ((0..4).map(|_| self.next()).sum::<f64>() - 2.0) / (4.0f64 / 12.0).sqrt()
    }
}

/// The rollout and what drives it.
struct Scenario {
    controller: Arc<Controller>,
    clock: ManualClock,
    rng: Mutex<Rng>,
}

impl Scenario {
    /// One second of traffic (300 requests routed by user key, latencies
    /// and feedback per version; the candidate slow when `regress`), then
    /// one tick.
    fn second(&self, regress: bool) {
        let routing = self.controller.routing();
        let recorder = routing.recorder();
        let candidate = routing.candidate();
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..300 {
            let user = (rng.next() * 5000.0) as u32;
            let key = format!("user-{user}");
            let version = routing.route(Some(key.as_bytes()), &());
            let is_candidate = version == candidate;
            let ms = match (is_candidate, regress) {
                (true, true) => 70.0 + 40.0 * rng.next(),
                (true, false) => (1.9 + 0.35 * rng.normal()).exp(),
                (false, _) => (2.2 + 0.35 * rng.normal()).exp(),
            };
            let error = rng.next() < 0.002;
            recorder.record(version.get(), Duration::from_secs_f64(ms / 1e3), error);
            if rng.next() < 0.3 {
                let abs_error = if is_candidate { 1.0 } else { 1.3 } + 0.25 * rng.normal();
                let _ = recorder.record_feedback(version.get(), "abs_error", abs_error.abs());
            }
        }
        drop(rng);
        self.controller
            .tick(self.clock.advance(Duration::from_secs(1)))
            .expect("tick");
    }

    /// Seconds of traffic until `done`, at most 300.
    fn until(&self, regress: bool, done: impl Fn(&Controller) -> bool) -> Result<u32, String> {
        for n in 1..=300 {
            self.second(regress);
            if done(&self.controller) {
                return Ok(n);
            }
        }
        Err(format!(
            "not reached in 300 ticks: {:?}",
            self.controller.state()
        ))
    }
}

/// `POST /test/advance?ticks=N`, `?step=K` (until step K is taken, then
/// `then` more ticks) or `?regress=true` (a slow candidate until rolled back).
#[derive(Debug, Deserialize)]
struct Advance {
    ticks: Option<u32>,
    step: Option<usize>,
    #[serde(default)]
    regress: bool,
    #[serde(default)]
    then: u32,
}

async fn advance(
    State(scenario): State<Arc<Scenario>>,
    Query(q): Query<Advance>,
) -> Result<Json<serde_json::Value>, (http::StatusCode, String)> {
    let result = tokio::task::spawn_blocking(move || {
        let ticks = if q.regress {
            scenario.until(true, |c| c.state().phase.name() == PhaseName::RolledBack)?
        } else if let Some(step) = q.step {
            scenario.until(false, |c| c.state().step >= Some(step))?
        } else {
            let n = q.ticks.unwrap_or(1);
            (0..n).for_each(|_| scenario.second(false));
            n
        };
        (0..q.then).for_each(|_| scenario.second(false));
        let state = scenario.controller.state();
        Ok::<_, String>(serde_json::json!({
            "ticks": ticks + q.then,
            "step": state.step,
            "phase": state.phase.name(),
        }))
    })
    .await
    .map_err(|e| (http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    result
        .map(Json)
        .map_err(|e| (http::StatusCode::INTERNAL_SERVER_ERROR, e))
}

/// The same rollout as a fleet member would show it: replica `r1`
/// answering, `r0` leading, `r2` stale.
#[derive(Debug)]
struct Member(Arc<Controller>);

impl Operate for Member {
    fn controller(&self) -> &Controller {
        &self.0
    }

    fn command(
        &self,
        command: RolloutCommand,
        by: &str,
        reason: Option<&str>,
    ) -> Result<Event, ControlError> {
        self.0.command(command, by, reason)
    }

    fn fleet(&self) -> Option<FleetView> {
        let replica = |id: &str, age_ms: u64, live: bool| ReplicaView {
            id: id.to_owned(),
            leader: id == "r0",
            summary_age: Some(Duration::from_millis(age_ms)),
            requests: 900,
            live,
        };
        Some(FleetView {
            replica: "r1".to_owned(),
            leader: Some("r0".to_owned()),
            replicas: vec![
                replica("r0", 150, true),
                replica("r1", 90, true),
                replica("r2", 12_000, false),
            ],
        })
    }
}

/// Starts the service: `/fledge` (the admin API and dashboard, reads
/// behind the token as in the demo), `/open` (the same with open reads),
/// `/fleet` (open reads, through a fleet member) and `/test/advance`.
async fn serve() -> (SocketAddr, Arc<Scenario>) {
    // The manual clock starts at the current second, so the page's time
    // axis reads like a real one.
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() * 1000);
    let clock = ManualClock::new(Timestamp::from_millis(now_ms));
    let plan = Plan::from_toml(PLAN).expect("the plan parses");
    let controller = Arc::new(
        Controller::builder(plan)
            .clock(clock.clone())
            .build()
            .expect("the controller starts"),
    );
    let scenario = Arc::new(Scenario {
        controller: controller.clone(),
        clock,
        rng: Mutex::new(Rng(0x9e37_79b9_7f4a_7c15)),
    });
    let admin = Admin::builder()
        .rollout(controller.clone())
        .token(TOKEN)
        .build()
        .expect("the admin API builds");
    let open = Admin::builder()
        .rollout(controller.clone())
        .token(TOKEN)
        .read_access(ReadAccess::Open)
        .build()
        .expect("the admin API builds");
    let fleet = Admin::builder()
        .rollout(Arc::new(Member(controller)))
        .token(TOKEN)
        .read_access(ReadAccess::Open)
        .build()
        .expect("the admin API builds");
    let app = Router::new()
        .route("/test/advance", post(advance))
        .with_state(scenario.clone())
        .nest("/fledge", admin.router())
        .nest("/open", open.router())
        .nest("/fleet", fleet.router());
    let addr = fledge_test::server::spawn(app).await;
    (addr, scenario)
}

fn harness() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// The browser: `$CHROMIUM`, else Debian's `chromium`.
fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Fails, saying how to install, when node, chromium or the harness's
/// packages are missing.
fn check_tools() {
    let install = "install them with scripts/test, or: apt-get install chromium nodejs npm \
                   && (cd crates/fledge-admin/tests/browser && npm ci)";
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "the browser test needs node (not found: {node:?}); {install}"
    );
    assert!(
        chromium().exists(),
        "the browser test needs chromium at {} (or $CHROMIUM); {install}",
        chromium().display()
    );
    assert!(
        harness().join("node_modules/playwright-core").is_dir(),
        "the browser test needs its packages in {}/node_modules; {install}",
        harness().display()
    );
}

/// Runs the script with `env`, killing it past the deadline; its output.
fn run_script(env: &[(&str, String)], deadline: Instant) -> (bool, String) {
    let mut cmd = Command::new("node");
    cmd.arg("dashboard.mjs")
        .current_dir(harness())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start node");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        text
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let stdout = reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    let mut text = format!("{stdout}{stderr}");
    if status.is_none() {
        text.push_str(&format!("\nkilled: still running after {DEADLINE:?}"));
    }
    (status.is_some_and(|s| s.success()), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_chromium() {
    check_tools();
    let started = Instant::now();
    let (addr, scenario) = serve().await;
    // Twelve seconds at the first step before the page opens: history to load.
    let s = scenario.clone();
    tokio::task::spawn_blocking(move || (0..12).for_each(|_| s.second(false)))
        .await
        .expect("traffic");

    let screenshot = std::env::var_os("FLEDGE_DASHBOARD_SCREENSHOT").map_or_else(
        || Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png"),
        |p| {
            let p = PathBuf::from(p);
            if p.is_absolute() {
                p
            } else {
                // Relative to the workspace, where `cargo test` is run.
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(p)
            }
        },
    );
    let env = [
        ("FLEDGE_URL", format!("http://{addr}/fledge")),
        ("FLEDGE_OPEN_URL", format!("http://{addr}/open")),
        ("FLEDGE_FLEET_URL", format!("http://{addr}/fleet")),
        ("FLEDGE_TEST_URL", format!("http://{addr}/test")),
        ("FLEDGE_TOKEN", TOKEN.to_owned()),
        ("FLEDGE_ROLLOUT", NAME.to_owned()),
        ("FLEDGE_SCREENSHOT", screenshot.display().to_string()),
        ("CHROMIUM", chromium().display().to_string()),
    ];
    let deadline = started + DEADLINE;
    let (ok, output) = tokio::task::spawn_blocking(move || run_script(&env, deadline))
        .await
        .expect("the script ran");
    println!("{output}");
    assert!(ok, "the browser check failed:\n{output}");
    // What the page was driven to, seen from the controller.
    let state = scenario.controller.state();
    assert_eq!(state.phase.name(), PhaseName::RolledBack);
    let events = scenario.controller.events();
    assert!(
        events.iter().any(|e| e.input
            == fledge_rollout::machine::Input::Command {
                command: fledge_rollout::Command::Pause,
                by: fledge_admin::DEFAULT_OPERATOR.to_owned(),
                reason: Some("browser test: hold at 25 %".to_owned()),
            }),
        "the pause button's command is in the log"
    );
    assert!(screenshot.is_file(), "{}", screenshot.display());
    println!(
        "browser test: {:.1} s, screenshot {}",
        started.elapsed().as_secs_f64(),
        screenshot.display()
    );
}
