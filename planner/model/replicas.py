"""Several GPUs: D data-parallel replicas of T tensor-parallel GPUs each, and a request's N branches split over
the replicas (issue 20, item 1; docs/architecture.md, "Layout").

Why: with G GPUs a plan may split the model wider (TP: every step faster, paying two all-reduces per layer over
the interconnect) or run replicas that each decode a share of the branches (a smaller batch each; the request
ends when its slowest replica does). Model: the shares are as equal as possible (N mod D replicas decode
ceil(N/D) branches, the others floor(N/D)); each replica is the single-deployment model of
planner/model/latency.py at its share. Given the problem (a node of the length copula) and the machine's speed
factor, the replicas' branches are independent, so per node
    P(request <= t) = P_ceil(t)^r * P_floor(t)^(D - r),   r = N mod D,
inverted back onto the grid's max-length levels so every statistic of LatencyGrid (mean, quantiles, P(meet))
reads it unchanged. The share finished by a deadline is the branch-weighted mean of the replicas' shares.
Under load (planner/model/load.py) whole requests are routed to one replica each instead (random routing splits
a Poisson stream: each replica sees R / D), so no split is modelled there."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from planner.errors import PlannerError
from planner.model.latency import LatencyGrid, _NInterp, latency_grid
from planner.model.lengths import LengthDist
from planner.profile.schema import Profile

ROUTINGS = ("split", "requests")   # a request's branches over all replicas / each request whole on one replica


@dataclass(frozen=True)
class Layout:
    """tp GPUs per replica, `replicas` replicas, over `nodes` nodes of `gpus / nodes` GPUs; `link_GBps` is the
    per-direction bandwidth the TP all-reduce runs at (NVLink within a node, the network across nodes)."""

    tp: int = 1
    replicas: int = 1
    gpus: int = 1
    nodes: int = 1
    link_GBps: float | None = None
    routing: str = "split"

    @property
    def held(self) -> int:
        """GPUs the layout holds busy: the cost rule charges all of them for a request's whole latency."""
        return self.tp * self.replicas

    def to_dict(self, branches: int) -> dict:
        hi, lo, r = shares(np.array([branches]), self.replicas) if self.routing == "split" else \
            (np.array([branches]), np.array([branches]), np.array([0]))
        per = [int(hi[0])] * int(r[0]) + [int(lo[0])] * (self.replicas - int(r[0]))
        return {"gpus": self.gpus, "nodes": self.nodes, "tensor_parallel": self.tp, "replicas": self.replicas,
                "gpus_used": self.held, "routing": self.routing,
                "branches_per_replica": per if self.routing == "split" else [branches],
                **({"link_GBps": self.link_GBps} if self.link_GBps is not None else {})}


