//! A blocking client of the admin API (fledge-admin): one `ureq` agent with
//! time-outs, the bearer token, and errors that say what to check.

mod series;
mod types;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;

pub(crate) use series::{Series, SeriesPoint};
pub(crate) use types::{ErrorBody, Event, EventPage, Phase, RolloutList, Status, Verdict};

use crate::Failure;

/// The largest answer read, in bytes (an event page of 1,000 events is well under).
const MAX_BODY: u64 = 16 * 1024 * 1024;

/// Where the token came from, to name it in errors (never its value).
#[derive(Debug, Clone)]
pub(crate) enum TokenSource {
    /// `FLEDGE_ADMIN_TOKEN`.
    Env,
    /// `--token-file PATH`.
    File(PathBuf),
}

impl fmt::Display for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSource::Env => f.write_str("FLEDGE_ADMIN_TOKEN"),
            TokenSource::File(path) => write!(f, "--token-file {}", path.display()),
        }
    }
}

/// The bearer token. Its `Debug` hides it.
#[derive(Clone)]
pub(crate) struct Token {
    value: String,
    source: TokenSource,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token(<redacted>, from {})", self.source)
    }
}

impl Token {
    /// A token read from `source`: trimmed, non-empty, visible ASCII (it
    /// goes in a header).
    pub(crate) fn new(value: &str, source: TokenSource) -> Result<Token, Failure> {
        let value = value.trim();
        if value.is_empty() {
            return Err(Failure::Usage(format!("the token from {source} is empty")));
        }
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Failure::Usage(format!(
                "the token from {source} holds spaces, control or non-ASCII characters; an admin token is visible ASCII"
            )));
        }
        Ok(Token {
            value: value.to_owned(),
            source,
        })
    }
}

/// Why a request did not get the answer it wanted.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// No answer: connection refused, name not found, time-out, TLS.
    Unreachable {
        request: String,
        detail: String,
        /// Worth trying again later (a restart, a time-out).
        transient: bool,
    },
    /// 401.
    Unauthorized { source: Option<TokenSource> },
    /// 404 or 405 from something that is not this route of the admin API.
    NotFound { request: String, status: u16 },
    /// 404 from the admin API: no rollout of that name.
    UnknownRollout(String),
    /// 409: the state machine refused the command.
    Refused(String),
    /// 400: the request was wrong (a field, the operator header).
    BadRequest {
        message: String,
        field: Option<String>,
    },
    /// Another status.
    Status {
        request: String,
        status: u16,
        message: String,
    },
    /// A 2xx answer that is not the JSON expected.
    NotAdmin { request: String, detail: String },
}

impl ApiError {
    /// Worth polling again (the service restarting, overloaded, a time-out).
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            ApiError::Unreachable { transient, .. } => *transient,
            ApiError::Status { status, .. } => matches!(status, 500 | 502 | 503 | 504),
            _ => false,
        }
    }

    /// Whether the route does not exist on this server (404 or 405): an
    /// older admin API without it.
    pub(crate) fn is_missing_route(&self) -> bool {
        matches!(self, ApiError::NotFound { .. })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Unreachable {
                request, detail, ..
            } => write!(
                f,
                "{request}: {detail}; is --url the admin API (e.g. http://host:8080/fledge) and the service up?"
            ),
            ApiError::Unauthorized { source: Some(source) } => write!(
                f,
                "the admin API refused the token (401): check FLEDGE_ADMIN_TOKEN or --token-file (this one came from {source})"
            ),
            ApiError::Unauthorized { source: None } => f.write_str(
                "the admin API asks for a token (401) and none was given: set FLEDGE_ADMIN_TOKEN or pass --token-file",
            ),
            ApiError::NotFound { request, status } => write!(
                f,
                "{request} answered {status}: is --url the admin API's mount point, e.g. http://host:8080/fledge?"
            ),
            ApiError::UnknownRollout(message) => write!(f, "{message} (pick one with --rollout)"),
            ApiError::Refused(reason) => write!(f, "refused (409): {reason}"),
            ApiError::BadRequest {
                message,
                field: Some(field),
            } if !message.starts_with(field.as_str()) => write!(f, "{field}: {message}"),
            ApiError::BadRequest { message, .. } => f.write_str(message),
            ApiError::Status {
                request,
                status,
                message,
            } => write!(f, "{request} answered {status}: {message}"),
            ApiError::NotAdmin { request, detail } => write!(
                f,
                "{request} answered {detail}, not the admin API's JSON: is --url the admin API's mount point, e.g. http://host:8080/fledge?"
            ),
        }
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        match e {
            // The request was wrong: a field, a rollout that is not there.
            ApiError::BadRequest { .. } | ApiError::UnknownRollout(_) => {
                Failure::Usage(e.to_string())
            }
            _ => Failure::Other(e.to_string()),
        }
    }
}

