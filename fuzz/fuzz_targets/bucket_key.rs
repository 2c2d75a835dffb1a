//! Arbitrary keys and salts through every `Bucketer` mode and the Unleash and
//! GrowthBook helpers: buckets stay below 10 000, values stay in their
//! ranges, nothing panics.
//!
//! Input layout: first byte = salt length, then the salt bytes (lossily
//! UTF-8), then the key bytes.

#![no_main]

use fledge_sticky::{BUCKETS, Bucketer, HashMode, growthbook, unleash};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&salt_len, rest)) = data.split_first() else {
        return;
    };
    let (salt, key) = rest.split_at(usize::from(salt_len).min(rest.len()));
    let salt = String::from_utf8_lossy(salt);
    let key_str = String::from_utf8_lossy(key);

    for mode in HashMode::ALL {
        let bucketer = Bucketer::new(mode, &*salt);
        let bucket = bucketer.bucket(key);
        assert!(bucket < BUCKETS, "{mode}: {bucket}");
        assert_eq!(bucket, bucketer.bucket(key), "{mode}: not deterministic");
        assert!(bucketer.bucket_str(&key_str) < BUCKETS);
    }

    let value = unleash::normalized_hash(&salt, &key_str, 100);
    assert!((1..=100).contains(&value));
    let weights: Vec<u32> = key.iter().take(8).map(|&b| u32::from(b)).collect();
    if let Some(index) = unleash::select_variant(&salt, &key_str, &weights) {
        assert!(weights[index] > 0);
    }
    for version in [0, 1, 2, 3] {
        match growthbook::hash(&salt, &key_str, version) {
            Some(n) => assert!((0.0..1.0).contains(&n)),
            None => assert!(!growthbook::VERSIONS.contains(&version)),
        }
    }
    let _ = growthbook::in_namespace(&key_str, &salt, 0.0, 0.5);
});