def shares(N, D: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ceil(N/D), floor(N/D), r = N mod D): r replicas decode the larger share, D - r the smaller (maybe 0)."""
    N = np.asarray(N, dtype=int)
    return -(-N // D), N // D, N % D


def with_tp(p: Profile, tp: int, link_GBps: float | None) -> Profile:
    """The profile as one replica of `tp` GPUs sees it (the step model, memory and KV budget read these)."""
    hw = dataclasses.replace(p.hardware, tensor_parallel=int(tp), gpus=max(int(tp), 1),
                             interconnect_GBps=link_GBps if link_GBps is not None else p.hardware.interconnect_GBps)
    return dataclasses.replace(p, hardware=hw)


class SplitGrid(LatencyGrid):
    """A LatencyGrid over N whose node latencies are the maximum over D replicas (built by split_grid)."""

    def node_finish(self, deadline):
        w, z, f = self.base.node_finish(deadline)                     # f (E, K, n) over the replica shares
        fh, fl = f[..., self.pos_hi], f[..., self.pos_lo]
        N = self.N.astype(float)
        both = (self.r * self.hi * fh + (self.D - self.r) * self.lo * fl) / N
        return w, z, both


def split_grid(p: Profile, N, K, dist: LengthDist | None, D: int) -> LatencyGrid:
    """Latency of requests of N branches split over D replicas of profile p (its TP is the replica's)."""
    N, K = np.asarray(N, dtype=int), np.asarray(K, dtype=int)
    if D < 1:
        raise PlannerError(f"replicas must be at least 1, got {D}")
    if D == 1:
        return one_replica(p, N, K, dist)
    hi, lo, r = shares(N, D)
    need = np.unique(np.concatenate([hi, lo[lo > 0]]))
    if np.isin(need, N).all():      # the shares are on the grid itself: one grid per TP degree for every D
        base = one_replica(p, N, K, dist)
        need = N
    else:
        base = latency_grid(p, need, K, dist)
    # the base grid's node arrays on the shares themselves (it may hold a subgrid of them)
    Tn = np.moveaxis(base._expand(np.moveaxis(base._T, 2, -1)), -1, 2)     # (E, K, n, U)
    pos_hi, pos_lo = np.searchsorted(need, hi), np.searchsorted(need, np.maximum(lo, need[0]))
    Th, Tl = Tn[:, :, pos_hi], Tn[:, :, pos_lo]
    u = base._u
    # P(max <= t) at every breakpoint of both replicas' CDFs: each CDF is u itself at its own points
    t = np.concatenate([Th, Tl], -1)
    ph = np.concatenate([np.broadcast_to(u, Th.shape), _cdf_at(Th, u, Tl)], -1)
    pl = np.concatenate([_cdf_at(Tl, u, Th), np.broadcast_to(u, Tl.shape)], -1)
    nlo = (D - r)[None, None, :, None] * (lo > 0)[None, None, :, None]
    F = ph ** r[None, None, :, None] * pl ** nlo
    order = np.argsort(t, -1, kind="stable")
    t, F = np.take_along_axis(t, order, -1), np.maximum.accumulate(np.take_along_axis(F, order, -1), -1)
    Tc = _invert(F, t, u)
    mean_cols = np.isin(u, (np.arange(16) + 0.5) / 16)
    g = SplitGrid(N, K, np.tensordot(base._w, Tc[..., mean_cols].mean(-1), axes=1), {}, base._w, u, Tc,
                  None, None, base.dists, _NInterp(N, False))
    g.base, g.pos_hi, g.pos_lo, g.hi, g.lo, g.r, g.D = base, pos_hi, pos_lo, hi, lo, r, D
    from planner.model.latency import QUANTILES

    g.q = {qq: g.quantile(qq) for qq in QUANTILES}
    return g


_GRIDS: dict = {}   # (profile, N, K, length cap) -> the one-replica grid the layouts of one TP degree share


def one_replica(p: Profile, N, K, dist: LengthDist | None) -> LatencyGrid:
    """latency_grid(p, N, K, dist), kept while the layout search evaluates every replica count of p's TP."""
    key = (id(p), np.asarray(N).tobytes(), np.asarray(K).tobytes(), None if dist is None else dist.cap)
    hit = _GRIDS.get(key)
    if hit is not None and hit[0] is p:
        return hit[1]
    if len(_GRIDS) >= 4:
        _GRIDS.clear()
    g = latency_grid(p, N, K, dist)
    _GRIDS[key] = (p, g)
    return g


def _rows_searchsorted(a: np.ndarray, v: np.ndarray, side: str) -> np.ndarray:
    """np.searchsorted row by row: a (..., M) nondecreasing along its last axis, v (..., Q) -> (..., Q) indices.
    One global search: every row is shifted by its index times a span wider than all values, so the
    concatenated rows stay sorted (O(R Q log M), not the O(R Q M) of counting comparisons)."""
    M, Q = a.shape[-1], v.shape[-1]
    lead = np.broadcast_shapes(a.shape[:-1], v.shape[:-1])
    a2 = np.broadcast_to(a, lead + (M,)).reshape(-1, M)
    v2 = np.broadcast_to(v, lead + (Q,)).reshape(-1, Q)
    lo = min(a2.min(initial=0.0), v2.min(initial=0.0))
    span = max(a2.max(initial=0.0), v2.max(initial=0.0)) - lo + 1.0
    if not np.isfinite(span):   # an infinite latency: count comparisons instead
        cmp = (a2[:, None, :] <= v2[:, :, None]) if side == "right" else (a2[:, None, :] < v2[:, :, None])
        return np.count_nonzero(cmp, axis=-1).reshape(lead + (Q,))
    shift = np.arange(a2.shape[0])[:, None] * span
    idx = np.searchsorted((a2 - lo + shift).ravel(), (v2 - lo + shift).ravel(), side=side).reshape(v2.shape)
    return (idx - np.arange(a2.shape[0])[:, None] * M).reshape(lead + (Q,))


def _cdf_at(T: np.ndarray, u: np.ndarray, t: np.ndarray) -> np.ndarray:
    """P(latency <= t) for rows T (..., U) increasing, at several t per row (..., Q): linear in the levels u
    between the row's points, 0 below its first and 1 at or past its last (as latency._p_le)."""
    U = T.shape[-1]
    idx = _rows_searchsorted(T, t, "right") - 1                                  # (..., Q)
    i = np.clip(idx, 0, U - 2)
    t0, t1 = np.take_along_axis(T, i, -1), np.take_along_axis(T, i + 1, -1)
    w = np.clip((t - t0) / np.maximum(t1 - t0, 1e-12), 0.0, 1.0)
    out = np.where(idx >= 0, u[i] + w * (u[i + 1] - u[i]), 0.0)
    return np.where(idx == U - 1, 1.0, out)


def _invert(F: np.ndarray, t: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The latency at each level u from a nondecreasing CDF F sampled at sorted times t (both (..., Q))."""
    Q = F.shape[-1]
    levels = np.broadcast_to(u, F.shape[:-1] + u.shape)
    j = np.clip(_rows_searchsorted(F, levels, "left"), 1, Q - 1)                   # (..., U): first F >= u
    f0, f1 = np.take_along_axis(F, j - 1, -1), np.take_along_axis(F, j, -1)
    t0, t1 = np.take_along_axis(t, j - 1, -1), np.take_along_axis(t, j, -1)
    w = np.clip((u - f0) / np.maximum(f1 - f0, 1e-12), 0.0, 1.0)
    return t0 + w * (t1 - t0)
