//! A small blocking client for Prometheus' instant-query endpoint.
//!
//! Built on [`ureq`]: synchronous, no async runtime, every request bounded
//! by a connect time-out and an overall (read) time-out.
//! [`Evaluate`](fledge_rollout::control::Evaluate) is synchronous; a plain
//! blocking client needs no runtime of its own and costs a few small
//! dependencies. It **blocks the calling thread** for up to its time-outs:
//! call it off the async workers (see the [crate docs](crate#blocking)).

use std::fmt;
use std::time::Duration;

use crate::response::{QueryError, QueryResponse, parse_response};

/// The largest answer read (a single-value query answers in bytes; this
/// only stops a wrong URL from streaming a large page into memory).
const MAX_BODY: u64 = 8 << 20;

/// The start of an unexpected body kept in errors.
const BODY_EXCERPT: usize = 200;

/// The default time-out of a whole query, connection and reading included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The default time-out of the name lookup, and of the connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a [`PromClient`] (or a gate's configuration) was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The URL is not `http://...` or `https://...`.
    #[error(
        "invalid Prometheus URL {0:?}: write the server's base address, like \"http://prometheus:9090\""
    )]
    BadUrl(String),
    /// An `https://` URL without the `rustls` feature.
    #[error(
        "Prometheus URL {0:?} uses https, but fledge-prometheus was built without TLS: enable its `rustls` feature"
    )]
    NoTls(String),
    /// A header name or value that HTTP does not allow.
    #[error("invalid HTTP header {name:?}: {reason}")]
    BadHeader {
        /// The header's name.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The time-out is zero.
    #[error("the query time-out must be above zero")]
    ZeroTimeout,
    /// The connect time-out is zero.
    #[error("the connect time-out must be above zero")]
    ZeroConnectTimeout,
    /// No checks were configured.
    #[error("a PromQL gate needs at least one check")]
    NoChecks,
    /// Two checks share a name.
    #[error("check name {0:?} is used twice: give every check its own name")]
    DuplicateCheck(String),
    /// A check is wrongly configured.
    #[error("check {check:?}: {reason}")]
    BadCheck {
        /// The check's name.
        check: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
}

/// A blocking client for `GET {url}/api/v1/query`.
///
/// ```no_run
/// use std::time::Duration;
/// use fledge_prometheus::PromClient;
///
/// let client = PromClient::new("http://127.0.0.1:9090")?
///     .timeout(Duration::from_secs(2))
///     .connect_timeout(Duration::from_millis(500))
///     .header("X-Scope-OrgID", "team-a")?;
/// let answer = client.query("sum(rate(fledge_requests_total[1m]))")?;
/// println!("{:?}", answer.value.single());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct PromClient {
    base: String,
    endpoint: String,
    timeout: Duration,
    connect_timeout: Duration,
    headers: Vec<(String, String)>,
    agent: ureq::Agent,
}

impl fmt::Debug for PromClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PromClient")
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            // Header values may hold credentials.
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn agent(timeout: Duration, connect_timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        // The whole request, from the name lookup to the answer's last byte.
        .timeout_global(Some(timeout))
        // Within it, a host that is down or unreachable is given up on sooner.
        .timeout_resolve(Some(connect_timeout))
        .timeout_connect(Some(connect_timeout))
        // Read Prometheus' JSON error bodies instead of a bare status.
        .http_status_as_error(false)
        // Prometheus is usually inside the network: no proxy from the environment.
        .proxy(None)
        .build()
        .into()
}

