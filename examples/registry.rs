//! Registry-driven rollouts: a model registry decides what serves.
//!
//! ```text
//! cargo run --release --example registry                      # MLflow if installed, else a directory
//! cargo run --release --example registry -- --tracking-uri http://127.0.0.1:5000
//! cargo run --release --example registry -- --directory
//! ```
//!
//! - The registry: a real MLflow tracking server started on a free loopback
//!   port (when `mlflow` is on PATH, in `FLEDGE_MLFLOW`, or in
//!   `target/mlflow-venv` where `scripts/test` installs it), an existing
//!   one (`--tracking-uri`), or else a directory (`fledge_registry::DirSource`).
//! - The models: small forecasters stored as JSON artifacts (a moving
//!   average, exponential smoothing, and a broken seasonal model whose
//!   period is longer than the series it gets: every request fails).
//! - The service: an axum router with the watcher's layer; the handler gets
//!   the routed model as an `Extension<Served<Forecaster>>`. Load is
//!   generated in process; bake times are 1 s.
//! - The story: version 1 is `@champion`; version 2 is marked
//!   `@challenger`, loaded next to it, canaried (10 → 50 → 100 %) and
//!   promoted (`@champion` → 2); version 3 is marked `@challenger`, fails its
//!   error gate at 10 % and is rolled back in the same tick, tagged
//!   `fledge.verdict = rolled_back` with the reason, `@challenger` cleared.
//!
//! The last two lines are `champion=<version>` and `rejected=<versions>`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Extension;
use axum::http::StatusCode;
use axum::routing::post;
use fledge_registry::{
    DirSource, MlflowSource, ModelSource, Served, Status, WatchPhase, Watcher, tags,
};
use fledge_rollout::Plan;
use serde::Deserialize;
use tower::ServiceExt;

/// A forecaster, as stored in `model.json`.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Forecaster {
    MovingAverage { window: usize },
    ExpSmoothing { alpha: f64 },
    SeasonalNaive { period: usize },
}

impl Forecaster {
    fn forecast(&self, y: &[f64]) -> Result<f64, String> {
        match self {
            Forecaster::MovingAverage { window } => {
                let w = (*window).clamp(1, y.len());
                Ok(y[y.len() - w..].iter().sum::<f64>() / w as f64)
            }
            Forecaster::ExpSmoothing { alpha } => Ok(y
                .iter()
                .skip(1)
                .fold(y[0], |s, x| alpha * x + (1.0 - alpha) * s)),
            Forecaster::SeasonalNaive { period } => {
                y.len().checked_sub(*period).map(|i| y[i]).ok_or_else(|| {
                    format!(
                        "series of {} points is shorter than the period {period}",
                        y.len()
                    )
                })
            }
        }
    }
}

async fn forecast(
    Extension(model): Extension<Served<Forecaster>>,
    body: String,
) -> Result<String, (StatusCode, String)> {
    let y: Vec<f64> = body
        .split(',')
        .filter_map(|x| x.trim().parse().ok())
        .collect();
    model
        .forecast(&y)
        .map(|f| format!("{f:.3}"))
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e))
}

/// A `mlflow server` child in its own process group, stopped on drop.
struct MlflowServer {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for MlflowServer {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

fn find_mlflow() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FLEDGE_MLFLOW") {
        return Some(PathBuf::from(p));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("mlflow"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let venv =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/mlflow-venv/bin/mlflow");
        venv.is_file().then_some(venv)
    })
}

