"""The spread of the background load (issue 20, item 3): a request's latency mixed over how many other requests
it meets, not the mean background alone.

Why: on a step whose time grows with the batch (a compute-bound CPU replica) the requests that meet a crowd are
the slow tail; a mean background gives every request the same slowdown (p50 = p90 at N = 1 on the SmolLM2 vLLM-CPU
endpoint, its own simulation 2-4x slower at p90). The count k of others an arrival meets has mean m = R * E[T]
(Little, a fixed point on the mixture's own mean) and is negative binomial of shape 1/e, e the step's batch
elasticity: Poisson (an infinite-server delay system) when steps do not slow with the batch, geometric (processor
sharing) when throughput is flat in it. Each brings the mean background per request, B / m; the latency grid at
that background is linear interpolation between grids at none, the mean B and the top level (a round's time is
piecewise linear in the batch), mixed as equally weighted problem nodes with the level's weight."""

from __future__ import annotations

import numpy as np

from planner.model.load import sub_mean

_EDGES = np.array([0.0, 0.5, 0.7, 0.8, 0.87, 0.92, 0.96, 0.985, 1.0])   # bins of the background count's quantile


class _Fixed:
    """A background held at given (K, N) levels, for latency_grid."""

    def __init__(self, bg, stretch):
        self.bg, self.stretch = bg, stretch

    def step_terms(self, K, N):
        return self.bg, self.stretch


def count_levels(m, e) -> np.ndarray:
    """(..., levels) number of other requests an arrival meets at the midpoints of the _EDGES bins: negative
    binomial with mean m and shape 1/e (Poisson when steps do not slow with the batch, geometric as in processor
    sharing when throughput is flat in it)."""
    r = 1.0 / np.maximum(e, 1e-3)
    ratio = m / (r + m)
    pmf = np.exp(-r * np.log1p(m / r))
    cdf = pmf.copy()
    mids = 0.5 * (_EDGES[1:] + _EDGES[:-1])
    k = np.zeros(np.shape(m) + (len(mids),))
    for i in range(1, 400):
        k += cdf[..., None] < mids
        pmf = pmf * (i - 1 + r) / i * ratio
        cdf = cdf + pmf
        if np.all(cdf >= mids[-1]):
            break
    return k


def mixed_grid(p, N, K, dist, el):
    """The latency grid mixed over the background an arrival meets: its count of other requests at each level
    of count_levels, each bringing the mean background per request. T is linear in the background between the
    three grids computed (none, the mean, the top level), as a round's time is in the batch piecewise."""
    from planner.model.latency import LatencyGrid, latency_grid

    mean_g = latency_grid(p, N, K, dist, load=el)
    Ns = mean_g._expand.sub
    B, stretch, stable = el.background(K, Ns)
    e = el.elasticity(K, Ns, B)
    bg1 = B
    m = el.rate(K, Ns) * sub_mean(mean_g)
    k = count_levels(m, e)
    if not np.any(k > 0) or not np.all(np.isfinite(sub_mean(mean_g))):
        return mean_g
    per = np.where(m > 0, bg1 / np.maximum(m, 1e-300), 0.0)
    st = np.where(stable, stretch, 1e6)
    g0 = latency_grid(p, N, K, dist, load=_Fixed(0.0 * bg1, st))   # T(bg) is linear between g0, g1, g2
    g1 = mean_g
    t0, t1 = sub_mean(g0), sub_mean(g1)
    slope = (t1 - t0) / np.maximum(bg1, 1e-300)
    R = el.rate(K, Ns)
    w = np.diff(_EDGES)
    for _ in range(30):   # Little: the requests an arrival meets, at the mixture's own mean latency
        lvm = count_levels(m, e) * per[..., None]
        m = 0.5 * m + 0.5 * np.minimum(R * (t0 + slope * (lvm @ w)), 1e4)
    k = count_levels(m, e)
    lv = k * per[..., None]                                 # (K, Ns, levels) background branches
    top = np.maximum(lv.max(-1), bg1)
    g2 = latency_grid(p, N, K, dist, load=_Fixed(top, st))
    Ts, Ps = [], []
    for j in range(lv.shape[-1]):
        x = lv[..., j]
        a = np.where(x <= bg1, x / np.maximum(bg1, 1e-300), (x - bg1) / np.maximum(top - bg1, 1e-300))
        lo_T, hi_T = np.where(_kn4(x <= bg1), g0._T, g1._T), np.where(_kn4(x <= bg1), g1._T, g2._T)
        lo_P, hi_P = (np.where(_kn4(x <= bg1), g0._partial_t, g1._partial_t),
                      np.where(_kn4(x <= bg1), g1._partial_t, g2._partial_t))
        Ts.append(lo_T + _kn4(a) * (hi_T - lo_T))
        Ps.append(lo_P + _kn4(a) * (hi_P - lo_P))
    T, P = np.concatenate(Ts), np.concatenate(Ps)
    ws = np.concatenate([wj * g0._w for wj in w])
    px = np.concatenate([g0._partial_x] * len(w))
    cols = np.isin(g0._u, (np.arange(16) + 0.5) / 16)
    mean = g0._expand(np.tensordot(ws, T[..., cols].mean(-1), axes=1))
    g = LatencyGrid(g0.N, K, mean, {}, ws, g0._u, T, px, P, list(g0.dists) * len(w), g0._expand)
    g.q = {qq: g.quantile(qq) for qq in mean_g.q}
    return g


def _kn4(a):
    """A (K, N) array against (J, K, N, U)-shaped node arrays."""
    return np.asarray(a)[None, :, :, None]
