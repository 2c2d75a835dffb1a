//! Bucketing allocates nothing in any mode: a counting global allocator
//! watches it. One test per binary, so nothing else allocates meanwhile.

use std::alloc::System;

use fledge_sticky::{BUCKETS, Bucketer, HashMode};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn bucketing_allocates_nothing() {
    let bucketers: Vec<Bucketer> = HashMode::ALL
        .into_iter()
        .map(|mode| Bucketer::new(mode, "a-salt-of-some-length"))
        .collect();
    let keys: Vec<String> = (0..1_000)
        .map(|i| format!("8c1f2a4e-5b6d-4e7f-9a0b-{i:012}"))
        .collect();

    let region = Region::new(GLOBAL);
    let mut sum = 0u64;
    for bucketer in &bucketers {
        for key in &keys {
            let bucket = bucketer.bucket_str(key);
            assert!(bucket < BUCKETS);
            sum += u64::from(bucket);
        }
    }
    let change = region.change();
    assert!(sum > 0);
    assert_eq!(change.allocations, 0, "{change:?}");
    assert_eq!(change.reallocations, 0, "{change:?}");
}
