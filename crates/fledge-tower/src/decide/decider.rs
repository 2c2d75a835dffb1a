//! [`Decider`]: the per-request routing decision, built from a routing
//! source and [`Settings`], shared by the tower services and the other
//! framework adapters.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fledge_gate::Recorder;
use fledge_rollout::Routed;
use fledge_rollout::log::RateLimited;
use fledge_rollout::plan::Attributes;
use fledge_select::{BUCKETS, VersionIndex};
use http::header::HeaderName;
use http::{Extensions, HeaderMap, HeaderValue, Method, Uri};

use super::settings::Settings;
use crate::attributes::HttpAttributes;
use crate::chosen::{Chosen, Reason, intern, static_header_value};
use crate::clock::{LatencyClock, Stopwatch};
use crate::error::ConfigError;
use crate::isolation::{Admission, Bulkheads, Contained, Fallback, IsolationHandle, incident};
use crate::key::{KeySource, NoKey, RequestHead};
use crate::qa::QaOverride;
use crate::routes::RoutingSource;

/// Counters of the decisions, shared by every clone of a layer.
#[derive(Debug)]
struct Stats {
    overrides_rejected: AtomicU64,
    /// Limits `tower.qa_override_rejected` lines.
    override_log: RateLimited,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            overrides_rejected: AtomicU64::new(0),
            override_log: RateLimited::new(incident::WINDOW),
        }
    }
}

/// A routing source joined with [`Settings`], checked: everything the
/// request path needs to choose a version, admit it through its bulkhead and
/// announce it.
///
/// [`CanaryLayer`](crate::CanaryLayer) and
/// [`VersionRouter`](crate::VersionRouter) hold one; framework adapters with
/// their own request types (actix-web) build one with [`Decider::new`] and
/// call [`decide`](Decider::decide), [`admit`](Decider::admit),
/// [`timeout`](Decider::timeout) and
/// [`record_contained`](Decider::record_contained) themselves. Clones share
/// the routing source, the counters and the bulkheads.
#[derive(Clone)]
pub struct Decider {
    routes: Arc<dyn RoutingSource>,
    settings: Settings,
    ids: Arc<[&'static str]>,
    values: Arc<[HeaderValue]>,
    stats: Arc<Stats>,
    bulkheads: Arc<Bulkheads>,
    fallback: Option<Fallback>,
    /// [`RoutingSource::recorder`], read once: recording then follows no
    /// pointer through the routing source.
    recorder: Recorder,
    /// Whether any version has a timeout (the request path skips the
    /// lookup otherwise).
    timeouts: bool,
    /// Whether any version has a concurrency limit (admission is one
    /// branch otherwise, without reading the bulkheads).
    limited: bool,
    /// Whether every version id is a valid header value (always, with
    /// `VersionId`'s rules): the response header is then made from the id
    /// in hand rather than read from `values`.
    ids_are_values: bool,
    /// [`RoutingSource::counts_exposures`], read once.
    exposures: bool,
}

impl Decider {
    /// Joins `routes` with `settings`: checks the isolation's version ids
    /// and limits against the routing source.
    pub fn new<R: RoutingSource>(routes: R, settings: Settings) -> Result<Self, ConfigError> {
        Self::from_arc(Arc::new(routes), settings)
    }

    /// [`Decider::new`] for a shared source.
    pub fn from_arc(
        routes: Arc<dyn RoutingSource>,
        settings: Settings,
    ) -> Result<Self, ConfigError> {
        let mut decider = Self::defaults(routes);
        let bulkheads = Bulkheads::new(&settings.isolation, decider.ids.clone(), decider.stable())?;
        decider.timeouts = (0..decider.ids.len()).any(|i| bulkheads.timeout(i).is_some());
        decider.limited = bulkheads.limited();
        if let LatencyClock::Coarse(resolution) = settings.latency_clock {
            crate::clock::start_coarse(resolution);
        }
        decider.bulkheads = Arc::new(bulkheads);
        decider.settings = Settings {
            // Re-made from an interned name so that cloning it per request
            // is free.
            response_header: settings
                .response_header
                .as_ref()
                .map(|n| HeaderName::from_static(intern(n.as_str()))),
            ..settings
        };
        Ok(decider)
    }

    /// `routes` with the default [`Settings`], which need no check.
    pub fn with_defaults<R: RoutingSource>(routes: R) -> Self {
        Self::defaults(Arc::new(routes))
    }

