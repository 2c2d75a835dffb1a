//! Picking allocates nothing: a counting global allocator watches 40 000
//! picks through both the packed path (2 versions) and the `arc-swap` path
//! (8 versions).
//! Only this thread's allocations count (`allocation_counter::measure`), so the
//! test harness and other tests allocating meanwhile cannot fail it.

use fledge_select::{Selector, Split};

#[test]
fn picking_allocates_nothing() {
    // The counter is live: a box on this thread is seen.
    let boxed = allocation_counter::measure(|| drop(std::hint::black_box(Box::new(1u64))));
    assert_eq!(
        boxed.count_total, 1,
        "the counting allocator is not installed"
    );
    let small =
        Selector::new(Split::from_pairs([("canary", 500), ("stable", 9_500)]).expect("valid"));
    let large =
        Selector::new(Split::from_pairs((0..8).map(|i| (format!("v{i}"), 1_250))).expect("valid"));
    // First use on this thread: claim a counter slot, seed the generator,
    // let arc-swap set up its per-thread state.
    small.pick_random();
    large.pick_random();

    let mut sink = 0usize;
    let change = allocation_counter::measure(|| {
        for bucket in 0..10_000 {
            sink += small.pick_by_bucket(bucket).get();
            sink += small.pick_random().get();
            sink += large.pick_by_bucket(bucket).get();
            sink += large.pick_random().get();
        }
    });
    assert!(sink > 0);
    assert_eq!(change.count_total, 0, "{change:?}");
    assert_eq!(small.picks().iter().sum::<u64>(), 20_001);
}
