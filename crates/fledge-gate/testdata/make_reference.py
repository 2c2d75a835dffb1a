#!/usr/bin/env python3
"""Reference values for fledge-gate's statistics, computed with SciPy.

Run from this directory:  python3 make_reference.py  (needs scipy, numpy)
Writes reference.json next to this script; tests/reference_scipy.rs reads it.

Contents (first sample = canary, second = baseline):
- mann_whitney: scipy.stats.mannwhitneyu(x, y, alternative="two-sided",
  method="asymptotic", use_continuity=True): U of x and p; z is the
  continuity- and tie-corrected score (U - n1*n2/2 -+ 0.5) / sigma.
- welch: scipy.stats.ttest_ind(x, y, equal_var=False): t, df, p.
- two_proportion: pooled two-proportion z-test, p = 2 * norm.sf(|z|).
- msprt_means / msprt_proportions: the closed-form mixture likelihood ratio
  of Johari, Pekelis and Walsh ("Always Valid Inference"),
      Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 * D^2 / (2 V (V + tau^2))),
  p = min(1, 1 / Lambda), with D the difference of means (proportions) and V
  its variance: s_c^2/n_c + s_b^2/n_b (sample variances, ddof=1) for means,
  pooled p(1-p)(1/n_c + 1/n_b) for proportions; and the half-width of the
  1 - alpha interval sqrt(2 V (V + tau^2) / tau^2 * (log(1/alpha) + 0.5 log((V + tau^2) / V))).
- hodges_lehmann: R's wilcox.test(conf.int=TRUE, exact=FALSE, correct=TRUE)
  procedure re-implemented here with scipy.stats.rankdata and a port of R's
  zeroin (uniroot, tol 1e-4); the estimate without continuity correction, as R.
- binomial_tail: at_least = P(X >= k) = binom.sf(k - 1, n, p) and
  at_most = P(X <= k) = binom.cdf(k, n, p), X ~ Binomial(n, p) (threshold
  checks on quantiles and error rates).
- conditional_binomial: binomtest(x_c, E, pi, alternative="greater" / "less")
  with E = x_c + x_b and pi = n_c / (n_c + n_b) (1 when E = 0).
- conditional_mixture: the one-sided mixture likelihood ratio of the
  conditional binomial (the always-valid exact test that confirms the
  proportions mSPRT), half uniform over theta in (pi, u), u at odds ratio 4,
  half uniform over (pi, 1):
      Lambda(lo, hi) = int_lo^hi t^x (1-t)^(E-x) dt / (hi - lo) / (pi^x (1-pi)^(E-x)),
      Lambda_greater = Lambda(pi, u) / 2 + Lambda(pi, 1) / 2,
      Lambda_less    = Lambda(l, pi) / 2 + Lambda(0, pi) / 2 (l at odds ratio 1/4),
  in closed form with scipy.special.betaln / betainc, checked here against
  scipy.integrate.quad when E <= 200; p = min(1, 1 / Lambda).
- one_sample_t: ttest_1samp(x, mu0, alternative="greater" / "less") from the
  sample's count, sum and sum of squares, and the one-sided bounds
  mean -+ t.ppf(confidence, n - 1) * s / sqrt(n) (threshold checks on means).
  Its samples come from a second generator (seed 20261123), so the sections
  above are unchanged by it.

Output drift (samples from a third generator, seed 20261124, so the
sections above are unchanged by them):
- ks_2samp: scipy.stats.ks_2samp(x, y): D; p_exact = ks_2samp(method="exact")
  when n1 * n2 <= 1e6 (fledge counts lattice paths there), else
  p_limit = kstwobign.sf(sqrt(n1 n2 / (n1 + n2)) * D) (Kolmogorov's limit, what
  fledge uses above 1e6); p_asymp (SciPy's own kstwo-based asymptotic) for
  the record: the limit is at or above it in every case (conservative).
  Samples: continuous, shifted, and rounded (ties, as sketch buckets make).
- kolmogorov: kstwobign.sf(lambda) over a grid, both sides of 1.18.
- chi_square: 2 x K tables; sparse columns pooled by the rule fledge
  documents (merge the two smallest column totals until every total t has
  t * min(row totals) / N >= 5, or one column is left; ties: the first
  index), re-implemented here; then chi2_contingency(correction=False) on
  the pooled table: statistic, dof, p.
- psi: a hand-written PSI: edges at the baseline's k/bins quantiles,
  numpy.quantile(method="inverted_cdf"), repeated edges and edges at or above
  the baseline's maximum dropped; bin = number of edges below the value
  (searchsorted side="left"); shares floored at 1e-4;
  PSI = sum((c - b) * log(c / b)).
- mean_ratio: ttest_ind(x, r * y, equal_var=False, alternative="greater" /
  "less"): t, df, p (the canary's mean against r times the baseline's).
"""

