//! Bucketing allocates nothing in any mode, for any key: ASCII, non-ASCII
//! (the UTF-16 modes transcode on the fly) and bytes that are not UTF-8. A
//! counting global allocator watches it. One test per binary, so nothing
//! else allocates meanwhile.
//!
//! The allocator counts every thread, and the test harness's main thread
//! allocates once, when it first waits for the test thread, which on a busy
//! machine can fall inside the measured region. So the measurement is taken
//! up to three times and one clean pass is required: an allocation in
//! bucketing would show up in every pass.

use std::alloc::System;

use fledge_sticky::{BUCKETS, Bucketer, HashMode};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn bucketing_allocates_nothing() {
    let bucketers: Vec<Bucketer> = HashMode::ALL
        .into_iter()
        .flat_map(|mode| {
            [
                Bucketer::new(mode, "a-salt-of-some-length"),
                Bucketer::new(mode, "répartition-été-实验"),
            ]
        })
        .collect();
    let mut keys: Vec<Vec<u8>> = (0..1_000)
        .map(|i| format!("8c1f2a4e-5b6d-4e7f-9a0b-{i:012}").into_bytes())
        .collect();
    let long = "用户😀é".repeat(40);
    for i in 0..200 {
        keys.push(format!("josé.garcía-{i}@exämple.com").into_bytes());
        keys.push(format!("{long}{i}").into_bytes());
        keys.push(format!("👩\u{200d}💻{i}").into_bytes());
        let mut invalid = format!("jos{i}").into_bytes();
        invalid.extend_from_slice(b"\xe9\xff\xed\xa0\x80\xf0\x9f");
        keys.push(invalid);
    }

    let mut passes = Vec::new();
    for _ in 0..3 {
        let region = Region::new(GLOBAL);
        let mut sum = 0u64;
        for bucketer in &bucketers {
            for key in &keys {
                let bucket = bucketer.bucket(key);
                assert!(bucket < BUCKETS);
                sum += u64::from(bucket);
            }
        }
        let change = region.change();
        assert!(sum > 0);
        if change.allocations == 0 && change.reallocations == 0 {
            return;
        }
        passes.push(change);
    }
    panic!("bucketing allocated in every pass: {passes:?}");
}
