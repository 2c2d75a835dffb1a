//! An axum app on a free loopback port, served from its own runtime
//! ([`Loopback`]) or from the test's ([`spawn`]); a free port.

use std::net::SocketAddr;

/// A server running on `127.0.0.1` until dropped (its runtime shuts down
/// with it).
#[derive(Debug)]
pub struct Loopback {
    addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Loopback {
    /// Serves `app` on a free loopback port, on a runtime of `workers`
    /// threads.
    pub fn serve(app: axum::Router, workers: usize) -> Loopback {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers.max(1))
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("a tokio runtime for the test server: {e}"));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap_or_else(|e| panic!("bind a loopback port: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("the loopback port: {e}"));
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Loopback {
            addr,
            runtime: Some(runtime),
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The server's runtime, e.g. to drive async clients in the test.
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime
            .as_ref()
            .unwrap_or_else(|| unreachable!("the runtime lives until drop"))
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Serves `app` on a free loopback port from a task spawned on the
/// current tokio runtime (it stops with the runtime); where it listens.
pub async fn spawn(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind a loopback port: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("the loopback port: {e}"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// A free TCP port on loopback (bound then released: another process may
/// take it in between, so prefer binding `127.0.0.1:0` yourself).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("a free loopback port: {e}"))
}
