//! [`Decider`]: the per-request routing decision, shared by the tower
//! services and the other framework adapters.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fledge_rollout::Routed;
use fledge_rollout::plan::Attributes;
use fledge_select::{BUCKETS, VersionIndex};
use http::header::HeaderName;
use http::{Extensions, HeaderMap, HeaderValue, Method, Uri};

use crate::attributes::HttpAttributes;
use crate::chosen::{Chosen, Reason, intern, static_header_value};
use crate::clock::Stopwatch;
use crate::error::ConfigError;
use crate::isolation::{Admission, Bulkheads, Contained, Fallback, Isolation, IsolationHandle};
use crate::key::{KeySource, NoKey, RequestHead};
use crate::qa::QaOverride;
use crate::routes::RoutingSource;

/// The default response header naming the version that served a request.
pub const DEFAULT_VERSION_HEADER: &str = "x-fledge-version";

/// Counters of the decisions, shared by every clone of a layer.
#[derive(Debug, Default)]
struct Stats {
    overrides_rejected: AtomicU64,
}

/// Everything the request path needs to choose a version: the routing
/// source, the key source, what to do without a key, the QA override, and how
/// to announce the choice (extension, response header).
///
/// [`CanaryLayer`](crate::CanaryLayer) and
/// [`VersionRouter`](crate::VersionRouter) hold one; framework adapters with
/// their own request types (actix-web) call [`Decider::decide`] directly.
#[derive(Clone)]
pub struct Decider {
    routes: Arc<dyn RoutingSource>,
    key: KeySource,
    no_key: NoKey,
    qa: Option<QaOverride>,
    ids: Arc<[&'static str]>,
    values: Arc<[HeaderValue]>,
    response_header: Option<HeaderName>,
    extension: bool,
    stats: Arc<Stats>,
    isolation: Isolation,
    bulkheads: Arc<Bulkheads>,
    fallback: Option<Fallback>,
    catch_panics: bool,
    /// Whether any version has a timeout (the request path skips the
    /// lookup otherwise).
    timeouts: bool,
    /// [`RoutingSource::counts_exposures`], read once.
    exposures: bool,
}

impl Decider {
    /// A decider reading `routes`, with the defaults: key from the
    /// `x-user-id` header, random pick without a key, no QA override,
    /// `x-fledge-version` response header, [`Chosen`] request extension.
    pub fn new<R: RoutingSource>(routes: R) -> Self {
        Self::from_arc(Arc::new(routes))
    }

    /// [`Decider::new`] for a shared source.
    pub fn from_arc(routes: Arc<dyn RoutingSource>) -> Self {
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
        let stable = routes
            .baseline()
            .or_else(|| VersionIndex::new(ids.len().saturating_sub(1)))
            // Unreachable (a selector has 1..=64 versions), but total.
            .unwrap_or_else(|| routes.selector().pick_by_bucket(0));
        let bulkheads = Arc::new(Bulkheads::unlimited(ids.clone(), stable));
        // Calibrates the request clock now rather than on the first request.
        Stopwatch::uses_counter();
        let exposures = routes.counts_exposures();
        Decider {
            routes,
            key: KeySource::default(),
            no_key: NoKey::default(),
            qa: None,
            ids,
            values,
            response_header: Some(HeaderName::from_static(DEFAULT_VERSION_HEADER)),
            extension: true,
            stats: Arc::default(),
            isolation: Isolation::default(),
            bulkheads,
            fallback: None,
            catch_panics: true,
            timeouts: false,
            exposures,
        }
    }

    /// Per-version bulkheads and timeouts, and where overflow goes. Version
    /// ids are checked against the routing source. The counters start anew:
    /// take [`isolation`](Self::isolation) handles after this call.
    pub fn set_isolation(&mut self, isolation: Isolation) -> Result<(), ConfigError> {
        let default_stable = self.bulkheads.stable();
        let bulkheads = Bulkheads::new(&isolation, self.ids.clone(), default_stable)?;
        self.timeouts = (0..self.ids.len()).any(|i| bulkheads.timeout(i).is_some());
        self.bulkheads = Arc::new(bulkheads);
        self.isolation = isolation;
        Ok(())
    }

