"""Exact accuracy-vs-latency Pareto front over every evaluated configuration."""

from __future__ import annotations

import numpy as np

from planner.optimize.evaluate import Evaluation

ACC_STEP = 1e-6


def pareto_front(ev: Evaluation, max_latency: float | None = None) -> list[tuple[int, int, int]]:
    """Configurations not beaten on both accuracy (higher) and latency quantile (lower), by latency. A point
    must add at least ACC_STEP of accuracy to enter: below that the gain is numerical noise of the accuracy
    tables (and invisible in the 6-decimal CSV), not a reason to wait longer."""
    lat = ev.lat("q")
    ok = ev.fits_memory[None, None, :] & np.ones_like(ev.acc, dtype=bool)
    if max_latency is not None:
        ok &= lat <= max_latency
    idx = np.argwhere(ok)
    if len(idx) == 0:
        return []
    l, a = lat[ok], ev.acc[ok]
    order = np.lexsort((-a, l))          # by latency, then accuracy descending
    front, best = [], -np.inf
    for j in order:
        if a[j] > best + ACC_STEP:
            front.append(tuple(int(v) for v in idx[j]))
            best = a[j]
    return front
