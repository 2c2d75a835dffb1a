//! Property tests of weights, splits and the selector.

use fledge_select::{BUCKETS, SelectError, Selector, Split, VersionIndex, Weight};
use proptest::prelude::*;

/// Weights of 1..=64 versions summing to exactly 10 000 (zeros allowed):
/// the gaps between sorted cut points in 0..=10 000.
fn valid_weights() -> impl Strategy<Value = Vec<u32>> {
    (1usize..=64)
        .prop_flat_map(|n| prop::collection::vec(0u32..=BUCKETS, n - 1))
        .prop_map(|mut cuts| {
            cuts.sort_unstable();
            let mut bounds = vec![0];
            bounds.extend(cuts);
            bounds.push(BUCKETS);
            bounds.windows(2).map(|w| w[1] - w[0]).collect()
        })
}

fn split_of(weights: &[u32]) -> Split {
    Split::from_pairs(
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| (format!("v{i}"), w)),
    )
    .expect("valid weights")
}

proptest! {
    #[test]
    fn valid_splits_sum_to_ten_thousand(weights in valid_weights()) {
        let split = split_of(&weights);
        let sum: u32 = split.versions().iter().map(|v| v.weight().bps()).sum();
        prop_assert_eq!(sum, BUCKETS);
        prop_assert_eq!(split.len(), weights.len());
    }

    /// Each version owns exactly its weight in buckets, in one contiguous
    /// range, laid out in order from 0.
    #[test]
    fn every_bucket_goes_to_exactly_its_weight(weights in valid_weights()) {
        let split = split_of(&weights);
        let mut owned = vec![0u32; weights.len()];
        let mut previous = 0;
        for bucket in 0..BUCKETS {
            let i = split.version_for_bucket(bucket).get();
            prop_assert!(i >= previous, "layout goes back at bucket {}", bucket);
            previous = i;
            owned[i] += 1;
            let range = split.bucket_range(VersionIndex::new(i).expect("small"));
            prop_assert!(range.contains(&bucket));
        }
        prop_assert_eq!(owned, weights);
    }

    /// The selector agrees with its split and counts every pick.
    #[test]
    fn selector_picks_match_the_split(weights in valid_weights(), buckets in prop::collection::vec(any::<u32>(), 1..200)) {
        let split = split_of(&weights);
        let selector = Selector::new(split.clone());
        let mut expected = vec![0u64; weights.len()];
        for &bucket in &buckets {
            let picked = selector.pick_by_bucket(bucket);
            prop_assert_eq!(picked, split.version_for_bucket(bucket));
            prop_assert!(weights[picked.get()] > 0, "picked a zero-weight version");
            expected[picked.get()] += 1;
        }
        prop_assert_eq!(selector.picks(), expected);
        for _ in 0..100 {
            let picked = selector.pick_random();
            prop_assert!(weights[picked.get()] > 0, "random pick of a zero-weight version");
        }
    }

    /// Publishing new weights for the same ids is visible to the next pick
    /// and bumps the version by one each time.
    #[test]
    fn publish_then_pick(first in valid_weights(), seed in any::<u64>()) {
        let n = first.len();
        let selector = Selector::new(split_of(&first));
        // New weights for the same n versions: everything on one of them.
        let target = (seed % n as u64) as usize;
        let mut next = vec![0u32; n];
        next[target] = BUCKETS;
        prop_assert_eq!(selector.publish(split_of(&next)), Ok(1));
        for bucket in (0..BUCKETS).step_by(97) {
            prop_assert_eq!(selector.pick_by_bucket(bucket).get(), target);
        }
        prop_assert_eq!(selector.pick_random().get(), target);
        prop_assert_eq!(selector.publish(split_of(&first)), Ok(2));
        prop_assert_eq!(selector.generation(), 2);
    }

    /// Serde round-trips every valid split exactly.
    #[test]
    fn serde_round_trip(weights in valid_weights()) {
        let split = split_of(&weights);
        let json = serde_json::to_string(&split).expect("serializes");
        let back: Split = serde_json::from_str(&json).expect("parses");
        prop_assert_eq!(back, split);
    }

    /// Weights that do not sum to 10 000 are rejected with the sum, never a
    /// panic.
    #[test]
    fn wrong_sums_are_errors(weights in prop::collection::vec(0u32..=BUCKETS, 1..=64)) {
        let sum: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let result = Split::from_pairs(weights.iter().enumerate().map(|(i, &w)| (format!("v{i}"), w)));
        if sum == u64::from(BUCKETS) {
            prop_assert!(result.is_ok());
        } else {
            prop_assert_eq!(result, Err(SelectError::WrongSum { sum }));
        }
    }

    #[test]
    fn weight_bounds(bps in any::<u32>()) {
        let w = Weight::from_bps(bps);
        prop_assert_eq!(w.is_ok(), bps <= BUCKETS);
        if let Ok(w) = w {
            prop_assert_eq!(w.bps(), bps);
            prop_assert_eq!(w.complement().bps(), BUCKETS - bps);
        }
    }

    /// Arbitrary JSON never panics the deserializer; what parses is valid.
    #[test]
    fn arbitrary_json_is_checked(text in ".{0,200}") {
        if let Ok(split) = serde_json::from_str::<Split>(&text) {
            let sum: u32 = split.versions().iter().map(|v| v.weight().bps()).sum();
            prop_assert_eq!(sum, BUCKETS);
        }
    }
}

/// A random pick follows the weights over many draws (a 3-version split,
/// 300 000 picks, each share within 1 % absolute).
#[test]
fn random_shares() {
    let selector = Selector::new(split_of(&[500, 2_500, 7_000]));
    let n = 300_000u64;
    for _ in 0..n {
        selector.pick_random();
    }
    for (picks, bps) in selector.picks().into_iter().zip([500u64, 2_500, 7_000]) {
        let share = picks as f64 / n as f64;
        assert!(
            (share - bps as f64 / 10_000.0).abs() < 0.01,
            "{share} vs {bps}"
        );
    }
}