import json
import math
import os

import numpy as np
import scipy
from scipy import integrate, special, stats

rng = np.random.default_rng(20261122)


def sample(kind, n):
    if kind == "normal":
        return rng.normal(10.0, 2.0, n)
    if kind == "shifted":
        return rng.normal(11.0, 2.0, n)
    if kind == "lognormal":
        return rng.lognormal(3.0, 0.5, n)
    if kind == "ties":
        return np.round(rng.normal(5.0, 1.5, n))
    if kind == "coarse":
        return np.round(rng.exponential(3.0, n), 1)
    raise ValueError(kind)


def mw(x, y):
    r = stats.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic", use_continuity=True)
    n1, n2 = len(x), len(y)
    ranks = stats.rankdata(np.concatenate([x, y]))
    _, t = np.unique(ranks, return_counts=True)
    n = n1 + n2
    sigma = math.sqrt(n1 * n2 / 12.0 * ((n + 1) - (t**3 - t).sum() / (n * (n - 1))))
    d = r.statistic - n1 * n2 / 2.0
    z = 0.0 if (sigma == 0 or d == 0) else (d - math.copysign(0.5, d)) / sigma
    return {"u": float(r.statistic), "z": z, "p_value": float(r.pvalue)}


def welch(x, y):
    r = stats.ttest_ind(x, y, equal_var=False)
    return {"t": float(r.statistic), "df": float(r.df), "p_value": float(r.pvalue)}


def two_prop(x1, n1, x2, n2):
    p1, p2 = x1 / n1, x2 / n2
    pool = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pool * (1 - pool) * (1 / n1 + 1 / n2))
    z = 0.0 if se == 0 else (p1 - p2) / se
    return {"z": z, "p_value": float(min(1.0, 2 * stats.norm.sf(abs(z))))}


def msprt(d, v, tau, alpha):
    t2 = tau * tau
    log_lr = 0.5 * math.log(v / (v + t2)) + t2 * d * d / (2 * v * (v + t2))
    p = 1.0 if log_lr <= 0 else min(1.0, math.exp(-log_lr))
    half = math.sqrt(2 * v * (v + t2) / t2 * (math.log(1 / alpha) + 0.5 * math.log((v + t2) / v)))
    return {"difference": d, "variance": v, "log_likelihood_ratio": log_lr, "p_value": p, "half_width": half}


def wdiff(x, y, d, zq, correct):
    dr = stats.rankdata(np.concatenate([x - d, y]))
    nx, ny = len(x), len(y)
    _, cnt = np.unique(dr, return_counts=True)
    dz = dr[:nx].sum() - nx * (nx + 1) / 2 - nx * ny / 2
    corr = math.copysign(0.5, dz) if (correct and dz != 0) else 0.0
    sig = math.sqrt((nx * ny / 12) * ((nx + ny + 1) - (cnt**3 - cnt).sum() / ((nx + ny) * (nx + ny - 1))))
    return (dz - corr) / sig - zq