    /// Retries failed requests once on stable where `fallback` allows.
    /// Only the tower services built through
    /// [`CanaryLayer::fallback`](crate::CanaryLayer::fallback) can replay a
    /// request body.
    pub fn set_fallback(&mut self, fallback: Option<Fallback>) {
        self.fallback = fallback;
    }

    /// The fallback, if one is set.
    pub fn fallback(&self) -> Option<&Fallback> {
        self.fallback.as_ref()
    }

    /// Whether a panic in a version's service is caught and answered with a
    /// 500 (default: yes). When off, it is recorded as that version's
    /// failure and propagated.
    pub fn set_catch_panics(&mut self, on: bool) {
        self.catch_panics = on;
    }

    /// Whether panics are contained.
    pub fn catch_panics(&self) -> bool {
        self.catch_panics
    }

    /// The isolation settings.
    pub fn isolation_config(&self) -> &Isolation {
        &self.isolation
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
        let admission = if self.bulkheads.limited() {
            self.bulkheads.admit(chosen, self.routes.recorder())
        } else {
            Admission::Admitted {
                chosen,
                permit: None,
            }
        };
        if self.exposures {
            if let Admission::Admitted { chosen, .. } = &admission {
                if chosen.reason() == Reason::Sticky {
                    self.routes.expose(chosen.index());
                }
            }
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
            Contained::Timeout => self.bulkheads.count(i, |s| &s.timeouts),
            Contained::Panic => self.bulkheads.count(i, |s| &s.panics),
        }
        self.routes.recorder().record(i, latency, true);
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

    /// Where the routing key comes from.
    pub fn set_key(&mut self, key: KeySource) {
        self.key = key;
    }

    /// What to do without a key.
    pub fn set_no_key(&mut self, no_key: NoKey) {
        self.no_key = no_key;
    }

    /// Honour a QA override header with a secret.
    pub fn set_qa_override(&mut self, qa: Option<QaOverride>) {
        self.qa = qa;
    }

    /// The response header naming the version, or `None` for no header.
    pub fn set_response_header(&mut self, name: Option<HeaderName>) {
        // Re-made from an interned name so that cloning it per request is free.
        self.response_header = name.map(|n| HeaderName::from_static(intern(n.as_str())));
    }

    /// Whether to insert [`Chosen`] into the request's extensions.
    pub fn set_extension(&mut self, on: bool) {
        self.extension = on;
    }

    /// The routing source.
    pub fn routes(&self) -> &Arc<dyn RoutingSource> {
        &self.routes
    }

    /// The key source.
    pub fn key(&self) -> &KeySource {
        &self.key
    }

    /// The QA override, if any.
    pub fn qa_override(&self) -> Option<&QaOverride> {
        self.qa.as_ref()
    }

    /// The response header, if any.
    pub fn response_header(&self) -> Option<&HeaderName> {
        self.response_header.as_ref()
    }

    /// Whether [`Chosen`] goes into the request's extensions.
    pub fn extension(&self) -> bool {
        self.extension
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
        if let (Some(qa), Some(value)) = (&self.qa, override_value) {
            match qa
                .check(value)
                .and_then(|id| self.routes.selector().index_of(id))
            {
                Some(index) => return self.chosen(index, Reason::Override),
                None => {
                    self.stats
                        .overrides_rejected
                        .fetch_add(1, Ordering::Relaxed);
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
                match self.no_key {
                    NoKey::Random => self.chosen(selector.pick_random(), Reason::Random),
                    NoKey::Stable => {
                        self.chosen(selector.pick_by_bucket(BUCKETS - 1), Reason::Stable)
                    }
                }
            }
        }
    }

    /// Chooses a version for an `http` request.
    pub fn decide_http(&self, uri: &Uri, headers: &HeaderMap, extensions: &Extensions) -> Chosen {
        let head = RequestHead {
            uri,
            headers,
            extensions,
        };
        let key = self.key.extract(&head);
        let override_value = self
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
            .field("key", &self.key)
            .field("no_key", &self.no_key)
            .field("qa", &self.qa)
            .field("ids", &self.ids)
            .field("response_header", &self.response_header)
            .field("extension", &self.extension)
            .field("isolation", &self.isolation)
            .field("fallback", &self.fallback)
            .field("catch_panics", &self.catch_panics)
            .finish()
    }
}