/// A successful answer: its JSON text.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) body: String,
}

/// The admin API at a base URL.
#[derive(Debug)]
pub(crate) struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<Token>,
    operator: Option<(String, String)>,
}

impl Client {
    /// A client of the admin API mounted at `url` (`http://host:8080/fledge`).
    pub(crate) fn new(url: &str, token: Option<Token>, timeout: Duration) -> Result<Self, Failure> {
        let base = check_url(url)?;
        let timeout = timeout.max(Duration::from_millis(1));
        let agent = ureq::Agent::config_builder()
            // The whole exchange, from the name lookup to the last byte.
            .timeout_global(Some(timeout))
            .timeout_resolve(Some(timeout.min(Duration::from_secs(5))))
            .timeout_connect(Some(timeout.min(Duration::from_secs(5))))
            // Read the API's JSON error bodies instead of a bare status.
            .http_status_as_error(false)
            // The token goes to the URL given and nowhere else: no proxy from
            // the environment, no redirects followed.
            .proxy(None)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(concat!("fledge-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Client {
            agent,
            base,
            token,
            operator: None,
        })
    }

    /// Sends `header: name` with commands (the API's `operator_header`).
    pub(crate) fn with_operator(mut self, header: &str, name: &str) -> Result<Self, Failure> {
        let header = header.trim();
        let valid_header = !header.is_empty()
            && header
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid_header {
            return Err(Failure::Usage(format!(
                "--operator-header {header:?} is not a header name"
            )));
        }
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return Err(Failure::Usage(format!(
                "--by {name:?}: the operator's name must be visible ASCII"
            )));
        }
        self.operator = Some((header.to_owned(), name.to_owned()));
        Ok(self)
    }

    /// Whether a token was given.
    pub(crate) fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The full URL of `path` (which starts with `/`).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path`, decoded; also returns the JSON text as received.
    pub(crate) fn get<T: DeserializeOwned>(&self, path: &str) -> Result<(T, Answer), ApiError> {
        let url = self.url(path);
        let request = format!("GET {url}");
        let mut builder = self.agent.get(&url).header("accept", "application/json");
        if let Some(token) = &self.token {
            builder = builder.header("authorization", format!("Bearer {}", token.value));
        }
        let result = builder.call();
        self.finish(request, result)
    }

    /// `POST path` with a JSON body (and the operator header), decoded.
    pub(crate) fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(T, Answer), ApiError> {
        let url = self.url(path);
        let request = format!("POST {url}");
        let mut builder = self
            .agent
            .post(&url)
            .header("accept", "application/json")
            .header("content-type", "application/json");
        if let Some(token) = &self.token {
            builder = builder.header("authorization", format!("Bearer {}", token.value));
        }
        if let Some((header, name)) = &self.operator {
            builder = builder.header(header.as_str(), name.as_str());
        }
        let result = builder.send(body.to_string().as_bytes());
        self.finish(request, result)
    }

    fn finish<T: DeserializeOwned>(
        &self,
        request: String,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<(T, Answer), ApiError> {
        let mut response = result.map_err(|e| unreachable(&request, e))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(|e| unreachable(&request, e))?;
        let error_body = || serde_json::from_str::<ErrorBody>(&body).ok();
        match status {
            200..=299 => match serde_json::from_str::<T>(&body) {
                Ok(value) => Ok((value, Answer { body })),
                Err(e) => {
                    let detail = if content_type.starts_with("application/json") {
                        format!("{status} with JSON of another shape ({e})")
                    } else if content_type.is_empty() {
                        format!("{status} without a content type")
                    } else {
                        format!("{status} with {content_type}")
                    };
                    Err(ApiError::NotAdmin { request, detail })
                }
            },
            300..=399 => Err(ApiError::Status {
                request,
                status,
                message: match location {
                    Some(to) => format!("a redirect to {to}; use that address in --url"),
                    None => "a redirect; use the address it points to in --url".to_owned(),
                },
            }),
            400 => {
                let (message, field) = match error_body() {
                    Some(e) => (e.error, e.field),
                    None => (excerpt(&body), None),
                };
                Err(ApiError::BadRequest { message, field })
            }
            401 => Err(ApiError::Unauthorized {
                source: self.token.as_ref().map(|t| t.source.clone()),
            }),
            404 => match error_body() {
                Some(e) if e.error.starts_with("no rollout named") => {
                    Err(ApiError::UnknownRollout(e.error))
                }
                _ => Err(ApiError::NotFound { request, status }),
            },
            405 => Err(ApiError::NotFound { request, status }),
            409 => Err(ApiError::Refused(
                error_body().map_or_else(|| excerpt(&body), |e| e.error),
            )),
            _ => Err(ApiError::Status {
                request,
                status,
                message: error_body().map_or_else(|| excerpt(&body), |e| e.error),
            }),
        }
    }
}

/// The first line of a non-JSON answer, shortened.
fn excerpt(body: &str) -> String {
    let line = body.lines().map(str::trim).find(|l| !l.is_empty());
    match line {
        None => "an empty body".to_owned(),
        Some(l) if l.chars().count() > 200 => {
            format!("{}…", l.chars().take(200).collect::<String>())
        }
        Some(l) => l.to_owned(),
    }
}

/// A transport failure, in words.
fn unreachable(request: &str, e: ureq::Error) -> ApiError {
    let (detail, transient) = match &e {
        ureq::Error::HostNotFound => (
            "host not found (DNS): is the host in --url right?".to_owned(),
            false,
        ),
        ureq::Error::Timeout(which) => (format!("timed out ({which})"), true),
        ureq::Error::Io(io) => {
            let transient = matches!(
                io.kind(),
                io::ErrorKind::ConnectionRefused
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::TimedOut
                    | io::ErrorKind::BrokenPipe
            );
            let what = match io.kind() {
                io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
                _ => io.to_string(),
            };
            (what, transient)
        }
        ureq::Error::ConnectionFailed => ("the connection failed".to_owned(), true),
        ureq::Error::Protocol(p) => (
            format!("not an HTTP/1.1 answer ({p}): is the port in --url the admin API's?"),
            false,
        ),
        other => (other.to_string(), false),
    };
    ApiError::Unreachable {
        request: request.to_owned(),
        detail,
        transient,
    }
}

/// Checks `url` (`http://host:port/prefix`) and returns it without a
/// trailing `/`.
fn check_url(url: &str) -> Result<String, Failure> {
    let base = url.trim().trim_end_matches('/');
    let bad = || {
        Failure::Usage(format!(
            "--url {url:?} is not an http:// address of the admin API, e.g. http://host:8080/fledge"
        ))
    };
    let rest = if let Some(rest) = base.strip_prefix("http://") {
        rest
    } else if let Some(rest) = base.strip_prefix("https://") {
        if !cfg!(feature = "rustls") {
            return Err(Failure::Usage(format!(
                "--url {url:?}: this fledge was built without TLS; build fledge-cli with `--features rustls`, or reach the API over http:// (e.g. through a port-forward)"
            )));
        }
        rest
    } else {
        return Err(bad());
    };
    if rest.is_empty()
        || rest.starts_with('/')
        || rest.contains(['?', '#', ' ', '@'])
        || rest.chars().any(char::is_control)
    {
        return Err(bad());
    }
    Ok(base.to_owned())
}

/// `name` as one path segment (percent-encoded but for unreserved characters).
pub(crate) fn segment(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert_eq!(
            check_url(" http://h:8080/fledge/ ").ok().as_deref(),
            Some("http://h:8080/fledge")
        );
        for bad in [
            "",
            "h:8080",
            "ftp://h",
            "http://",
            "http:///x",
            "http://h/x?y",
            "http://u:p@h",
        ] {
            assert!(matches!(check_url(bad), Err(Failure::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("predict-v2"), "predict-v2");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn tokens_are_checked_and_hidden() {
        let t = Token::new(" s3cret-token\n", TokenSource::Env).ok();
        let text = format!("{t:?}");
        assert!(!text.contains("s3cret") && text.contains("FLEDGE_ADMIN_TOKEN"));
        assert!(Token::new("  ", TokenSource::Env).is_err());
        assert!(Token::new("a b", TokenSource::Env).is_err());
    }
}
