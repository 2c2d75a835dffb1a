//! Golden vectors: the buckets every mode gives must never change, on any
//! platform or in any version, or users would move between variants on
//! upgrade. If one of these tests fails, the change is breaking: revert it.

use fledge_sticky::{Bucketer, HashMode, fnv1a_32};
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
    // ASCII keys: each UTF-16 mode gives what its UTF-8 sibling gives.
    let expected = [
        (HashMode::Fledge, 3_329_028_963_675_554_320u64),
        (HashMode::Unleash, 17_437_004_281_299_324_828),
        (HashMode::UnleashNode, 17_437_004_281_299_324_828),
        (HashMode::GrowthBookV1, 5_788_908_480_934_026_432),
        (HashMode::GrowthBookV2, 10_543_627_977_064_792_456),
        (HashMode::GrowthBookV1Utf8, 5_788_908_480_934_026_432),
        (HashMode::GrowthBookV2Utf8, 10_543_627_977_064_792_456),
    ];
    assert_eq!(expected.len(), HashMode::ALL.len());
    for (mode, checksum) in expected {
        let bucketer = Bucketer::new(mode, "golden");
        let got = (0..10_000).fold(0u64, |acc, i| {
            let bucket = bucketer.bucket_str(&format!("user-{i}"));
            acc.wrapping_mul(31).wrapping_add(u64::from(bucket))
        });
        assert_eq!(got, checksum, "{mode}");
    }
}

/// (salt, key, [unleash, unleash-node, growthbook-v1, growthbook-v2]): the
/// buckets the SDKs themselves give (from testdata/conformance/sdk_cohorts:
/// the Unleash value `v` as bucket `100 v - 1`, GrowthBook's `n` times
/// 10 000), pinned here so they never move.
const NON_ASCII_SDK: &[(&str, &str, [u32; 4])] = &[
    ("checkout-v2", "josé", [2899, 9899, 9570, 2287]),
    ("checkout-v2", "Jose\u{301}", [2499, 6399, 9800, 5080]),
    ("实验-42", "用户", [8799, 399, 6430, 1559]),
    ("🚀 launch ñ", "😀", [8199, 1599, 2750, 930]),
    ("répartition-été", "Ł", [7199, 7499, 6040, 799]),
    ("checkout-v2", "👩\u{200d}💻", [699, 7899, 3410, 2117]),
    ("实验-42", "محمد@example.com", [1999, 6999, 1130, 7796]),
    ("checkout-v2", "\u{fffd}", [6799, 4499, 4870, 716]),
];

#[test]
fn non_ascii_keys_land_where_the_sdks_put_them() {
    let modes = [
        HashMode::Unleash,
        HashMode::UnleashNode,
        HashMode::GrowthBookV1,
        HashMode::GrowthBookV2,
    ];
    for &(salt, key, buckets) in NON_ASCII_SDK {
        for (mode, bucket) in modes.into_iter().zip(buckets) {
            assert_eq!(
                Bucketer::new(mode, salt).bucket_str(key),
                bucket,
                "{mode} salt {salt:?} key {key:?}"
            );
        }
    }
}

/// The UTF-8 GrowthBook modes, spelled out over UTF-8 bytes.
#[test]
fn growthbook_utf8_modes_formula() {
    for &(salt, key, _) in NON_ASCII_SDK {
        let v1 = fnv1a_32(format!("{key}{salt}").as_bytes()) % 1_000 * 10;
        let inner = fnv1a_32(format!("{salt}{key}").as_bytes());
        let v2 = fnv1a_32(inner.to_string().as_bytes()) % 10_000;
        let bucket = |mode| Bucketer::new(mode, salt).bucket_str(key);
        assert_eq!(bucket(HashMode::GrowthBookV1Utf8), v1, "{salt:?} {key:?}");
        assert_eq!(bucket(HashMode::GrowthBookV2Utf8), v2, "{salt:?} {key:?}");
    }
}

/// A checksum over 10 000 non-ASCII keys (accents, CJK, right-to-left,
/// emoji) per mode.
#[test]
fn every_mode_over_ten_thousand_non_ascii_keys() {
    let expected = [
        (HashMode::Fledge, 13_380_086_789_138_848_081u64),
        (HashMode::Unleash, 7_727_897_619_999_495_784),
        (HashMode::UnleashNode, 9_822_174_830_470_417_940),
        (HashMode::GrowthBookV1, 9_131_320_185_111_572_236),
        (HashMode::GrowthBookV2, 3_773_889_548_405_021_074),
        (HashMode::GrowthBookV1Utf8, 8_446_719_126_116_006_950),
        (HashMode::GrowthBookV2Utf8, 14_485_750_804_164_788_712),
    ];
    assert_eq!(expected.len(), HashMode::ALL.len());
    let shapes = ["josé", "用户", "محمد", "Zoë", "😀", "e\u{301}"];
    let got = expected.map(|(mode, _)| {
        let bucketer = Bucketer::new(mode, "golden-ü");
        let checksum = (0..10_000).fold(0u64, |acc, i| {
            let key = format!("{}-{i}", shapes[i % shapes.len()]);
            let bucket = bucketer.bucket_str(&key);
            acc.wrapping_mul(31).wrapping_add(u64::from(bucket))
        });
        (mode, checksum)
    });
    assert_eq!(got, expected);
}

/// Keys that are not UTF-8 (raw header bytes): the UTF-16 modes read each
/// invalid sequence as U+FFFD, the others hash the bytes as they are.
#[test]
fn invalid_utf8_keys() {
    // "josé" with é as the Latin-1 byte 0xE9, as a misencoded header has it.
    let key: &[u8] = b"jos\xe9";
    let expected = [
        (HashMode::Fledge, 6718u32),
        (HashMode::Unleash, 9899),
        (HashMode::UnleashNode, 1899),
        (HashMode::GrowthBookV1, 5370),
        (HashMode::GrowthBookV2, 7915),
        // The byte 0xE9 happens to be the UTF-16 unit of "é": these are
        // growthbook-v1/-v2 of "josé" (see NON_ASCII_SDK).
        (HashMode::GrowthBookV1Utf8, 9570),
        (HashMode::GrowthBookV2Utf8, 2287),
    ];
    assert_eq!(expected.len(), HashMode::ALL.len());
    let got = expected.map(|(mode, _)| (mode, Bucketer::new(mode, "checkout-v2").bucket(key)));
    assert_eq!(got, expected);
    for mode in [
        HashMode::UnleashNode,
        HashMode::GrowthBookV1,
        HashMode::GrowthBookV2,
    ] {
        let bucketer = Bucketer::new(mode, "checkout-v2");
        assert_eq!(
            bucketer.bucket(key),
            bucketer.bucket_str("jos\u{fffd}"),
            "{mode}"
        );
    }
}
