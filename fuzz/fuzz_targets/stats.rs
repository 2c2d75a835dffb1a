//! Arbitrary f64 samples and counts through every `fledge_gate::stats`
//! function (the exact tests included) and the Kayenta classifier: nothing
//! panics, and whenever a test returns a result its p-values are numbers in
//! [0, 1] (never NaN), its interval ends are finite.
//!
//! Input layout: byte 0 = canary length (mod 48), byte 1 = baseline length
//! (mod 48), byte 2 = value mode, byte 3 = confidence; then 8 bytes per
//! value (canary, then baseline), then 4 × 8 bytes of counts and 8 bytes of
//! tau. Value mode 0 reads raw f64 bits (NaN, infinities, subnormals, huge
//! values); other modes map each 8 bytes to a small integer (many ties) or
//! to a finite value in ±1e6.

#![no_main]

use fledge_gate::kayenta::{self, ClassifierConfig, Direction, EffectSizeMeasure};
use fledge_gate::stats::{self, Moments};
use libfuzzer_sys::fuzz_target;

struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.data.split_first() else {
            return 0;
        };
        self.data = rest;
        b
    }

    fn word(&mut self) -> u64 {
        let mut out = [0u8; 8];
        let n = self.data.len().min(8);
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        u64::from_le_bytes(out)
    }

    fn value(&mut self, mode: u8) -> f64 {
        let w = self.word();
        match mode % 3 {
            0 => f64::from_bits(w),
            1 => f64::from((w % 21) as u8) - 10.0,
            _ => ((w >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 2e6,
        }
    }
}

fn check_p(p: f64, what: &str) {
    assert!(!p.is_nan(), "{what}: NaN p-value");
    assert!(
        (0.0..=1.0).contains(&p),
        "{what}: p-value {p} outside [0, 1]"
    );
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input { data };
    let n1 = usize::from(input.byte() % 48);
    let n2 = usize::from(input.byte() % 48);
    let mode = input.byte();
    let confidence = f64::from(input.byte()) / 255.0;
    let canary: Vec<f64> = (0..n1).map(|_| input.value(mode)).collect();
    let baseline: Vec<f64> = (0..n2).map(|_| input.value(mode)).collect();
    let counts: Vec<u64> = (0..4).map(|_| input.word() % 1_000_000_000_000).collect();
    let tau = f64::from_bits(input.word());
    let valid = canary.iter().chain(&baseline).all(|v| v.is_finite());

    match stats::mann_whitney_u(&canary, &baseline) {
        Ok(r) => {
            check_p(r.p_value, "mann_whitney_u");
            assert!(r.u.is_finite() && r.z.is_finite());
        }
        Err(_) => assert!(!valid || canary.is_empty() || baseline.is_empty()),
    }
    let weighted = |s: &[f64]| -> Vec<(f64, u64)> {
        s.iter()
            .zip(&counts)
            .map(|(&v, &c)| (v, c % 1_000))
            .chain(s.iter().skip(counts.len()).map(|&v| (v, 1)))
            .collect()
    };
    if let Ok(r) = stats::mann_whitney_u_weighted(&weighted(&canary), &weighted(&baseline)) {
        check_p(r.p_value, "mann_whitney_u_weighted");
    }
    match stats::welch_t_test(&canary, &baseline) {
        Ok(r) => check_p(r.p_value, "welch_t_test"),
        Err(_) => {}
    }
    let (mc, mb) = (Moments::from_slice(&canary), Moments::from_slice(&baseline));
    if let Ok(r) = stats::welch_t_test_moments(&mc, &mb) {
        check_p(r.p_value, "welch_t_test_moments");
    }
    if let Ok(r) = stats::hodges_lehmann(&canary, &baseline, confidence) {
        assert!(r.estimate.is_finite() && r.low.is_finite() && r.high.is_finite());
    }
    if let Ok(r) = stats::hodges_lehmann_weighted(&weighted(&canary), &weighted(&baseline), 0.95) {
        assert!(r.estimate.is_finite() && r.low.is_finite() && r.high.is_finite());
    }
    let (x1, n1c, x2, n2c) = (counts[0], counts[1], counts[2], counts[3]);
    for (a, b, c, d) in [
        (x1, n1c, x2, n2c),
        (x1 % (n1c + 1), n1c, x2 % (n2c + 1), n2c),
    ] {
        match stats::two_proportion_z_test(a, b, c, d) {
            Ok(r) => check_p(r.p_value, "two_proportion_z_test"),
            Err(_) => assert!(b == 0 || d == 0 || a > b || c > d),
        }
        if let Ok(r) = stats::msprt_proportions(a, b, c, d, tau) {
            check_p(r.p_value, "msprt_proportions");
        }
        let valid_counts = b > 0 && d > 0 && a <= b && c <= d;
        match stats::conditional_binomial_test(a, b, c, d) {
            Ok(r) => {
                check_p(r.p_greater, "conditional_binomial_test greater");
                check_p(r.p_less, "conditional_binomial_test less");
            }
            Err(_) => assert!(!valid_counts),
        }
        match stats::conditional_binomial_msprt(a, b, c, d) {
            Ok(r) => {
                check_p(r.p_greater, "conditional_binomial_msprt greater");
                check_p(r.p_less, "conditional_binomial_msprt less");
            }
            Err(_) => assert!(!valid_counts),
        }
        match stats::binomial_tail(a, b, confidence) {
            Ok(r) => {
                check_p(r.at_least, "binomial_tail at_least");
                check_p(r.at_most, "binomial_tail at_most");
            }
            Err(_) => assert!(b == 0 || a > b),
        }
    }
    if let Ok(r) = stats::one_sample_t_test(&mc, tau) {
        check_p(r.p_greater, "one_sample_t_test greater");
        check_p(r.p_less, "one_sample_t_test less");
        if (0.01..0.99).contains(&confidence) && r.std_error.is_finite() {
            assert!(
                !r.lower_bound(confidence).is_nan(),
                "one_sample_t lower bound NaN"
            );
        }
    }
    if let Ok(r) = stats::msprt_means(&mc, &mb, tau) {
        check_p(r.p_value, "msprt_means");
        let mut state = stats::AlwaysValid::new(0.05);
        state.observe(&r);
        check_p(state.p_value, "AlwaysValid");
    }
    for measure in [EffectSizeMeasure::MeanRatio, EffectSizeMeasure::Cles] {
        let config = ClassifierConfig {
            effect_measure: measure,
            confidence: 0.95,
            ..ClassifierConfig::default()
        };
        if let Ok(r) = kayenta::classify(&canary, &baseline, Direction::Either, &config) {
            if let Some(p) = r.p_value {
                check_p(p, "kayenta::classify");
            }
        }
        let _ = kayenta::classify_weighted(
            &weighted(&canary),
            &weighted(&baseline),
            Direction::Increase,
            &config,
        );
    }
});
