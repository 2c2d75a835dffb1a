//! Property tests: invariants of every statistic on arbitrary valid input.

use fledge_gate::stats::{self, AlwaysValid, Moments};
use proptest::prelude::*;

fn sample(max_len: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(
        prop_oneof![
            -1e6..1e6f64,
            (-20i32..20).prop_map(f64::from), // ties
        ],
        1..max_len,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mann_whitney_p_in_unit_interval_and_symmetric(x in sample(60), y in sample(60)) {
        let a = stats::mann_whitney_u(&x, &y).unwrap();
        let b = stats::mann_whitney_u(&y, &x).unwrap();
        prop_assert!((0.0..=1.0).contains(&a.p_value));
        prop_assert!((a.p_value - b.p_value).abs() < 1e-12);
        prop_assert!((a.z + b.z).abs() < 1e-9);
        let n = (x.len() * y.len()) as f64;
        prop_assert!((a.u + b.u - n).abs() < 1e-9);
        prop_assert!(a.u >= 0.0 && a.u <= n);
    }

    #[test]
    fn mann_whitney_is_shift_monotone(x in sample(40), y in sample(40)) {
        // Moving the canary up never lowers its U.
        let a = stats::mann_whitney_u(&x, &y).unwrap();
        let shifted: Vec<f64> = x.iter().map(|v| v + 1e7).collect();
        let b = stats::mann_whitney_u(&shifted, &y).unwrap();
        prop_assert!(b.u >= a.u);
        prop_assert_eq!(b.u, (x.len() * y.len()) as f64);
    }

    #[test]
    fn weighted_matches_plain(x in sample(40), y in sample(40)) {
        let count = |s: &[f64]| -> Vec<(f64, u64)> { s.iter().map(|&v| (v, 1)).collect() };
        let a = stats::mann_whitney_u(&x, &y).unwrap();
        let b = stats::mann_whitney_u_weighted(&count(&x), &count(&y)).unwrap();
        prop_assert_eq!(a, b);
    }

    #[test]
    fn welch_p_in_unit_interval_and_antisymmetric(x in sample(50), y in sample(50)) {
        prop_assume!(x.len() >= 2 && y.len() >= 2);
        let a = stats::welch_t_test(&x, &y).unwrap();
        let b = stats::welch_t_test(&y, &x).unwrap();
        prop_assert!((0.0..=1.0).contains(&a.p_value));
        prop_assert!(!a.p_value.is_nan());
        prop_assert!((a.p_value - b.p_value).abs() < 1e-9);
        if a.t.is_finite() {
            prop_assert!((a.t + b.t).abs() < 1e-9 * (1.0 + a.t.abs()));
            prop_assert!(a.df > 0.0);
        }
    }

    #[test]
    fn proportion_p_in_unit_interval_and_symmetric(
        n1 in 1u64..100_000, n2 in 1u64..100_000, f1 in 0.0..=1.0f64, f2 in 0.0..=1.0f64,
    ) {
        let x1 = (n1 as f64 * f1) as u64;
        let x2 = (n2 as f64 * f2) as u64;
        let a = stats::two_proportion_z_test(x1, n1, x2, n2).unwrap();
        let b = stats::two_proportion_z_test(x2, n2, x1, n1).unwrap();
        prop_assert!((0.0..=1.0).contains(&a.p_value));
        prop_assert!((a.p_value - b.p_value).abs() < 1e-12);
        prop_assert!((a.z + b.z).abs() < 1e-9);
    }

    #[test]
    fn hodges_lehmann_is_shift_equivariant(
        x in prop::collection::vec(-100.0..100.0f64, 2..30),
        y in prop::collection::vec(-100.0..100.0f64, 2..30),
        shift in -50i32..50,
    ) {
        let shift = f64::from(shift);
        let a = stats::hodges_lehmann(&x, &y, 0.95).unwrap();
        prop_assert!(a.estimate.is_finite() && a.low.is_finite() && a.high.is_finite());
        // On continuous data at this scale the interval is ordered and holds
        // the estimate (to R's 1e-4 root tolerance).
        prop_assert!(a.low <= a.estimate + 1e-4 && a.estimate <= a.high + 1e-4, "{a:?}");
        // The interval ends move with the data.
        let moved: Vec<f64> = x.iter().map(|v| v + shift).collect();
        let b = stats::hodges_lehmann(&moved, &y, 0.95).unwrap();
        prop_assert!((b.low - a.low - shift).abs() < 1e-3, "{a:?} {b:?}");
        prop_assert!((b.high - a.high - shift).abs() < 1e-3, "{a:?} {b:?}");
        // The estimate is a root of the (uncorrected) statistic: R's Brent
        // search stops anywhere on a plateau of zeros, so check the root
        // property rather than exact equivariance.
        let f = |d: f64| stats::wilcoxon_diff(&moved, &y, d, 0.0, false).unwrap();
        prop_assert!(f(b.estimate - 1e-4) >= 0.0 && f(b.estimate + 1e-4) <= 0.0, "{b:?}");
    }

    #[test]
    fn msprt_p_in_unit_interval_and_running_min(
        x in prop::collection::vec(-1e3..1e3f64, 2..50),
        y in prop::collection::vec(-1e3..1e3f64, 2..50),
        tau in 0.01..100.0f64,
    ) {
        let r = stats::msprt_means(&Moments::from_slice(&x), &Moments::from_slice(&y), tau).unwrap();
        prop_assert!((0.0..=1.0).contains(&r.p_value));
        let mut av = AlwaysValid::new(0.05);
        av.observe(&r);
        let before = av.p_value;
        let same = stats::msprt_means(&Moments::from_slice(&y), &Moments::from_slice(&y), tau).unwrap();
        av.observe(&same);
        prop_assert!(av.p_value <= before);
        prop_assert!(av.low <= av.high || av.rejected());
    }

    #[test]
    fn msprt_proportions_p_in_unit_interval(
        n1 in 1u64..50_000, n2 in 1u64..50_000, f1 in 0.0..=1.0f64, f2 in 0.0..=1.0f64, tau in 0.001..1.0f64,
    ) {
        let x1 = (n1 as f64 * f1) as u64;
        let x2 = (n2 as f64 * f2) as u64;
        let r = stats::msprt_proportions(x1, n1, x2, n2, tau).unwrap();
        prop_assert!((0.0..=1.0).contains(&r.p_value));
        let s = stats::msprt_proportions(x2, n2, x1, n1, tau).unwrap();
        prop_assert!((r.p_value - s.p_value).abs() < 1e-9);
    }

    #[test]
    fn no_panic_on_any_floats(x in prop::collection::vec(any::<f64>(), 0..20), y in prop::collection::vec(any::<f64>(), 0..20)) {
        // Invalid input is an error, valid input a p-value in [0, 1].
        if let Ok(r) = stats::mann_whitney_u(&x, &y) { prop_assert!((0.0..=1.0).contains(&r.p_value)); }
        if let Ok(r) = stats::welch_t_test(&x, &y) { prop_assert!((0.0..=1.0).contains(&r.p_value)); }
        let _ = stats::hodges_lehmann(&x, &y, 0.95);
    }
}

#[test]
fn msprt_false_positive_rate_is_bounded_under_repeated_looks() {
    // A/A with 200 looks per run: the always-valid test rejects in at most
    // ~alpha of runs, where a fixed-sample z-test looked at every time would
    // reject far more often.
    let mut rng = 0x1234_5678_9abc_def0u64;
    let mut uniform = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng >> 11) as f64 / (1u64 << 53) as f64
    };
    let (runs, looks, per_look) = (400, 200, 50);
    let (mut msprt_rejections, mut naive_rejections) = (0, 0);
    for _ in 0..runs {
        let (mut ec, mut nc, mut eb, mut nb) = (0u64, 0u64, 0u64, 0u64);
        let mut av = AlwaysValid::new(0.05);
        let mut naive = false;
        for _ in 0..looks {
            for _ in 0..per_look {
                nb += 1;
                eb += u64::from(uniform() < 0.02);
                nc += 1;
                ec += u64::from(uniform() < 0.02);
            }
            av.observe(&stats::msprt_proportions(ec, nc, eb, nb, 0.02).unwrap());
            naive |= stats::two_proportion_z_test(ec, nc, eb, nb)
                .unwrap()
                .p_value
                <= 0.05;
        }
        msprt_rejections += u32::from(av.rejected());
        naive_rejections += u32::from(naive);
    }
    let rate = f64::from(msprt_rejections) / f64::from(runs);
    let naive_rate = f64::from(naive_rejections) / f64::from(runs);
    assert!(rate <= 0.05, "mSPRT false positive rate {rate}");
    assert!(
        naive_rate > 2.0 * rate.max(0.05),
        "naive {naive_rate} vs mSPRT {rate}"
    );
}
