//! Arbitrary bytes → `Split` from JSON. Invalid input must be an error, never
//! a panic; a split that parses must be valid, round-trip through serde, and
//! pick the right variant at every bucket boundary (and one either side,
//! including out-of-range buckets) through both `Split` and `Selector`.

#![no_main]

use fledge_select::{BUCKETS, Selector, Split};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(split) = serde_json::from_slice::<Split>(data) else {
        return;
    };
    let sum: u32 = split.versions().iter().map(|v| v.weight().bps()).sum();
    assert_eq!(sum, BUCKETS, "a split that parsed must sum to 10 000");
    assert!((1..=64).contains(&split.len()));

    let selector = Selector::new(split.clone());
    let mut start = 0u32;
    for (i, variant) in split.versions().iter().enumerate() {
        let end = start + variant.weight().bps();
        for bucket in [
            start.wrapping_sub(1),
            start,
            start + 1,
            end.wrapping_sub(1),
            end,
            end + 1,
        ] {
            let by_split = split.version_for_bucket(bucket);
            let by_selector = selector.pick_by_bucket(bucket);
            assert_eq!(by_split, by_selector, "bucket {bucket}");
            assert!(by_split.get() < split.len());
            if (start..end).contains(&bucket) {
                assert_eq!(by_split.get(), i, "bucket {bucket} belongs to variant {i}");
            }
            let owner = split.get(by_split).expect("index in range");
            assert!(owner.weight().bps() > 0, "picked a zero-weight variant");
        }
        assert_eq!(split.bucket_range(by_index(i)), start..end);
        start = end;
    }
    let _ = selector.pick_random();

    let json = serde_json::to_string(&split).expect("a valid split serializes");
    let back: Split = serde_json::from_str(&json).expect("its JSON parses");
    assert_eq!(back, split);
    assert_eq!(selector.publish(back), Ok(1));
});

fn by_index(i: usize) -> fledge_select::VersionIndex {
    fledge_select::VersionIndex::new(i).expect("below 64")
}
