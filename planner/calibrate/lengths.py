"""Generation-length distribution from sampled branches: the empirical tokens plus a log-normal summary.

The latency model's straggler term depends on the upper tail (the slowest of N branches), so the profile
keeps the empirical tokens when there are enough distinct values; the log-normal fit (robust: median and
interquartile range of log-lengths, which tolerate branches cut at max_tokens as long as fewer than a quarter
are cut) is stored beside it, and used alone when the sample is too small to be its own distribution.

Branches of one prompt share its difficulty, so the share of length variance between prompts is measured too
(`between_share`, the Gaussian-copula correlation of planner/model/lengths.py): without it the latency model
would treat the 16 branches of a hard problem as 16 independent draws. With enough prompts the shape of one
prompt's own spread is fitted too (`within_shape`): it decides how often a deadline leaves no branch finished."""

from __future__ import annotations

import math

import numpy as np

from planner.errors import PlannerError

MIN_EMPIRICAL = 8  # distinct values needed before the empirical distribution is used as is
MIN_SHAPE_PROMPTS = 30  # prompts with 2+ branches needed before the within-problem shape is fitted


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
    per-prompt `groups` of the same tokens, also the between-prompt share, and with MIN_SHAPE_PROMPTS of them
    the within-problem shape (`within_shape`, stored when not normal)."""
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
    if rho and len(groups) >= MIN_SHAPE_PROMPTS:   # the no-finish curve of fewer prompts is too coarse to fit
        s, fit = within_shape(groups, rho)
        record["within_shape"] = {"value": s, **fit}
        if s > 0:
            extra["within_shape"] = s
    if len(set(tokens)) >= MIN_EMPIRICAL:
        return {"kind": "empirical", "tokens": tokens, **extra}, record
    return logn | extra, record


WITHIN_SHAPE_GRID = np.round(np.arange(0.0, 1.0001, 0.05), 2)
NO_FINISH_SHARES = np.round(np.arange(0.1, 0.91, 0.1), 2)


def no_finish_curve(groups: list[list[int]], shares=NO_FINISH_SHARES) -> np.ndarray:
    """Share of prompts none of whose branches is at or below the pooled `share` length quantile (inverted CDF:
    a deadline that lets that share of all branches finish), for each share."""
    flat = np.concatenate([np.asarray(g, float) for g in groups])
    thr = np.quantile(flat, np.asarray(shares, float), method="inverted_cdf")
    mins = np.array([min(g) for g in groups], float)
    return (mins[None, :] > thr[:, None]).mean(1)


def no_finish_model(rho: float, s: float, sizes, shares=NO_FINISH_SHARES) -> np.ndarray:
    """The length model's chance that none of a prompt's branches finishes at each share (prompts of `sizes`
    branches, averaged): sum over Z of (1 - G((H^-1(f) - a Z) / b))^M, planner/model/lengths.py's definition."""
    from planner.model.lengths import latent

    lat = latent(rho, s)
    z = np.linspace(-8.0, 8.0, 321)
    wz = np.exp(-z ** 2 / 2)
    wz /= wz.sum()
    e = (lat.ppf(np.asarray(shares, float))[:, None] - lat.a * z[None, :]) / lat.b        # (F, Z)
    miss = 1.0 - lat.g.cdf(e)
    m = np.asarray(sizes, float)
    return np.mean([(miss ** k) @ wz for k in m], axis=0)


def within_shape(groups: list[list[int]], rho: float) -> tuple[float, dict]:
    """The within-problem length shape s (planner/model/lengths.py `WithinShape`) that best reproduces how often
    no branch of a prompt finishes when a share f of all branches does (least squares over f = 0.1..0.9, s on a
    0.05 grid in [0, 1]): that share is what the shape of a prompt's shortest branch decides, and what a deadline
    cut's accuracy depends on most. Returns (s, {"observed", "predicted", "shares"})."""
    groups = [list(g) for g in groups if len(g) >= 2]
    if len(groups) < 3 or rho <= 0:
        return 0.0, {}
    obs = no_finish_curve(groups)
    sizes = [len(g) for g in groups]
    sizes = sorted(set(sizes)) if len(set(sizes)) == 1 else sizes
    err = [float(((no_finish_model(rho, s, sizes) - obs) ** 2).sum()) for s in WITHIN_SHAPE_GRID]
    s = float(WITHIN_SHAPE_GRID[int(np.argmin(err))])
    return s, {"shares": NO_FINISH_SHARES.tolist(), "observed": obs.round(4).tolist(),
               "predicted": no_finish_model(rho, s, sizes).round(4).tolist()}
