//! `tracing` events for isolation incidents (target
//! `fledge_tower::isolation`): a full bulkhead, a timeout, a contained
//! panic, a fallback or a skipped one, a rejected QA override, a full or
//! panicking pool.
//!
//! Each kind of incident is rate-limited per version with
//! [`RateLimited`] (one line per [`WINDOW`], `suppressed` counting the ones
//! held back), so an incident repeated on every request cannot flood the
//! log; the first contained panic of each version is always logged. The
//! events carry their data as fields. Nothing here runs on the normal
//! path: only the branches that handle an incident call it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fledge_rollout::log::RateLimited;

/// The target of every event here.
pub(crate) const TARGET: &str = "fledge_tower::isolation";

/// At most one line per kind of incident and version in this window.
pub(crate) const WINDOW: Duration = Duration::from_secs(10);

/// The longest panic message logged, in characters.
pub(crate) const PANIC_CHARS: usize = 200;

/// One version's limiters (boxed in its slot: touched only on incidents).
#[derive(Debug)]
pub(crate) struct Limiters {
    pub(crate) overflow: RateLimited,
    pub(crate) rejected: RateLimited,
    pub(crate) timeout: RateLimited,
    pub(crate) panic: RateLimited,
    /// Whether a panic of this version was logged yet (the first always is).
    pub(crate) panicked_before: AtomicBool,
    pub(crate) fallback: RateLimited,
    pub(crate) fallback_skipped: RateLimited,
}

impl Default for Limiters {
    fn default() -> Self {
        Limiters {
            overflow: RateLimited::new(WINDOW),
            rejected: RateLimited::new(WINDOW),
            timeout: RateLimited::new(WINDOW),
            panic: RateLimited::new(WINDOW),
            panicked_before: AtomicBool::new(false),
            fallback: RateLimited::new(WINDOW),
            fallback_skipped: RateLimited::new(WINDOW),
        }
    }
}

impl Limiters {
    /// Whether to log this panic: the version's first always, then one per
    /// window. `Some(suppressed)` when it may.
    pub(crate) fn panic(&self) -> Option<u64> {
        let first = !self.panicked_before.swap(true, Ordering::Relaxed);
        match self.panic.check() {
            Some(suppressed) => Some(suppressed),
            None if first => Some(0),
            None => None,
        }
    }
}

/// The text of a panic payload, cut to [`PANIC_CHARS`] characters.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    let text = if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.as_str()
    } else {
        "a panic without a message"
    };
    match text.char_indices().nth(PANIC_CHARS) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// A method's name for a log line; `""` for none.
pub(crate) fn method_name(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::PATCH => "PATCH",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::CONNECT => "CONNECT",
        http::Method::TRACE => "TRACE",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_cut_on_a_character_boundary() {
        let long = "é".repeat(300);
        let payload: Box<dyn std::any::Any + Send> = Box::new(long);
        assert_eq!(panic_message(payload.as_ref()).chars().count(), PANIC_CHARS);
        let payload: Box<dyn std::any::Any + Send> = Box::new("short");
        assert_eq!(panic_message(payload.as_ref()), "short");
        let payload: Box<dyn std::any::Any + Send> = Box::new(7u8);
        assert_eq!(panic_message(payload.as_ref()), "a panic without a message");
    }

    #[test]
    fn the_first_panic_of_a_version_is_always_logged() {
        let limits = Limiters::default();
        assert_eq!(limits.panic(), Some(0));
        assert_eq!(limits.panic(), None);
        assert_eq!(limits.panic(), None);
        assert_eq!(limits.panic.suppressed(), 2);
    }
}
