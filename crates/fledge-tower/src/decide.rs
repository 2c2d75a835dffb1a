//! [`Decider`]: the per-request routing decision, shared by the tower
//! services and the other framework adapters.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fledge_rollout::plan::Attributes;
use fledge_select::{BUCKETS, VariantIndex};
use http::header::HeaderName;
use http::{Extensions, HeaderMap, HeaderValue, Uri};

use crate::attributes::HttpAttributes;
use crate::chosen::{Chosen, Reason, intern, static_header_value};
use crate::error::ConfigError;
use crate::key::{KeySource, NoKey, RequestHead};
use crate::qa::QaOverride;
use crate::routes::Routes;

/// The default response header naming the version that served a request.
pub const DEFAULT_VARIANT_HEADER: &str = "x-fledge-variant";

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
/// [`CanaryRouter`](crate::CanaryRouter) hold one; framework adapters with
/// their own request types (actix-web) call [`Decider::decide`] directly.
#[derive(Clone)]
pub struct Decider {
    routes: Arc<dyn Routes>,
    key: KeySource,
    no_key: NoKey,
    qa: Option<QaOverride>,
    ids: Arc<[&'static str]>,
    values: Arc<[HeaderValue]>,
    response_header: Option<HeaderName>,
    extension: bool,
    stats: Arc<Stats>,
}

impl Decider {
    /// A decider reading `routes`, with the defaults: key from the
    /// `x-user-id` header, random pick without a key, no QA override,
    /// `x-fledge-variant` response header, [`Chosen`] request extension.
    pub fn new<R: Routes>(routes: R) -> Self {
        Self::from_arc(Arc::new(routes))
    }

    /// [`Decider::new`] for a shared source.
    pub fn from_arc(routes: Arc<dyn Routes>) -> Self {
        let ids: Arc<[&'static str]> = routes
            .selector()
            .ids()
            .iter()
            .map(|id| intern(id.as_str()))
            .collect();
        // Version ids are valid header values; an id that is not (impossible
        // with `VariantId`'s rules) simply gets no response header.
        let values: Arc<[HeaderValue]> = ids
            .iter()
            .map(|id| static_header_value(id).unwrap_or_else(|_| HeaderValue::from_static("")))
            .collect();
        Decider {
            routes,
            key: KeySource::default(),
            no_key: NoKey::default(),
            qa: None,
            ids,
            values,
            response_header: Some(HeaderName::from_static(DEFAULT_VARIANT_HEADER)),
            extension: true,
            stats: Arc::default(),
        }
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
    pub fn routes(&self) -> &Arc<dyn Routes> {
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
    pub fn index_of(&self, id: &str) -> Result<VariantIndex, ConfigError> {
        self.routes
            .selector()
            .index_of(id)
            .ok_or_else(|| ConfigError::UnknownVersion {
                id: id.to_owned(),
                known: self.ids.join(", "),
            })
    }

    /// The header value naming `index` (free to clone).
    pub fn header_value(&self, index: VariantIndex) -> Option<&HeaderValue> {
        self.values.get(index.get())
    }

    /// How many override headers were ignored because their secret was
    /// wrong or their version unknown.
    pub fn overrides_rejected(&self) -> u64 {
        self.stats.overrides_rejected.load(Ordering::Relaxed)
    }

    fn chosen(&self, index: VariantIndex, reason: Reason) -> Chosen {
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
        if self.routes.has_targeting() {
            if let Some(index) = self.routes.target(attributes) {
                return self.chosen(index, Reason::Targeted);
            }
        }
        let selector = self.routes.selector();
        match key {
            Some(key) if !key.is_empty() => self.chosen(
                selector.pick_by_bucket(self.routes.bucket(key)),
                Reason::Sticky,
            ),
            _ => match self.no_key {
                NoKey::Random => self.chosen(selector.pick_random(), Reason::Random),
                NoKey::Stable => self.chosen(selector.pick_by_bucket(BUCKETS - 1), Reason::Stable),
            },
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
            .finish()
    }
}
