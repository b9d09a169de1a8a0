"""Exhaustive search: evaluate every (method, K, N) at once and choose by the selection rule (select.py): the
cheapest feasible configuration whose accuracy is indistinguishable from the best, so a plateau in accuracy
never buys needless branches."""

from __future__ import annotations

import numpy as np

from planner.optimize.cost import cost, method_device_s
from planner.optimize.evaluate import Evaluation
from planner.optimize.select import TIE, Rule, select

TIE_TOL = TIE


def candidates(ev: Evaluation, mask: np.ndarray, arrays=None) -> tuple[np.ndarray, tuple]:
    """Indices (c, 3) of the masked configurations and their (acc, se, device-s, tokens, latency q) arrays."""
    tokens, dev = arrays if arrays is not None else cost(ev)
    idx = np.argwhere(mask)
    m, k, n = idx.T if len(idx) else (np.array([], int),) * 3
    return idx, (ev.acc[m, k, n], ev.acc_se[m, k, n], method_device_s(ev, dev)[m, k, n], tokens[k, n],
                 ev.lat("q")[m, k, n])


def best_index(ev: Evaluation, mask: np.ndarray | None = None, rule: Rule | None = None,
               arrays=None) -> tuple[int, int, int] | None:
    """(method, K, N) indices chosen by `rule` among the feasible (or masked) configurations, or None."""
    ok = ev.feasible() if mask is None else mask
    if not ok.any():
        return None
    idx, cols = candidates(ev, ok, arrays)
    j = select(*cols, rule or Rule())
    return tuple(int(i) for i in idx[j])


def most_accurate_index(ev: Evaluation, mask: np.ndarray | None = None) -> tuple[int, int, int] | None:
    """The most accurate feasible configuration (ties within 1e-4 to the lower latency quantile)."""
    return best_index(ev, mask, Rule("accuracy"))


def min_latency_index(ev: Evaluation, target_accuracy: float) -> tuple[int, int, int] | None:
    """Fastest configuration (latency quantile) whose accuracy reaches the target."""
    ok = ev.feasible(deadline=None) & (ev.acc >= target_accuracy)
    if not ok.any():
        return None
    lat = np.where(ok, ev.lat("q"), np.inf)
    return tuple(int(i) for i in np.unravel_index(np.argmin(lat), lat.shape))


def runners_up(ev: Evaluation, chosen: tuple[int, int, int], limit: int = 5,
               rule: Rule | None = None) -> list[tuple[int, int, int]]:
    """The choice of each other (method, K) by the same rule, most accurate first: the choices a user weighs.
    The best one without speculation always stays in the list (the baseline users compare with)."""
    ok = ev.feasible()
    arrays = cost(ev)
    out = []
    for m in range(len(ev.methods)):
        for k in range(len(ev.K)):
            if (m, k) == chosen[:2] or not ok[m, k].any():
                continue
            mask = np.zeros_like(ok)
            mask[m, k] = ok[m, k]
            out.append(best_index(ev, mask, rule, arrays))
    out.sort(key=lambda i: (-ev.acc[i], ev.lat("q")[i]))
    no_spec = [i for i in out if ev.K[i[1]] == 0]
    top = out[:limit]
    if no_spec and no_spec[0] not in top:
        top = top[:limit - 1] + no_spec[:1]
    return top