def zeroin(f, a, b, fa, fb, tol=1e-4, maxit=1000):
    """R's R_zeroin2 (Brent), as used by uniroot."""
    c, fc = a, fa
    if fa == 0:
        return a
    if fb == 0:
        return b
    eps = 2.220446049250313e-16
    for _ in range(maxit + 1):
        prev = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * eps * abs(b) + tol / 2
        step = (c - b) / 2
        if abs(step) <= tol_act or fb == 0:
            return b
        if abs(prev) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p, q = cb * t1, 1 - t1
            else:
                q, t1, t2 = fa / fc, fb / fc, fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1))
                q = (q - 1) * (t1 - 1) * (t2 - 1)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev * q / 2):
                step = p / q
        if abs(step) < tol_act:
            step = tol_act if step > 0 else -tol_act
        a, fa = b, fb
        b += step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b


def hodges_lehmann(x, y, conf):
    mumin, mumax = x.min() - y.max(), x.max() - y.min()
    z = stats.norm.ppf(1 - (1 - conf) / 2)

    def root(zq):
        f = lambda d: wdiff(x, y, d, zq, True)
        fl = f(mumin)
        if fl <= 0:
            return mumin
        fu = f(mumax)
        if fu >= 0:
            return mumax
        return zeroin(f, mumin, mumax, fl, fu)

    f0 = lambda d: wdiff(x, y, d, 0.0, False)
    est = zeroin(f0, mumin, mumax, f0(mumin), f0(mumax))
    return {"estimate": float(est), "low": float(root(z)), "high": float(root(-z))}


def binomial_tail(k, n, p):
    at_least = 1.0 if k == 0 else float(stats.binom.sf(k - 1, n, p))
    return {"at_least": at_least, "at_most": float(stats.binom.cdf(k, n, p))}


def conditional_binomial(x1, n1, x2, n2):
    e, share = x1 + x2, n1 / (n1 + n2)
    if e == 0:
        return {"events": 0, "share": share, "p_greater": 1.0, "p_less": 1.0}
    g = stats.binomtest(x1, e, share, alternative="greater").pvalue
    l = stats.binomtest(x1, e, share, alternative="less").pvalue
    return {"events": e, "share": share, "p_greater": float(g), "p_less": float(l)}


NEAR_ODDS_RATIO = 4.0


def conditional_mixture(x1, n1, x2, n2):
    e, pi = x1 + x2, n1 / (n1 + n2)
    x, rest = x1, x2
    if e == 0:
        return {"events": 0, "share": pi, "log_lr_greater": 0.0, "log_lr_less": 0.0, "p_greater": 1.0, "p_less": 1.0}
    ln_null = x * math.log(pi) + rest * math.log1p(-pi)
    ln_b = special.betaln(x + 1, rest + 1)

    def mass(lo, hi):  # Beta(x + 1, rest + 1) mass on (lo, hi), in the small tail
        lower = special.betainc(x + 1, rest + 1, lo)
        if lower < 0.5:
            return max(special.betainc(x + 1, rest + 1, hi) - lower, 0.0)
        return max(special.betainc(rest + 1, x + 1, 1 - lo) - special.betainc(rest + 1, x + 1, 1 - hi), 0.0)

    def segment(lo, hi):
        m = mass(lo, hi)
        return ln_b + math.log(m) - math.log(hi - lo) - ln_null if m > 0 else -math.inf

    def half_sum(a, b):
        return np.logaddexp(a, b) - math.log(2) if max(a, b) > -math.inf else -math.inf

    odds = lambda r: r * pi / (1 - pi + r * pi)
    up, down = odds(NEAR_ODDS_RATIO), odds(1 / NEAR_ODDS_RATIO)
    g = half_sum(segment(pi, up), segment(pi, 1.0))
    l = half_sum(segment(down, pi), segment(0.0, pi))
    if e <= 200:  # independent check by quadrature, scaled by the null likelihood
        f = lambda t: math.exp(x * math.log(t) + rest * math.log1p(-t) - ln_null) if 0 < t < 1 else 0.0
        q = lambda lo, hi: integrate.quad(f, lo, hi, epsabs=0, epsrel=1e-12, limit=500)[0] / (hi - lo)
        qg = 0.5 * q(pi, up) + 0.5 * q(pi, 1)
        ql = 0.5 * q(down, pi) + 0.5 * q(0, pi)
        for closed, quad in [(g, qg), (l, ql)]:
            if quad > 1e-250:
                assert abs(closed - math.log(quad)) < 1e-7, (x1, n1, x2, n2, closed, math.log(quad))
    p = lambda v: 1.0 if v <= 0 else min(1.0, math.exp(-v))
    return {"events": e, "share": pi, "log_lr_greater": g, "log_lr_less": l, "p_greater": p(g), "p_less": p(l)}


