"""The seed paper's greedy allocation, kept as a baseline: start at one branch and no speculation; at each
step raise either the branch count or the draft length, whichever buys more predicted accuracy per second of
added latency, until the deadline binds. A move that is faster and no less accurate is always taken first; if
the start misses the deadline, draft length is raised while that cuts latency. The answer is chosen among the
visited points by the same selection rule as every strategy (select.py)."""

from __future__ import annotations

import numpy as np

from planner.optimize.evaluate import Evaluation
from planner.optimize.exhaustive import best_index
from planner.optimize.select import Rule


def greedy_path(ev: Evaluation, method: int = 0) -> list[tuple[int, int, int]]:
    """Visited (method, K, N) indices, first = (method, 0, 0); the last is greedy's answer."""
    acc, lat = ev.acc[method], ev.lat("q")[method]
    ok = ev.feasible()[method]
    k, n = 0, 0
    path = [(method, k, n)]
    while True:
        # N+2 as well as N+1: with tie-fair plurality voting an even N adds nothing over N-1 (maj@2 = maj@1),
        # so single steps would stall greedy on a plateau it should cross.
        moves = [(kk, nn) for kk, nn in ((k, n + 1), (k, n + 2), (k + 1, n))
                 if kk < acc.shape[0] and nn < acc.shape[1]]
        if not ok[k, n]:  # start misses the deadline: speculate to cut latency until it fits
            faster = [mv for mv in moves if lat[mv] < lat[k, n]]
            if not faster:
                return path
            k, n = min(faster, key=lambda mv: lat[mv])
            path.append((method, k, n))
            continue
        best, best_score = None, -np.inf
        for kk, nn in moves:
            if not ok[kk, nn]:
                continue
            d_acc, d_lat = acc[kk, nn] - acc[k, n], lat[kk, nn] - lat[k, n]
            if d_lat <= 0 and d_acc >= 0:
                score = np.inf if d_acc > 0 or d_lat < 0 else -np.inf  # dominating move
            elif d_acc > 0:
                score = d_acc / d_lat
            else:
                score = -np.inf
            if score > best_score:
                best, best_score = (kk, nn), score
        if best is None or best_score == -np.inf:
            return path
        k, n = best
        path.append((method, k, n))


def greedy_index(ev: Evaluation, rule: Rule | None = None) -> tuple[int, int, int] | None:
    """Greedy per method; the answer is chosen by the selection rule among the feasible points greedy visited
    (its paths), so a step that bought +0.01 point for more branches is not kept for its own sake."""
    visited = {i for m in range(len(ev.methods)) for i in greedy_path(ev, m)}
    ok = ev.feasible()
    mask = np.zeros_like(ok)
    for i in visited:
        mask[i] = ok[i]
    return best_index(ev, mask, rule) if mask.any() else None