    fn defaults(routes: Arc<dyn RoutingSource>) -> Self {
        let ids: Arc<[&'static str]> = routes
            .selector()
            .ids()
            .iter()
            .map(|id| intern(id.as_str()))
            .collect();
        // Version ids are valid header values; an id that is not (impossible
        // with `VersionId`'s rules) simply gets no response header.
        let values: Arc<[HeaderValue]> = ids
            .iter()
            .map(|id| static_header_value(id).unwrap_or_else(|_| HeaderValue::from_static("")))
            .collect();
        let ids_are_values = ids.iter().all(|id| static_header_value(id).is_ok());
        let stable = routes
            .baseline()
            .or_else(|| VersionIndex::new(ids.len().saturating_sub(1)))
            // Unreachable (a selector has 1..=64 versions), but total.
            .unwrap_or_else(|| routes.selector().pick_by_bucket(0));
        let bulkheads = Arc::new(Bulkheads::unlimited(ids.clone(), stable));
        // Calibrates the request clock now rather than on the first request.
        Stopwatch::uses_counter();
        let exposures = routes.counts_exposures();
        let recorder = routes.recorder().clone();
        Decider {
            routes,
            settings: Settings::default(),
            ids,
            values,
            stats: Arc::default(),
            bulkheads,
            fallback: None,
            recorder,
            timeouts: false,
            limited: false,
            ids_are_values,
            exposures,
        }
    }

    /// The stable version: where overflow and fallback go.
    fn stable(&self) -> VersionIndex {
        self.bulkheads.stable()
    }

    /// Retries failed requests once on stable where `fallback` allows: set
    /// by [`CanaryLayer::fallback`](crate::CanaryLayer::fallback), the only
    /// adapter that can replay a request body.
    pub(crate) fn set_fallback(&mut self, fallback: Option<Fallback>) {
        self.fallback = fallback;
    }

    /// The settings this decider was built with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The fallback, if one is set.
    pub fn fallback(&self) -> Option<&Fallback> {
        self.fallback.as_ref()
    }

    /// Whether panics are contained.
    pub fn catch_panics(&self) -> bool {
        self.settings.catch_panics
    }

    /// A handle to the isolation counters (shared with every clone made
    /// after the isolation was set).
    pub fn isolation(&self) -> IsolationHandle {
        IsolationHandle(self.bulkheads.clone())
    }

    pub(crate) fn bulkheads(&self) -> &Arc<Bulkheads> {
        &self.bulkheads
    }

    /// Passes a decided request through its version's bulkhead: admitted
    /// (holding a [`Permit`](crate::isolation::Permit) when the version has a
    /// limit), sent on to stable, or rejected. Overflow is counted and
    /// recorded as the full version's failure here. Without limits this is
    /// one branch.
    ///
    /// For a source that [counts exposures](RoutingSource::counts_exposures) (an
    /// experiment), a request admitted on the version its sticky bucket
    /// picked is counted as an exposure here.
    #[inline]
    pub fn admit(&self, chosen: Chosen) -> Admission {
        let admission = if self.limited {
            self.bulkheads.admit(chosen, &self.recorder)
        } else {
            Admission::Admitted {
                chosen,
                permit: None,
            }
        };
        if self.exposures
            && let Admission::Admitted { chosen, .. } = &admission
            && chosen.reason() == Reason::Sticky
        {
            self.routes.expose(chosen.index());
        }
        admission
    }

    /// The timeout of the version at `index`, if any.
    #[inline]
    pub fn timeout(&self, index: VersionIndex) -> Option<Duration> {
        if !self.timeouts {
            return None;
        }
        self.bulkheads.timeout(index.get())
    }

    /// Counts a timeout or a contained panic of the version at `index` and
    /// records it as that version's failure taking `latency`: for adapters
    /// that enforce [`timeout`](Self::timeout) and contain panics themselves
    /// (actix-web).
    pub fn record_contained(&self, index: VersionIndex, latency: Duration, what: Contained) {
        let i = index.get();
        match what {
            Contained::Timeout => {
                self.bulkheads.count(i, |s| &s.timeouts);
                self.bulkheads.log_timeout(i, "", false);
            }
            Contained::Panic => {
                self.bulkheads.count(i, |s| &s.panics);
                // The adapter keeps the payload: an empty message.
                self.bulkheads.log_panic(i, &"");
            }
        }
        self.recorder.record(i, latency, true);
    }

    /// Whether a request on `chosen` may fall back to stable.
    pub(crate) fn fallback_allows(&self, chosen: Chosen, method: &Method, uri: &Uri) -> bool {
        chosen.index() != self.bulkheads.stable()
            && self
                .fallback
                .as_ref()
                .is_some_and(|f| f.allows(method, uri))
    }

    /// The body limit of the fallback, if one is set.
    pub(crate) fn fallback_body_limit(&self) -> usize {
        self.fallback.as_ref().map_or(0, |f| f.body_limit)
    }

    /// The routing source.
    pub fn routes(&self) -> &Arc<dyn RoutingSource> {
        &self.routes
    }

    /// The key source.
    pub fn key(&self) -> &KeySource {
        &self.settings.key
    }

    /// The QA override, if any.
    pub fn qa_override(&self) -> Option<&QaOverride> {
        self.settings.qa.as_ref()
    }

    /// The response header, if any.
    pub fn response_header(&self) -> Option<&HeaderName> {
        self.settings.response_header.as_ref()
    }

    /// Starts timing a request on the settings' clock.
    #[inline]
    pub fn start_timer(&self) -> Stopwatch {
        Stopwatch::start_on(self.settings.latency_clock)
    }

    /// The rollout's name for request spans ([`Settings::flag_key`], else
    /// `fledge`).
    #[inline]
    pub(crate) fn flag_key(&self) -> &'static str {
        self.settings.flag_key.unwrap_or("fledge")
    }