def one_sample_t(x, mu0, confidence):
    n = len(x)
    g = stats.ttest_1samp(x, mu0, alternative="greater")
    l = stats.ttest_1samp(x, mu0, alternative="less")
    se = x.std(ddof=1) / math.sqrt(n)
    q = stats.t.ppf(confidence, n - 1)
    return {"sample": {"count": n, "sum": float(x.sum()), "sum_sq": float((x * x).sum())}, "mu0": mu0,
            "confidence": confidence, "mean": float(x.mean()), "t": float(g.statistic), "df": n - 1,
            "p_greater": float(g.pvalue), "p_less": float(l.pvalue),
            "lower_bound": float(x.mean() - q * se), "upper_bound": float(x.mean() + q * se)}


def pooled_columns(c, b):
    """fledge's sparse-column rule, written from its documentation."""
    cols = [[x, y] for x, y in zip(c, b) if x + y > 0]
    nc, nb = sum(c), sum(b)
    floor = 5.0 * (nc + nb) / min(nc, nb)
    pooled = [1] * len(cols)
    while len(cols) >= 2:
        order = sorted(range(len(cols)), key=lambda i: (cols[i][0] + cols[i][1], i))
        a, z = order[0], order[1]
        if cols[a][0] + cols[a][1] >= floor:
            break
        lo, hi = min(a, z), max(a, z)
        cols[lo] = [cols[lo][0] + cols[hi][0], cols[lo][1] + cols[hi][1]]
        pooled[lo] += pooled[hi]
        del cols[hi]
        del pooled[hi]
    return cols, sum(p for p in pooled if p > 1)


def psi_reference(x, y, bins):
    y_sorted = np.sort(y)
    edges = []
    for k in range(1, bins):
        e = float(np.quantile(y_sorted, k / bins, method="inverted_cdf"))
        if e < y_sorted[-1] and (not edges or edges[-1] != e):
            edges.append(e)
    edges = np.array(edges)
    bc = np.bincount(np.searchsorted(edges, y, side="left"), minlength=len(edges) + 1)
    cc = np.bincount(np.searchsorted(edges, x, side="left"), minlength=len(edges) + 1)
    pc = np.maximum(cc / cc.sum(), 1e-4)
    pb = np.maximum(bc / bc.sum(), 1e-4)
    return float(np.sum((pc - pb) * np.log(pc / pb))), edges.tolist(), cc.tolist(), bc.tolist()


