"""Fit the planner's latency model to step times and prefill times measured on a serving engine.

Thin on purpose: the step formula itself lives in planner.model.latency.StepModel, so a profile fitted here
predicts exactly what `planner predict` will compute. Residuals are relative (a 2 ms step and a 900 ms step
weigh the same), parameters are fitted in log space so they stay positive."""

from __future__ import annotations

import numpy as np

from planner.errors import PlannerError
from planner.model.latency import StepModel
from planner.profile.schema import ModelArch, PrefillCoeffs, StepCoeffs

_BOUND = (1e-3, 1e6)  # GB/s and TFLOP/s stay inside this (a 2-core CPU to a GPU cluster)


def _coeffs(x: np.ndarray) -> StepCoeffs:
    t0, bw, kv, fl = np.exp(x)
    return StepCoeffs(float(t0), float(bw), float(kv), float(fl))


def fit_step(points: list[dict], arch: ModelArch, tp: int = 1) -> StepCoeffs:
    """points: [{"B", "q", "L", "t_s"}] (active sequences, query tokens per sequence, context, step seconds)."""
    from scipy.optimize import least_squares

    pts = [p for p in points if p.get("t_s", 0) > 0]
    if len(pts) < 2:
        raise PlannerError(f"need at least 2 measured decode steps to fit the step model, got {len(pts)}")
    B, q, L, t = (np.array([float(p[k]) for p in pts]) for k in ("B", "q", "L", "t_s"))

    def model(x):
        return StepModel(_coeffs(x), arch, tp).time(B, q, L)

    def resid(x):
        return (model(x) - t) / t

    # Start: t0 = a third of the smallest step; bandwidth and flops from the B=1 and largest-B points.
    t_min, i_max = float(t.min()), int(np.argmax(B * q))
    bw0 = arch.weight_bytes / tp / max(t_min * 0.67, 1e-6) / 1e9
    fl0 = 2 * arch.params / tp * B[i_max] * q[i_max] / max(float(t[i_max]), 1e-6) / 1e12
    lo = np.log([1e-7, _BOUND[0], _BOUND[0], _BOUND[0] / 1e3])
    hi = np.log([10.0, _BOUND[1], _BOUND[1], _BOUND[1]])
    best = None
    for t0_frac in (0.1, 0.33, 0.8):
        x0 = np.clip(np.log([max(t_min * t0_frac, 1e-6), bw0, bw0, max(fl0, 1e-6)]), lo + 1e-9, hi - 1e-9)
        r = least_squares(resid, x0, bounds=(lo, hi), loss="soft_l1", f_scale=0.1)
        if best is None or r.cost < best.cost:
            best = r
    c = _coeffs(best.x)
    err = float(np.median(np.abs(resid(best.x))))
    return StepCoeffs(c.t0_s, c.weight_bw_GBps, c.kv_bw_GBps, c.tflops, fit_rel_error=round(err, 4))


def fit_prefill(points: list[dict]) -> PrefillCoeffs:
    """points: [{"tokens", "t_s"}]; t = t0 + s * tokens with both >= 0 (non-negative least squares)."""
    from scipy.optimize import nnls

    pts = [p for p in points if p.get("t_s", 0) > 0]
    if not pts:
        raise PlannerError("no prefill time was measured")
    x = np.array([float(p["tokens"]) for p in pts])
    t = np.array([float(p["t_s"]) for p in pts])
    if len(set(x.tolist())) < 2:
        return PrefillCoeffs(float(t.min()), 0.0)
    w = 1.0 / t  # relative residuals
    sol, _ = nnls(np.stack([np.ones_like(x), x], 1) * w[:, None], t * w)
    return PrefillCoeffs(float(sol[0]), float(sol[1]))


def step_predictions(points: list[dict], coeffs: StepCoeffs, arch: ModelArch, tp: int = 1) -> list[float]:
    m = StepModel(coeffs, arch, tp)
    return [float(m.time(p["B"], p["q"], p["L"])) for p in points]