fn start_mlflow(bin: &PathBuf) -> Result<(MlflowServer, String), Box<dyn std::error::Error>> {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(bin)
        .args([
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--workers",
            "1",
        ])
        .arg("--backend-store-uri")
        .arg(format!(
            "sqlite:///{}",
            dir.path().join("mlflow.db").display()
        ))
        .arg("--artifacts-destination")
        .arg(dir.path().join("artifacts"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let server = MlflowServer { child, _dir: dir };
    let url = format!("http://127.0.0.1:{port}");
    let probe = MlflowSource::new(&url)?;
    let start = Instant::now();
    println!("starting mlflow server at {url} (takes a while the first time) ...");
    while start.elapsed() < Duration::from_secs(240) {
        match probe.aliases("fledge-probe") {
            Err(fledge_registry::SourceError::Unreachable { .. }) => {
                std::thread::sleep(Duration::from_millis(250))
            }
            _ => {
                println!("mlflow server ready after {:.0?}", start.elapsed());
                return Ok((server, url));
            }
        }
    }
    Err("mlflow server did not answer within 240 s".into())
}

/// Registers a version whose only artifact is `model.json`.
fn register(
    source: &Registry,
    model: &str,
    version: &str,
    json: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    Ok(match source {
        Registry::Mlflow(s) => {
            s.log_model_version(model, "0", &[("model.json", json.as_bytes())])?
                .version
        }
        Registry::Dir(s) => {
            std::fs::write(s.create_version(model, version)?.join("model.json"), json)?;
            version.to_owned()
        }
    })
}

#[derive(Clone, Debug)]
enum Registry {
    Mlflow(MlflowSource),
    Dir(DirSource),
}

impl Registry {
    fn source(&self) -> Arc<dyn ModelSource> {
        match self {
            Registry::Mlflow(s) => Arc::new(s.clone()),
            Registry::Dir(s) => Arc::new(s.clone()),
        }
    }
}

fn series(i: u64) -> String {
    // A level around 100 with a little wobble: 24 points.
    (0..24)
        .map(|t| {
            let x = (i * 31 + t * 17) % 97;
            format!(
                "{:.2}",
                100.0 + (x as f64 / 97.0 - 0.5) * 4.0 + t as f64 * 0.05
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn describe(s: &Status) -> String {
    let challenger = s
        .challenger
        .as_ref()
        .map_or("-".to_owned(), |c| c.version.clone());
    format!(
        "phase={:?} champion={} challenger={} canary={:.0}%",
        s.phase,
        s.champion.version,
        challenger,
        f64::from(s.candidate_bps) / 100.0
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let uri = args
        .iter()
        .position(|a| a == "--tracking-uri")
        .and_then(|i| args.get(i + 1).cloned());
    let force_dir = args.iter().any(|a| a == "--directory");

    let mut _server = None;
    let _dir = tempfile::tempdir()?;
    let registry = match (uri, force_dir, find_mlflow()) {
        (Some(uri), _, _) => {
            println!("registry: MLflow at {uri}");
            Registry::Mlflow(MlflowSource::new(&uri)?)
        }
        (None, false, Some(bin)) => {
            let (server, url) =
                tokio::task::spawn_blocking(move || start_mlflow(&bin).map_err(|e| e.to_string()))
                    .await??;
            _server = Some(server);
            println!("registry: MLflow at {url}");
            Registry::Mlflow(MlflowSource::new(&url)?)
        }
        _ => {
            println!(
                "registry: a directory ({}); install mlflow for the MLflow version",
                _dir.path().display()
            );
            Registry::Dir(DirSource::new(_dir.path()))
        }
    };
    let model = format!("forecaster-{}", std::process::id());
    let source = registry.source();

    // Version 1: the champion.
    let r = registry.clone();
    let m = model.clone();
    let (v1, v2) = tokio::task::spawn_blocking(move || -> Result<_, String> {
        let v1 = register(&r, &m, "1", r#"{"kind": "moving_average", "window": 6}"#)
            .map_err(|e| e.to_string())?;
        let v2 = register(&r, &m, "2", r#"{"kind": "exp_smoothing", "alpha": 0.4}"#)
            .map_err(|e| e.to_string())?;
        r.source()
            .set_alias(&m, "champion", &v1)
            .map_err(|e| e.to_string())?;
        Ok((v1, v2))
    })
    .await??;
    println!(
        "registered {model} versions {v1} (moving average, @champion) and {v2} (exponential smoothing)"
    );

    let plan = Plan::from_toml(
        r#"
        name = "forecaster"
        baseline = "champion"
        candidate = "challenger"
        steps = [10, 50, 100]
        interval = "1s"

        [[gates]]
        name = "errors"
        kind = "threshold"
        metric = "error_rate"
        max = 0.02
        min_samples = 30
        confidence = 0
        "#,
    )?;
    let cache = _dir.path().join("cache");
    let watcher = Watcher::builder(source.clone(), &model, plan)
        .loader(|version, dir| async move {
            let text = tokio::fs::read_to_string(dir.join("model.json")).await?;
            let model: Forecaster = serde_json::from_str(&text)?;
            println!(
                "  loaded version {} from {}: {model:?}",
                version.version,
                dir.display()
            );
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Arc::new(model))
        })
        .poll_interval(Duration::from_millis(200))
        .tick_interval(Duration::from_millis(200))
        .grace(Duration::from_secs(2))
        .cache_dir(cache)
        .start()
        .await?;

    // The service and its load.
    let app: Router = Router::new()
        .route("/forecast", post(forecast))
        .layer(watcher.layer());
    let stop = Arc::new(AtomicBool::new(false));
    let served: Arc<Mutex<BTreeMap<String, (u64, u64)>>> = Arc::default();
    let load = {
        let (stop, served, app) = (stop.clone(), served.clone(), app.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let req = axum::http::Request::post("/forecast")
                    .header("x-user-id", format!("user-{}", i % 1000))
                    .body(axum::body::Body::from(series(i)))
                    .expect("request");
                let res = match app.clone().oneshot(req).await {
                    Ok(res) => res,
                    Err(never) => match never {},
                };
                {
                    let v = res
                        .headers()
                        .get("x-fledge-version")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("?")
                        .to_owned();
                    let mut s = served.lock().expect("counts");
                    let e = s.entry(v).or_default();
                    if res.status().is_success() {
                        e.0 += 1;
                    } else {
                        e.1 += 1;
                    }
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    // Print each change of the watcher's state.
    let printer = {
        let mut rx = watcher.status_changes();
        tokio::spawn(async move {
            let mut last = String::new();
            while rx.changed().await.is_ok() {
                let line = describe(&rx.borrow_and_update());
                if line != last {
                    println!("  {line}");
                    last = line;
                }
            }
        })
    };

    // Act 1: version 2 is marked challenger, canaried and promoted.
    println!("\n@challenger -> {v2}");
    source.set_alias(&model, "challenger", &v2)?;
    watcher
        .wait_for(Duration::from_secs(120), |s| {
            s.champion.version == v2 && s.phase == WatchPhase::Serving && s.pending_writes == 0
        })
        .await
        .map_err(|s| format!("version {v2} was not promoted: {s:?}"))?;
    println!(
        "served so far (successes, failures): {:?}",
        served.lock().expect("counts")
    );

    // Act 2: a broken version 3 is marked challenger and rolled back.
    let r = registry.clone();
    let m = model.clone();
    let v3 = tokio::task::spawn_blocking(move || {
        register(&r, &m, "3", r#"{"kind": "seasonal_naive", "period": 48}"#)
            .map_err(|e| e.to_string())
    })
    .await??;
    println!("\nregistered version {v3} (seasonal naive, period 48); @challenger -> {v3}");
    source.set_alias(&model, "challenger", &v3)?;
    watcher
        .wait_for(Duration::from_secs(120), |s| {
            s.rejection(&v3).is_some() && s.pending_writes == 0
        })
        .await
        .map_err(|s| format!("version {v3} was not rolled back: {s:?}"))?;
    stop.store(true, Ordering::Relaxed);
    let _ = load.await;
    printer.abort();
    println!(
        "served (successes, failures): {:?}",
        served.lock().expect("counts")
    );

    // What the registry says now.
    let (src, m, v) = (source.clone(), model.clone(), v3.clone());
    let (aliases, bad, good) = tokio::task::spawn_blocking(move || -> Result<_, String> {
        Ok((
            src.aliases(&m).map_err(|e| e.to_string())?,
            src.version(&m, &v).map_err(|e| e.to_string())?,
            src.version(&m, "2").ok(),
        ))
    })
    .await??;
    println!("\nregistry aliases: {aliases:?}");
    if let Some(good) = good {
        println!("version {} tags:", good.version);
        for (k, v) in good.tags.iter().filter(|(k, _)| k.starts_with("fledge.")) {
            println!("  {k} = {v}");
        }
    }
    println!("version {} tags:", bad.version);
    for (k, v) in bad.tags.iter().filter(|(k, _)| k.starts_with("fledge.")) {
        println!("  {k} = {v}");
    }
    assert_eq!(bad.tag(tags::VERDICT), Some("rolled_back"));

    let status = watcher.status();
    watcher.shutdown().await;
    drop(_server);
    println!("champion={}", status.champion.version);
    println!("rejected={}", status.rejected_versions().join(","));
    Ok(())
}
