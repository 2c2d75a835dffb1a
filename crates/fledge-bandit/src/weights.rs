//! Turning traffic shares into basis points that sum to exactly 10 000.

/// Basis points in the whole traffic.
pub(crate) const TOTAL_BPS: u16 = 10_000;

/// Splits 10 000 basis points over the arms in proportion to `shares`, after
/// giving every active arm `min_share_bps` first. Inactive arms get 0.
///
/// Rounding uses the largest-remainder method (ties go to the lower index),
/// so the result always sums to exactly 10 000. Shares that are negative,
/// NaN or all zero count as an equal split over the active arms. The caller
/// guarantees at least one active arm and `min_share_bps * active <= 10 000`;
/// if either fails, the floor is lowered or the first arm takes the traffic,
/// rather than panicking.
pub(crate) fn allocate(shares: &[f64], active: &[bool], min_share_bps: u16) -> Vec<u16> {
    let n = shares.len().min(active.len());
    let mut out = vec![0u16; shares.len()];
    let k = active[..n].iter().filter(|a| **a).count();
    if k == 0 {
        if let Some(first) = out.first_mut() {
            *first = TOTAL_BPS;
        }
        return out;
    }
    // k ≤ arms ≤ 64 (MAX_VERSIONS): the casts to u32 are exact.
    let floor = u32::from(min_share_bps).min(u32::from(TOTAL_BPS) / k as u32);
    let rest = u32::from(TOTAL_BPS) - floor * k as u32;

    let clean = |i: usize| {
        let s = shares[i];
        if active[i] && s.is_finite() && s > 0.0 {
            s
        } else {
            0.0
        }
    };
    let sum: f64 = (0..n).map(clean).sum();
    let weight = |i: usize| {
        if !active[i] {
            0.0
        } else if sum > 0.0 && sum.is_finite() {
            clean(i) / sum
        } else {
            1.0 / k as f64
        }
    };

    // Floors of the quotas, then hand out what is left by largest remainder.
    let mut given = 0u32;
    let mut remainders: Vec<(usize, f64)> = Vec::with_capacity(k);
    for i in (0..n).filter(|&i| active[i]) {
        let quota = f64::from(rest) * weight(i);
        let base = (quota.floor() as u32).min(rest);
        given += base;
        // floor × k + rest = 10 000 and base ≤ rest: fits a u16.
        out[i] = (floor + base) as u16;
        remainders.push((i, quota - f64::from(base)));
    }
    remainders.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut left = i64::from(rest) - i64::from(given);
    // Float error can only be off by far less than one unit per arm; the loops
    // below terminate in at most `k` rounds each way regardless.
    while left > 0 && !remainders.is_empty() {
        for &(i, _) in &remainders {
            if left == 0 {
                break;
            }
            out[i] += 1;
            left -= 1;
        }
    }
    while left < 0 {
        let before = left;
        for &(i, _) in remainders.iter().rev() {
            if left == 0 {
                break;
            }
            if u32::from(out[i]) > floor {
                out[i] -= 1;
                left += 1;
            }
        }
        if left == before {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(w: &[u16]) -> u32 {
        w.iter().map(|&x| u32::from(x)).sum()
    }

    #[test]
    fn exact_thirds() {
        let w = allocate(&[1.0, 1.0, 1.0], &[true, true, true], 0);
        assert_eq!(w, vec![3334, 3333, 3333]);
    }

    #[test]
    fn floor_then_proportional() {
        let w = allocate(&[0.0, 0.0, 1.0], &[true, true, true], 100);
        assert_eq!(w, vec![100, 100, 9800]);
        // The retired arm's share goes to the active ones.
        let w = allocate(&[0.5, 0.5, 0.0], &[true, false, true], 1000);
        assert_eq!(w, vec![9000, 0, 1000]);
    }

    #[test]
    fn bad_shares_mean_equal() {
        let w = allocate(&[f64::NAN, -1.0], &[true, true], 0);
        assert_eq!(w, vec![5000, 5000]);
        let w = allocate(&[0.0, 0.0, 0.0, 0.0], &[true, true, true, false], 10);
        assert_eq!(sum(&w), 10_000);
        assert_eq!(w[3], 0);
    }

    #[test]
    fn impossible_inputs_do_not_panic() {
        assert_eq!(allocate(&[1.0, 1.0], &[false, false], 0), vec![10_000, 0]);
        let w = allocate(&[1.0, 0.0, 0.0], &[true, true, true], 9_000);
        assert_eq!(sum(&w), 10_000);
        assert_eq!(allocate(&[], &[], 0), Vec::<u16>::new());
    }
}
