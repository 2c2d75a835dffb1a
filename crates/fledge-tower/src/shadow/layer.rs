use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use fledge_select::Weight;
use tower_layer::Layer;

use super::service::{Config, Shadow};
use crate::chosen::intern;
use crate::error::ConfigError;
use crate::routes::RoutingSource;

/// Compares the primary's response body with the shadow's and returns a
/// value for the gate metric (e.g. the absolute difference of two
/// predictions), or `None` to record nothing.
pub type Comparator = Arc<dyn Fn(&Bytes, &Bytes) -> Option<f64> + Send + Sync>;

/// Counters of a shadow layer, read with [`ShadowHandle::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShadowStats {
    /// Requests copied to the shadow version.
    pub mirrored: u64,
    /// Requests not mirrored because `max_in_flight` shadow calls were running.
    pub dropped: u64,
    /// Mirrored requests whose shadow call was abandoned: body over the
    /// limit, body error, body never read by the primary, no tokio runtime.
    pub skipped: u64,
    /// Shadow calls that failed (service error or 5xx).
    pub errors: u64,
    /// Comparator values recorded.
    pub compared: u64,
}

/// A handle to change the mirrored share at run time and read the counters.
#[derive(Clone)]
pub struct ShadowHandle(Config);

impl ShadowHandle {
    /// Mirrors `share` of requests from now on (or the routing source's
    /// share when larger, see [`ShadowLayer::follow_routes`]).
    pub fn set_share(&self, share: Weight) {
        self.0.rt.share_bps.store(share.bps(), Ordering::Relaxed);
    }

    /// The share mirrored now.
    pub fn share(&self) -> Weight {
        Weight::from_bps(self.0.share()).unwrap_or(Weight::ZERO)
    }

    /// Shadow calls running now.
    pub fn in_flight(&self) -> usize {
        self.0.rt.in_flight.load(Ordering::Relaxed)
    }

    /// The counters so far.
    pub fn stats(&self) -> ShadowStats {
        let c = &self.0.rt.counters;
        ShadowStats {
            mirrored: c.mirrored.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            compared: c.compared.load(Ordering::Relaxed),
        }
    }
}

impl fmt::Debug for ShadowHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShadowHandle")
            .field("version", &self.0.id)
            .field("share", &self.share())
            .field("stats", &self.stats())
            .finish()
    }
}

/// Mirrors a share of requests to a shadow service; see the
/// [module docs](crate::shadow).
///
/// ```
/// use std::convert::Infallible;
/// use std::sync::Arc;
/// use bytes::Bytes;
/// use fledge_gate::{Recorder, RecorderConfig};
/// use fledge_select::{Selector, Split, Weight};
/// use fledge_sticky::{Bucketer, HashMode};
/// use fledge_tower::FixedRouting;
/// use fledge_tower::shadow::ShadowLayer;
/// use http_body_util::Full;
///
/// let selector = Arc::new(Selector::new(Split::from_pairs([("v2", 0), ("v1", 10_000)])?));
/// let recorder = Arc::new(Recorder::new(RecorderConfig::new(2).metric("shadow_diff"))?);
/// let routes = FixedRouting::new(selector, Bucketer::new(HashMode::Fledge, "s"), recorder);
///
/// let v2 = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
///     Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from("41.5"))))
/// });
/// let layer = ShadowLayer::new(routes, "v2", v2)?
///     .share(Weight::from_percent(100.0)?)
///     .max_in_flight(64)
///     .body_limit(64 * 1024)
///     .compare("shadow_diff", |primary, shadow| {
///         let p: f64 = std::str::from_utf8(primary).ok()?.parse().ok()?;
///         let s: f64 = std::str::from_utf8(shadow).ok()?.parse().ok()?;
///         Some((p - s).abs())
///     })?;
/// let handle = layer.handle();
/// assert_eq!(handle.stats().mirrored, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ShadowLayer<T> {
    shadow: T,
    config: Config,
}

impl<T> ShadowLayer<T> {
    /// Mirrors to `shadow`, recording under version `version` of `routes`.
    /// Defaults: share 0 % (set it, or let the routing source publish one),
    /// 64 shadow calls in flight, bodies up to 256 KiB, no comparator.
    pub fn new<R: RoutingSource>(routes: R, version: &str, shadow: T) -> Result<Self, ConfigError> {
        let routes: Arc<dyn RoutingSource> = Arc::new(routes);
        let index =
            routes
                .selector()
                .index_of(version)
                .ok_or_else(|| ConfigError::UnknownVersion {
                    id: version.to_owned(),
                    known: routes
                        .selector()
                        .ids()
                        .iter()
                        .map(|i| i.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
        Ok(ShadowLayer {
            shadow,
            config: Config {
                routes,
                index,
                id: intern(version),
                follow_routes: true,
                max_in_flight: 64,
                body_limit: 256 * 1024,
                comparator: None,
                rt: Arc::default(),
            },
        })
    }

    /// Mirrors `share` of requests (or the routing source's share when it is
    /// larger, see [`follow_routes`](Self::follow_routes)).
    pub fn share(self, share: Weight) -> Self {
        self.config
            .rt
            .share_bps
            .store(share.bps(), Ordering::Relaxed);
        self
    }

    /// Whether a share published by the routing source (a plan's `mirror`
    /// step) is honoured when larger than [`share`](Self::share) (default:
    /// yes).
    pub fn follow_routes(mut self, on: bool) -> Self {
        self.config.follow_routes = on;
        self
    }

    /// The most shadow calls running at once; more are dropped and counted.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.config.max_in_flight = n;
        self
    }

    /// The largest request or response body copied; a mirrored request with a
    /// larger body is not sent to the shadow (counted as skipped).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.config.body_limit = bytes;
        self
    }

    /// Compares the primary's and the shadow's response bodies into custom
    /// metric `metric` of the recorder (declared there), under the shadow
    /// version.
    pub fn compare<F>(mut self, metric: &str, f: F) -> Result<Self, ConfigError>
    where
        F: Fn(&Bytes, &Bytes) -> Option<f64> + Send + Sync + 'static,
    {
        let id = self
            .config
            .routes
            .recorder()
            .metric_id(metric)
            .ok_or_else(|| ConfigError::UnknownMetric {
                name: metric.to_owned(),
            })?;
        self.config.comparator = Some((id, Arc::new(f)));
        Ok(self)
    }

    /// A handle to the share and the counters, shared with every service this
    /// layer makes.
    pub fn handle(&self) -> ShadowHandle {
        ShadowHandle(self.config.clone())
    }
}

impl<S, T: Clone> Layer<S> for ShadowLayer<T> {
    type Service = Shadow<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        Shadow::new(inner, self.shadow.clone(), Arc::new(self.config.clone()))
    }
}

impl<T> fmt::Debug for ShadowLayer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShadowLayer")
            .field("version", &self.config.id)
            .field("max_in_flight", &self.config.max_in_flight)
            .field("body_limit", &self.config.body_limit)
            .field("comparator", &self.config.comparator.is_some())
            .finish_non_exhaustive()
    }
}