    /// Whether [`Chosen`] goes into the request's extensions.
    pub fn extension(&self) -> bool {
        self.settings.extension
    }

    /// The version ids, in selector order.
    pub fn ids(&self) -> &[&'static str] {
        &self.ids
    }

    /// The index of version `id`, or an error naming the known versions.
    pub fn index_of(&self, id: &str) -> Result<VersionIndex, ConfigError> {
        self.routes
            .selector()
            .index_of(id)
            .ok_or_else(|| ConfigError::UnknownVersion {
                id: id.to_owned(),
                known: self.ids.join(", "),
            })
    }

    /// The recorder ([`RoutingSource::recorder`], read when the decider was
    /// built).
    #[inline]
    pub(crate) fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// The value of the response header naming `chosen`: made from its
    /// id (a static string, no lookup) when ids are header values.
    #[inline]
    pub(crate) fn version_value(&self, chosen: Chosen) -> Option<HeaderValue> {
        if self.ids_are_values {
            Some(HeaderValue::from_static(chosen.id()))
        } else {
            self.header_value(chosen.index()).cloned()
        }
    }

    /// The header value naming `index` (free to clone).
    pub fn header_value(&self, index: VersionIndex) -> Option<&HeaderValue> {
        self.values.get(index.get())
    }

    /// How many override headers were ignored because their secret was
    /// wrong or their version unknown.
    pub fn overrides_rejected(&self) -> u64 {
        self.stats.overrides_rejected.load(Ordering::Relaxed)
    }

    fn chosen(&self, index: VersionIndex, reason: Reason) -> Chosen {
        Chosen::new(
            index,
            self.ids.get(index.get()).copied().unwrap_or(""),
            reason,
        )
    }

    /// Chooses a version from framework-neutral inputs: the routing key, the
    /// QA override header's raw value and the targeting attributes. Order:
    /// a valid override, then a matching targeting rule, then the key's
    /// sticky bucket, then [`NoKey`].
    pub fn decide(
        &self,
        key: Option<&[u8]>,
        override_value: Option<&[u8]>,
        attributes: &dyn Attributes,
    ) -> Chosen {
        if let (Some(qa), Some(value)) = (&self.settings.qa, override_value) {
            let asked = qa.check(value);
            match asked.and_then(|id| self.routes.selector().index_of(id)) {
                Some(index) => return self.chosen(index, Reason::Override),
                None => {
                    let rejected = self
                        .stats
                        .overrides_rejected
                        .fetch_add(1, Ordering::Relaxed)
                        + 1;
                    self.log_override_rejected(qa, asked.is_some(), rejected);
                }
            }
        }
        match self
            .routes
            .resolve(key.filter(|k| !k.is_empty()), attributes)
        {
            Routed::Targeted(index) => self.chosen(index, Reason::Targeted),
            Routed::Sticky(index) => self.chosen(index, Reason::Sticky),
            Routed::NoKey => {
                let selector = self.routes.selector();
                match self.settings.no_key {
                    NoKey::Random => self.chosen(selector.pick_random(), Reason::Random),
                    NoKey::Stable => {
                        self.chosen(selector.pick_by_bucket(BUCKETS - 1), Reason::Stable)
                    }
                }
            }
        }
    }

    /// `tower.qa_override_rejected`: never the header's value (it carries a
    /// secret, right or wrong), only why.
    #[cold]
    fn log_override_rejected(&self, qa: &QaOverride, secret_ok: bool, rejected: u64) {
        if let Some(suppressed) = self.stats.override_log.check() {
            tracing::warn!(
                name: "tower.qa_override_rejected",
                target: incident::TARGET,
                header = qa.header_name().as_str(),
                reason = if secret_ok { "unknown_version" } else { "secret" },
                rejected,
                suppressed,
                "QA override header ignored"
            );
        }
    }

    /// Chooses a version for an `http` request.
    pub fn decide_http(&self, uri: &Uri, headers: &HeaderMap, extensions: &Extensions) -> Chosen {
        let head = RequestHead {
            uri,
            headers,
            extensions,
        };
        let key = self.settings.key.extract(&head);
        let override_value = self
            .settings
            .qa
            .as_ref()
            .and_then(|qa| headers.get(qa.header_name()))
            .map(HeaderValue::as_bytes);
        let attributes = HttpAttributes::new(headers, extensions);
        self.decide(key.as_deref(), override_value, &attributes)
    }
}

impl fmt::Debug for Decider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decider")
            .field("routes", &self.routes)
            .field("settings", &self.settings)
            .field("ids", &self.ids)
            .field("fallback", &self.fallback)
            .finish()
    }
}
