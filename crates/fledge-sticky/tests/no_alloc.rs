//! Bucketing allocates nothing in any mode: a counting global allocator
//! watches it.
//! Only this thread's allocations count (`allocation_counter::measure`), so the
//! test harness and other tests allocating meanwhile cannot fail it.

use fledge_sticky::{BUCKETS, Bucketer, HashMode};

#[test]
fn bucketing_allocates_nothing() {
    // The counter is live: a box on this thread is seen.
    let boxed = allocation_counter::measure(|| drop(std::hint::black_box(Box::new(1u64))));
    assert_eq!(
        boxed.count_total, 1,
        "the counting allocator is not installed"
    );
    let bucketers: Vec<Bucketer> = HashMode::ALL
        .into_iter()
        .map(|mode| Bucketer::new(mode, "a-salt-of-some-length"))
        .collect();
    let keys: Vec<String> = (0..1_000)
        .map(|i| format!("8c1f2a4e-5b6d-4e7f-9a0b-{i:012}"))
        .collect();

    let mut sum = 0u64;
    let change = allocation_counter::measure(|| {
        for bucketer in &bucketers {
            for key in &keys {
                let bucket = bucketer.bucket_str(key);
                assert!(bucket < BUCKETS);
                sum += u64::from(bucket);
            }
        }
    });
    assert!(sum > 0);
    assert_eq!(change.count_total, 0, "{change:?}");
}
