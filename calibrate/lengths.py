"""Generation-length distribution from sampled branches: the empirical tokens plus a log-normal summary.

The latency model's straggler term depends on the upper tail (the slowest of N branches), so the profile
keeps the empirical tokens when there are enough distinct values; the log-normal fit (robust: median and
interquartile range of log-lengths, which tolerate branches cut at max_tokens as long as fewer than a quarter
are cut) is stored beside it, and used alone when the sample is too small to be its own distribution."""

from __future__ import annotations

import math

import numpy as np

from planner.errors import PlannerError

MIN_EMPIRICAL = 8  # distinct values needed before the empirical distribution is used as is


def fit_lognormal(tokens: list[int], cap: int | None = None) -> dict:
    t = np.asarray([x for x in tokens if x >= 1], float)
    if len(t) == 0:
        raise PlannerError("no generated lengths to fit")
    logs = np.log(t)
    med = float(np.exp(np.median(logs)))
    q25, q75 = np.quantile(logs, [0.25, 0.75])
    sigma = float((q75 - q25) / 1.349) if len(t) >= 4 else float(np.std(logs))
    sigma = max(sigma, 0.05)
    hi = int(cap) if cap else int(max(t.max(), math.ceil(med * math.exp(3 * sigma))))
    return {"kind": "lognormal", "median_tokens": round(med, 2), "sigma": round(sigma, 4),
            "min_tokens": int(max(1, t.min())), "max_tokens": max(hi, int(t.max()), int(max(1, t.min())))}


def length_section(tokens: list[int], cap: int | None = None) -> tuple[dict, dict]:
    """(profile `lengths` section, calibration record with both fits and the share cut at the cap)."""
    tokens = sorted(int(x) for x in tokens)
    logn = fit_lognormal(tokens, cap)
    cut = sum(1 for x in tokens if cap and x >= cap) / len(tokens)
    record = {"n": len(tokens), "cap": cap, "share_at_cap": round(cut, 4), "lognormal": logn,
              "mean_tokens": round(float(np.mean(tokens)), 2)}
    if len(set(tokens)) >= MIN_EMPIRICAL:
        return {"kind": "empirical", "tokens": tokens}, record
    return logn, record
