#!/usr/bin/env python3
"""Reference sample sizes for fledge-experiment's SampleSize, from SciPy and statsmodels.

Run from this directory:  python3 make_sample_size.py  (needs scipy, statsmodels)
Writes sample_size.json next to this script; tests/sample_size_reference.rs reads it.

Every case is a two-sided test of one treatment against the control, equal
exposures per variant, at level alpha / comparisons (Bonferroni):

- "pooled": the closed form for the pooled two-proportion z-test (Fleiss,
  no continuity correction), computed with scipy.stats.norm.ppf:
      n = (z(1 - a/2) sqrt(2 pbar (1 - pbar)) + z(power) sqrt(p1 q1 + p2 q2))^2 / (p2 - p1)^2
- "arcsine": statsmodels NormalIndPower().solve_power(effect_size=
  proportion_effectsize(p2, p1), alpha=a, power=power, ratio=1,
  alternative="two-sided") (Cohen's h, exact two-sided power).
- "means": statsmodels NormalIndPower().solve_power(effect_size=delta / sd, ...).

The MDE is absolute (p2 = p1 + mde) or relative (p2 = p1 * (1 + mde)).
"""

import json
import math
import os

import scipy
import statsmodels
from scipy.stats import norm
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize


def pooled(p1, p2, alpha, power):
    za = norm.ppf(1 - alpha / 2)
    zb = norm.ppf(power)
    pbar = (p1 + p2) / 2
    a = za * math.sqrt(2 * pbar * (1 - pbar))
    b = zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return (a + b) ** 2 / (p2 - p1) ** 2


def arcsine(p1, p2, alpha, power):
    h = proportion_effectsize(p2, p1)
    return float(
        NormalIndPower().solve_power(
            effect_size=abs(h), alpha=alpha, power=power, ratio=1.0, alternative="two-sided"
        )
    )


def means(d, alpha, power):
    return float(
        NormalIndPower().solve_power(
            effect_size=abs(d), alpha=alpha, power=power, ratio=1.0, alternative="two-sided"
        )
    )


cases = []
for method in ("pooled", "arcsine"):
    for baseline in (0.01, 0.04, 0.05, 0.1, 0.2, 0.5):
        for mde_kind, mde in (("absolute", 0.005), ("absolute", 0.02), ("relative", 0.1), ("relative", -0.2)):
            for alpha, power, comparisons in ((0.05, 0.8, 1), (0.01, 0.9, 1), (0.1, 0.8, 3), (0.05, 0.95, 2)):
                p2 = baseline + mde if mde_kind == "absolute" else baseline * (1 + mde)
                if not 0 < p2 < 1:
                    continue
                a = alpha / comparisons
                n = pooled(baseline, p2, a, power) if method == "pooled" else arcsine(baseline, p2, a, power)
                cases.append(
                    {
                        "kind": "proportions",
                        "method": method,
                        "baseline": baseline,
                        "mde_kind": mde_kind,
                        "mde": mde,
                        "alpha": alpha,
                        "power": power,
                        "comparisons": comparisons,
                        "n": n,
                    }
                )
for sd, base, mde_kind, mde in ((10.0, 50.0, "absolute", 1.0), (2.5, 4.0, "relative", 0.05), (30.0, 12.0, "absolute", -3.0)):
    for alpha, power, comparisons in ((0.05, 0.8, 1), (0.01, 0.9, 2)):
        delta = mde if mde_kind == "absolute" else base * mde
        cases.append(
            {
                "kind": "means",
                "std_dev": sd,
                "baseline": base,
                "mde_kind": mde_kind,
                "mde": mde,
                "alpha": alpha,
                "power": power,
                "comparisons": comparisons,
                "n": means(delta / sd, alpha / comparisons, power),
            }
        )

out = {
    "generator": "make_sample_size.py",
    "scipy": scipy.__version__,
    "statsmodels": statsmodels.__version__,
    "cases": cases,
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample_size.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print(f"wrote {len(cases)} cases to {path}")
