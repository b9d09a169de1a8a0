"""Exhaustive search: evaluate every (method, K, N) at once and take the most accurate feasible one.

Ties (accuracy within TIE_TOL) go to the lower latency quantile, so a plateau in accuracy never buys
needless branches."""

from __future__ import annotations

import numpy as np

from planner.optimize.evaluate import Evaluation

TIE_TOL = 1e-4


def best_index(ev: Evaluation, mask: np.ndarray | None = None) -> tuple[int, int, int] | None:
    """(method, K, N) indices of the best feasible configuration, or None if nothing is feasible."""
    ok = ev.feasible() if mask is None else mask
    if not ok.any():
        return None
    acc = np.where(ok, ev.acc, -np.inf)
    top = acc.max()
    near = ok & (acc >= top - TIE_TOL)
    lat = np.where(near, np.broadcast_to(ev.latency["q"], acc.shape), np.inf)
    return tuple(int(i) for i in np.unravel_index(np.argmin(lat), lat.shape))


def min_latency_index(ev: Evaluation, target_accuracy: float) -> tuple[int, int, int] | None:
    """Fastest configuration (latency quantile) whose accuracy reaches the target."""
    ok = ev.feasible(deadline=None) & (ev.acc >= target_accuracy)
    if not ok.any():
        return None
    lat = np.where(ok, np.broadcast_to(ev.latency["q"], ev.acc.shape), np.inf)
    return tuple(int(i) for i in np.unravel_index(np.argmin(lat), lat.shape))


def runners_up(ev: Evaluation, chosen: tuple[int, int, int], limit: int = 5) -> list[tuple[int, int, int]]:
    """Best feasible configuration of each other (method, K), by accuracy: the choices a user weighs.
    The best one without speculation always stays in the list (the baseline users compare with)."""
    ok = ev.feasible()
    out = []
    for m in range(len(ev.methods)):
        for k in range(len(ev.K)):
            if (m, k) == chosen[:2] or not ok[m, k].any():
                continue
            mask = np.zeros_like(ok)
            mask[m, k] = ok[m, k]
            out.append(best_index(ev, mask))
    out.sort(key=lambda i: (-ev.acc[i], ev.latency["q"][i[1:]]))
    no_spec = [i for i in out if ev.K[i[1]] == 0]
    top = out[:limit]
    if no_spec and no_spec[0] not in top:
        top = top[:limit - 1] + no_spec[:1]
    return top
