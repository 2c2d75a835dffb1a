//! Numbers in explanations: one way to write them, so that every sentence a
//! gate prints reads alike.
//!
//! Check details ([`CheckResult::detail`](crate::CheckResult::detail)),
//! verdicts and metric names are written with these helpers; other crates
//! that explain results (experiment reports, admin pages, the CLI) can use
//! them to match.
//!
//! | helper | for | examples |
//! |---|---|---|
//! | [`number`] | a measured or computed value | `0`, `12.5`, `0.0123`, `6.169e-4`, `1.235e5` |
//! | [`value`] | a metric's value with its unit, or `n/a` | `12.5 ms`, `0.01`, `n/a` |
//! | [`p_value`] | a p-value | `0.0123`, `0.0500`, `3.2e-7` |
//! | [`percent`] | a fraction as a percentage (confidence levels) | `99 %`, `99.9 %` |
//! | [`fixed`] | a test statistic or a score, to fixed decimals | `z = 2.35`, `df 17.3`, `score 66.7` |
//! | [`trimmed`] | fixed decimals without trailing zeros (names) | `latency_p99.9` |
//!
//! Rules:
//!
//! * [`number`] keeps 4 decimals, trailing zeros removed, between `1e-3`
//!   and `1e5`; outside that range it switches to scientific notation with
//!   4 significant digits, so small rates and huge counts stay readable.
//!   Zero is `0`; `inf`, `-inf` and `NaN` print as Rust prints them.
//! * [`p_value`] keeps 4 decimals (so `p = 0.0500` lines up with `alpha
//!   0.05`), and below `1e-4` 2 significant digits in scientific notation.
//! * Settings echoed from a spec (`alpha 0.05`, `tau 0.01`, a score
//!   threshold) are written with `{}` (Rust's shortest form that reads back
//!   as the same `f64`), so the reader sees the number they configured.
//!
//! Every helper returns a small `Copy` value that implements
//! [`Display`](fmt::Display) (format it with `{}` or call `to_string()`).
//! Width, fill and alignment apply (`{:>10}`, right-aligned by default, as
//! numbers are); a precision does not: the helper chooses the digits.
//!
//! ```
//! use fledge_gate::explain;
//!
//! assert_eq!(explain::number(12.5).to_string(), "12.5");
//! assert_eq!(explain::number(0.000_616_9).to_string(), "6.169e-4");
//! assert_eq!(explain::value(Some(48.0), " ms").to_string(), "48 ms");
//! assert_eq!(explain::value(None, " ms").to_string(), "n/a");
//! assert_eq!(explain::p_value(0.05).to_string(), "0.0500");
//! assert_eq!(explain::p_value(3.2e-7).to_string(), "3.2e-7");
//! assert_eq!(explain::percent(0.99).to_string(), "99 %");
//! assert_eq!(explain::fixed(2.3456, 2).to_string(), "2.35");
//! assert_eq!(format!("[{:>6}]", explain::number(1.5)), "[   1.5]");
//! ```
//!
//! A leaf: it uses no other module of the crate.

use std::fmt;

/// Writes `text` honouring the formatter's width, fill and alignment
/// (right-aligned by default, like numbers) but not its precision.
fn pad(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    let Some(width) = f.width() else {
        return f.write_str(text);
    };
    let len = text.chars().count();
    if len >= width {
        return f.write_str(text);
    }
    let gap = width - len;
    let (before, after) = match f.align() {
        Some(fmt::Alignment::Left) => (0, gap),
        Some(fmt::Alignment::Center) => (gap / 2, gap - gap / 2),
        Some(fmt::Alignment::Right) | None => (gap, 0),
    };
    let fill = f.fill();
    for _ in 0..before {
        f.write_fmt(format_args!("{fill}"))?;
    }
    f.write_str(text)?;
    for _ in 0..after {
        f.write_fmt(format_args!("{fill}"))?;
    }
    Ok(())
}

/// `text` without trailing zeros after a decimal point (nor the point
/// itself when nothing is left after it).
fn trim_zeros(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

/// A measured or computed value: see [`number`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number(f64);

/// A measured or computed value, for a sentence: `0`; 4 decimals without
/// trailing zeros when `1e-3 ≤ |x| < 1e5` (`12.5`, `0.0123`, `99999.5`);
/// else scientific with 4 significant digits (`6.169e-4`, `1.235e5`);
/// `inf`, `-inf`, `NaN` as Rust prints them.
///
/// ```
/// use fledge_gate::explain::number;
///
/// assert_eq!(number(0.0).to_string(), "0");
/// assert_eq!(number(-0.25).to_string(), "-0.25");
/// assert_eq!(number(2.0 / 3.0).to_string(), "0.6667");
/// assert_eq!(number(123_456.0).to_string(), "1.235e5");
/// ```
pub fn number(x: f64) -> Number {
    Number(x)
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let x = self.0;
        if x == 0.0 {
            pad(f, "0")
        } else if x.abs() >= 1e5 || x.abs() < 1e-3 {
            pad(f, &format!("{x:.3e}"))
        } else {
            pad(f, trim_zeros(&format!("{x:.4}")))
        }
    }
}

/// A metric's value with its unit: see [`value`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Value<'a> {
    value: Option<f64>,
    unit: &'a str,
}

