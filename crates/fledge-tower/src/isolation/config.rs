//! [`Isolation`] and [`Fallback`]: what the request path enforces per
//! version, set in code or read from a plan's `limits`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use fledge_rollout::plan::{Overflow, Plan, VersionLimits};
use http::{Method, Uri};

/// The default largest request body buffered for a fallback (64 KiB).
pub const DEFAULT_FALLBACK_BODY_LIMIT: usize = 64 * 1024;

type RoutePredicate = Arc<dyn Fn(&Method, &Uri) -> bool + Send + Sync>;

/// Per-version bulkheads, timeouts and panic containment, and where overflow
/// and fallback go.
///
/// Every setting is per version id; versions without one are not limited.
/// Hand it to [`Settings::isolation`](crate::Settings::isolation); the
/// layer built with those settings
/// ([`CanaryLayer::with_settings`](crate::CanaryLayer::with_settings))
/// checks the ids against the routing source.
///
/// ```
/// use std::time::Duration;
/// use fledge_tower::isolation::{Isolation, Overflow};
///
/// let isolation = Isolation::new()
///     .concurrency("v2", 8)             // at most 8 requests on v2 at once
///     .overflow("v2", Overflow::Stable) // the 9th goes to stable (default)
///     .timeout("v2", Duration::from_millis(250))
///     .stable("v1");                    // where overflow and fallback go
/// # let _ = isolation;
/// ```
///
/// From a plan, whose `limits.<version> = { concurrency, timeout, overflow }`
/// table is already checked:
///
/// ```
/// use fledge_rollout::plan::Plan;
/// use fledge_tower::isolation::Isolation;
///
/// let plan = Plan::from_toml(r#"
/// name = "predict"
/// baseline = "v1"
/// candidate = "v2"
/// steps = [5, 25, 50, 100]
/// interval = "30s"
///
/// [limits.v2]
/// concurrency = 8
/// timeout = "250ms"
/// overflow = "reject"
/// "#)?;
/// let isolation = Isolation::from_plan(&plan);
/// assert_eq!(isolation.limits_of("v2").and_then(|l| l.concurrency), Some(8));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct Isolation {
    pub(crate) limits: BTreeMap<String, VersionLimits>,
    pub(crate) stable: Option<String>,
}

impl Isolation {
    /// No limits: every version unbounded, no timeout, no fallback.
    pub fn new() -> Self {
        Self::default()
    }

    /// The limits of a plan (`limits.<version>`). The plan's baseline is the
    /// stable version overflow and fallback go to.
    ///
    /// The limits are read once: a plan replaced later
    /// ([`Controller::replace_plan`](fledge_rollout::Controller::replace_plan))
    /// needs a new layer for new limits.
    pub fn from_plan(plan: &Plan) -> Self {
        Isolation {
            limits: plan.limits.clone(),
            stable: Some(plan.baseline.as_str().to_owned()),
        }
    }

    /// Sets every limit of `version` at once (the plan's type).
    pub fn limits(mut self, version: &str, limits: VersionLimits) -> Self {
        self.limits.insert(version.to_owned(), limits);
        self
    }

    /// The limits set for `version`, if any.
    pub fn limits_of(&self, version: &str) -> Option<&VersionLimits> {
        self.limits.get(version)
    }

    /// At most `n` requests of `version` in flight at once (its bulkhead).
    /// `0` is rejected when the layer is built.
    pub fn concurrency(mut self, version: &str, n: u32) -> Self {
        self.entry(version).concurrency = Some(n);
        self
    }

    /// A request of `version` whose response head takes longer than
    /// `timeout` is abandoned: a failure of `version` (504, or a fallback).
    pub fn timeout(mut self, version: &str, timeout: Duration) -> Self {
        self.entry(version).timeout = Some(timeout);
        self
    }

    /// What a request finding `version`'s bulkhead full gets:
    /// [`Overflow::Stable`] (default) or [`Overflow::Reject`] (503).
    pub fn overflow(mut self, version: &str, overflow: Overflow) -> Self {
        self.entry(version).overflow = overflow;
        self
    }

    /// The version overflow and fallback go to. Default: the routing
    /// source's baseline ([`RoutingSource::baseline`](crate::RoutingSource::baseline)),
    /// else the last version of the selector.
    pub fn stable(mut self, version: &str) -> Self {
        self.stable = Some(version.to_owned());
        self
    }

    /// `self` with `top` laid over it: a version `top` names gets exactly
    /// `top`'s limits for it, the others keep `self`'s; `top`'s stable
    /// version, when set, replaces `self`'s. E.g. a plan's limits
    /// ([`from_plan`](Self::from_plan)) with some set in code on top.
    pub fn overlay(mut self, top: Isolation) -> Self {
        self.limits.extend(top.limits);
        if top.stable.is_some() {
            self.stable = top.stable;
        }
        self
    }

    /// Whether nothing is set: no limits, no stable version.
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty() && self.stable.is_none()
    }

    fn entry(&mut self, version: &str) -> &mut VersionLimits {
        self.limits.entry(version.to_owned()).or_default()
    }
}

