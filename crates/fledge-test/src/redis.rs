//! A real `redis-server` per test, on a free loopback port, killed on drop.
//!
//! Never skipped: without the binary the test fails saying how to install
//! it. The binary is `$REDIS_SERVER`, else `redis-server` on `PATH`, else
//! `/usr/bin/redis-server`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::server::free_port;

/// A redis-server child process (no persistence, bound to `127.0.0.1`),
/// killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    binary: PathBuf,
}

/// The redis-server binary; panics (the tests never skip) when there is
/// none.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("REDIS_SERVER") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("redis-server"))
            .find(|p| p.is_file())
    });
    let found = on_path.or_else(|| {
        let usr = PathBuf::from("/usr/bin/redis-server");
        usr.is_file().then_some(usr)
    });
    match found {
        Some(path) => path,
        None => panic!(
            "redis-server not found: install it with `apt-get install redis-server` or run scripts/test \
             (or point REDIS_SERVER at the binary); the Redis tests need a real server and never skip"
        ),
    }
}

fn answers_ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(300)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
}

impl RedisServer {
    /// Starts a server on a free port and waits (up to 5 s a try, 5 tries)
    /// until it answers PING.
    pub fn start() -> RedisServer {
        let binary = binary();
        let dir =
            tempfile::tempdir().unwrap_or_else(|e| panic!("a temp dir for redis-server: {e}"));
        let mut server = RedisServer {
            child: None,
            port: 0,
            dir,
            binary,
        };
        for _ in 0..5 {
            server.port = free_port();
            if server.spawn() {
                return server;
            }
        }
        panic!(
            "redis-server ({}) did not start answering PING on a loopback port after 5 tries",
            server.binary.display()
        );
    }

    fn spawn(&mut self) -> bool {
        let child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--loglevel", "warning"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => panic!(
                "cannot run redis-server ({}): {e}; install it with `apt-get install redis-server` \
                 or run scripts/test (the Redis tests never skip)",
                self.binary.display()
            ),
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if answers_ping(self.port) {
                self.child = Some(child);
                return true;
            }
            if let Ok(Some(_)) = child.try_wait() {
                return false; // the port was taken in between: try another
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server (it keeps nothing: no persistence); a frozen one
    /// is thawed first.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops it and starts it again on the same port (trying for 5 s).
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.spawn() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not restart on port {}", self.port);
    }

    fn signal(&self, sig: &str) {
        if let Some(child) = &self.child {
            let ok = Command::new("kill")
                .args([sig, &child.id().to_string()])
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "kill {sig} redis-server");
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws it (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// Runs a raw command (a RESP array of bulk strings) on a new
    /// connection; the raw reply.
    pub fn raw(&self, args: &[&[u8]]) -> Vec<u8> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))
            .unwrap_or_else(|e| panic!("connect to the test redis-server: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap_or_else(|e| panic!("a read timeout: {e}"));
        let mut cmd = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            cmd.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            cmd.extend_from_slice(a);
            cmd.extend_from_slice(b"\r\n");
        }
        s.write_all(&cmd)
            .unwrap_or_else(|e| panic!("send a raw command: {e}"));
        let mut buf = vec![0u8; 1 << 16];
        let n = s
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("read a raw reply: {e}"));
        buf.truncate(n);
        buf
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
