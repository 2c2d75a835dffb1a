//! [`Webhook`]: posts chosen rollout events to a URL from a background thread.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use fledge_rollout::control::Controller;
use fledge_rollout::log::RateLimited;
use fledge_rollout::machine::{Event, EventKind};

use crate::error::NotifyError;
use crate::payload::Payload;

/// The event kinds a webhook posts unless told otherwise
/// ([`WebhookBuilder::on`]): the ones a person may have to act on.
pub const DEFAULT_EVENTS: &[EventKind] = &[
    EventKind::RolledBack,
    EventKind::Aborted,
    EventKind::Promoted,
    EventKind::Paused,
    EventKind::AwaitingApproval,
];

/// The most retries [`WebhookBuilder::retries`] accepts.
pub const MAX_RETRIES: u32 = 10;

/// The start of a failed answer's body kept in the log.
const BODY_EXCERPT: usize = 200;

/// How often a full queue's drops are logged.
const DROP_LOG_WINDOW: Duration = Duration::from_secs(30);

/// The log target of this crate's events.
const TARGET: &str = "fledge_notify";

/// Configures a [`Webhook`]; see [`Webhook::builder`].
#[derive(Clone)]
pub struct WebhookBuilder {
    url: String,
    kinds: Vec<EventKind>,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
    max_backoff: Duration,
    queue: usize,
    headers: Vec<(String, String)>,
}

impl fmt::Debug for WebhookBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookBuilder")
            .field("endpoint", &redact(&self.url))
            .field("kinds", &self.kinds)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("backoff", &(self.backoff, self.max_backoff))
            .field("queue", &self.queue)
            .field("headers", &self.headers.len())
            .finish()
    }
}

impl WebhookBuilder {
    /// The event kinds to post (default [`DEFAULT_EVENTS`]: rolled back,
    /// aborted, promoted, paused, awaiting approval). Replaces the list.
    pub fn on(mut self, kinds: &[EventKind]) -> Self {
        self.kinds = kinds.to_vec();
        self
    }

    /// The time-out of one request, connecting included (default 5 s; zero
    /// is raised to 1 ms). A receiver that does not answer in time counts
    /// as a failed attempt, retried like a 5xx.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How many times a failed post is tried again (default 3, at most
    /// [`MAX_RETRIES`]). Transport errors, time-outs, 5xx and 429 are
    /// retried; other answers are not.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries.min(MAX_RETRIES);
        self
    }

    /// The wait before the first retry, doubled before each next one up to
    /// `max` (default 1 s, up to 30 s; at least 1 ms). A 429's or 503's
    /// `Retry-After` (in seconds) is honoured up to `max`.
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff = first.max(Duration::from_millis(1));
        self.max_backoff = max.max(self.backoff);
        self
    }

    /// How many payloads may wait while one is being posted (default 64, at
    /// least 1). When the queue is full the oldest waiting payload is
    /// dropped, counted in [`Stats::dropped`] and logged.
    pub fn queue(mut self, capacity: usize) -> Self {
        self.queue = capacity.max(1);
        self
    }

    /// Adds a header to every post (`Authorization`, a routing key).
    /// Checked by [`build`](Self::build).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Checks the configuration and starts the delivery thread.
    pub fn build(self) -> Result<Webhook, NotifyError> {
        let url = self.url.trim().to_owned();
        check_url(&url)?;
        for (name, value) in &self.headers {
            check_header(name, value)?;
        }
        if self.kinds.is_empty() {
            return Err(NotifyError::NoEvents);
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        let shared = Arc::new(Shared {
            endpoint: redact(&url),
            url,
            kinds: self.kinds,
            timeout: self.timeout,
            retries: self.retries,
            backoff: self.backoff,
            max_backoff: self.max_backoff,
            capacity: self.queue,
            headers: self.headers,
            agent,
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                in_flight: false,
                open: true,
            }),
            changed: Condvar::new(),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            drop_log: RateLimited::new(DROP_LOG_WINDOW),
        });
        let worker = shared.clone();
        std::thread::Builder::new()
            .name("fledge-notify".to_owned())
            .spawn(move || worker.run())
            .map_err(NotifyError::Spawn)?;
        Ok(Webhook {
            handle: Arc::new(Handle { shared }),
        })
    }
}

