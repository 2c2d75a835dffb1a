//! [`MlflowSource`]: an MLflow tracking server's model registry, over its
//! REST API (`/api/2.0/mlflow/...`), with a blocking `ureq` client.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{ConfigError, ModelSource, Op, SourceError, version_order};
use crate::ModelVersion;

/// The REST API's prefix.
const API: &str = "/api/2.0/mlflow";
/// The artifact proxy's prefix (`mlflow server --artifacts-destination`).
const ARTIFACTS: &str = "/api/2.0/mlflow-artifacts/artifacts";
/// The largest JSON answer read (search pages are the largest).
const MAX_JSON: u64 = 16 << 20;
/// How much of a non-JSON error body is quoted.
const BODY_EXCERPT: usize = 300;
/// The marker written last into a complete cache directory.
const COMPLETE: &str = ".fledge-complete";

static PARTIAL: AtomicU64 = AtomicU64::new(0);

/// An MLflow tracking server's model registry.
///
/// - Reads: `registered-models/get` (the aliases), `model-versions/get`
///   (tags, source, status), `model-versions/search` (every version).
/// - Writes: `registered-models/alias` (POST to set, DELETE to remove) and
///   `model-versions/set-tag`.
/// - Artifacts: the version's download URI (`model-versions/get-download-uri`)
///   resolved to `mlflow-artifacts:` (downloaded through the server's
///   artifact proxy, `/api/2.0/mlflow-artifacts/artifacts/...`) or
///   `file://` / a local path (copied); `runs:/<run>/<path>` is resolved
///   with `runs/get` first, `models:/<id>` with `logged-models/<id>`.
///   Cloud URIs (`s3://`, `gs://`, ...) are refused with a hint: serve them
///   through the tracking server (`mlflow server --artifacts-destination`).
///   Downloads go into a cache directory named after the model, the version
///   and a hash of the URI, written under a temporary name and renamed when
///   complete, so a crash never leaves a half-downloaded model to load.
///
/// Credentials: a bearer token ([`token`](Self::token),
/// `MLFLOW_TRACKING_TOKEN`) or basic auth ([`basic_auth`](Self::basic_auth),
/// `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD`, or
/// `http://user:pass@host` in the URI). They are never logged nor put in
/// errors: errors carry the URL without them.
///
/// Every call blocks (see [the module docs](super)); time-outs bound each
/// request (default 10 s, 2 s to connect; artifact downloads 10 min).
#[derive(Clone)]
pub struct MlflowSource {
    base: String,
    auth: Option<String>,
    agent: ureq::Agent,
    download_agent: ureq::Agent,
    timeout: Duration,
}

impl fmt::Debug for MlflowSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MlflowSource")
            .field("url", &self.base)
            .field("auth", &self.auth.as_ref().map(|_| "<hidden>"))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn agent(timeout: Duration, connect: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .timeout_resolve(Some(connect))
        .timeout_connect(Some(connect))
        // Read MLflow's JSON error bodies (error_code, message).
        .http_status_as_error(false)
        // A tracking server is usually inside the network.
        .proxy(None)
        .build()
        .into()
}

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Percent-encodes one path segment.
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn encode_path(path: &str) -> String {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(encode_segment)
        .collect::<Vec<_>>()
        .join("/")
}

fn check_header_value(what: &'static str, v: &str) -> Result<(), ConfigError> {
    if v.chars().any(char::is_control) {
        return Err(ConfigError::BadCredential { what });
    }
    Ok(())
}

/// A run created with [`MlflowSource::create_run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The run's id.
    pub run_id: String,
    /// Where its artifacts go (`mlflow-artifacts:/0/<run>/artifacts`).
    pub artifact_uri: String,
}

