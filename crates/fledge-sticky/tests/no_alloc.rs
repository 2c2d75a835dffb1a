//! Bucketing allocates nothing in any mode, for any key: ASCII, non-ASCII
//! (the UTF-16 modes transcode on the fly) and bytes that are not UTF-8.
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

    let mut sum = 0u64;
    let change = allocation_counter::measure(|| {
        for bucketer in &bucketers {
            for key in &keys {
                let bucket = bucketer.bucket(key);
                assert!(bucket < BUCKETS);
                sum += u64::from(bucket);
            }
        }
    });
    assert!(sum > 0);
    assert_eq!(change.count_total, 0, "{change:?}");
}
