//! [`Settings`]: how the serving layer decides and announces a version, the
//! one copy every adapter reads.

use std::fmt;

use http::header::HeaderName;

use crate::clock::LatencyClock;
use crate::isolation::Isolation;
use crate::key::{KeySource, NoKey};
use crate::qa::QaOverride;

/// The default response header naming the version that served a request.
pub const DEFAULT_VERSION_HEADER: &str = "x-fledge-version";

/// The serving layer's settings, shared by every adapter: where the routing
/// key comes from, what happens without one, the QA override, how the choice
/// is announced (response header, request extension), per-version isolation
/// and panic containment.
///
/// A plain value: nothing is checked until it meets a routing source in
/// [`CanaryLayer::with_settings`](crate::CanaryLayer::with_settings) (or
/// [`Decider::new`](crate::Decider::new), or the actix-web middleware's
/// `with_settings`), which checks the isolation's version ids and limits.
/// What only one adapter can do stays on that adapter's type: tower's
/// response classifier and fallback to stable
/// ([`CanaryLayer::classifier`](crate::CanaryLayer::classifier),
/// [`CanaryLayer::fallback`](crate::CanaryLayer::fallback)), actix-web's key
/// closure.
///
/// ```
/// use std::time::Duration;
/// use fledge_tower::{KeySource, NoKey, Settings};
/// use fledge_tower::isolation::Isolation;
///
/// let settings = Settings::new()
///     .key(KeySource::cookie("uid"))
///     .no_key(NoKey::Stable)
///     .response_header(None) // no x-fledge-version header
///     .isolation(Isolation::new().timeout("v2", Duration::from_millis(200)));
/// # let _ = settings;
/// ```
#[derive(Clone)]
pub struct Settings {
    pub(crate) key: KeySource,
    pub(crate) no_key: NoKey,
    pub(crate) qa: Option<QaOverride>,
    pub(crate) response_header: Option<HeaderName>,
    pub(crate) extension: bool,
    pub(crate) isolation: Isolation,
    pub(crate) catch_panics: bool,
    pub(crate) flag_key: Option<&'static str>,
    pub(crate) latency_clock: LatencyClock,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            key: KeySource::default(),
            no_key: NoKey::default(),
            qa: None,
            response_header: Some(HeaderName::from_static(DEFAULT_VERSION_HEADER)),
            extension: true,
            isolation: Isolation::default(),
            catch_panics: true,
            flag_key: None,
            latency_clock: LatencyClock::Precise,
        }
    }
}

impl Settings {
    /// The defaults: key from the `x-user-id` header, a random pick without
    /// one, no QA override, the `x-fledge-version` response header, the
    /// [`Chosen`](crate::Chosen) request extension, no isolation limits,
    /// panics contained.
    pub fn new() -> Self {
        Self::default()
    }

    /// Where the routing key comes from (default: the `x-user-id` header).
    pub fn key(mut self, key: KeySource) -> Self {
        self.key = key;
        self
    }

    /// What to do with requests without a key (default: random pick).
    pub fn no_key(mut self, no_key: NoKey) -> Self {
        self.no_key = no_key;
        self
    }

    /// Honour a QA override header carrying a secret.
    pub fn qa_override(mut self, qa: QaOverride) -> Self {
        self.qa = Some(qa);
        self
    }

    /// The response header naming the version (default `x-fledge-version`);
    /// `None` sends no header. `http` hashes a custom header name byte by
    /// byte, so this header is one of the dearer parts of the layer (see
    /// "What it costs" in the crate docs): turn it off where clients do not
    /// need it.
    pub fn response_header(mut self, name: Option<HeaderName>) -> Self {
        self.response_header = name;
        self
    }

    /// Whether to insert the [`Chosen`](crate::Chosen) request extension
    /// (default: yes). `http` boxes every extension value, so inserting it is
    /// one small allocation per request (three when the request has no
    /// extensions yet; axum's router creates the map anyway). Turn it off
    /// when no handler reads it.
    pub fn extension(mut self, on: bool) -> Self {
        self.extension = on;
        self
    }

    /// Per-version bulkheads and timeouts, and where overflow goes (see
    /// [`crate::isolation`]; a plan's `limits` through
    /// [`Isolation::from_plan`]). Checked against the routing source when
    /// the settings are applied: an unknown version or a zero limit is an
    /// error there.
    pub fn isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = isolation;
        self
    }

    /// The isolation set so far.
    pub fn isolation_config(&self) -> &Isolation {
        &self.isolation
    }

    /// The name of the rollout (or experiment) these settings serve: the
    /// `feature_flag.key` of the request spans of the `otel` feature.
    /// `fledge::Canary` sets it to the plan's name; default `fledge`.
    /// Stored once per process (interned), read for free.
    pub fn flag_key(mut self, name: &str) -> Self {
        self.flag_key = Some(crate::chosen::intern(name));
        self
    }

    /// The name set with [`flag_key`](Self::flag_key), if any.
    pub fn flag_key_name(&self) -> Option<&'static str> {
        self.flag_key
    }

    /// The clock requests are timed with (default
    /// [`LatencyClock::Precise`]); [`LatencyClock::Coarse`] where reading a
    /// precise clock costs a system call (a virtual machine whose clock
    /// source is not the TSC), at the price of resolution.
    pub fn latency_clock(mut self, clock: LatencyClock) -> Self {
        self.latency_clock = clock;
        self
    }

    /// Whether a panic in a version's service is caught, counted, recorded
    /// as its failure and answered with a 500 (default: yes). When off it is
    /// recorded and then propagated.
    pub fn catch_panics(mut self, on: bool) -> Self {
        self.catch_panics = on;
        self
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("key", &self.key)
            .field("no_key", &self.no_key)
            .field("qa", &self.qa)
            .field("response_header", &self.response_header)
            .field("extension", &self.extension)
            .field("isolation", &self.isolation)
            .field("catch_panics", &self.catch_panics)
            .field("flag_key", &self.flag_key)
            .field("latency_clock", &self.latency_clock)
            .finish()
    }
}