#[derive(Deserialize)]
struct TagJson {
    key: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
struct VersionJson {
    name: String,
    version: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    run_id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    tags: Vec<TagJson>,
    #[serde(default)]
    aliases: Vec<String>,
}

impl From<VersionJson> for ModelVersion {
    fn from(v: VersionJson) -> Self {
        let mut mv = ModelVersion::new(v.name, v.version);
        mv.source = v.source.filter(|s| !s.is_empty());
        mv.run_id = v.run_id.filter(|s| !s.is_empty());
        mv.status = v.status.filter(|s| !s.is_empty());
        mv.description = v.description.filter(|s| !s.is_empty());
        mv.tags = v.tags.into_iter().map(|t| (t.key, t.value)).collect();
        mv.aliases = v.aliases;
        mv
    }
}

enum Method {
    Get,
    Post,
    Delete,
}

impl MlflowSource {
    /// A source for the tracking server at `tracking_uri`
    /// (`http://127.0.0.1:5000`; `https://` needs the `rustls` feature;
    /// `http://user:pass@host` sets basic auth).
    pub fn new(tracking_uri: &str) -> Result<Self, ConfigError> {
        let uri = tracking_uri.trim().trim_end_matches('/');
        let (scheme, rest) = match uri.split_once("://") {
            Some((s, r)) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {
                (s.to_ascii_lowercase(), r)
            }
            _ => {
                return Err(ConfigError::BadUri {
                    uri: uri.to_owned(),
                    reason: "it needs an http:// or https:// scheme",
                });
            }
        };
        let (userinfo, hostpath) = match rest.split_once('@') {
            Some((u, h)) if !u.contains('/') => (Some(u), h),
            _ => (None, rest),
        };
        let base = format!("{scheme}://{hostpath}");
        if hostpath.is_empty() || hostpath.starts_with('/') {
            return Err(ConfigError::BadUri {
                uri: base,
                reason: "it has no host",
            });
        }
        if hostpath.contains(['?', '#']) {
            return Err(ConfigError::BadUri {
                uri: base,
                reason: "it has a query or fragment",
            });
        }
        if scheme == "https" && !cfg!(feature = "rustls") {
            return Err(ConfigError::NoTls { uri: base });
        }
        let timeout = Duration::from_secs(10);
        let mut source = MlflowSource {
            base,
            auth: None,
            agent: agent(timeout, Duration::from_secs(2)),
            download_agent: agent(Duration::from_secs(600), Duration::from_secs(2)),
            timeout,
        };
        if let Some(info) = userinfo {
            let (user, pass) = info.split_once(':').unwrap_or((info, ""));
            source = source.basic_auth(user, pass)?;
        }
        Ok(source)
    }

    /// A source configured like MLflow's clients: `MLFLOW_TRACKING_URI`,
    /// and `MLFLOW_TRACKING_TOKEN` (bearer) or `MLFLOW_TRACKING_USERNAME`
    /// and `MLFLOW_TRACKING_PASSWORD` (basic) when set.
    pub fn from_env() -> Result<Self, ConfigError> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let uri = var("MLFLOW_TRACKING_URI").ok_or(ConfigError::NoUri)?;
        let mut source = MlflowSource::new(&uri)?;
        if let Some(token) = var("MLFLOW_TRACKING_TOKEN") {
            source = source.token(&token)?;
        } else if let Some(user) = var("MLFLOW_TRACKING_USERNAME") {
            let pass = var("MLFLOW_TRACKING_PASSWORD").unwrap_or_default();
            source = source.basic_auth(&user, &pass)?;
        }
        Ok(source)
    }

    /// Sends `Authorization: Bearer <token>` with every request.
    pub fn token(mut self, token: &str) -> Result<Self, ConfigError> {
        check_header_value("token", token)?;
        self.auth = Some(format!("Bearer {token}"));
        Ok(self)
    }

    /// Sends HTTP basic auth with every request.
    pub fn basic_auth(mut self, user: &str, password: &str) -> Result<Self, ConfigError> {
        check_header_value("password", user)?;
        check_header_value("password", password)?;
        self.auth = Some(format!(
            "Basic {}",
            base64(format!("{user}:{password}").as_bytes())
        ));
        Ok(self)
    }