def drift(out):
    rng_d = np.random.default_rng(20261124)
    r4 = lambda a: np.round(a, 4)
    gens = {
        "normal": lambda n: r4(rng_d.normal(100.0, 10.0, n)),
        "shifted": lambda n: r4(rng_d.normal(103.0, 10.0, n)),
        "lognormal": lambda n: r4(rng_d.lognormal(4.6, 0.25, n)),
        "rounded": lambda n: np.round(rng_d.normal(10.0, 2.0, n)),
        "rounded_up": lambda n: np.round(rng_d.normal(10.4, 2.0, n)),
    }
    pairs = [("normal", "normal"), ("shifted", "normal"), ("lognormal", "lognormal"),
             ("rounded", "rounded"), ("rounded_up", "rounded")]
    small = [(1, 1), (3, 5), (8, 8), (25, 40), (100, 900)]
    large = {("shifted", "normal"): [(500, 2000), (1200, 1000)], ("rounded_up", "rounded"): [(1200, 1000)],
             ("normal", "normal"): [(300, 4000)]}
    for kx, ky in pairs:
        for n1, n2 in small + large.get((kx, ky), []):
            x, y = gens[kx](n1), gens[ky](n2)
            r = stats.ks_2samp(x, y)
            d = float(r.statistic)
            en = n1 * n2 / (n1 + n2)
            case = {"x": x.tolist(), "y": y.tolist(), "statistic": d,
                    "p_limit": float(stats.kstwobign.sf(math.sqrt(en) * d))}
            if n1 > 1 or n2 > 1:
                case["p_asymp"] = float(stats.ks_2samp(x, y, method="asymp").pvalue)
            if n1 * n2 <= 1_000_000:
                case["p_exact"] = float(stats.ks_2samp(x, y, method="exact").pvalue)
            else:
                # Where fledge uses the limit, it is at or above SciPy's asymptotic p.
                assert case["p_limit"] >= case["p_asymp"] - 1e-12, case
            out["ks_2samp"].append(case)
    for lam in [0.05, 0.3, 0.6, 0.9, 1.0, 1.17, 1.19, 1.5, 2.0, 3.0, 4.5, 6.0]:
        out["kolmogorov"].append({"lambda": lam, "sf": float(stats.kstwobign.sf(lam))})
    tables = [([30, 40, 30], [300, 420, 280]), ([5, 0, 3, 90, 2], [60, 5, 20, 900, 15]),
              ([120, 60, 15, 5, 0, 0], [2000, 1500, 300, 150, 40, 10]), ([1, 1], [1, 0]),
              ([50, 40, 10, 1, 0, 2], [55, 45, 12, 2, 1, 0]), ([400, 100], [3600, 1400]),
              ([7, 3, 0, 0, 0, 0, 0, 1], [700, 300, 8, 6, 4, 2, 1, 9])]
    for _ in range(4):
        k = int(rng_d.integers(3, 12))
        p = rng_d.dirichlet(np.ones(k))
        q = rng_d.dirichlet(np.ones(k) * 5)
        tables.append((rng_d.multinomial(int(rng_d.integers(80, 600)), p).tolist(),
                       rng_d.multinomial(int(rng_d.integers(800, 9000)), q).tolist()))
    for c, b in tables:
        cols, pooled = pooled_columns(c, b)
        case = {"canary": c, "baseline": b, "columns": len(cols), "pooled": pooled}
        if len(cols) >= 2:
            t = np.array(cols).T
            res = stats.chi2_contingency(t, correction=False)
            case.update({"statistic": float(res.statistic), "df": int(res.dof), "p_value": float(res.pvalue)})
        else:
            case.update({"statistic": 0.0, "df": 0, "p_value": 1.0})
        out["chi_square"].append(case)
    for kx, ky, n1, n2, bins in [("normal", "normal", 200, 2000, 10), ("shifted", "normal", 500, 3000, 10),
                                 ("lognormal", "lognormal", 300, 900, 5), ("rounded", "rounded", 400, 1000, 10),
                                 ("rounded_up", "rounded", 150, 1500, 20), ("normal", "normal", 50, 60, 2),
                                 ("shifted", "normal", 1000, 1000, 10)]:
        x, y = gens[kx](n1), gens[ky](n2)
        value, edges, cc, bc = psi_reference(x, y, bins)
        out["psi"].append({"x": x.tolist(), "y": y.tolist(), "bins": bins, "psi": value,
                           "edges": edges, "canary_counts": cc, "baseline_counts": bc})
    for n1, n2, m1, m2, sd, ratio in [(100, 2000, 105.0, 100.0, 10.0, 1.02), (100, 2000, 105.0, 100.0, 10.0, 0.98),
                                      (30, 40, 50.0, 50.0, 20.0, 1.05), (1000, 19000, 99.0, 100.0, 25.0, 0.95),
                                      (5, 5, 2.0, 1.0, 0.5, 1.5), (2000, 2000, 10.0, 10.0, 1.0, 1.0)]:
        x = rng_d.normal(m1, sd, n1)
        y = rng_d.normal(m2, sd, n2)
        g = stats.ttest_ind(x, ratio * y, equal_var=False, alternative="greater")
        l = stats.ttest_ind(x, ratio * y, equal_var=False, alternative="less")
        mom = lambda a: {"count": len(a), "sum": float(a.sum()), "sum_sq": float((a * a).sum())}
        out["mean_ratio"].append({"canary": mom(x), "baseline": mom(y), "ratio": ratio,
                                  "t": float(g.statistic), "df": float(g.df),
                                  "p_greater": float(g.pvalue), "p_less": float(l.pvalue)})