fn check_header(name: &str, value: &str) -> Result<(), ConfigError> {
    match fledge_rollout::plan::targeting::header_problem(name, value) {
        Some(reason) => Err(ConfigError::BadHeader {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

impl PromClient {
    /// A client for the Prometheus server at `url` (its base address, e.g.
    /// `http://prometheus:9090`, or with a path prefix such as
    /// `http://gateway/prometheus`), with time-outs of [`DEFAULT_TIMEOUT`]
    /// for the whole query and [`DEFAULT_CONNECT_TIMEOUT`] to connect.
    pub fn new(url: &str) -> Result<PromClient, ConfigError> {
        let base = url.trim().trim_end_matches('/').to_owned();
        let rest = if let Some(rest) = base.strip_prefix("http://") {
            rest
        } else if let Some(rest) = base.strip_prefix("https://") {
            if !cfg!(feature = "rustls") {
                return Err(ConfigError::NoTls(url.to_owned()));
            }
            rest
        } else {
            return Err(ConfigError::BadUrl(url.to_owned()));
        };
        if rest.is_empty() || rest.starts_with('/') || rest.contains(['?', '#', ' ']) {
            return Err(ConfigError::BadUrl(url.to_owned()));
        }
        Ok(PromClient {
            endpoint: format!("{base}/api/v1/query"),
            base,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            headers: Vec::new(),
            agent: agent(DEFAULT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT),
        })
    }

    /// The time-out of a whole request, from connecting to reading the
    /// answer's last byte (default [`DEFAULT_TIMEOUT`]; zero is raised to
    /// 1 ms). Keep it below the controller's tick.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self.agent = agent(self.timeout, self.connect_timeout);
        self
    }

    /// The time-out of the name lookup, and then of the connection (default
    /// [`DEFAULT_CONNECT_TIMEOUT`]; zero is raised to 1 ms). The whole
    /// request stays within [`timeout`](Self::timeout) whatever this is.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout.max(Duration::from_millis(1));
        self.agent = agent(self.timeout, self.connect_timeout);
        self
    }

    /// Adds a header to every request (`Authorization`, a tenant id).
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, ConfigError> {
        check_header(name, value)?;
        self.headers.push((name.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// The server's base address.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// The request time-out.
    pub fn request_timeout(&self) -> Duration {
        self.timeout
    }

    /// The connect time-out.
    pub fn request_connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Runs an instant query at Prometheus' current time. Blocks the
    /// calling thread until the answer, an error, or the time-outs.
    pub fn query(&self, promql: &str) -> Result<QueryResponse, QueryError> {
        let mut request = self.agent.get(&self.endpoint).query("query", promql);
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let transport = |e: ureq::Error| QueryError::Transport {
            url: self.endpoint.clone(),
            message: e.to_string(),
        };
        let mut response = request.call().map_err(transport)?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(transport)?;
        let parsed = parse_response(&body);
        if status < 300 {
            return parsed;
        }
        match parsed {
            // An API error explains itself, whatever the status.
            Err(e @ QueryError::Api { .. }) => Err(e),
            _ => Err(QueryError::Status {
                url: self.endpoint.clone(),
                status,
                body: body.chars().take(BODY_EXCERPT).collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c = PromClient::new("http://127.0.0.1:9090/").ok();
        assert_eq!(
            c.as_ref().map(PromClient::url),
            Some("http://127.0.0.1:9090")
        );
        let c = PromClient::new(" http://gw/prometheus ").ok();
        assert_eq!(
            c.map(|c| c.endpoint),
            Some("http://gw/prometheus/api/v1/query".to_owned())
        );
        for bad in [
            "",
            "prometheus:9090",
            "ftp://x",
            "http://",
            "http:///x",
            "http://a?b",
        ] {
            assert!(
                matches!(PromClient::new(bad), Err(ConfigError::BadUrl(_))),
                "{bad}"
            );
        }
        let https = PromClient::new("https://prom.example:443");
        if cfg!(feature = "rustls") {
            assert!(https.is_ok());
        } else {
            assert!(matches!(https, Err(ConfigError::NoTls(_))));
        }
    }

    #[test]
    fn headers_are_checked_and_hidden() {
        let c = PromClient::new("http://localhost:9090")
            .and_then(|c| c.header("Authorization", "Bearer s3cret"));
        let text = format!("{:?}", c);
        assert!(
            text.contains("Authorization") && !text.contains("s3cret"),
            "{text}"
        );
        for (name, value) in [
            ("", "x"),
            ("a b", "x"),
            ("X-Ok", "line\nbreak"),
            ("X-Ok", "é"),
        ] {
            let r = PromClient::new("http://localhost:9090").and_then(|c| c.header(name, value));
            assert!(
                matches!(r, Err(ConfigError::BadHeader { .. })),
                "{name:?}: {value:?}"
            );
        }
    }

    #[test]
    fn timeouts_are_bounded_and_configurable() {
        let c = PromClient::new("http://localhost:9090").ok();
        assert_eq!(
            c.as_ref()
                .map(|c| (c.request_timeout(), c.request_connect_timeout())),
            Some((DEFAULT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT))
        );
        let c = c.map(|c| {
            c.timeout(Duration::from_secs(3))
                .connect_timeout(Duration::ZERO)
        });
        assert_eq!(
            c.as_ref()
                .map(|c| (c.request_timeout(), c.request_connect_timeout())),
            Some((Duration::from_secs(3), Duration::from_millis(1)))
        );
    }

    #[test]
    fn a_server_that_never_answers_times_out() {
        // Connections are accepted (by the kernel's backlog), never answered.
        let Ok(hung) = std::net::TcpListener::bind("127.0.0.1:0") else {
            return;
        };
        let url = hung.local_addr().map(|a| format!("http://{a}"));
        let client = url.as_deref().map_err(ToString::to_string).and_then(|u| {
            PromClient::new(u)
                .map(|c| c.timeout(Duration::from_millis(300)))
                .map_err(|e| e.to_string())
        });
        let started = std::time::Instant::now();
        let e = client.map(|c| c.query("up"));
        assert!(
            matches!(e, Ok(Err(QueryError::Transport { .. }))),
            "not a transport error: {e:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        drop(hung);
    }

    #[test]
    fn unreachable_server_is_a_transport_error() {
        // Bind then drop: the port is (almost certainly) closed now.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(9);
        let client = PromClient::new(&format!("http://127.0.0.1:{port}"))
            .map(|c| c.timeout(Duration::from_secs(2)));
        let e = client.map(|c| c.query("up"));
        let Ok(Err(QueryError::Transport { url, message })) = &e else {
            panic!("not a transport error: {e:?}")
        };
        assert!(url.ends_with("/api/v1/query"), "{url}");
        assert!(!message.is_empty());
    }
}