    /// The time-out of each registry request (default 10 s; artifact
    /// downloads have 10 min).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self.agent = agent(timeout, timeout.min(Duration::from_secs(2)));
        self
    }

    /// The tracking server's URL, without credentials.
    pub fn url(&self) -> &str {
        &self.base
    }

    fn call(
        &self,
        op: Op,
        target: &str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<Value, SourceError> {
        let url = format!("{}{path}", self.base);
        let transport = |e: ureq::Error| SourceError::Unreachable {
            op,
            target: target.to_owned(),
            url: url.clone(),
            message: e.to_string(),
        };
        let auth = self.auth.as_deref();
        let response = match method {
            Method::Get => {
                let mut r = self.agent.get(&url);
                for (k, v) in query {
                    r = r.query(*k, *v);
                }
                if let Some(a) = auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            Method::Post | Method::Delete => {
                let bytes = serde_json::to_vec(&body.unwrap_or(Value::Null)).unwrap_or_default();
                let mut r = match method {
                    Method::Post => self.agent.post(&url),
                    _ => self.agent.delete(&url).force_send_body(),
                };
                r = r.header("Content-Type", "application/json");
                if let Some(a) = auth {
                    r = r.header("Authorization", a);
                }
                r.send(&bytes[..])
            }
        };
        let mut response = response.map_err(transport)?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_JSON)
            .read_to_string()
            .map_err(transport)?;
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        if status >= 300 {
            let field = |k: &str| {
                parsed
                    .as_ref()
                    .and_then(|v| v.get(k))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            return Err(SourceError::Api {
                op,
                target: target.to_owned(),
                url,
                status,
                error_code: field("error_code"),
                message: field("message")
                    .unwrap_or_else(|| text.chars().take(BODY_EXCERPT).collect()),
            });
        }
        parsed.ok_or_else(|| SourceError::BadResponse {
            op,
            target: target.to_owned(),
            url,
            message: format!(
                "HTTP {status} with a body that is not JSON: {:?}",
                text.chars().take(BODY_EXCERPT).collect::<String>()
            ),
        })
    }

    fn bad(&self, op: Op, target: &str, path: &str, message: impl Into<String>) -> SourceError {
        SourceError::BadResponse {
            op,
            target: target.to_owned(),
            url: format!("{}{path}", self.base),
            message: message.into(),
        }
    }

    fn parse_version(
        &self,
        op: Op,
        target: &str,
        path: &str,
        v: Option<&Value>,
    ) -> Result<ModelVersion, SourceError> {
        let v = v.ok_or_else(|| self.bad(op, target, path, "no model_version in the answer"))?;
        serde_json::from_value::<VersionJson>(v.clone())
            .map(ModelVersion::from)
            .map_err(|e| self.bad(op, target, path, format!("model_version: {e}")))
    }

    // ------------------------------------------------------------ helpers (write side)

    /// Creates registered model `name`; an existing one is fine.
    pub fn create_registered_model(&self, name: &str) -> Result<(), SourceError> {
        let path = format!("{API}/registered-models/create");
        match self.call(
            Op::Create,
            name,
            Method::Post,
            &path,
            &[],
            Some(json!({ "name": name })),
        ) {
            Ok(_) => Ok(()),
            Err(e) if e.error_code() == Some("RESOURCE_ALREADY_EXISTS") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Creates an experiment (with `artifact_location`, e.g. a `file://`
    /// directory, when given) and returns its id.
    pub fn create_experiment(
        &self,
        name: &str,
        artifact_location: Option<&str>,
    ) -> Result<String, SourceError> {
        let path = format!("{API}/experiments/create");
        let mut body = json!({ "name": name });
        if let Some(loc) = artifact_location {
            body["artifact_location"] = json!(loc);
        }
        let target = format!("experiment {name}");
        let v = self.call(Op::Create, &target, Method::Post, &path, &[], Some(body))?;
        v.get("experiment_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| self.bad(Op::Create, &target, &path, "no experiment_id"))
    }

    /// Creates a run in experiment `experiment_id` (`"0"`: the default one).
    pub fn create_run(&self, experiment_id: &str) -> Result<Run, SourceError> {
        let path = format!("{API}/runs/create");
        let target = format!("run in experiment {experiment_id}");
        let v = self.call(
            Op::Create,
            &target,
            Method::Post,
            &path,
            &[],
            Some(json!({ "experiment_id": experiment_id })),
        )?;
        let info = v.pointer("/run/info");
        let field = |k: &str| {
            info.and_then(|i| i.get(k))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| self.bad(Op::Create, &target, &path, format!("no run.info.{k}")))
        };
        Ok(Run {
            run_id: field("run_id")?,
            artifact_uri: field("artifact_uri")?,
        })
    }

    /// Stores `bytes` as artifact `relative` of `run`: through the
    /// server's artifact proxy for `mlflow-artifacts:` runs, or written
    /// directly for `file://` runs (a server on this machine).
    pub fn upload_artifact(
        &self,
        run: &Run,
        relative: &str,
        bytes: &[u8],
    ) -> Result<(), SourceError> {
        let target = format!("artifact {relative} of run {}", run.run_id);
        if let Some(p) = proxied_path(&run.artifact_uri) {
            let url = format!(
                "{}{ARTIFACTS}/{}",
                self.base,
                encode_path(&format!("{p}/{relative}"))
            );
            let mut r = self.agent.put(&url);
            if let Some(a) = &self.auth {
                r = r.header("Authorization", a.as_str());
            }
            let mut response = r.send(bytes).map_err(|e| SourceError::Unreachable {
                op: Op::Create,
                target: target.clone(),
                url: url.clone(),
                message: e.to_string(),
            })?;
            let status = response.status().as_u16();
            if status >= 300 {
                let text = response.body_mut().read_to_string().unwrap_or_default();
                return Err(SourceError::Api {
                    op: Op::Create,
                    target,
                    url,
                    status,
                    error_code: None,
                    message: text.chars().take(BODY_EXCERPT).collect(),
                });
            }
            return Ok(());
        }
        if let Some(dir) = local_path(&run.artifact_uri) {
            let path = dir.join(relative);
            let io = |source| SourceError::Io {
                op: Op::Create,
                target: target.clone(),
                path: path.clone(),
                source,
            };
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(io)?;
            }
            return fs::write(&path, bytes).map_err(io);
        }
        Err(SourceError::UnsupportedUri {
            op: Op::Create,
            target,
            uri: run.artifact_uri.clone(),
            hint: "uploads go through the artifact proxy (mlflow-artifacts:) or to a local file:// root".into(),
        })
    }

    /// Registers a new version of `name` from `source` (and `run_id`,
    /// which MLflow requires for run artifacts).
    pub fn create_model_version(
        &self,
        name: &str,
        source: &str,
        run_id: Option<&str>,
    ) -> Result<ModelVersion, SourceError> {
        let path = format!("{API}/model-versions/create");
        let mut body = json!({ "name": name, "source": source });
        if let Some(run) = run_id {
            body["run_id"] = json!(run);
        }
        let v = self.call(Op::Create, name, Method::Post, &path, &[], Some(body))?;
        self.parse_version(Op::Create, name, &path, v.get("model_version"))
    }

    /// Registers a new version of `name` (created if needed) whose artifacts
    /// are `files` (relative path, contents): a run in `experiment_id`, the
    /// files uploaded under its `model/` directory, a version from there.
    pub fn log_model_version(
        &self,
        name: &str,
        experiment_id: &str,
        files: &[(&str, &[u8])],
    ) -> Result<ModelVersion, SourceError> {
        self.create_registered_model(name)?;
        let run = self.create_run(experiment_id)?;
        for (rel, bytes) in files {
            self.upload_artifact(&run, &format!("model/{rel}"), bytes)?;
        }
        let source = format!("{}/model", run.artifact_uri.trim_end_matches('/'));
        self.create_model_version(name, &source, Some(&run.run_id))
    }

    // ------------------------------------------------------------ artifacts

    fn download_uri(&self, version: &ModelVersion) -> Result<String, SourceError> {
        let path = format!("{API}/model-versions/get-download-uri");
        let target = version.to_string();
        let v = self.call(
            Op::Download,
            &target,
            Method::Get,
            &path,
            &[("name", &version.model), ("version", &version.version)],
            None,
        )?;
        match v.get("artifact_uri").and_then(Value::as_str) {
            Some(uri) if !uri.is_empty() => Ok(uri.to_owned()),
            _ => version
                .source
                .clone()
                .ok_or_else(|| self.bad(Op::Download, &target, &path, "no artifact_uri")),
        }
    }

    /// Resolves `runs:/` and `models:/` URIs to where the files are.
    fn resolve(&self, target: &str, uri: String) -> Result<String, SourceError> {
        if let Some(rest) = uri.strip_prefix("runs:/") {
            let rest = rest.trim_start_matches('/');
            let (run_id, sub) = rest.split_once('/').unwrap_or((rest, ""));
            let path = format!("{API}/runs/get");
            let v = self.call(
                Op::Download,
                target,
                Method::Get,
                &path,
                &[("run_id", run_id)],
                None,
            )?;
            let root = v
                .pointer("/run/info/artifact_uri")
                .and_then(Value::as_str)
                .ok_or_else(|| self.bad(Op::Download, target, &path, "no run.info.artifact_uri"))?;
            return Ok(format!("{}/{sub}", root.trim_end_matches('/')));
        }
        if let Some(rest) = uri.strip_prefix("models:/") {
            let id = rest.trim_matches('/');
            let path = format!("{API}/logged-models/{}", encode_segment(id));
            let v = self.call(Op::Download, target, Method::Get, &path, &[], None)?;
            let root = v
                .pointer("/model/info/artifact_uri")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    self.bad(Op::Download, target, &path, "no model.info.artifact_uri")
                })?;
            return Ok(root.to_owned());
        }
        Ok(uri)
    }

    fn get_file(&self, target: &str, remote: &str, dest: &Path) -> Result<(), SourceError> {
        let url = format!("{}{ARTIFACTS}/{}", self.base, encode_path(remote));
        let transport = |e: ureq::Error| SourceError::Unreachable {
            op: Op::Download,
            target: target.to_owned(),
            url: url.clone(),
            message: e.to_string(),
        };
        let mut r = self.download_agent.get(&url);
        if let Some(a) = &self.auth {
            r = r.header("Authorization", a.as_str());
        }
        let mut response = r.call().map_err(transport)?;
        let status = response.status().as_u16();
        if status >= 300 {
            let text = response.body_mut().read_to_string().unwrap_or_default();
            let parsed: Option<Value> = serde_json::from_str(&text).ok();
            let field = |k: &str| {
                parsed
                    .as_ref()
                    .and_then(|v| v.get(k))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            return Err(SourceError::Api {
                op: Op::Download,
                target: target.to_owned(),
                url,
                status,
                error_code: field("error_code"),
                message: field("message")
                    .unwrap_or_else(|| text.chars().take(BODY_EXCERPT).collect()),
            });
        }
        let io = |source| SourceError::Io {
            op: Op::Download,
            target: target.to_owned(),
            path: dest.to_owned(),
            source,
        };
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(io)?;
        }
        let mut file = fs::File::create(dest).map_err(io)?;
        let mut reader = response.into_body().into_reader();
        io::copy(&mut reader, &mut file).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// Downloads the proxied directory (or file) `remote` into `dest`.
    fn get_tree(&self, target: &str, remote: &str, dest: &Path) -> Result<(), SourceError> {
        let path = ARTIFACTS.to_owned();
        let mut stack = vec![(remote.trim_matches('/').to_owned(), dest.to_owned())];
        let mut files = 0usize;
        while let Some((dir, local)) = stack.pop() {
            let v = self.call(
                Op::Download,
                target,
                Method::Get,
                &path,
                &[("path", &dir)],
                None,
            )?;
            let entries = v
                .get("files")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for entry in entries {
                let Some(name) = entry
                    .get("path")
                    .and_then(Value::as_str)
                    .and_then(|p| p.rsplit('/').next())
                    .filter(|n| !n.is_empty() && *n != "." && *n != "..")
                else {
                    continue;
                };
                let child = format!("{dir}/{name}");
                let is_dir = entry
                    .get("is_dir")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                if is_dir {
                    stack.push((child, local.join(name)));
                } else {
                    self.get_file(target, &child, &local.join(name))?;
                    files += 1;
                }
            }
        }
        if files == 0 {
            // Not a directory (or an empty one): the URI may name one file.
            let name = remote.rsplit('/').next().unwrap_or("artifact");
            self.get_file(target, remote, &dest.join(name))?;
        }
        Ok(())
    }
}

/// The artifact proxy's path of a `mlflow-artifacts:` URI
/// (`mlflow-artifacts:/0/run/artifacts` or `mlflow-artifacts://host:port/0/...`).
fn proxied_path(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("mlflow-artifacts:")?;
    let path = match rest.strip_prefix("//") {
        Some(authority_and_path) => authority_and_path.split_once('/').map_or("", |(_, p)| p),
        None => rest,
    };
    Some(path.trim_matches('/').to_owned())
}

/// The local directory of a `file://` URI or an absolute path.
fn local_path(uri: &str) -> Option<PathBuf> {
    if let Some(rest) = uri.strip_prefix("file://") {
        // file:///abs/path or file://localhost/abs/path
        let path = if rest.starts_with('/') {
            rest
        } else {
            rest.split_once('/')
                .map_or("", |(host, _)| &rest[host.len()..])
        };
        return (!path.is_empty()).then(|| PathBuf::from(path));
    }
    if let Some(rest) = uri.strip_prefix("file:") {
        return rest.starts_with('/').then(|| PathBuf::from(rest));
    }
    uri.starts_with('/').then(|| PathBuf::from(uri))
}

fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    let meta = fs::metadata(from)?;
    if meta.is_file() {
        fs::create_dir_all(to)?;
        let name = from.file_name().unwrap_or_else(|| "artifact".as_ref());
        fs::copy(from, to.join(name))?;
        return Ok(());
    }
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let dest = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &dest)?;
        } else if kind.is_file() {
            fs::copy(entry.path(), dest)?;
        }
    }
    Ok(())
}