impl fmt::Debug for Isolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Isolation")
            .field("limits", &self.limits)
            .field("stable", &self.stable)
            .finish()
    }
}

/// Which requests are retried once on stable when their version fails
/// (error, 5xx, timeout, panic): the safe fallback for idempotent endpoints.
///
/// Opt-in per route. A request qualifies when
///
/// 1. it went to a version other than stable,
/// 2. the route predicate accepts its method and URI, and
/// 3. its method is idempotent (`GET`, `HEAD`, `PUT`, `DELETE`, `OPTIONS`),
///    or its method and path were declared idempotent with
///    [`declare_idempotent`](Self::declare_idempotent).
///
/// The body is copied as the version reads it (the shadow module's
/// [`TeeBody`](crate::shadow::TeeBody)), up to
/// [`body_limit`](Self::body_limit). The retry happens only when the whole
/// body was seen: a larger body, a body error, or a version that failed
/// before reading all of it means no fallback (counted in
/// [`VersionStats::fallback_skipped`](crate::isolation::VersionStats::fallback_skipped)).
///
/// ```
/// use http::Method;
/// use fledge_tower::isolation::Fallback;
///
/// // Every idempotent request, plus `POST /predict`, which the service
/// // declares idempotent (a pure function of its input).
/// let fallback = Fallback::idempotent()
///     .declare_idempotent(Method::POST, "/predict")
///     .body_limit(16 * 1024);
/// # let _ = fallback;
/// ```
#[derive(Clone)]
pub struct Fallback {
    routes: Option<RoutePredicate>,
    declared: Vec<(Method, String)>,
    pub(crate) body_limit: usize,
}

impl Fallback {
    /// Every request with an idempotent method, on any path.
    pub fn idempotent() -> Self {
        Fallback {
            routes: None,
            declared: Vec::new(),
            body_limit: DEFAULT_FALLBACK_BODY_LIMIT,
        }
    }

    /// Only requests for which `routes(method, uri)` is true (and whose
    /// method is idempotent or declared so). The predicate runs on every
    /// request sent to a non-stable version: keep it cheap.
    pub fn routes<F>(routes: F) -> Self
    where
        F: Fn(&Method, &Uri) -> bool + Send + Sync + 'static,
    {
        Fallback {
            routes: Some(Arc::new(routes)),
            declared: Vec::new(),
            body_limit: DEFAULT_FALLBACK_BODY_LIMIT,
        }
    }

    /// Declares `method` on the exact path `path` idempotent (e.g. a
    /// `POST /predict` that computes a pure function of its body), so that
    /// it may be retried although its method is not.
    pub fn declare_idempotent(mut self, method: Method, path: &str) -> Self {
        self.declared.push((method, path.to_owned()));
        self
    }

    /// The largest request body buffered for a retry (default 64 KiB).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Whether a request may be retried on stable.
    pub fn allows(&self, method: &Method, uri: &Uri) -> bool {
        if let Some(routes) = &self.routes {
            if !routes(method, uri) {
                return false;
            }
        }
        method.is_idempotent()
            || self
                .declared
                .iter()
                .any(|(m, p)| m == method && p == uri.path())
    }
}

impl fmt::Debug for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fallback")
            .field("route_predicate", &self.routes.is_some())
            .field("declared", &self.declared)
            .field("body_limit", &self.body_limit)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_replaces_the_versions_it_names() {
        let base = Isolation::new()
            .concurrency("v2", 8)
            .timeout("v1", Duration::from_secs(1));
        let top = Isolation::new().timeout("v2", Duration::from_millis(50));
        let both = base.overlay(top);
        let v2 = both.limits_of("v2").unwrap();
        assert_eq!(
            (v2.concurrency, v2.timeout),
            (None, Some(Duration::from_millis(50)))
        );
        assert_eq!(
            both.limits_of("v1").unwrap().timeout,
            Some(Duration::from_secs(1))
        );
        assert_eq!(both.stable, None);
        assert!(Isolation::new().is_empty() && !both.is_empty());
        assert_eq!(
            both.overlay(Isolation::new().stable("v2"))
                .stable
                .as_deref(),
            Some("v2")
        );
    }

    #[test]
    fn fallback_only_for_idempotent_or_declared() {
        let uri: Uri = "/predict?x=1".parse().unwrap();
        let f = Fallback::idempotent();
        assert!(f.allows(&Method::GET, &uri));
        assert!(f.allows(&Method::PUT, &uri));
        assert!(!f.allows(&Method::POST, &uri));
        let f = f.declare_idempotent(Method::POST, "/predict");
        assert!(f.allows(&Method::POST, &uri));
        assert!(!f.allows(&Method::POST, &"/other".parse().unwrap()));
        assert!(!f.allows(&Method::PATCH, &uri));
        let f = Fallback::routes(|_, uri| uri.path().starts_with("/api/"));
        assert!(!f.allows(&Method::GET, &uri));
        assert!(f.allows(&Method::GET, &"/api/x".parse().unwrap()));
    }
}
