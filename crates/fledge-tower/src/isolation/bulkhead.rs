//! The bulkheads: per-version in-flight counters, permits and counters,
//! shared by every clone of a layer.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use fledge_gate::Recorder;
use fledge_rollout::plan::Overflow;
use fledge_select::VersionIndex;
use tokio::time::Sleep;

use super::config::Isolation;
use super::incident::{self, Limiters, TARGET};
use crate::chosen::{Chosen, Reason};
use crate::error::ConfigError;

/// One version's limits and counters, on its own cache line pair so that
/// the candidate's traffic never contends with stable's.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct Slot {
    /// `usize::MAX` when unlimited.
    limit: usize,
    timeout: Option<Duration>,
    overflow: Overflow,
    in_flight: AtomicUsize,
    admitted: AtomicU64,
    overflowed: AtomicU64,
    rejected: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) panics: AtomicU64,
    pub(crate) fallbacks: AtomicU64,
    pub(crate) fallback_skipped: AtomicU64,
    /// The incident log's limiters (cold).
    log: Box<Limiters>,
}

impl Slot {
    fn unlimited() -> Self {
        Slot {
            limit: usize::MAX,
            ..Slot::default()
        }
    }

    /// Takes an in-flight slot if one is free (exact under contention).
    fn try_acquire(&self) -> bool {
        let mut current = self.in_flight.load(Ordering::Relaxed);
        loop {
            if current >= self.limit {
                return false;
            }
            match self.in_flight.compare_exchange_weak(
                current,
                current + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => current = now,
            }
        }
    }
}