/// A metric's value as [`number`] followed by `unit` (written as given, so
/// pass `" ms"` with its space, or `""`), or `n/a` when there is none.
///
/// ```
/// use fledge_gate::explain::value;
///
/// assert_eq!(value(Some(12.34567), " ms").to_string(), "12.3457 ms");
/// assert_eq!(value(Some(0.01), "").to_string(), "0.01");
/// assert_eq!(value(None, " ms").to_string(), "n/a");
/// ```
pub fn value(value: Option<f64>, unit: &str) -> Value<'_> {
    Value { value, unit }
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value {
            Some(x) => pad(f, &format!("{}{}", number(x), self.unit)),
            None => pad(f, "n/a"),
        }
    }
}

/// A p-value: see [`p_value`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PValue(f64);

/// A p-value: 4 decimals (`0.0123`, `0.0500`, `1.0000`); below `1e-4`,
/// scientific with 2 significant digits (`3.2e-7`).
///
/// ```
/// use fledge_gate::explain::p_value;
///
/// assert_eq!(p_value(0.012_34).to_string(), "0.0123");
/// assert_eq!(p_value(0.000_05).to_string(), "5.0e-5");
/// ```
pub fn p_value(p: f64) -> PValue {
    PValue(p)
}

impl fmt::Display for PValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.0;
        if p < 1e-4 {
            pad(f, &format!("{p:.1e}"))
        } else {
            pad(f, &format!("{p:.4}"))
        }
    }
}

/// A fraction as a percentage: see [`percent`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percent(f64);

/// A fraction as a percentage, [`number`] of hundredths followed by ` %`
/// (with a space, as the SI writes it): `0.99` → `99 %`, `0.999` →
/// `99.9 %`. For confidence levels and other fractions.
///
/// ```
/// use fledge_gate::explain::percent;
///
/// assert_eq!(percent(0.95).to_string(), "95 %");
/// assert_eq!(percent(0.9995).to_string(), "99.95 %");
/// ```
pub fn percent(fraction: f64) -> Percent {
    Percent(fraction)
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        pad(f, &format!("{} %", number(self.0 * 100.0)))
    }
}

/// A number to fixed decimals: see [`fixed`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fixed {
    value: f64,
    decimals: usize,
}

/// `x` with exactly `decimals` decimals, trailing zeros kept: for test
/// statistics and scores, whose precision is part of how they are read
/// (`z = 2.35`, `t = -0.40`, `df 17.3`, `score 66.7`).
///
/// ```
/// use fledge_gate::explain::fixed;
///
/// assert_eq!(fixed(1.5, 2).to_string(), "1.50");
/// assert_eq!(fixed(200.0 / 3.0, 1).to_string(), "66.7");
/// ```
pub fn fixed(x: f64, decimals: usize) -> Fixed {
    Fixed { value: x, decimals }
}

impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        pad(f, &format!("{:.*}", self.decimals, self.value))
    }
}

/// A number to at most some decimals: see [`trimmed`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trimmed {
    value: f64,
    decimals: usize,
}

/// `x` rounded to `decimals` decimals, then trailing zeros (and a bare
/// point) removed: `99.9`, `5`. For numbers that are part of a name
/// (`latency_p99.9`), where [`number`]'s switch to scientific notation
/// would not do.
///
/// ```
/// use fledge_gate::explain::trimmed;
///
/// assert_eq!(trimmed(99.9, 6).to_string(), "99.9");
/// assert_eq!(trimmed(50.0, 6).to_string(), "50");
/// assert_eq!(trimmed(12.345_678_9, 6).to_string(), "12.345679");
/// ```
pub fn trimmed(x: f64, decimals: usize) -> Trimmed {
    Trimmed { value: x, decimals }
}

impl fmt::Display for Trimmed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        pad(f, trim_zeros(&format!("{:.*}", self.decimals, self.value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_alike() {
        for (x, text) in [
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (0.001, "0.001"),
            (0.000_999, "9.990e-4"),
            (99_999.999_94, "99999.9999"),
            (100_000.0, "1.000e5"),
            (-12.5, "-12.5"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(number(x).to_string(), text, "{x}");
        }
    }

    #[test]
    fn p_values_switch_to_scientific_below_1e_4() {
        assert_eq!(p_value(1.0).to_string(), "1.0000");
        assert_eq!(p_value(1e-4).to_string(), "0.0001");
        assert_eq!(p_value(9.9e-5).to_string(), "9.9e-5");
        assert_eq!(p_value(0.0).to_string(), "0.0e0");
    }

    #[test]
    fn width_and_alignment_apply_precision_does_not() {
        assert_eq!(format!("{:>8}|", number(0.5)), "     0.5|");
        assert_eq!(format!("{:<8}|", number(0.5)), "0.5     |");
        assert_eq!(format!("{:^7}|", number(0.5)), "  0.5  |");
        assert_eq!(format!("{:*>6}", value(Some(2.0), " ms")), "**2 ms");
        assert_eq!(format!("{:.1}", number(0.123_45)), "0.1235");
        assert_eq!(format!("{:2}", percent(0.99)), "99 %");
    }

    #[test]
    fn trimming_stops_at_the_point() {
        assert_eq!(trimmed(100.0, 0).to_string(), "100");
        assert_eq!(trimmed(100.0, 2).to_string(), "100");
        assert_eq!(fixed(100.0, 0).to_string(), "100");
    }
}
