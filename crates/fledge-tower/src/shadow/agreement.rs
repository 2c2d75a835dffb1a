//! Comparators for shadow traffic: turn the primary's and the shadow's
//! response bodies into a gate metric. Pass one to
//! [`ShadowLayer::compare`](super::ShadowLayer::compare); the plan gates the
//! shadow step on the metric (e.g. `ShadowFirstBuilder::agreement` in
//! `fledge_rollout::plan`).
//!
//! ```
//! use fledge_tower::shadow::agreement;
//!
//! assert_eq!(agreement::abs_diff(b"41.5", b" 40.0\n"), Some(1.5));
//! assert_eq!(agreement::mismatch(b"cat", b"cat"), Some(0.0));
//! assert_eq!(agreement::mismatch(b"cat", b"dog"), Some(1.0));
//! assert_eq!(agreement::abs_diff(b"41.5", b"oops"), None); // recorded as nothing
//! ```

fn number(body: &[u8]) -> Option<f64> {
    let v: f64 = std::str::from_utf8(body).ok()?.trim().parse().ok()?;
    v.is_finite().then_some(v)
}

/// `|primary − shadow|` of two bodies holding one number each (UTF-8,
/// surrounding whitespace ignored); `None` if either is not a finite number.
pub fn abs_diff(primary: &[u8], shadow: &[u8]) -> Option<f64> {
    Some((number(primary)? - number(shadow)?).abs())
}

/// `|primary − shadow| / |primary|` (the primary taken as the reference;
/// `None` when it is 0 or either body is not a number).
pub fn rel_diff(primary: &[u8], shadow: &[u8]) -> Option<f64> {
    let p = number(primary)?;
    let s = number(shadow)?;
    (p != 0.0).then(|| (p - s).abs() / p.abs())
}

/// `0.0` when the bodies are byte-for-byte equal, `1.0` otherwise: its
/// mean is the disagreement rate.
pub fn mismatch(primary: &[u8], shadow: &[u8]) -> Option<f64> {
    Some(if primary == shadow { 0.0 } else { 1.0 })
}