/// Delivery counters of a [`Webhook`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Payloads the receiver accepted (2xx).
    pub sent: u64,
    /// Payloads given up on: retries exhausted, or an answer not worth
    /// retrying (a 4xx other than 429).
    pub failed: u64,
    /// Payloads dropped unsent because the queue was full.
    pub dropped: u64,
    /// Attempts that were retried.
    pub retries: u64,
    /// Payloads waiting now.
    pub queued: usize,
    /// Whether a payload is being posted now.
    pub in_flight: bool,
}

/// Posts a JSON [`Payload`] to a URL for chosen rollout events.
///
/// Build it with [`Webhook::builder`], then [`attach`](Self::attach) it to
/// one or more controllers. The controller's subscriber only puts the
/// payload in a bounded queue; a background thread (`fledge-notify`)
/// posts it with [`ureq`], so a slow or dead receiver never delays a tick.
/// Clones share the thread and the queue. The thread ends once every
/// clone and every controller it is attached to are dropped, and the
/// queue is empty.
///
/// See the [crate docs](crate) for the payload, retries and the queue.
#[derive(Clone)]
pub struct Webhook {
    handle: Arc<Handle>,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.handle.shared;
        f.debug_struct("Webhook")
            .field("endpoint", &s.endpoint)
            .field("kinds", &s.kinds)
            .field("timeout", &s.timeout)
            .field("retries", &s.retries)
            .field("queue", &s.capacity)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Webhook {
    /// Starts configuring a webhook posting to `url` (`http://` or, with
    /// the `rustls` feature, `https://`).
    pub fn builder(url: impl Into<String>) -> WebhookBuilder {
        WebhookBuilder {
            url: url.into(),
            kinds: DEFAULT_EVENTS.to_vec(),
            timeout: Duration::from_secs(5),
            retries: 3,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            queue: 64,
            headers: Vec::new(),
        }
    }

    /// Subscribes to `controller`'s events: each event of a chosen kind is
    /// queued for posting. Returns the webhook, to keep (for
    /// [`stats`](Self::stats) and [`flush`](Self::flush)) or to attach to
    /// another controller.
    pub fn attach(self, controller: &Controller) -> Self {
        let rollout = controller.plan().name;
        let handle = self.handle.clone();
        controller.subscribe_fn(move |event| {
            handle.notify(&rollout, event);
        });
        self
    }

    /// Queues `event` of rollout `rollout` if its kind is chosen; returns
    /// whether it was queued. Never blocks on the network. (What
    /// [`attach`](Self::attach) does for each event.)
    pub fn notify(&self, rollout: &str, event: &Event) -> bool {
        self.handle.notify(rollout, event)
    }

    /// Waits until every queued payload has been posted (or given up on),
    /// at most `timeout`. Returns whether the queue is empty and nothing is
    /// in flight. For shutdowns and tests.
    pub fn flush(&self, timeout: Duration) -> bool {
        let s = &self.handle.shared;
        let deadline = Instant::now() + timeout;
        let mut queue = s.lock();
        while !queue.items.is_empty() || queue.in_flight {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            queue = s
                .changed
                .wait_timeout(queue, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// The delivery counters.
    pub fn stats(&self) -> Stats {
        let s = &self.handle.shared;
        let (queued, in_flight) = {
            let q = s.lock();
            (q.items.len(), q.in_flight)
        };
        Stats {
            sent: s.sent.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            retries: s.retried.load(Ordering::Relaxed),
            queued,
            in_flight,
        }
    }

    /// The receiver's scheme, host and port (the URL's path is not shown:
    /// it often holds a secret).
    pub fn endpoint(&self) -> &str {
        &self.handle.shared.endpoint
    }

    /// The event kinds this webhook posts.
    pub fn kinds(&self) -> &[EventKind] {
        &self.handle.shared.kinds
    }
}

/// Held by every [`Webhook`] clone and every subscriber; the last one
/// dropped closes the queue.
struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    fn notify(&self, rollout: &str, event: &Event) -> bool {
        let s = &self.shared;
        if !s.kinds.contains(&event.kind) {
            return false;
        }
        let payload = Payload::new(rollout, event);
        let dropped = {
            let mut queue = s.lock();
            queue.items.push_back(payload);
            let dropped = if queue.items.len() > s.capacity {
                queue.items.pop_front()
            } else {
                None
            };
            s.changed.notify_all();
            dropped
        };
        if let Some(old) = dropped {
            let total = s.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if let Some(suppressed) = s.drop_log.check() {
                tracing::warn!(
                    name: "notify.dropped",
                    target: TARGET,
                    endpoint = s.endpoint.as_str(),
                    rollout = old.rollout.as_str(),
                    kind = fledge_rollout::log::kind_name(old.kind),
                    seq = old.seq,
                    capacity = s.capacity as u64,
                    dropped = total,
                    suppressed,
                    "webhook queue full: the oldest notification was dropped"
                );
            }
        }
        true
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let mut queue = self.shared.lock();
        queue.open = false;
        self.shared.changed.notify_all();
    }
}

struct Queue {
    items: VecDeque<Payload>,
    in_flight: bool,
    open: bool,
}

/// The configuration, the queue and the counters, shared with the thread.
struct Shared {
    url: String,
    endpoint: String,
    kinds: Vec<EventKind>,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
    max_backoff: Duration,
    capacity: usize,
    headers: Vec<(String, String)>,
    agent: ureq::Agent,
    queue: Mutex<Queue>,
    changed: Condvar,
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    retried: AtomicU64,
    drop_log: RateLimited,
}

/// How one attempt ended.
enum Attempt {
    Sent(u16),
    /// Worth another try, after at least the `Retry-After` given.
    Retry(String, Option<Duration>),
    /// Not worth another try.
    GiveUp(String),
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The delivery thread: one payload at a time, oldest first.
    fn run(&self) {
        loop {
            let payload = {
                let mut queue = self.lock();
                loop {
                    if let Some(p) = queue.items.pop_front() {
                        queue.in_flight = true;
                        break p;
                    }
                    if !queue.open {
                        return;
                    }
                    queue = self
                        .changed
                        .wait(queue)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            };
            self.deliver(&payload);
            let mut queue = self.lock();
            queue.in_flight = false;
            self.changed.notify_all();
        }
    }

    fn deliver(&self, payload: &Payload) {
        let body = payload.to_json();
        let mut delay = self.backoff;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let why = match self.post(&body) {
                Attempt::Sent(status) => {
                    self.sent.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(
                        name: "notify.sent",
                        target: TARGET,
                        endpoint = self.endpoint.as_str(),
                        rollout = payload.rollout.as_str(),
                        kind = fledge_rollout::log::kind_name(payload.kind),
                        seq = payload.seq,
                        attempts,
                        status,
                        "webhook notification sent"
                    );
                    return;
                }
                Attempt::Retry(why, after) if attempts <= self.retries => {
                    let wait = after.map_or(delay, |a| a.max(delay)).min(self.max_backoff);
                    self.retried.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(
                        name: "notify.retry",
                        target: TARGET,
                        endpoint = self.endpoint.as_str(),
                        rollout = payload.rollout.as_str(),
                        kind = fledge_rollout::log::kind_name(payload.kind),
                        seq = payload.seq,
                        attempt = attempts,
                        error = why.as_str(),
                        retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "webhook notification failed; retrying"
                    );
                    std::thread::sleep(wait);
                    delay = delay.saturating_mul(2).min(self.max_backoff);
                    continue;
                }
                Attempt::Retry(why, _) => why,
                Attempt::GiveUp(why) => why,
            };
            self.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                name: "notify.failed",
                target: TARGET,
                endpoint = self.endpoint.as_str(),
                rollout = payload.rollout.as_str(),
                kind = fledge_rollout::log::kind_name(payload.kind),
                seq = payload.seq,
                attempts,
                error = why.as_str(),
                "webhook notification not delivered"
            );
            return;
        }
    }

    fn post(&self, body: &str) -> Attempt {
        let mut request = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            .header(
                "user-agent",
                concat!("fledge-notify/", env!("CARGO_PKG_VERSION")),
            );
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let mut response = match request.send(body) {
            Ok(r) => r,
            Err(ureq::Error::Timeout(_)) => {
                return Attempt::Retry(format!("no answer within {:?}", self.timeout), None);
            }
            Err(e) => return Attempt::Retry(e.to_string(), None),
        };
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Attempt::Sent(status);
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response
            .body_mut()
            .with_config()
            .limit(16 * 1024)
            .read_to_string()
            .unwrap_or_default();
        let mut excerpt: String = text.trim().chars().take(BODY_EXCERPT).collect();
        if excerpt.is_empty() {
            excerpt = "(empty body)".to_owned();
        }
        let why = format!("the receiver answered {status}: {excerpt}");
        match status {
            429 | 500..=599 => Attempt::Retry(why, retry_after),
            _ => Attempt::GiveUp(why),
        }
    }
}

/// Scheme, host and port of `url`, without its path or query (Slack's
/// webhook URLs hold their secret in the path).
fn redact(url: &str) -> String {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    // Credentials in the authority are secrets too.
    let host = authority.rsplit('@').next().unwrap_or(authority);
    if scheme.is_empty() {
        host.to_owned()
    } else {
        format!("{scheme}://{host}")
    }
}

fn check_url(url: &str) -> Result<(), NotifyError> {
    let bad = |reason| {
        Err(NotifyError::BadUrl {
            url: url.to_owned(),
            reason,
        })
    };
    if !url.contains("://") {
        return bad("it has no scheme");
    }
    let uri: ureq::http::Uri = match url.parse() {
        Ok(u) => u,
        Err(_) => return bad("it is not a valid URL"),
    };
    match uri.scheme_str() {
        None => return bad("it has no scheme"),
        Some("http") => {}
        Some("https") => {
            if !cfg!(feature = "rustls") {
                return Err(NotifyError::NoTls);
            }
        }
        Some(_) => return bad("only http:// and https:// are supported"),
    }
    match uri.host() {
        Some(h) if !h.is_empty() => Ok(()),
        _ => bad("it has no host"),
    }
}

fn check_header(name: &str, value: &str) -> Result<(), NotifyError> {
    match fledge_rollout::plan::targeting::header_problem(name, value) {
        Some(reason) => Err(NotifyError::BadHeader {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_with_actionable_errors() {
        let err = |url: &str| Webhook::builder(url).build().unwrap_err();
        assert!(matches!(
            err("hooks.slack.com/services/x"),
            NotifyError::BadUrl {
                reason: "it has no scheme",
                ..
            }
        ));
        assert!(matches!(
            err("ftp://example.com/x"),
            NotifyError::BadUrl {
                reason: "only http:// and https:// are supported",
                ..
            }
        ));
        assert!(matches!(err("http://"), NotifyError::BadUrl { .. }));
        assert!(matches!(err("not a url"), NotifyError::BadUrl { .. }));
        if !cfg!(feature = "rustls") {
            assert!(matches!(
                err("https://hooks.slack.com/x"),
                NotifyError::NoTls
            ));
        }
        let text = err("ftp://example.com/x").to_string();
        assert!(
            text.contains("http://") && text.contains("ftp://example.com/x"),
            "{text}"
        );
    }

    #[test]
    fn headers_and_event_kinds_are_checked() {
        let e = Webhook::builder("http://127.0.0.1:9/")
            .header("bad name", "x")
            .build()
            .unwrap_err();
        assert!(matches!(e, NotifyError::BadHeader { .. }), "{e}");
        let e = Webhook::builder("http://127.0.0.1:9/")
            .header("x-token", "line\nbreak")
            .build()
            .unwrap_err();
        assert!(matches!(e, NotifyError::BadHeader { .. }), "{e}");
        let e = Webhook::builder("http://127.0.0.1:9/")
            .on(&[])
            .build()
            .unwrap_err();
        assert!(matches!(e, NotifyError::NoEvents), "{e}");
    }

    #[test]
    fn secrets_in_the_url_are_not_shown() {
        assert_eq!(
            redact("https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com"
        );
        assert_eq!(
            redact("http://user:pw@alerts:8080/x?token=1"),
            "http://alerts:8080"
        );
        let hook = Webhook::builder("http://127.0.0.1:9/very/secret")
            .build()
            .unwrap();
        assert_eq!(hook.endpoint(), "http://127.0.0.1:9");
        assert!(!format!("{hook:?}").contains("secret"));
    }

    #[test]
    fn bounds_are_applied() {
        let b = Webhook::builder("http://127.0.0.1:9/")
            .retries(1_000)
            .queue(0)
            .timeout(Duration::ZERO)
            .backoff(Duration::from_secs(5), Duration::from_secs(1));
        assert_eq!(b.retries, MAX_RETRIES);
        assert_eq!(b.queue, 1);
        assert_eq!(b.timeout, Duration::from_millis(1));
        assert_eq!(b.max_backoff, Duration::from_secs(5));
    }
}
