//! Harness for the fleet tests over real processes (the redis-server and
//! the waits are `fledge_test`'s): replica processes (the `fleet_replica` binary), a
//! blocking HTTP/1 client, and a load generator spreading users over the
//! replicas.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The admin token of `fleet_replica` without `--admin-token` or
/// `$FLEDGE_ADMIN_TOKEN`.
pub const ADMIN_TOKEN: &str = "fleet-replica-admin-token-0123456789";

/// One HTTP/1.1 request on a new connection; the status and the body.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        req.push_str("content-type: application/json\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((code, body.to_owned()))
}

/// A replica process.
#[derive(Debug)]
pub struct Replica {
    /// Its name.
    pub id: String,
    /// Where it serves.
    pub addr: SocketAddr,
    child: Option<Child>,
}

impl Replica {
    /// Starts `binary` (the `fleet_replica` binary) as replica `id` of the
    /// rollout in `plan` on `redis`; waits for its `READY` line.
    pub fn start(binary: &Path, redis: &str, id: &str, plan: &Path, extra: &[&str]) -> Replica {
        let mut child = Command::new(binary)
            .args(["--redis", redis, "--id", id])
            .arg("--plan")
            .arg(plan)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok);
            let _ = tx.send(first);
            for _ in lines {}
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .ok()
            .flatten()
            .unwrap_or_default();
        let addr = line
            .strip_prefix("READY ")
            .and_then(|a| a.trim().parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                let status = child.wait();
                panic!("replica {id} did not start (first line {line:?}, exit {status:?})")
            });
        Replica {
            id: id.to_owned(),
            addr,
            child: Some(child),
        }
    }

    /// Its status (`GET /status`) as JSON.
    pub fn status(&self) -> Option<serde_json::Value> {
        let (code, body) = http(self.addr, "GET", "/status", &[], "").ok()?;
        (code == 200).then(|| serde_json::from_str(&body).ok())?
    }

    /// A command, forwarded by this replica to the leader: the status code
    /// and the answer.
    pub fn command(&self, command: &str, by: &str) -> (u16, serde_json::Value) {
        let body =
            serde_json::json!({ "command": command, "by": by, "reason": "test" }).to_string();
        let (code, body) = http(self.addr, "POST", "/command", &[], &body).expect("POST /command");
        (
            code,
            serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        )
    }

    /// A request to its admin API (`/fledge` + `path`, with
    /// [`ADMIN_TOKEN`]): the status code and the JSON answer (`Null` if
    /// the replica did not answer).
    pub fn admin(&self, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
        let auth = format!("Bearer {ADMIN_TOKEN}");
        let path = format!("/fledge{path}");
        match http(self.addr, method, &path, &[("authorization", &auth)], body) {
            Ok((code, body)) => (
                code,
                serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
            ),
            Err(_) => (0, serde_json::Value::Null),
        }
    }

    /// `GET /fledge/rollouts/{rollout}` through its admin API, if it
    /// answered 200.
    pub fn admin_status(&self, rollout: &str) -> Option<serde_json::Value> {
        let (code, status) = self.admin("GET", &format!("/rollouts/{rollout}"), "");
        (code == 200).then_some(status)
    }

    /// The versions it would serve users `from .. from + count`, with the
    /// snapshot version before and after reading them.
    pub fn routes(&self, from: u64, count: u64) -> Option<(u64, String, u64)> {
        let path = format!("/routes?from={from}&count={count}");
        let (code, body) = http(self.addr, "GET", &path, &[], "").ok()?;
        if code != 200 {
            return None;
        }
        let mut parts = body.split(' ');
        let before = parts.next()?.parse().ok()?;
        let versions = parts.next()?.to_owned();
        let after = parts.next()?.parse().ok()?;
        Some((before, versions, after))
    }

    /// Crashes it (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops it gracefully (SIGTERM) and waits.
    pub fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Requests spread over replicas by a few threads, each for a random user
/// (`x-user-id`), until stopped or dropped.
#[derive(Debug)]
pub struct Load {
    targets: Arc<Mutex<Vec<SocketAddr>>>,
    stop: Arc<AtomicBool>,
    /// Requests answered 200.
    pub ok: Arc<AtomicU64>,
    /// Requests answered otherwise.
    pub failed: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    /// Starts `threads` senders over `targets`.
    pub fn start(targets: Vec<SocketAddr>, threads: usize) -> Load {
        let targets = Arc::new(Mutex::new(targets));
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let threads = (0..threads)
            .map(|t| {
                let (targets, stop, ok, failed) =
                    (targets.clone(), stop.clone(), ok.clone(), failed.clone());
                std::thread::spawn(move || {
                    let mut n: u64 = t as u64 * 7_919;
                    while !stop.load(Ordering::Relaxed) {
                        n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                        let list = targets.lock().map(|l| l.clone()).unwrap_or_default();
                        if list.is_empty() {
                            std::thread::sleep(Duration::from_millis(10));
                            continue;
                        }
                        let addr = list[(n >> 33) as usize % list.len()];
                        let user = format!("user-{}", (n >> 20) % 20_000);
                        match http(addr, "POST", "/predict", &[("x-user-id", &user)], "") {
                            Ok((200, _)) => ok.fetch_add(1, Ordering::Relaxed),
                            _ => failed.fetch_add(1, Ordering::Relaxed),
                        };
                        std::thread::sleep(Duration::from_millis(2));
                    }
                })
            })
            .collect();
        Load {
            targets,
            stop,
            ok,
            failed,
            threads,
        }
    }

    /// Stops sending to `addr` (a replica about to be killed).
    pub fn remove(&self, addr: SocketAddr) {
        if let Ok(mut l) = self.targets.lock() {
            l.retain(|a| *a != addr);
        }
    }

    /// Starts sending to `addr` too.
    pub fn add(&self, addr: SocketAddr) {
        if let Ok(mut l) = self.targets.lock() {
            l.push(addr);
        }
    }

    /// Stops the senders.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.halt();
    }
}
