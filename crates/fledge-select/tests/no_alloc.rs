//! Picking allocates nothing: a counting global allocator watches 40 000
//! picks through both the packed path (2 versions) and the `arc-swap` path
//! (8 versions). One test per binary, so nothing else allocates meanwhile.

use std::alloc::System;

use fledge_select::{Selector, Split};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn picking_allocates_nothing() {
    let small =
        Selector::new(Split::from_pairs([("canary", 500), ("stable", 9_500)]).expect("valid"));
    let large =
        Selector::new(Split::from_pairs((0..8).map(|i| (format!("v{i}"), 1_250))).expect("valid"));
    // First use on this thread: claim a counter slot, seed the generator,
    // let arc-swap set up its per-thread state.
    small.pick_random();
    large.pick_random();

    let region = Region::new(GLOBAL);
    let mut sink = 0usize;
    for bucket in 0..10_000 {
        sink += small.pick_by_bucket(bucket).get();
        sink += small.pick_random().get();
        sink += large.pick_by_bucket(bucket).get();
        sink += large.pick_random().get();
    }
    let change = region.change();
    assert!(sink > 0);
    assert_eq!(change.allocations, 0, "{change:?}");
    assert_eq!(change.reallocations, 0, "{change:?}");
    assert_eq!(small.picks().iter().sum::<u64>(), 20_001);
}
