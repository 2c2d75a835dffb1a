//! Property tests: the monotone ramp and the share of users per variant, for
//! every hash mode, through `fledge-select`'s bucket layout; and the UTF-16
//! modes against a plain port of the SDKs' loops, for any text.

use fledge_select::{Split, VersionId, Weight};
use fledge_sticky::{BUCKETS, Bucketer, HashMode, murmur3_x86_32};
use proptest::prelude::*;

/// The modes that hash UTF-16 code units.
const UTF16_MODES: [HashMode; 3] = [
    HashMode::UnleashNode,
    HashMode::GrowthBookV1,
    HashMode::GrowthBookV2,
];

/// Each UTF-16 mode's UTF-8 sibling.
const UTF8_SIBLINGS: [HashMode; 3] = [
    HashMode::Unleash,
    HashMode::GrowthBookV1Utf8,
    HashMode::GrowthBookV2Utf8,
];

/// GrowthBook's JavaScript `hashFnv32a`: each `charCodeAt(i)` XORed in.
fn js_fnv(s: &str) -> u32 {
    s.encode_utf16().fold(0x811c_9dc5, |h: u32, u| {
        (h ^ u32::from(u)).wrapping_mul(0x0100_0193)
    })
}

/// The bucket the JavaScript SDKs give, ported as plainly as possible (one
/// string built, then hashed).
fn js_bucket(mode: HashMode, salt: &str, key: &str) -> u32 {
    match mode {
        HashMode::UnleashNode => {
            // murmurhash3js: `charCodeAt(i) & 0xff`, length in code units.
            let low: Vec<u8> = format!("{salt}:{key}")
                .encode_utf16()
                .map(|u| u.to_le_bytes()[0])
                .collect();
            (murmur3_x86_32(&low, 0) % 100 + 1) * 100 - 1
        }
        HashMode::GrowthBookV1 => js_fnv(&format!("{key}{salt}")) % 1_000 * 10,
        HashMode::GrowthBookV2 => js_fnv(&js_fnv(&format!("{salt}{key}")).to_string()) % 10_000,
        other => unreachable!("{other}"),
    }
}

fn mode() -> impl Strategy<Value = HashMode> {
    prop::sample::select(HashMode::ALL.to_vec())
}

fn canary_split(w: u32) -> Split {
    let weight = Weight::from_bps(w).expect("weight in range");
    Split::canary(
        VersionId::new("canary").expect("valid"),
        VersionId::new("stable").expect("valid"),
        weight,
    )
    .expect("valid split")
}

/// Chi-square critical values at p = 1e-9 for 1..=7 degrees of freedom: a
/// correct hash fails one case in a billion.
const CHI2_CRITICAL: [f64; 7] = [37.32, 41.45, 44.84, 47.88, 50.69, 53.34, 55.87];