def main():
    out = {
        "generator": "crates/fledge-gate/testdata/make_reference.py",
        "scipy": scipy.__version__,
        "numpy": np.__version__,
        "mann_whitney": [],
        "welch": [],
        "two_proportion": [],
        "msprt_means": [],
        "msprt_proportions": [],
        "hodges_lehmann": [],
        "binomial_tail": [],
        "conditional_binomial": [],
        "conditional_mixture": [],
        "one_sample_t": [],
        "ks_2samp": [],
        "kolmogorov": [],
        "chi_square": [],
        "psi": [],
        "mean_ratio": [],
    }
    kinds = [("normal", "normal"), ("shifted", "normal"), ("lognormal", "lognormal"), ("ties", "ties"), ("coarse", "coarse"), ("ties", "coarse")]
    sizes = [(1, 1), (1, 5), (3, 4), (7, 12), (20, 20), (50, 35), (120, 200)]
    for kx, ky in kinds:
        for n1, n2 in sizes:
            x, y = sample(kx, n1), sample(ky, n2)
            case = {"x": x.tolist(), "y": y.tolist()}
            out["mann_whitney"].append({**case, **mw(x, y)})
            if n1 >= 2 and n2 >= 2 and (x.var() > 0 or y.var() > 0):
                out["welch"].append({**case, **welch(x, y)})
            if n1 * n2 > 1 and len(np.unique(np.concatenate([x, y]))) > 2 and n1 + n2 <= 120:
                out["hodges_lehmann"].append({**case, "confidence": 0.95, **hodges_lehmann(x, y, 0.95)})
    for x1, n1, x2, n2 in [(0, 100, 0, 1000), (1, 100, 0, 1000), (5, 200, 10, 4000), (15, 1000, 5, 1000),
                           (3, 10, 7, 10), (100, 100, 99, 100), (50, 5000, 480, 95000), (0, 1, 1, 1),
                           (12, 345, 67, 8901), (1000, 100000, 1100, 100000)]:
        out["two_proportion"].append({"canary_events": x1, "canary_n": n1, "baseline_events": x2, "baseline_n": n2, **two_prop(x1, n1, x2, n2)})
    for tau, alpha in [(0.01, 0.05), (0.005, 0.01), (0.05, 0.1)]:
        for x1, n1, x2, n2 in [(5, 200, 10, 4000), (15, 1000, 5, 1000), (30, 1000, 95, 19000), (3, 500, 60, 9500)]:
            pool = (x1 + x2) / (n1 + n2)
            v = pool * (1 - pool) * (1 / n1 + 1 / n2)
            out["msprt_proportions"].append({"canary_events": x1, "canary_n": n1, "baseline_events": x2, "baseline_n": n2,
                                             "tau": tau, "alpha": alpha, **msprt(x1 / n1 - x2 / n2, v, tau, alpha)})
    for tau, alpha in [(1.0, 0.05), (0.2, 0.01)]:
        for n1, n2, shift in [(30, 600, 0.0), (100, 2000, 0.5), (500, 9500, 0.1), (10, 10, 2.0)]:
            x = rng.normal(10 + shift, 2.0, n1)
            y = rng.normal(10, 2.0, n2)
            v = x.var(ddof=1) / n1 + y.var(ddof=1) / n2
            out["msprt_means"].append({"canary": {"count": n1, "sum": float(x.sum()), "sum_sq": float((x * x).sum())},
                                       "baseline": {"count": n2, "sum": float(y.sum()), "sum_sq": float((y * y).sum())},
                                       "tau": tau, "alpha": alpha, **msprt(x.mean() - y.mean(), v, tau, alpha)})
    # Quantile thresholds (k of n samples above max, p = 1 - q), error-rate
    # thresholds (p = max), the far tails and millions of trials.
    for k, n, p in [(0, 60, 0.01), (1, 60, 0.01), (2, 60, 0.01), (4, 60, 0.01), (7, 60, 0.01), (60, 60, 0.01),
                    (3, 150, 0.01), (12, 1000, 0.01), (25, 1000, 0.01), (2, 1000, 0.001), (9, 300, 0.01),
                    (0, 500, 0.5), (250, 500, 0.5), (240, 500, 0.5), (480, 500, 0.5), (1, 1, 0.3),
                    (5, 20, 0.99), (19, 20, 0.99), (10_500, 1_000_000, 0.01), (9_700, 1_000_000, 0.01),
                    (150, 100_000, 0.001), (30, 3_000_000, 0.00001), (40, 100, 0.1)]:
        out["binomial_tail"].append({"events": k, "trials": n, "p": p, **binomial_tail(k, n, p)})
    # The coordinator's cases (1 in 54 vs 0 in 746; 2 in 136 vs 2 in 2764),
    # rare and frequent events, lopsided and even splits.
    counts = [(1, 54, 0, 746), (2, 136, 2, 2764), (0, 54, 0, 746), (2, 40, 0, 760), (3, 100, 1, 1900),
              (5, 200, 10, 4000), (15, 1000, 5, 1000), (30, 1000, 95, 19000), (3, 500, 60, 9500),
              (60, 3000, 30, 3000), (0, 500, 40, 9500), (7, 7, 0, 93), (120, 1500, 300, 28500),
              (500, 50000, 9000, 950000), (12, 345, 67, 8901), (2, 2, 1, 1)]
    for x1, n1, x2, n2 in counts:
        out["conditional_binomial"].append({"canary_events": x1, "canary_n": n1, "baseline_events": x2, "baseline_n": n2,
                                            **conditional_binomial(x1, n1, x2, n2)})
        out["conditional_mixture"].append({"canary_events": x1, "canary_n": n1, "baseline_events": x2, "baseline_n": n2,
                                           **conditional_mixture(x1, n1, x2, n2)})
    drift(out)
    rng_t = np.random.default_rng(20261123)
    for n, mean, sd, mu0, conf in [(2, 1.0, 1.0, 0.5, 0.99), (10, 1.2, 0.3, 1.1, 0.99), (50, 1.0, 0.5, 1.1, 0.95),
                                   (200, 31.0, 8.0, 30.0, 0.99), (1000, 0.98, 0.2, 1.0, 0.9), (30, -3.0, 2.0, -2.0, 0.5)]:
        x = rng_t.normal(mean, sd, n)
        out["one_sample_t"].append(one_sample_t(x, mu0, conf))
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {path}: " + ", ".join(f"{k} {len(v)}" for k, v in out.items() if isinstance(v, list)))


if __name__ == "__main__":
    main()
