//! Shared by the integration tests: a toy forecaster, a load generator
//! through the watcher's layer, the plan, a real MLflow server (started
//! once per test binary, killed when the binary exits) and a TCP proxy
//! that can be cut to make the registry unreachable.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use fledge_registry::{ModelSource, Served, Watcher};
use fledge_rollout::Plan;
use fledge_test::server::free_port;
use serde_json::json;
use tower::{Layer, ServiceExt};

/// Generous bounds for a loaded 2-core machine.
pub const LIMIT: Duration = Duration::from_secs(90);

/// A toy forecaster: `mean` or `last` of a series; `broken` answers 500.
#[derive(Debug)]
pub struct Toy {
    pub kind: String,
}

/// The artifacts of a toy model.
pub fn artifact(kind: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({ "kind": kind, "window": 3 })).unwrap()
}

/// The loader: reads `model.json`; `unloadable` fails.
pub async fn load(
    version: fledge_registry::ModelVersion,
    dir: PathBuf,
) -> Result<Arc<Toy>, String> {
    let text = tokio::fs::read_to_string(dir.join("model.json"))
        .await
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let kind = v["kind"].as_str().unwrap_or("").to_owned();
    if kind == "unloadable" {
        return Err(format!(
            "version {}: unsupported model kind \"unloadable\"",
            version.version
        ));
    }
    Ok(Arc::new(Toy { kind }))
}

/// The plan: two steps (50 %, 100 %) of 1 s; the error rate must stay
/// below 5 % (decided on the value alone, from 20 requests).
pub fn plan() -> Plan {
    Plan::from_toml(
        r#"
        name = "toy"
        baseline = "champion"
        candidate = "challenger"
        steps = [50, 100]
        interval = "1s"

        [[gates]]
        name = "errors"
        kind = "threshold"
        metric = "error_rate"
        max = 0.05
        min_samples = 20
        confidence = 0
        "#,
    )
    .unwrap()
}

/// Starts a watcher with short intervals.
pub async fn watcher(source: impl ModelSource, model: &str) -> Watcher<Toy> {
    watcher_with(source, model, |b| b).await
}

pub async fn watcher_with(
    source: impl ModelSource,
    model: &str,
    f: impl FnOnce(fledge_registry::WatcherBuilder<Toy>) -> fledge_registry::WatcherBuilder<Toy>,
) -> Watcher<Toy> {
    let cache = std::env::temp_dir().join(format!("fledge-registry-test-{}", std::process::id()));
    let b = Watcher::builder(source, model, plan())
        .loader(load)
        .poll_interval(Duration::from_millis(100))
        .tick_interval(Duration::from_millis(100))
        .backoff_max(Duration::from_millis(400))
        .grace(Duration::from_secs(60))
        .cache_dir(cache);
    f(b).start().await.expect("the watcher starts")
}

