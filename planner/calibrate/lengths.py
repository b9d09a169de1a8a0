"""Generation-length distribution from sampled branches: the empirical tokens plus a log-normal summary.

The latency model's straggler term depends on the upper tail (the slowest of N branches), so the profile
keeps the empirical tokens when there are enough distinct values; the log-normal fit (robust: median and
interquartile range of log-lengths, which tolerate branches cut at max_tokens as long as fewer than a quarter
are cut) is stored beside it, and used alone when the sample is too small to be its own distribution.

Branches of one prompt share its difficulty, so the share of length variance between prompts is measured too
(`between_share`, the Gaussian-copula correlation of planner/model/lengths.py): without it the latency model
would treat the 16 branches of a hard problem as 16 independent draws."""

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


def between_share(groups: list[list[int]]) -> float | None:
    """Correlation of two branches of the same prompt on the normal-score scale (Phi^-1 of the pooled rank),
    by one-way random-effects ANOVA; None with fewer than 3 prompts of 2+ branches. Clipped to [0, 0.95]."""
    groups = [list(g) for g in groups if len(g) >= 2]
    if len(groups) < 3:
        return None
    from scipy.stats import rankdata

    from planner.special import norm_ppf

    flat = np.concatenate([np.asarray(g, float) for g in groups])
    ranks = rankdata(flat) - 1.0          # ties (e.g. many branches at max_tokens) share their mean rank
    y = norm_ppf((ranks + 0.5) / len(flat))
    parts = np.split(y, np.cumsum([len(g) for g in groups])[:-1])
    n = np.array([len(g) for g in parts], float)
    within = sum(((g - g.mean()) ** 2).sum() for g in parts) / (n.sum() - len(parts))
    means = np.array([g.mean() for g in parts])
    n0 = (n.sum() - (n ** 2).sum() / n.sum()) / (len(parts) - 1)
    between_ms = (n * (means - y.mean()) ** 2).sum() / (len(parts) - 1)
    s2b = max((between_ms - within) / n0, 0.0)
    return round(float(min(s2b / max(s2b + within, 1e-12), 0.95)), 4)


def length_section(tokens: list[int], cap: int | None = None,
                   groups: list[list[int]] | None = None) -> tuple[dict, dict]:
    """(profile `lengths` section, calibration record with both fits and the share cut at the cap); with
    per-prompt `groups` of the same tokens, also the between-prompt share."""
    tokens = sorted(int(x) for x in tokens)
    logn = fit_lognormal(tokens, cap)
    cut = sum(1 for x in tokens if cap and x >= cap) / len(tokens)
    record = {"n": len(tokens), "cap": cap, "share_at_cap": round(cut, 4), "lognormal": logn,
              "mean_tokens": round(float(np.mean(tokens)), 2)}
    rho = between_share(groups) if groups else None
    extra = {} if rho is None else {"between_share": rho}
    if groups:
        record["between_share"] = rho
        record["prompts"] = len(groups)
    if len(set(tokens)) >= MIN_EMPIRICAL:
        return {"kind": "empirical", "tokens": tokens, **extra}, record
    return logn | extra, record