proptest! {
    /// Raising the canary's weight never moves a user off the canary, and
    /// weight 0 sends everyone to stable.
    #[test]
    fn monotone_ramp(
        mode in mode(),
        salt in "[a-zA-Z0-9:._-]{0,24}",
        keys in prop::collection::vec(any::<Vec<u8>>(), 1..50),
        mut steps in prop::collection::vec(0u32..=BUCKETS, 1..12),
    ) {
        steps.sort_unstable();
        let bucketer = Bucketer::new(mode, &salt);
        for key in &keys {
            let bucket = bucketer.bucket(key);
            prop_assert!(bucket < BUCKETS);
            let mut was_on_canary = false;
            for &w in &steps {
                let on_canary = canary_split(w).version_for_bucket(bucket).get() == 0;
                prop_assert!(!was_on_canary || on_canary, "{mode} key {key:?} left the canary at w={w}");
                was_on_canary = on_canary;
            }
            prop_assert_eq!(canary_split(0).version_for_bucket(bucket).get(), 1);
            prop_assert_eq!(canary_split(BUCKETS).version_for_bucket(bucket).get(), 0);
        }
    }

    /// Over 20 000 keys, the observed share of each variant matches its
    /// weight (chi-square bound); a zero-weight variant gets nobody. Weights
    /// are whole percentages so that every mode (Unleash has 100 values) can
    /// express them.
    #[test]
    fn shares_match_weights(
        mode in mode(),
        salt in "[a-z0-9-]{1,16}",
        cuts in prop::collection::vec(1u32..100, 1..7),
        zero_last in any::<bool>(),
    ) {
        let mut cuts = cuts;
        cuts.sort_unstable();
        cuts.dedup();
        let mut bounds = vec![0];
        bounds.extend(cuts.iter().map(|c| c * 100));
        bounds.push(BUCKETS);
        let mut weights: Vec<u32> = bounds.windows(2).map(|w| w[1] - w[0]).collect();
        if zero_last {
            weights.push(0);
        }
        let split = Split::from_pairs(
            weights.iter().enumerate().map(|(i, &w)| (format!("v{i}"), w)),
        )
        .expect("valid split");

        let bucketer = Bucketer::new(mode, &salt);
        let n = 20_000u32;
        let mut counts = vec![0u32; weights.len()];
        for i in 0..n {
            let key = format!("user-{i}");
            counts[split.version_for_bucket(bucketer.bucket_str(&key)).get()] += 1;
        }
        let mut chi2 = 0.0;
        let mut df = 0usize;
        for (&w, &observed) in weights.iter().zip(&counts) {
            if w == 0 {
                prop_assert_eq!(observed, 0);
                continue;
            }
            let expected = f64::from(n) * f64::from(w) / f64::from(BUCKETS);
            chi2 += (f64::from(observed) - expected).powi(2) / expected;
            df += 1;
        }
        if df > 1 {
            let critical = CHI2_CRITICAL[df - 2];
            prop_assert!(chi2 < critical, "{mode}: chi2 {chi2} >= {critical}, weights {weights:?}, counts {counts:?}");
        }
    }

    /// The UTF-16 modes give what the plain port of the SDKs' loops gives,
    /// for any text (astral characters included).
    #[test]
    fn utf16_modes_match_the_sdk_loops(salt in ".{0,12}", key in ".{0,24}") {
        for mode in UTF16_MODES {
            prop_assert_eq!(
                Bucketer::new(mode, &salt).bucket_str(&key),
                js_bucket(mode, &salt, &key),
                "{} salt {:?} key {:?}", mode, salt, key
            );
        }
    }

    /// Bytes that are not UTF-8 read as `String::from_utf8_lossy` reads them
    /// in the UTF-16 modes, and never panic anywhere.
    #[test]
    fn invalid_utf8_reads_as_replacement(salt in ".{0,8}", key in any::<Vec<u8>>()) {
        let lossy = String::from_utf8_lossy(&key);
        for mode in UTF16_MODES {
            let bucketer = Bucketer::new(mode, &salt);
            prop_assert_eq!(bucketer.bucket(&key), bucketer.bucket_str(&lossy));
        }
        for mode in HashMode::ALL {
            prop_assert!(Bucketer::new(mode, &salt).bucket(&key) < BUCKETS);
        }
    }

    /// ASCII salt and key: each UTF-16 mode agrees with its UTF-8 sibling.
    #[test]
    fn ascii_is_the_same_in_both_encodings(salt in "[ -~]{0,16}", key in "[ -~]{0,40}") {
        for (utf16, utf8) in UTF16_MODES.into_iter().zip(UTF8_SIBLINGS) {
            prop_assert_eq!(
                Bucketer::new(utf16, &salt).bucket_str(&key),
                Bucketer::new(utf8, &salt).bucket_str(&key)
            );
        }
    }

    /// Bucketing is a pure function of (mode, salt, key).
    #[test]
    fn deterministic(mode in mode(), salt in ".{0,16}", key in any::<Vec<u8>>()) {
        let a = Bucketer::new(mode, &salt);
        let b = Bucketer::new(mode, salt.clone());
        prop_assert_eq!(a.bucket(&key), b.bucket(&key));
        prop_assert!(a.bucket(&key) < BUCKETS);
    }
}

/// A different salt reshuffles who is first: the canary cohorts of two salts
/// at 10 % overlap about as much as independent draws (about 1 %).
#[test]
fn new_salt_new_cohort() {
    let a = Bucketer::new(HashMode::Fledge, "rollout-1");
    let b = Bucketer::new(HashMode::Fledge, "rollout-2");
    let n = 100_000;
    let both = (0..n)
        .map(|i| format!("user-{i}"))
        .filter(|k| a.bucket_str(k) < 1_000 && b.bucket_str(k) < 1_000)
        .count();
    // Expected 1 000 (1 %); independent draws stay well within ±30 %.
    assert!((700..1_300).contains(&both), "overlap {both}");
}
