"""Fit target and draft step coefficients jointly to whole decoding rounds, as the latency model adds them up.

Why: the latency model prices a round with K drafts as t(B, K+1, L) + verify_s + K * t_draft(B, 1, L)
(planner.model.latency.round_time). Fitting the target to "round minus draft time" and the draft to "draft
time / forwards" separately misplaces costs that scale per round rather than per forward: the drafter's
per-round work (catching up on accepted tokens, sampling, syncing its cache) was divided among its forwards, so
K = 4 rounds were predicted 20-30 % slow on the miniature world while K = 2 rounds fitted. Here every round is
compared with exactly the prediction the planner makes for it, so a per-round cost lands in `verify_s` and the
draft's t0 is the cost of one more forward. Starts from the separate fits (fast, and a sane fallback)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from planner.calibrate.fit import LOWER, NAMES, PRIOR_WEIGHT, UPPER
from planner.model.latency import StepModel, spec_round
from planner.profile.schema import ModelArch, StepCoeffs


def round_model(target: StepCoeffs, draft: StepCoeffs, arch: ModelArch, darch: ModelArch, K, B, L):
    """Predicted round time for arrays K, B, L (planner.model.latency.spec_round, as the planner prices it)."""
    return spec_round(StepModel(target, arch), StepModel(draft, darch), K, B, L)


def _x(c: StepCoeffs) -> np.ndarray:
    return np.log([getattr(c, n) for n in NAMES])


def _c(x: np.ndarray) -> StepCoeffs:
    return StepCoeffs(*(float(v) for v in np.exp(x[:4])))


def fit_rounds(rounds: list[dict], arch: ModelArch, darch: ModelArch, target0: StepCoeffs,
               draft0: StepCoeffs) -> tuple[StepCoeffs, StepCoeffs, list[float]]:
    """rounds: [{"K", "B", "L", "t_s", "n"}] pooled whole rounds (K = 0: plain decode). Returns target coeffs
    (with verify_s), draft coeffs and the relative residual of each point. Weighted by n (rounds per point),
    relative residuals, soft-L1 loss and log-space bounds as in planner.calibrate.fit."""
    from scipy.optimize import least_squares

    K = np.array([r["K"] for r in rounds], float)
    B = np.array([r["B"] for r in rounds], float)
    L = np.array([r["L"] for r in rounds], float)
    t = np.array([r["t_s"] for r in rounds], float)
    w = np.array([r.get("n", 1) for r in rounds], float)
    sw = np.sqrt(w / w.mean())
    lo = np.concatenate([np.log(LOWER), [np.log(1e-7)], np.log(LOWER)])
    hi = np.concatenate([np.log(UPPER), [np.log(10.0)], np.log(UPPER)])

    def unpack(x):
        return replace(_c(x[:4]), verify_s=float(np.exp(x[4]))), _c(x[5:])

    def resid(x):
        tc, dc = unpack(x)
        pred = round_model(tc, dc, arch, darch, K, B, L)
        return np.concatenate([sw * (pred - t) / t, [PRIOR_WEIGHT * (x[2] - x[1]), PRIOR_WEIGHT * (x[7] - x[6])]])

    x0 = np.concatenate([_x(target0), [np.log(max(target0.verify_s or 0.0, 1e-6))], _x(draft0)])
    best = None
    for shift in (0.0, np.log(0.5)):  # also start with the drafter's fixed cost halved: it may be per round
        xs = x0.copy()
        xs[5] += shift
        r = least_squares(resid, np.clip(xs, lo + 1e-6, hi - 1e-6), bounds=(lo, hi), loss="soft_l1", f_scale=0.05)
        if best is None or r.cost < best.cost:
            best = r
    tc, dc = unpack(best.x)
    rel = (round_model(tc, dc, arch, darch, K, B, L) - t) / t
    err = float(np.median(np.abs(rel)))
    return replace(tc, fit_rel_error=round(err, 5)), replace(dc, fit_rel_error=round(err, 5)), \
        [round(float(v), 5) for v in rel]
