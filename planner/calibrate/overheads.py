"""The decode loop's own time per round beyond the forwards, measured on the engine's generation rounds: the
plain round's overhead (sampling, stop checks, bookkeeping; added to t0), a verify round's extra (rejection
sampling, KV rollback, an n-gram lookup; the step's `verify_s`) and a draft forward's extra (added to the draft's
t0). Medians, so a few rounds slowed by the machine do not move them."""

from __future__ import annotations

import numpy as np

from planner.calibrate.fit import predict


def _excess(rounds: list[dict], coeffs, arch, tp: int, level: float | None, clock: str) -> np.ndarray:
    """Per round: time spent beyond the target forward and the drafter's own forwards. Rounds that carry the
    forward's own time (`forward_s`, engine records since 2026-11-26) give it directly: both parts are timed at
    the same moment, so a machine whose speed drifted since the sweep does not turn drift into "overhead" (the
    quick fidelity bench read 0, 38 and 45 ms per round from the same code that way). Older records fall back
    to the forward StepModel predicts; with `level` (the reference time the coefficients are normalised to)
    that forward is scaled to the load around the round, and the excess expressed back at `level`."""
    if rounds and all(r.get("forward_s", 0) > 0 for r in rounds):
        own = np.array([r["wall_s"] - r["forward_s"] - (r["draft_s"] if r["draft_forwards"] else 0.0)
                        for r in rounds])
        return own * (np.array([r.get("cpu_scale", 1.0) for r in rounds]) if clock == "cpu" else 1.0)
    B = np.array([r["batch"] for r in rounds], float)
    q = np.array([r["q"] for r in rounds], float)
    L = np.array([r["context"] for r in rounds], float)
    wall = np.array([r["wall_s"] - (r["draft_s"] if r["draft_forwards"] else 0.0) for r in rounds])
    if clock == "cpu":  # the engine records wall time; the prompt's CPU/wall ratio converts it
        wall = wall * np.array([r.get("cpu_scale", 1.0) for r in rounds])
        level = None
    load = np.array([r["ref_s"] / level if level and r.get("ref_s") else 1.0 for r in rounds])
    return (wall - predict(coeffs, arch, B, q, L, tp) * load) / load


def loop_overhead(rounds: list[dict], coeffs, arch, tp: int, level: float | None = None,
                  clock: str = "wall") -> tuple[float, int]:
    """Median time per plain decode round (q = 1) beyond the forward: sampling, stop checks, bookkeeping.
    Added to t0, so every round pays it. Returns (seconds, rounds used); 0 with fewer than 10 rounds."""
    plain = [r for r in rounds if r["q"] == 1]
    if len(plain) < 10:
        return 0.0, len(plain)
    return max(0.0, float(np.median(_excess(plain, coeffs, arch, tp, level, clock)))), len(plain)


def verify_overhead(rounds: list[dict], coeffs, arch, tp: int, level: float | None = None,
                    clock: str = "wall", loop_s: float = 0.0) -> tuple[float, int]:
    """Median extra time of a verify round (q > 1) beyond the plain round's: rejection sampling, KV rollback,
    an n-gram lookup. Stored as the step's `verify_s`; (seconds, rounds). With measured forwards the excess is
    taken over the forward and `loop_s` (the plain rounds' overhead); otherwise over `coeffs`' prediction,
    whose t0 already holds the loop overhead."""
    spec = [r for r in rounds if r["q"] > 1]
    if len(spec) < 10:
        return 0.0, len(spec)
    measured = all(r.get("forward_s", 0) > 0 for r in spec)
    ex = _excess(spec, coeffs, arch, tp, level, clock) - (loop_s if measured else 0.0)
    return max(0.0, float(np.median(ex))), len(spec)


def draft_overhead(rounds: list[dict], coeffs, arch, tp: int, clock: str = "wall") -> float:
    """Median time per draft forward beyond the draft model's fitted forward (its sampling and bookkeeping in
    the engine), from rounds that ran the draft model; added to the draft's t0. 0 with fewer than 10 rounds."""
    rs = [r for r in rounds if r["draft_forwards"]]
    if len(rs) < 10:
        return 0.0
    scale = np.array([r.get("cpu_scale", 1.0) if clock == "cpu" else 1.0 for r in rs])
    n = np.array([r["draft_forwards"] for r in rs], float)
    fw = np.array([sum(float(predict(coeffs, arch, r["batch"], 1, r["context"] + i, tp))
                       for i in range(r["draft_forwards"])) for r in rs])
    return max(0.0, float(np.median((np.array([r["draft_s"] for r in rs]) * scale - fw) / n)))
