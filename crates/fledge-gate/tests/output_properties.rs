//! Property tests of model outputs and the drift statistics: sketch merges
//! are exact (associative, commutative, equal to recording everything in
//! one), bucket representatives are within the documented bound, PSI ≥ 0
//! and 0 for identical distributions, KS `D` in [0, 1] (and 0 for identical
//! samples), the label registry never names more than `max_labels`, and the
//! binary form round-trips.

use fledge_gate::output::{
    LabelCounts, NumericOutput, OutputData, OutputSketch, OutputSpec, OutputWindow, SketchLayout,
};
use fledge_gate::stats;
use fledge_gate::{Recorder, RecorderConfig};
use proptest::prelude::*;

fn values(max_len: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(
        prop_oneof![
            -1e4..1e4f64,
            (-50i32..50).prop_map(|v| f64::from(v) * 0.5), // ties
            0.0..1.0f64,
            -1e9..1e9f64,
        ],
        1..max_len,
    )
}

fn layout() -> SketchLayout {
    SketchLayout::for_output(&OutputSpec::numeric("x").resolution(1e-3).max_abs(1e7)).unwrap()
}

fn sketch(v: &[f64]) -> OutputSketch {
    let mut s = OutputSketch::new(layout());
    for &x in v {
        s.record(x, 1);
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn sketch_merge_is_exact(a in values(60), b in values(60), c in values(60)) {
        let (sa, sb, sc) = (sketch(&a), sketch(&b), sketch(&c));
        // (a + b) + c == a + (b + c) == c + b + a == everything at once.
        let mut left = sa.clone();
        left.merge(&sb).unwrap();
        left.merge(&sc).unwrap();
        let mut bc = sb.clone();
        bc.merge(&sc).unwrap();
        let mut right = sa.clone();
        right.merge(&bc).unwrap();
        let mut rev = sc.clone();
        rev.merge(&sb).unwrap();
        rev.merge(&sa).unwrap();
        let all: Vec<f64> = a.iter().chain(&b).chain(&c).copied().collect();
        let one = sketch(&all);
        prop_assert_eq!(&left, &right);
        prop_assert_eq!(&left, &rev);
        prop_assert_eq!(&left, &one);
        prop_assert_eq!(left.count(), all.len() as u64);
    }

    #[test]
    fn buckets_hold_their_values(v in values(80)) {
        let s = sketch(&v);
        let r = s.layout().resolution();
        let buckets = s.buckets();
        for &x in &v {
            let x = x.clamp(-s.layout().max_abs(), s.layout().max_abs());
            let b = buckets.iter().find(|b| b.low <= x && x < b.high || (b.middle == 0.0 && x.abs() < r / 2.0));
            let b = b.expect("every value is in a bucket");
            // The documented bound: the middle is within r + |x| / 128.
            prop_assert!((b.middle - x).abs() <= r + x.abs() / 128.0, "{} {:?}", x, b);
        }
    }

    #[test]
    fn psi_is_non_negative_and_zero_for_identical(x in values(80), y in values(80), bins in 2usize..20) {
        let p = stats::psi(&x, &y, bins).unwrap();
        prop_assert!(p.value >= 0.0 && p.value.is_finite());
        let same = stats::psi(&x, &x, bins).unwrap();
        prop_assert_eq!(same.value, 0.0);
        prop_assert!(p.bins.iter().all(|b| b.baseline > 0));
        prop_assert_eq!(p.bins.iter().map(|b| b.canary).sum::<u64>(), x.len() as u64);
    }

    #[test]
    fn ks_d_is_in_unit_interval(x in values(60), y in values(60)) {
        let r = stats::ks_2samp(&x, &y).unwrap();
        prop_assert!((0.0..=1.0).contains(&r.statistic));
        prop_assert!((0.0..=1.0).contains(&r.p_value));
        let s = stats::ks_2samp(&y, &x).unwrap();
        prop_assert_eq!(r.statistic, s.statistic);
        prop_assert!((r.p_value - s.p_value).abs() < 1e-12);
        let same = stats::ks_2samp(&x, &x).unwrap();
        prop_assert_eq!((same.statistic, same.p_value), (0.0, 1.0));
    }

    #[test]
    fn chi_square_p_in_unit_interval(c in prop::collection::vec(0u64..200, 2..12), b in prop::collection::vec(0u64..2000, 12)) {
        let b = &b[..c.len()];
        prop_assume!(c.iter().sum::<u64>() > 0 && b.iter().sum::<u64>() > 0);
        let r = stats::chi_square_homogeneity(&c, b).unwrap();
        prop_assert!((0.0..=1.0).contains(&r.p_value));
        prop_assert!(r.statistic >= 0.0);
        prop_assert_eq!(r.df + 1, r.columns.max(1) as u64);
    }

    #[test]
    fn labels_never_exceed_max(labels in prop::collection::vec("[a-k]{1,2}", 1..300), max in 1usize..20) {
        let r = Recorder::new(RecorderConfig::new(2).output(OutputSpec::categorical("c").max_labels(max))).unwrap();
        let id = r.output_id("c").unwrap();
        for (i, l) in labels.iter().enumerate() {
            r.record_label(i % 2, id, l);
        }
        let registered = r.labels(id).unwrap();
        prop_assert!(registered.len() <= max);
        let now = fledge_gate::clock::Timestamp::from_millis(0);
        let mut total = 0;
        for v in 0..2 {
            let w = r.window(v, now, std::time::Duration::from_secs(10)).unwrap();
            let counts = w.output("c").unwrap().categorical().unwrap();
            prop_assert!(counts.labels().len() <= max);
            total += counts.total();
        }
        prop_assert_eq!(total, labels.len() as u64);
    }

    #[test]
    fn encoding_round_trips(v in values(100), labels in prop::collection::vec(("[a-z]{0,6}", 1u64..1000), 0..20), other in 0u64..100) {
        let mut n = NumericOutput::empty(layout());
        for &x in &v {
            n.push(x);
        }
        let w = OutputWindow::new("forecast", OutputData::Numeric(n));
        prop_assert_eq!(OutputWindow::decode(&w.encode()).unwrap(), w);
        // Merging one label at a time gives the counts built at once.
        let mut merged = OutputWindow::new("c", OutputData::Categorical(LabelCounts::new(50)));
        for (l, c) in &labels {
            let one = LabelCounts::from_counts(50, [(l, *c)], 0).unwrap();
            merged.merge(&OutputWindow::new("c", OutputData::Categorical(one))).unwrap();
        }
        let at_once = LabelCounts::from_counts(50, labels.iter().map(|(l, c)| (l, *c)), 0).unwrap();
        prop_assert_eq!(merged.categorical().unwrap(), &at_once);
        let mut w = merged;
        w.merge(&OutputWindow::new("c", OutputData::Categorical(LabelCounts::from_counts(50, Vec::<(String, u64)>::new(), other).unwrap()))).unwrap();
        prop_assert_eq!(OutputWindow::decode(&w.encode()).unwrap(), w);
    }
}
