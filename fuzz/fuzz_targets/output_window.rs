//! Arbitrary bytes as an encoded output window (what a replica publishes
//! for fleet-wide drift gates): an error or a window, never a panic; a
//! window that decodes re-encodes to the same bytes (the format is
//! canonical), merges with itself into twice its counts, and feeds the
//! drift statistics without a panic.
//!
//! Random bytes rarely make a valid encoding, so most inputs are applied
//! as an edit to a real one (a numeric window, or a categorical one): byte
//! 0 chooses raw mode or which real window to edit, bytes 1–4 the edit's
//! position and length, the rest is spliced in.

#![no_main]

use std::sync::OnceLock;

use fledge_gate::output::{LabelCounts, NumericOutput, OutputData, OutputSpec, OutputWindow, SketchLayout};
use fledge_gate::stats;
use libfuzzer_sys::fuzz_target;

fn seeds() -> &'static [Vec<u8>; 2] {
    static SEEDS: OnceLock<[Vec<u8>; 2]> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let layout = SketchLayout::for_output(&OutputSpec::numeric("forecast").resolution(1e-3).max_abs(1e6))
            .expect("a valid layout");
        let mut n = NumericOutput::empty(layout);
        for i in 0..300 {
            n.push(f64::from(i) * 0.73 - 40.0);
        }
        n.push(5e6);
        let numeric = OutputWindow::new("forecast", OutputData::Numeric(n)).encode();
        let labels = LabelCounts::from_counts(8, [("books", 40u64), ("garden", 3), ("toys", 11)], 5)
            .expect("no overflow");
        let categorical = OutputWindow::new("top_category", OutputData::Categorical(labels)).encode();
        [numeric, categorical]
    })
}

fuzz_target!(|data: &[u8]| {
    let bytes: Vec<u8> = match data.first() {
        None => Vec::new(),
        Some(mode) if mode % 3 == 0 => data[1..].to_vec(),
        Some(mode) => {
            let seed = &seeds()[usize::from(mode % 3 - 1)];
            let at = data.get(1..3).map_or(0, |b| usize::from(u16::from_le_bytes([b[0], b[1]])));
            let cut = data.get(3..5).map_or(0, |b| usize::from(u16::from_le_bytes([b[0], b[1]])) % 16);
            let at = at % (seed.len() + 1);
            let end = (at + cut).min(seed.len());
            let mut b = seed[..at].to_vec();
            b.extend_from_slice(data.get(5..).unwrap_or(&[]));
            b.extend_from_slice(&seed[end..]);
            b
        }
    };
    let Ok(window) = OutputWindow::decode(&bytes) else {
        return;
    };
    assert_eq!(window.encode(), bytes, "the encoding is canonical");
    let mut twice = window.clone();
    twice.merge(&window).expect("a window merges with itself");
    assert_eq!(twice.count(), window.count().saturating_mul(2));
    match window.data() {
        OutputData::Numeric(n) => {
            let w = n.sketch().weighted();
            if !w.is_empty() {
                let ks = stats::ks_2samp_weighted(&w, &w).expect("valid weights");
                assert_eq!(ks.statistic, 0.0);
                let psi = stats::psi_weighted(&w, &w, 10).expect("valid weights");
                assert_eq!(psi.value, 0.0);
            }
            let _ = n.quantile(0.5);
        }
        OutputData::Categorical(c) => {
            let (_, a, b) = LabelCounts::aligned(c, c);
            if c.total() > 0 {
                let chi = stats::chi_square_homogeneity(&a, &b).expect("valid counts");
                assert!((0.0..=1.0).contains(&chi.p_value));
            }
        }
    }
});
