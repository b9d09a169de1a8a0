"""Fit the latency model's step and prefill coefficients to measured points.

The step formula is not re-implemented here: predictions come from planner.model.latency.StepModel, so a fitted
profile predicts exactly what `planner predict` / `recommend` compute. Choices, and why:
- residuals are relative ((pred - measured) / measured): a 5 ms and a 5 s step weigh the same;
- the four physical coefficients t0_s, weight_bw_GBps, kv_bw_GBps, tflops are fitted in log space inside
  physical bounds (positive, no 10^6 TFLOP/s CPU), with a few starting points because max() has kinks;
- weak priors (weight `PRIOR_WEIGHT`, a few % of one point) pull coefficients the sweep cannot see towards
  the microbenchmarks (bandwidth, GEMM) and kv_bw towards weight_bw: a sweep with no long context or no
  compute-bound point then still gives a sane knee instead of a bound value;
- soft-L1 loss: one step hit by another process on a shared machine does not drag the whole fit."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from planner.calibrate.points import StepPoint
from planner.errors import PlannerError
from planner.model.latency import StepModel
from planner.profile.schema import ModelArch, PrefillCoeffs, StepCoeffs

NAMES = ("t0_s", "weight_bw_GBps", "kv_bw_GBps", "tflops")
LOWER = np.array([1e-7, 1e-2, 1e-2, 1e-5])   # seconds, GB/s, GB/s, TFLOP/s
UPPER = np.array([10.0, 1e5, 1e5, 1e4])
PRIOR_WEIGHT = 0.02


@dataclass
class StepFit:
    coeffs: StepCoeffs
    rel_residuals: list[float]
    median_rel_error: float
    p90_rel_error: float
    n_points: int
    identified: dict = field(default_factory=dict)  # coefficient -> does the data constrain it?

    def to_dict(self) -> dict:
        names = NAMES + (("verify_s",) if self.coeffs.verify_s is not None else ())
        return {"coeffs": {k: getattr(self.coeffs, k) for k in names}, "n_points": self.n_points,
                "median_rel_error": round(self.median_rel_error, 5), "p90_rel_error": round(self.p90_rel_error, 5),
                "identified": self.identified}


def _coeffs(x: np.ndarray) -> StepCoeffs:
    """The four roofline coefficients from x[:4]; a fifth entry, when fitted, is the verify overhead."""
    c = StepCoeffs(*(float(v) for v in np.exp(x[:4])))
    return replace(c, verify_s=float(np.exp(x[4]))) if len(x) > 4 else c


def predict(coeffs: StepCoeffs, arch: ModelArch, B, q, L, tp: int = 1, interconnect_GBps=None) -> np.ndarray:
    return StepModel(coeffs, arch, tp, interconnect_GBps).time(B, q, L)


def fit_step(points: list[StepPoint], arch: ModelArch, tp: int = 1, interconnect_GBps: float | None = None,
             priors: dict | None = None, allreduce_s: float = 0.0, fit_verify: bool = False,
             weights=None) -> StepFit:
    """Least-squares fit of StepCoeffs to points of one role. priors: optional {"weight_bw_GBps": v,
    "tflops": v} from microbenchmarks (kv_bw is always pulled weakly towards weight_bw). fit_verify: also fit
    `verify_s`, the fixed extra time of a verify step (q > 1) — for points that are whole engine rounds, where
    rejection sampling and KV rollback cost time that no forward-only sweep sees. weights: optional per-point
    weights (e.g. how many rounds a pooled point stands for), so the fit matches where the time is spent."""
    from scipy.optimize import least_squares

    if len(points) < 3:
        raise PlannerError(f"the step fit needs at least 3 measured points, got {len(points)}")
    B = np.array([p.batch for p in points], float)
    q = np.array([p.query for p in points], float)
    L = np.array([p.context for p in points], float)
    t = np.array([p.seconds for p in points], float)
    w = np.ones_like(t) if weights is None else np.asarray(weights, float)
    if w.shape != t.shape or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise PlannerError("step fit: weights must be one positive number per point")
    sw = np.sqrt(w / w.mean())
    priors = {k: v for k, v in (priors or {}).items() if v and v > 0}
    lo, hi = np.log(LOWER), np.log(UPPER)
    verify = fit_verify and bool(np.any(q > 1)) and bool(np.any(q == 1))
    if verify:
        lo, hi = np.append(lo, np.log(1e-7)), np.append(hi, np.log(10.0))

    def model(x):
        c = replace(_coeffs(x), allreduce_s=allreduce_s)
        return StepModel(c, arch, tp, interconnect_GBps).time(B, q, L)

    def resid(x):
        r = [sw * (model(x) - t) / t, [PRIOR_WEIGHT * (x[2] - x[1])]]
        for i, name in enumerate(NAMES):
            if name in priors:
                r.append([PRIOR_WEIGHT * (x[i] - np.log(priors[name]))])
        return np.concatenate(r)

    # Starting points: memory floor from the cheapest step, compute from the widest one.
    t_min, wide = float(t.min()), int(np.argmax(B * q))
    starts = []
    for t0_frac in (0.05, 0.3, 0.7):
        bw0 = arch.weight_bytes / tp / max(t_min * (1 - t0_frac), 1e-9) / 1e9
        for fl_frac in (0.5, 1.0, 3.0):
            fl0 = fl_frac * 2 * arch.params / tp * B[wide] * q[wide] / max(float(t[wide]), 1e-9) / 1e12
            x0 = np.log([max(t_min * t0_frac, 1e-7), bw0, bw0, fl0])
            for tail in (np.log([[1e-6], [0.3 * t_min]]) if verify else [[]]):
                starts.append(np.clip(np.append(x0, tail), lo + 1e-6, hi - 1e-6))
    best = None
    for x0 in starts:
        r = least_squares(resid, x0, bounds=(lo, hi), loss="soft_l1", f_scale=0.05, x_scale=1.0)
        if best is None or r.cost < best.cost:
            best = r
    rel = (model(best.x) - t) / t
    err = np.abs(rel)
    # A coefficient is identified when moving it by 10 % moves some prediction by >= 1 %.
    ident = {}
    for i, name in enumerate(NAMES + (("verify_s",) if verify else ())):
        x2 = best.x.copy()
        x2[i] += np.log(1.1)
        ident[name] = bool(np.max(np.abs(model(x2) / model(best.x) - 1)) >= 0.01)
    c = replace(_coeffs(best.x), allreduce_s=allreduce_s, fit_rel_error=round(float(np.median(err)), 5))
    return StepFit(c, [round(float(v), 5) for v in rel], float(np.median(err)), float(np.quantile(err, 0.9)),
                   len(points), ident)


def fit_prefill(points: list[StepPoint]) -> tuple[PrefillCoeffs, float]:
    """t = t0 + s * tokens with t0, s >= 0, relative residuals; returns (coeffs, median |rel. error|).
    points: role 'prefill', query = prompt tokens."""
    from scipy.optimize import lsq_linear

    pts = [p for p in points if p.role == "prefill"]
    if not pts:
        raise PlannerError("no prefill points to fit")
    n = np.array([p.query for p in pts], float)
    t = np.array([p.seconds for p in pts], float)
    if len(pts) == 1 or len(set(n)) == 1:
        s = float(np.median(t / n))
        return PrefillCoeffs(0.0, s), float(np.median(np.abs(s * n - t) / t))
    A = np.stack([np.ones_like(n), n], 1) / t[:, None]
    sol = lsq_linear(A, np.ones_like(t), bounds=([0, 0], [np.inf, np.inf]))
    t0, s = (float(v) for v in sol.x)
    return PrefillCoeffs(t0, s), float(np.median(np.abs(t0 + s * n - t) / t))


def fit_step_pooled(points: list[dict], arch: ModelArch, tp: int = 1, fit_verify: bool = False,
             weight_key: str | None = None) -> StepCoeffs:
    """points: [{"B", "q", "L", "t_s"}] (active sequences, query tokens per sequence, context, step seconds).
    The fit itself is the calibration stage's (planner.calibrate.fit.fit_step): one fit for every source of points;
    fit_verify for whole engine rounds (a verify round's fixed extra work, `verify_s`); weight_key: a field
    weighting each point (e.g. "n", the rounds a pooled point stands for)."""
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
    return fit_step(sp, arch, tp=tp, fit_verify=fit_verify, weights=w).coeffs


def fit_prefill_pooled(points: list[dict]) -> PrefillCoeffs:
    """points: [{"tokens", "t_s"}]; t = t0 + s * tokens with both >= 0 (non-negative least squares). Unlike
    `fit_prefill`, one distinct prompt length gives t0 = the fastest time and s = 0 (an endpoint's prefill
    request is mostly fixed HTTP and scheduling cost)."""
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
