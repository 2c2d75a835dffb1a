//! [`Chosen`]: the version picked for a request, carried as a request
//! extension and in scope ([`Chosen::current`]) while the chosen version's
//! service runs.

use std::cell::Cell;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use fledge_select::VersionIndex;
use http::HeaderValue;
use http::header::HeaderName;

use crate::error::ConfigError;

/// Why a request went to its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// Its key's sticky bucket.
    Sticky,
    /// No key: a random pick with the current weights.
    Random,
    /// No key: the stable version ([`NoKey::Stable`](crate::NoKey::Stable)).
    Stable,
    /// A targeting rule matched.
    Targeted,
    /// The QA override header, with the right secret.
    Override,
    /// A copy sent to the shadow version by
    /// [`Shadow`](crate::shadow::Shadow).
    Shadow,
    /// The chosen version's bulkhead was full: sent to stable instead
    /// ([`Overflow::Stable`](crate::isolation::Overflow::Stable)).
    Overflow,
    /// Retried on stable after the chosen version failed
    /// ([`Fallback`](crate::isolation::Fallback)).
    Fallback,
}

impl Reason {
    /// `sticky`, `random`, `stable`, `targeted`, `override`, `shadow`,
    /// `overflow` or `fallback`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Sticky => "sticky",
            Reason::Random => "random",
            Reason::Stable => "stable",
            Reason::Targeted => "targeted",
            Reason::Override => "override",
            Reason::Shadow => "shadow",
            Reason::Overflow => "overflow",
            Reason::Fallback => "fallback",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The version chosen for a request.
///
/// A handler finds it two ways:
///
/// - **In scope**, [`Chosen::current`]: the layer sets it on the thread
///   while it calls the chosen version's service and while it polls that
///   service's future, so code running there (an axum handler and its
///   extractors, a tonic method, a `service_fn`) reads it without the
///   request. Free: two thread-local writes per poll. Work the handler
///   moves elsewhere (`tokio::spawn`, `spawn_blocking`, a streaming body
///   polled after the response head) runs outside the scope: read it
///   first and pass it on, or re-enter it there with [`Chosen::scope`].
/// - **As a request extension** (default on; [`Settings::extension`](crate::Settings::extension)):
///   it travels with the request, wherever it goes. `http` boxes every
///   extension value, so this is one allocation per request and a hash
///   map insert: turn it off where handlers read the scope (axum's
///   `fledge_axum::Version` extractor reads the scope first).
///
/// It is `Copy`: reading it costs nothing.
///
/// ```
/// # use fledge_tower::Chosen;
/// fn handler(req: http::Request<()>) -> &'static str {
///     let chosen = Chosen::current().or_else(|| req.extensions().get::<Chosen>().copied());
///     match chosen {
///         Some(chosen) if chosen.id() == "v2" => "exponential smoothing",
///         _ => "moving average",
///     }
/// }
/// # let _ = handler;
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Chosen {
    index: VersionIndex,
    id: &'static str,
    reason: Reason,
}

impl Chosen {
    pub(crate) fn new(index: VersionIndex, id: &'static str, reason: Reason) -> Self {
        Chosen { index, id, reason }
    }

    /// The version's position in the selector and the recorder.
    pub fn index(&self) -> VersionIndex {
        self.index
    }

    /// The version's id (`"v2"`).
    pub fn id(&self) -> &'static str {
        self.id
    }

    /// Why the request went there.
    pub fn reason(&self) -> Reason {
        self.reason
    }
}

thread_local! {
    /// The version in scope on this thread ([`Chosen::current`]).
    static CURRENT: Cell<Option<Chosen>> = const { Cell::new(None) };
}

impl Chosen {
    /// The version chosen for the request whose service is being called, or
    /// whose future is being polled, on this thread: set by the layers of
    /// this crate (and the actix-web middleware) around the chosen version's
    /// `call` and every `poll` of its future. `None` outside them.
    ///
    /// ```
    /// # use fledge_tower::Chosen;
    /// assert_eq!(Chosen::current(), None); // no request in flight here
    /// ```
    #[inline]
    pub fn current() -> Option<Chosen> {
        CURRENT.try_with(Cell::get).ok().flatten()
    }

    /// Runs `f` with `self` as [`Chosen::current`], then restores what was
    /// in scope before (also when `f` panics). For adapters of other
    /// frameworks, and for work a handler moves to another task or thread.
    #[inline]
    pub fn scope<R>(self, f: impl FnOnce() -> R) -> R {
        let _restore = Scope::enter(self);
        f()
    }
}

/// Puts a version in scope; dropping it restores the one before.
pub(crate) struct Scope(Option<Chosen>);

impl Scope {
    #[inline]
    pub(crate) fn enter(chosen: Chosen) -> Scope {
        Scope(CURRENT.try_with(|c| c.replace(Some(chosen))).ok().flatten())
    }
}

impl Drop for Scope {
    #[inline]
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.set(self.0));
    }
}

impl fmt::Debug for Chosen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chosen")
            .field("index", &self.index.get())
            .field("id", &self.id)
            .field("reason", &self.reason)
            .finish()
    }
}

impl fmt::Display for Chosen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id)
    }
}

/// Interned names: version ids and header names seen at layer construction,
/// stored once per process so that the request path copies `&'static str`s
/// and static header values instead of touching reference counts. The table
/// holds each distinct name once; it grows only when a layer is built with a
/// name never seen before (a handful per process).
static INTERNED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

pub(crate) fn intern(name: &str) -> &'static str {
    let mut table = INTERNED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(found) = table.iter().find(|s| **s == name) {
        return found;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    table.push(leaked);
    leaked
}

/// A header name whose clones are free (a static, lowercase name).
pub(crate) fn static_header_name(name: &str) -> Result<HeaderName, ConfigError> {
    let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|_| ConfigError::HeaderName {
        name: name.to_owned(),
    })?;
    // `parsed` is valid and lowercase, so `from_static` accepts it.
    Ok(HeaderName::from_static(intern(parsed.as_str())))
}

/// A header value whose clones are free, for a version id.
pub(crate) fn static_header_value(id: &'static str) -> Result<HeaderValue, ConfigError> {
    // Version ids are ASCII letters, digits, `-`, `_` and `.`; checked anyway
    // so that `from_static` cannot panic.
    HeaderValue::from_str(id).map_err(|_| ConfigError::HeaderValue { id: id.to_owned() })?;
    Ok(HeaderValue::from_static(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_returns_the_same_pointer() {
        let a = intern("v-intern-test");
        let b = intern(&String::from("v-intern-test"));
        assert!(std::ptr::eq(a, b));
        assert_eq!(
            static_header_name("X-Fledge-Version").unwrap().as_str(),
            "x-fledge-version"
        );
        assert!(static_header_value("v2").is_ok());
    }

    #[test]
    fn scopes_nest_and_restore() {
        let v1 = Chosen::new(VersionIndex::new(1).unwrap(), "v1", Reason::Sticky);
        let v2 = Chosen::new(VersionIndex::new(0).unwrap(), "v2", Reason::Override);
        assert_eq!(Chosen::current(), None);
        v1.scope(|| {
            assert_eq!(Chosen::current(), Some(v1));
            v2.scope(|| assert_eq!(Chosen::current(), Some(v2)));
            assert_eq!(Chosen::current(), Some(v1));
            let caught = std::panic::catch_unwind(|| v2.scope(|| panic!("inner")));
            assert!(caught.is_err());
            assert_eq!(Chosen::current(), Some(v1));
        });
        assert_eq!(Chosen::current(), None);
    }
}