fn cache_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect()
}

impl ModelSource for MlflowSource {
    fn kind(&self) -> &'static str {
        "mlflow"
    }

    fn location(&self) -> String {
        self.base.clone()
    }

    fn aliases(&self, model: &str) -> Result<BTreeMap<String, String>, SourceError> {
        let path = format!("{API}/registered-models/get");
        let v = self.call(
            Op::GetModel,
            model,
            Method::Get,
            &path,
            &[("name", model)],
            None,
        )?;
        let rm = v
            .get("registered_model")
            .ok_or_else(|| self.bad(Op::GetModel, model, &path, "no registered_model"))?;
        let mut map = BTreeMap::new();
        for a in rm
            .get("aliases")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let alias = a.get("alias").and_then(Value::as_str);
            let version = a.get("version").and_then(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .or_else(|| v.as_u64().map(|n| n.to_string()))
            });
            if let (Some(alias), Some(version)) = (alias, version) {
                map.insert(alias.to_owned(), version);
            }
        }
        Ok(map)
    }

    fn version(&self, model: &str, version: &str) -> Result<ModelVersion, SourceError> {
        let path = format!("{API}/model-versions/get");
        let target = format!("{model} version {version}");
        let v = self.call(
            Op::GetVersion,
            &target,
            Method::Get,
            &path,
            &[("name", model), ("version", version)],
            None,
        )?;
        self.parse_version(Op::GetVersion, &target, &path, v.get("model_version"))
    }

    fn versions(&self, model: &str) -> Result<Vec<ModelVersion>, SourceError> {
        let path = format!("{API}/model-versions/search");
        let filter = format!("name='{}'", model.replace('\'', "\\'"));
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let mut query = vec![("filter", filter.as_str()), ("max_results", "1000")];
            if !token.is_empty() {
                query.push(("page_token", token.as_str()));
            }
            let v = self.call(Op::SearchVersions, model, Method::Get, &path, &query, None)?;
            for mv in v
                .get("model_versions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.push(self.parse_version(Op::SearchVersions, model, &path, Some(mv))?);
            }
            match v.get("next_page_token").and_then(Value::as_str) {
                Some(t) if !t.is_empty() && t != token => token = t.to_owned(),
                _ => break,
            }
        }
        out.sort_by(|a, b| version_order(&a.version, &b.version));
        Ok(out)
    }

    fn set_alias(&self, model: &str, alias: &str, version: &str) -> Result<(), SourceError> {
        let path = format!("{API}/registered-models/alias");
        let target = format!("{model}@{alias} -> version {version}");
        self.call(
            Op::SetAlias,
            &target,
            Method::Post,
            &path,
            &[],
            Some(json!({ "name": model, "alias": alias, "version": version })),
        )
        .map(drop)
    }

    fn delete_alias(&self, model: &str, alias: &str) -> Result<(), SourceError> {
        let path = format!("{API}/registered-models/alias");
        let target = format!("{model}@{alias}");
        match self.call(
            Op::DeleteAlias,
            &target,
            Method::Delete,
            &path,
            &[],
            Some(json!({ "name": model, "alias": alias })),
        ) {
            Ok(_) => Ok(()),
            // Already gone.
            Err(SourceError::Api { message, .. })
                if message.contains("alias") && message.contains("not found") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn set_tag(
        &self,
        model: &str,
        version: &str,
        key: &str,
        value: &str,
    ) -> Result<(), SourceError> {
        let path = format!("{API}/model-versions/set-tag");
        let target = format!("{model} version {version} tag {key}");
        self.call(
            Op::SetTag,
            &target,
            Method::Post,
            &path,
            &[],
            Some(json!({ "name": model, "version": version, "key": key, "value": value })),
        )
        .map(drop)
    }

    fn download(&self, version: &ModelVersion, cache: &Path) -> Result<PathBuf, SourceError> {
        let target = version.to_string();
        let uri = self.download_uri(version)?;
        let uri = self.resolve(&target, uri)?;
        let hash = xxhash_rust::xxh3::xxh3_64(uri.as_bytes());
        let model_dir = cache.join(cache_name(&version.model));
        let final_dir = model_dir.join(format!("{}-{hash:016x}", cache_name(&version.version)));
        if final_dir.join(COMPLETE).is_file() {
            return Ok(final_dir);
        }
        let io = |path: &Path, source| SourceError::Io {
            op: Op::Download,
            target: target.clone(),
            path: path.to_owned(),
            source,
        };
        fs::create_dir_all(&model_dir).map_err(|e| io(&model_dir, e))?;
        let partial = model_dir.join(format!(
            ".partial-{}-{}-{}",
            cache_name(&version.version),
            std::process::id(),
            PARTIAL.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&partial);
        let fetched = if let Some(remote) = proxied_path(&uri) {
            self.get_tree(&target, &remote, &partial)
        } else if let Some(local) = local_path(&uri) {
            copy_tree(&local, &partial).map_err(|e| io(&local, e))
        } else {
            Err(SourceError::UnsupportedUri {
                op: Op::Download,
                target: target.clone(),
                uri: uri.clone(),
                hint: "fledge downloads mlflow-artifacts: (the server's artifact proxy) and file:// URIs; serve cloud storage through the tracking server with `mlflow server --artifacts-destination <bucket>`".into(),
            })
        };
        let finished = fetched.and_then(|()| {
            fs::write(partial.join(COMPLETE), b"").map_err(|e| io(&partial, e))?;
            match fs::rename(&partial, &final_dir) {
                Ok(()) => Ok(()),
                // Another download finished first: use it.
                Err(_) if final_dir.join(COMPLETE).is_file() => {
                    let _ = fs::remove_dir_all(&partial);
                    Ok(())
                }
                Err(e) => Err(io(&final_dir, e)),
            }
        });
        if let Err(e) = finished {
            let _ = fs::remove_dir_all(&partial);
            return Err(e);
        }
        Ok(final_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_and_credentials() {
        let s = MlflowSource::new("http://alice:s3cret@127.0.0.1:5000/").unwrap();
        assert_eq!(s.url(), "http://127.0.0.1:5000");
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("alice"),
            "{debug}"
        );
        assert_eq!(s.auth.as_deref(), Some("Basic YWxpY2U6czNjcmV0"));
        for bad in [
            "",
            "127.0.0.1:5000",
            "ftp://x",
            "http://",
            "http:///x",
            "http://a?b",
        ] {
            assert!(
                matches!(MlflowSource::new(bad), Err(ConfigError::BadUri { .. })),
                "{bad}"
            );
        }
        let https = MlflowSource::new("https://mlflow.example");
        assert_eq!(https.is_ok(), cfg!(feature = "rustls"));
        assert!(
            MlflowSource::new("http://h")
                .unwrap()
                .token("a\nb")
                .is_err()
        );
    }

    #[test]
    fn artifact_uris() {
        assert_eq!(
            proxied_path("mlflow-artifacts:/0/abc/artifacts/model").as_deref(),
            Some("0/abc/artifacts/model")
        );
        assert_eq!(
            proxied_path("mlflow-artifacts://host:5000/0/abc/artifacts").as_deref(),
            Some("0/abc/artifacts")
        );
        assert_eq!(local_path("file:///tmp/x"), Some(PathBuf::from("/tmp/x")));
        assert_eq!(
            local_path("file://localhost/tmp/x"),
            Some(PathBuf::from("/tmp/x"))
        );
        assert_eq!(local_path("/tmp/x"), Some(PathBuf::from("/tmp/x")));
        assert_eq!(local_path("s3://b/k"), None);
        assert_eq!(encode_path("0/a b/c%"), "0/a%20b/c%25");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b"a"), "YQ==");
    }
}
