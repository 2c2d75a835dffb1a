//! Golden vectors: the buckets every mode gives must never change, on any
//! platform or in any version, or users would move between variants on
//! upgrade. If one of these tests fails, the change is breaking: revert it.

use fledge_sticky::{Bucketer, HashMode};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// (salt, key, Fledge-mode bucket). Keys cover the xxh3 size classes
/// (0, 1-3, 4-8, 9-16, 17-128, above 128 bytes) and non-ASCII UTF-8.
const FLEDGE: &[(&str, &str, u32)] = &[
    ("", "", 8714),
    ("", "user-1", 9779),
    ("salt", "user-1", 4917),
    ("checkout-v2", "8c1f2a4e-5b6d-4e7f-9a0b-1c2d3e4f5a6b", 3468),
    ("checkout-v2", "8c1f2a4e-5b6d-4e7f-9a0b-1c2d3e4f5a6c", 7298),
    ("ranker", "42", 1016),
    (
        "ranker",
        "a much longer key that takes the xxh3 path for inputs above one hundred and \
         twenty-eight bytes, well past the mid-size branch ....",
        9118,
    ),
    ("ünïcødé", "ключ", 1518),
];

#[test]
fn fledge_mode_vectors() {
    for &(salt, key, bucket) in FLEDGE {
        assert_eq!(
            Bucketer::new(HashMode::Fledge, salt).bucket_str(key),
            bucket,
            "salt {salt:?} key {key:?}"
        );
    }
}

/// The Fledge mode, spelled out: seed = xxh3-64(salt, seed 0x666c656467650001);
/// bucket = high 64 bits of xxh3-64(key, seed) × 10 000.
#[test]
fn fledge_mode_formula() {
    for &(salt, key, bucket) in FLEDGE {
        let seed = xxh3_64_with_seed(salt.as_bytes(), 0x666c_6564_6765_0001);
        let hash = xxh3_64_with_seed(key.as_bytes(), seed);
        let expected = ((u128::from(hash) * 10_000) >> 64) as u32;
        assert_eq!(expected, bucket, "salt {salt:?} key {key:?}");
    }
}

/// A checksum over 10 000 keys per mode pins every mode broadly.
#[test]
fn every_mode_over_ten_thousand_keys() {
    let expected = [
        (HashMode::Fledge, 3_329_028_963_675_554_320u64),
        (HashMode::Unleash, 17_437_004_281_299_324_828),
        (HashMode::GrowthBookV1, 5_788_908_480_934_026_432),
        (HashMode::GrowthBookV2, 10_543_627_977_064_792_456),
    ];
    for (mode, checksum) in expected {
        let bucketer = Bucketer::new(mode, "golden");
        let got = (0..10_000).fold(0u64, |acc, i| {
            let bucket = bucketer.bucket_str(&format!("user-{i}"));
            acc.wrapping_mul(31).wrapping_add(u64::from(bucket))
        });
        assert_eq!(got, checksum, "{mode}");
    }
}
