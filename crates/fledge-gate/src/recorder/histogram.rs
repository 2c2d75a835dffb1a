//! The latency histograms every slot, cache and cumulative total uses: 1 µs
//! to 60 s, 3 significant figures.

use hdrhistogram::Histogram;

/// Highest latency tracked, in microseconds (60 s).
pub(super) const MAX_LATENCY_US: u64 = 60_000_000;

/// A slot's histogram (`u32` counts: a slot is cleared before they could
/// overflow at any realistic rate).
pub(crate) fn new_histogram() -> Histogram<u32> {
    // 1 µs .. 60 s with 3 significant figures is a valid configuration; the
    // fallback is unreachable but keeps this free of panics.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable_histogram()))
}

/// A cumulative histogram (`u64` counts: they only grow).
pub(super) fn new_histogram_u64() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable_histogram()))
}

/// Adds `slot`'s counts to `into` (same bounds; wider counts).
pub(super) fn fold(into: &mut Histogram<u64>, slot: &Histogram<u32>) {
    for v in slot.iter_recorded() {
        // Same bounds as the slot: every value fits.
        let _ = into.record_n(v.value_iterated_to(), u64::from(v.count_at_value()));
    }
}

#[allow(clippy::panic)]
fn unreachable_histogram<T: hdrhistogram::Counter>() -> Histogram<T> {
    panic!("hdrhistogram rejected a constant, valid configuration")
}
