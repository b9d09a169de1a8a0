"""Fit the planner's latency model to step times and prefill times measured on a serving engine.

Thin on purpose: the step formula lives in planner.model.latency.StepModel and the least-squares fit in
planner.calibrate.fit, so a profile fitted from an engine predicts exactly what `planner predict` computes and shares
the device calibration's fit (relative residuals, log-space parameters, robust loss)."""

from __future__ import annotations

import numpy as np

from planner.errors import PlannerError
from planner.model.latency import StepModel
from planner.profile.schema import ModelArch, PrefillCoeffs, StepCoeffs


def fit_step(points: list[dict], arch: ModelArch, tp: int = 1, fit_verify: bool = False,
             weight_key: str | None = None) -> StepCoeffs:
    """points: [{"B", "q", "L", "t_s"}] (active sequences, query tokens per sequence, context, step seconds).
    The fit itself is the calibration stage's (planner.calibrate.fit.fit_step): one fit for every source of points;
    fit_verify for whole engine rounds (a verify round's fixed extra work, `verify_s`); weight_key: a field
    weighting each point (e.g. "n", the rounds a pooled point stands for)."""
    from planner.calibrate.fit import fit_step as fit_points
    from planner.calibrate.points import StepPoint

    pts = [p for p in points if p.get("t_s", 0) > 0]
    if len(pts) < 2:
        raise PlannerError(f"need at least 2 measured decode steps to fit the step model, got {len(pts)}")
    if len(pts) == 2:  # the general fit wants 3 points; the middle of two is as good a third as any
        a, b = pts
        pts.append({k: (float(a[k]) + float(b[k])) / 2 for k in ("B", "q", "L", "t_s")}
                   | ({weight_key: 1.0} if weight_key else {}))
    sp = [StepPoint("target", int(round(float(p["B"]))), int(round(float(p["q"]))), int(round(float(p["L"]))),
                    float(p["t_s"])) for p in pts]
    w = [float(p.get(weight_key, 1.0)) for p in pts] if weight_key else None
    return fit_points(sp, arch, tp=tp, fit_verify=fit_verify, weights=w).coeffs


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