/// Requests through the watcher's layer, counted per version id.
pub struct Traffic {
    stop: Arc<AtomicBool>,
    pub counts: Arc<Mutex<HashMap<String, (u64, u64)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Traffic {
    pub fn start(watcher: &Watcher<Toy>) -> Traffic {
        let handler = tower::service_fn(|req: http::Request<String>| async move {
            let model = req.extensions().get::<Served<Toy>>().cloned();
            let (status, body) = match model {
                Some(m) if m.kind == "broken" => (500, "broken".to_owned()),
                Some(m) => (200, m.id().to_owned()),
                None => (500, "no model".to_owned()),
            };
            let mut res = http::Response::new(body);
            *res.status_mut() = http::StatusCode::from_u16(status).unwrap();
            Ok::<_, Infallible>(res)
        });
        let service = watcher.layer().layer(handler);
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Mutex::new(HashMap::new()));
        let (s, c) = (stop.clone(), counts.clone());
        let task = tokio::spawn(async move {
            let mut i = 0u64;
            while !s.load(Ordering::Relaxed) {
                i += 1;
                let req = http::Request::builder()
                    .header("x-user-id", format!("user-{}", i % 997))
                    .body(String::new())
                    .unwrap();
                let res = service.clone().oneshot(req).await.unwrap();
                let version = res
                    .headers()
                    .get("x-fledge-version")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("?")
                    .to_owned();
                let ok = res.status().is_success();
                {
                    let mut counts = c.lock().unwrap();
                    let e = counts.entry(version).or_insert((0, 0));
                    if ok {
                        e.0 += 1;
                    } else {
                        e.1 += 1;
                    }
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        Traffic { stop, counts, task }
    }

    /// (successes, failures) of version `id`.
    pub fn of(&self, id: &str) -> (u64, u64) {
        self.counts
            .lock()
            .unwrap()
            .get(id)
            .copied()
            .unwrap_or((0, 0))
    }

    pub fn total(&self) -> u64 {
        self.counts
            .lock()
            .unwrap()
            .values()
            .map(|(a, b)| a + b)
            .sum()
    }

    pub fn reset(&self) {
        self.counts.lock().unwrap().clear();
    }

    pub async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
    }
}

// ------------------------------------------------------------------ MLflow

/// A real MLflow tracking server on a free loopback port, with a temporary
/// sqlite backend store and artifact root; one per test binary.
pub struct MlflowServer {
    pub url: String,
    pub dir: PathBuf,
    pub started_in: Duration,
}

fn find_mlflow() -> PathBuf {
    if let Some(p) = std::env::var_os("FLEDGE_MLFLOW") {
        return PathBuf::from(p);
    }
    if let Some(paths) = std::env::var_os("PATH")
        && let Some(p) = std::env::split_paths(&paths)
            .map(|d| d.join("mlflow"))
            .find(|p| p.is_file())
    {
        return p;
    }
    // scripts/test installs it in a virtualenv under the workspace's target/.
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/mlflow-venv/bin/mlflow");
    if venv.is_file() {
        return venv;
    }
    panic!(
        "mlflow not found: run scripts/test (it installs MLflow into target/mlflow-venv), or \
         `python3 -m venv target/mlflow-venv && target/mlflow-venv/bin/pip install mlflow`, or \
         point FLEDGE_MLFLOW at the mlflow executable; the MLflow tests need a real server and never skip"
    )
}

fn answers(url: &str) -> bool {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .http_status_as_error(false)
        .build()
        .into();
    agent
        .get(&format!("{url}/health"))
        .call()
        .is_ok_and(|r| r.status() == 200)
}

static SERVER: OnceLock<MlflowServer> = OnceLock::new();

/// The test binary's MLflow server, started on first use. It runs in its
/// own process group under a watchdog shell that kills the group when this
/// test process exits (statics are never dropped).
// The server outlives this function on purpose: its watchdog ends it.
#[allow(clippy::zombie_processes)]
pub fn mlflow() -> &'static MlflowServer {
    SERVER.get_or_init(|| {
        let bin = find_mlflow();
        let dir = std::env::temp_dir().join(format!("fledge-mlflow-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("artifacts")).unwrap();
        let start = Instant::now();
        for _ in 0..3 {
            let port = free_port();
            let url = format!("http://127.0.0.1:{port}");
            let script = format!(
                "trap 'kill 0' EXIT; \"$0\" server --host 127.0.0.1 --port {port} --workers 1 \
                 --backend-store-uri sqlite:///{db} --artifacts-destination {art} >{log} 2>&1 & \
                 while kill -0 {parent} 2>/dev/null; do sleep 1; done",
                db = dir.join("mlflow.db").display(),
                art = dir.join("artifacts").display(),
                log = dir.join("server.log").display(),
                parent = std::process::id(),
            );
            use std::os::unix::process::CommandExt;
            let mut child: Child = Command::new("sh")
                .arg("-c")
                .arg(&script)
                .arg(&bin)
                .process_group(0)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run sh for {}: {e}", bin.display()));
            let deadline = Instant::now() + Duration::from_secs(240);
            while Instant::now() < deadline {
                if answers(&url) {
                    let started_in = start.elapsed();
                    eprintln!("mlflow server at {url} answered after {started_in:?}");
                    return MlflowServer {
                        url,
                        dir,
                        started_in,
                    };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            let _ = Command::new("kill")
                .args(["-TERM", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
        }
        let log = std::fs::File::open(dir.join("server.log"))
            .map(|f| {
                BufReader::new(f)
                    .lines()
                    .map_while(Result::ok)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default();
        panic!(
            "mlflow server ({}) did not answer on a loopback port:\n{log}",
            bin.display()
        );
    })
}

// ------------------------------------------------------------------ a cuttable proxy

/// Forwards a loopback port to `target` until cut.
pub struct Proxy {
    pub url: String,
    cut: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: &str) -> Proxy {
        let target = target.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let cut = Arc::new(AtomicBool::new(false));
        let c = cut.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if c.load(Ordering::Relaxed) {
                    drop(inbound); // the registry is "down": connections die at once
                    continue;
                }
                let target = target.clone();
                let c = c.clone();
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        // Cutting also breaks the connections kept alive.
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                            () = async {
                                while !c.load(Ordering::Relaxed) {
                                    tokio::time::sleep(Duration::from_millis(10)).await;
                                }
                            } => {}
                        }
                    }
                });
            }
        });
        Proxy { url, cut, task }
    }

    pub fn cut(&self) {
        self.cut.store(true, Ordering::Relaxed);
    }

    pub fn restore(&self) {
        self.cut.store(false, Ordering::Relaxed);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