/// The isolation state of one layer (every clone shares it).
pub(crate) struct Bulkheads {
    slots: Box<[Slot]>,
    ids: Arc<[&'static str]>,
    stable: VersionIndex,
    /// Whether any version has a limit (the request path skips admission
    /// otherwise).
    limited: bool,
}

impl Bulkheads {
    /// No limits, stable = `stable`.
    pub(crate) fn unlimited(ids: Arc<[&'static str]>, stable: VersionIndex) -> Self {
        Bulkheads {
            slots: ids.iter().map(|_| Slot::unlimited()).collect(),
            ids,
            stable,
            limited: false,
        }
    }

    /// Resolves `isolation` against the version ids.
    pub(crate) fn new(
        isolation: &Isolation,
        ids: Arc<[&'static str]>,
        default_stable: VersionIndex,
    ) -> Result<Self, ConfigError> {
        let find = |id: &str| {
            ids.iter()
                .position(|known| *known == id)
                .and_then(VersionIndex::new)
                .ok_or_else(|| ConfigError::UnknownVersion {
                    id: id.to_owned(),
                    known: ids.join(", "),
                })
        };
        let stable = match &isolation.stable {
            Some(id) => find(id)?,
            None => default_stable,
        };
        let mut slots: Box<[Slot]> = ids.iter().map(|_| Slot::unlimited()).collect();
        let mut limited = false;
        for (id, limits) in &isolation.limits {
            let index = find(id)?.get();
            let Some(slot) = slots.get_mut(index) else {
                continue;
            };
            if let Some(n) = limits.concurrency {
                if n == 0 {
                    return Err(ConfigError::ZeroLimit {
                        field: format!("limits.{id}.concurrency"),
                    });
                }
                slot.limit = usize::try_from(n).unwrap_or(usize::MAX);
                limited = true;
            }
            if let Some(t) = limits.timeout {
                if t.is_zero() {
                    return Err(ConfigError::ZeroLimit {
                        field: format!("limits.{id}.timeout"),
                    });
                }
                slot.timeout = Some(t);
            }
            slot.overflow = limits.overflow;
        }
        Ok(Bulkheads {
            slots,
            ids,
            stable,
            limited,
        })
    }

    /// Whether any version has a concurrency limit.
    pub(crate) fn limited(&self) -> bool {
        self.limited
    }

    /// The stable version.
    pub(crate) fn stable(&self) -> VersionIndex {
        self.stable
    }

    fn chosen(&self, index: VersionIndex, reason: Reason) -> Chosen {
        Chosen::new(
            index,
            self.ids.get(index.get()).copied().unwrap_or(""),
            reason,
        )
    }

    /// A permit for `index` if its bulkhead has room: `Some(None)` when it
    /// has no limit, `None` when it is full.
    fn acquire(self: &Arc<Self>, index: VersionIndex) -> Option<Option<Permit>> {
        let Some(slot) = self.slots.get(index.get()) else {
            return Some(None);
        };
        if slot.limit == usize::MAX {
            return Some(None);
        }
        if !slot.try_acquire() {
            return None;
        }
        slot.admitted.fetch_add(1, Ordering::Relaxed);
        Some(Some(Permit {
            bulkheads: self.clone(),
            index: index.get(),
        }))
    }

    /// Counts `index` turning a request away and records it as its failure
    /// (an error with zero latency, see the module docs).
    fn turned_away(&self, index: VersionIndex, recorder: &Recorder) {
        if let Some(slot) = self.slots.get(index.get()) {
            slot.overflowed.fetch_add(1, Ordering::Relaxed);
        }
        recorder.record(index.get(), Duration::ZERO, true);
    }

    fn rejected(&self, index: VersionIndex) {
        if let Some(slot) = self.slots.get(index.get()) {
            slot.rejected.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn admit(self: &Arc<Self>, chosen: Chosen, recorder: &Recorder) -> Admission {
        let index = chosen.index();
        if let Some(permit) = self.acquire(index) {
            return Admission::Admitted { chosen, permit };
        }
        self.turned_away(index, recorder);
        let overflow = self
            .slots
            .get(index.get())
            .map(|s| s.overflow)
            .unwrap_or_default();
        if overflow == Overflow::Stable && index != self.stable {
            let stable = self.chosen(self.stable, Reason::Overflow);
            if let Some(permit) = self.acquire(self.stable) {
                self.log_overflow(index.get());
                return Admission::Admitted {
                    chosen: stable,
                    permit,
                };
            }
            // Stable is full too: nowhere left to go.
            self.turned_away(self.stable, recorder);
            self.rejected(self.stable);
            self.log_rejected(self.stable.get(), index.get());
            return Admission::Rejected { chosen: stable };
        }
        self.rejected(index);
        self.log_rejected(index.get(), index.get());
        Admission::Rejected { chosen }
    }

    fn id(&self, index: usize) -> &'static str {
        self.ids.get(index).copied().unwrap_or("")
    }

    /// `tower.bulkhead_overflow`: `index` was full, the request went to
    /// stable.
    fn log_overflow(&self, index: usize) {
        let Some(slot) = self.slots.get(index) else {
            return;
        };
        if let Some(suppressed) = slot.log.overflow.check() {
            tracing::info!(
                name: "tower.bulkhead_overflow",
                target: TARGET,
                version = self.id(index),
                limit = slot.limit,
                in_flight = slot.in_flight.load(Ordering::Relaxed),
                to = self.id(self.stable.get()),
                overflowed = slot.overflowed.load(Ordering::Relaxed),
                suppressed,
                "bulkhead full: request sent to stable"
            );
        }
    }

    /// `tower.bulkhead_rejected`: the request chosen for `chosen` was
    /// answered 503 because `index` (that version, or stable after it) was
    /// full.
    fn log_rejected(&self, index: usize, chosen: usize) {
        let Some(slot) = self.slots.get(index) else {
            return;
        };
        if let Some(suppressed) = slot.log.rejected.check() {
            tracing::warn!(
                name: "tower.bulkhead_rejected",
                target: TARGET,
                version = self.id(index),
                chosen = self.id(chosen),
                limit = slot.limit,
                in_flight = slot.in_flight.load(Ordering::Relaxed),
                rejected = slot.rejected.load(Ordering::Relaxed),
                suppressed,
                "bulkhead full: request rejected with 503"
            );
        }
    }

    /// `tower.timeout`: a request of `index` timed out (already counted).
    pub(crate) fn log_timeout(&self, index: usize, method: &'static str, fallback: bool) {
        let Some(slot) = self.slots.get(index) else {
            return;
        };
        if let Some(suppressed) = slot.log.timeout.check() {
            let timeout_ms = slot
                .timeout
                .map_or(0, |t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
            tracing::warn!(
                name: "tower.timeout",
                target: TARGET,
                version = self.id(index),
                timeout_ms,
                method,
                fallback,
                timeouts = slot.timeouts.load(Ordering::Relaxed),
                suppressed,
                "request timed out"
            );
        }
    }

    /// `tower.panic_contained`: the service of `index` panicked and the
    /// panic was caught.
    pub(crate) fn log_panic(&self, index: usize, payload: &(dyn std::any::Any + Send)) {
        let Some(slot) = self.slots.get(index) else {
            return;
        };
        if let Some(suppressed) = slot.log.panic() {
            tracing::error!(
                name: "tower.panic_contained",
                target: TARGET,
                version = self.id(index),
                panic = incident::panic_message(payload),
                panics = slot.panics.load(Ordering::Relaxed),
                suppressed,
                "a version's service panicked; answered 500 (or retried on stable)"
            );
        }
    }

    /// `tower.fallback`: a failed request of `index` (`cause`: `error`,
    /// `failure` for a response classified as one, `timeout`, `panic`) is
    /// retried on stable (already counted).
    pub(crate) fn log_fallback(&self, index: usize, cause: &'static str) {
        let Some(slot) = self.slots.get(index) else {
            return;
        };
        if let Some(suppressed) = slot.log.fallback.check() {
            tracing::info!(
                name: "tower.fallback",
                target: TARGET,
                version = self.id(index),
                to = self.id(self.stable.get()),
                cause,
                fallbacks = slot.fallbacks.load(Ordering::Relaxed),
                suppressed,
                "failed request retried on stable"
            );
        }
    }

    /// `tower.fallback_skipped`: a failed request of `index` could have
    /// been retried but was not (`reason`: `body`, the body was over the
    /// limit or not read whole; `stable_full`).
    pub(crate) fn log_fallback_skipped(
        &self,
        index: usize,
        cause: &'static str,
        reason: &'static str,
    ) {
        let Some(slot) = self.slots.get(index) else {
            return;
        };
        if let Some(suppressed) = slot.log.fallback_skipped.check() {
            tracing::warn!(
                name: "tower.fallback_skipped",
                target: TARGET,
                version = self.id(index),
                cause,
                reason,
                skipped = slot.fallback_skipped.load(Ordering::Relaxed),
                suppressed,
                "failed request not retried on stable"
            );
        }
    }

    /// A permit on stable for a retry, or `None` when stable is full.
    pub(crate) fn admit_stable(self: &Arc<Self>) -> Option<(Chosen, Option<Permit>)> {
        let chosen = self.chosen(self.stable, Reason::Fallback);
        self.acquire(self.stable).map(|permit| (chosen, permit))
    }

    pub(crate) fn timeout(&self, index: usize) -> Option<Duration> {
        self.slots.get(index).and_then(|s| s.timeout)
    }

    pub(crate) fn count(&self, index: usize, counter: fn(&Slot) -> &AtomicU64) {
        if let Some(slot) = self.slots.get(index) {
            counter(slot).fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn stats(&self, index: usize) -> Option<VersionStats> {
        let s = self.slots.get(index)?;
        Some(VersionStats {
            limit: (s.limit != usize::MAX).then_some(s.limit),
            timeout: s.timeout,
            overflow: s.overflow,
            in_flight: s.in_flight.load(Ordering::Relaxed),
            admitted: s.admitted.load(Ordering::Relaxed),
            overflowed: s.overflowed.load(Ordering::Relaxed),
            rejected: s.rejected.load(Ordering::Relaxed),
            timeouts: s.timeouts.load(Ordering::Relaxed),
            panics: s.panics.load(Ordering::Relaxed),
            fallbacks: s.fallbacks.load(Ordering::Relaxed),
            fallback_skipped: s.fallback_skipped.load(Ordering::Relaxed),
        })
    }
}

/// What a version's bulkhead says about a request
/// ([`Decider::admit`](crate::Decider::admit)).
#[derive(Debug)]
#[must_use]
#[non_exhaustive]
pub enum Admission {
    /// Serve it on `chosen`: the version decided, or stable when the
    /// decided version was full and overflows to stable
    /// ([`Reason::Overflow`]). Keep `permit` until the response head is
    /// ready; dropping it frees the slot.
    Admitted {
        /// The version to call.
        chosen: Chosen,
        /// The in-flight slot, when that version has a limit.
        permit: Option<Permit>,
    },
    /// Reject it with 503: its version was full and overflows by rejecting
    /// (or stable was full too). Already counted and recorded.
    Rejected {
        /// The version that turned it away.
        chosen: Chosen,
    },
}

/// An in-flight slot of a version's bulkhead, freed on drop.
pub struct Permit {
    bulkheads: Arc<Bulkheads>,
    index: usize,
}

impl Permit {
    /// The version index this slot belongs to.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(slot) = self.bulkheads.slots.get(self.index) {
            slot.in_flight.fetch_sub(1, Ordering::Release);
        }
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("version", &self.bulkheads.ids.get(self.index))
            .finish()
    }
}

/// One version's isolation counters, read with
/// [`IsolationHandle::stats`].
///
/// Every request turned away by a full bulkhead is also recorded in the
/// gate recorder as a failure of that version with zero latency (see the
/// [module docs](crate::isolation)); timeouts and panics are recorded as
/// failures with the time they took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct VersionStats {
    /// The concurrency limit, if any.
    pub limit: Option<usize>,
    /// The timeout, if any.
    pub timeout: Option<Duration>,
    /// What overflow does.
    pub overflow: Overflow,
    /// Requests in flight now (counted only for versions with a limit).
    pub in_flight: usize,
    /// Requests that took a slot (only for versions with a limit).
    pub admitted: u64,
    /// Requests that found the bulkhead full (sent to stable or rejected).
    pub overflowed: u64,
    /// Requests rejected with 503 because of it (a subset of `overflowed`).
    pub rejected: u64,
    /// Requests abandoned after the timeout.
    pub timeouts: u64,
    /// Panics caught in this version's service.
    pub panics: u64,
    /// Failed requests of this version retried on stable.
    pub fallbacks: u64,
    /// Failed requests that qualified for a fallback but could not have one
    /// (body over the limit or not fully read, stable full).
    pub fallback_skipped: u64,
}

/// A handle to the isolation counters of a layer (shared by its clones).
#[derive(Clone)]
pub struct IsolationHandle(pub(crate) Arc<Bulkheads>);

impl IsolationHandle {
    /// The counters of `version`, or `None` for an unknown id.
    pub fn stats(&self, version: &str) -> Option<VersionStats> {
        let index = self.0.ids.iter().position(|id| *id == version)?;
        self.0.stats(index)
    }

    /// The counters of the version at `index`.
    pub fn stats_at(&self, index: VersionIndex) -> Option<VersionStats> {
        self.0.stats(index.get())
    }

    /// Requests of `version` in flight now (0 for versions without a limit).
    pub fn in_flight(&self, version: &str) -> usize {
        self.stats(version).map_or(0, |s| s.in_flight)
    }

    /// The version overflow and fallback go to.
    pub fn stable(&self) -> &'static str {
        self.0.ids.get(self.0.stable.get()).copied().unwrap_or("")
    }
}

impl fmt::Debug for IsolationHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (i, id) in self.0.ids.iter().enumerate() {
            m.entry(id, &self.0.stats(i));
        }
        m.finish()
    }
}

impl fmt::Debug for Bulkheads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkheads")
            .field("stable", &self.ids.get(self.stable.get()))
            .field("limited", &self.limited)
            .finish_non_exhaustive()
    }
}

/// A timer for `timeout`, or none. Needs a tokio runtime with timers; outside
/// one the request runs without a deadline rather than panicking.
/// Boxed, so that futures without a deadline stay small.
#[inline]
pub(crate) fn sleep(timeout: Option<Duration>) -> Option<Pin<Box<Sleep>>> {
    timeout.and_then(timer).map(Box::pin)
}

pub(crate) fn timer(timeout: Duration) -> Option<Sleep> {
    tokio::runtime::Handle::try_current().ok()?;
    // A runtime without the time driver panics in `sleep`: catch it.
    panic::catch_unwind(AssertUnwindSafe(|| tokio::time::sleep(timeout))).ok()
}
