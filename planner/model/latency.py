"""Latency model (docs/architecture.md), vectorised over a whole grid of (draft length K, branches N).

Step:   t(B, q, L) = t0 + [q>1] v + join_p(W/bw + B*L*kv/kv_bw, (2P + 4*layers*heads*hd*L) * B*q / F) + TP all-reduce,
        join_p(m, c) = (m^p + c^p)^(1/p) (p = step.roofline_p; absent: max(m, c), the pure roofline). With p small,
        a verify step pays for its query width long before the knee, as GPU kernels do (docs/sources.md).
Round:  K draft steps t_d(B, 1, L) + one verify step t(B, K+1, L); it advances a branch tau(K) tokens.
Request: prefill (once, or per branch as far as the engine's prefix cache does not share it: prefilled_tokens),
then the active batch shrinks as branches finish. Conditional on the slowest branch having length m, the other
N-1 are i.i.d. below m, so the expected batch at token x is
b(x | m) = 1 + (N-1) * (1 - F(x)/F(m)) and T(m) = prefill + integral_0^(m-1) t_round(b(x|m), L0 + x) / tau dx
(the prefill's logits give each branch its first token, as in the engine, vLLM and SGLang).
T(m) grows with m, so the latency quantile q is T(F^-1(q^(1/N))) and the mean averages T over max-quantiles.
Problems differ: with a between-problem length share rho > 0 (planner/model/lengths.py) this is done per
problem-difficulty node and mixed: P(latency <= t) = sum_j w_j P_j(latency <= t); quantiles by bisection.
Machines differ from moment to moment: a profile's `hardware.speed_factors` (requests measured / modelled during
calibration) multiply every node's latency, as equally likely further nodes of the same mixture."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.model.lengths import LengthDist, ProblemLengths, problem_nodes
from planner.model.step import prefill_time, round_time, tokens_per_round
from planner.model.step import (StepModel, alphas, draft_rate, draft_step, join, prefilled_tokens,  # noqa: F401
                                spec_round, target_step, tau)  # re-exported: the latency model's one entry point
from planner.profile.schema import Profile

QUANTILES = (0.5, 0.9, 0.99)
_N_MEAN = 16     # max-length quantile midpoints used for the mean
_X_NODES = 32    # integration nodes per request
_X_NODES_MIX = 16  # per problem node when mixing: a node's lengths spread less, and there are 10 nodes
_U_EXTRA = (0.001, 0.01, 0.999)  # extra levels for P(latency <= deadline)


@dataclass
class LatencyGrid:
    """Latency statistics for every (K, N): arrays of shape (len(K), len(N)), mixed over problem nodes j."""

    N: np.ndarray
    K: np.ndarray
    mean: np.ndarray
    q: dict                     # quantile -> array
    _w: np.ndarray              # (J,) weight of each problem node
    _u: np.ndarray              # max-length quantile levels, sorted
    _T: np.ndarray              # (J, K, N, U) latency at those levels
    _partial_x: np.ndarray      # (J, N, X) token positions
    _partial_t: np.ndarray      # (J, K, N, X) expected time a branch reaches x tokens
    dists: list                 # per node: LengthDist or ProblemLengths
    _expand: "_NInterp"         # the arrays above hold a subgrid of N when mixing; this maps it back to N

    def quantile(self, q: float) -> np.ndarray:
        if q in self.q:
            return self.q[q]
        if len(self._w) == 1:
            return self._expand(_interp_rows(q, self._u, self._T[0]))
        # Bisection on t of the mixture CDF; the quantile lies between the nodes' own quantiles.
        per_node = _interp_rows(q, self._u, self._T)
        lo, hi = per_node.min(0), per_node.max(0)
        p_lo, p_hi = self._p_le(lo), self._p_le(hi)
        for _ in range(10):
            mid = 0.5 * (lo + hi)
            p_mid = self._p_le(mid)
            below = p_mid < q
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
            p_lo, p_hi = np.where(below, p_mid, p_lo), np.where(below, p_hi, p_mid)
        # the mixture CDF is close to linear inside the last bracket: interpolate instead of bisecting further
        w = np.clip((q - p_lo) / np.maximum(p_hi - p_lo, 1e-12), 0.0, 1.0)
        return self._expand(lo + w * (hi - lo))

    def _p_le(self, t) -> np.ndarray:
        return np.tensordot(self._w, _p_le(self._T, self._u, np.asarray(t, dtype=float)), axes=1)

    def p_meet(self, deadline: float) -> np.ndarray:
        """P(latency <= deadline) per config, mixed over problem nodes; within a node, from the monotone map
        max-length quantile -> latency."""
        return self._expand(self._p_le(deadline))

    def finish_fraction(self, deadline: float | None) -> np.ndarray:
        """Expected share of branches whose answer is complete by the deadline (1.0 without one)."""
        w, _, f = self.node_finish(deadline)
        return np.tensordot(w, f, axes=1)

    def node_finish(self, deadline: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per problem node (x speed factor): weights (E,), problem effect z (E,) and the share of its branches
        answered by the deadline (E, K, N); the cut accuracy (planner/accuracy/cut.py) reads these."""
        f = [np.full(t.shape[:2], d.answer_share) if deadline is None else _finished(d, t, x, deadline)
             for d, t, x in zip(self.dists, self._partial_t, self._partial_x)]
        return self._w, np.array([getattr(d, "z", 0.0) for d in self.dists]), self._expand(np.stack(f))


class _NInterp:
    """Linear interpolation along the last axis from a subgrid of branch counts to the requested ones. Mixing
    problem nodes multiplies the work by the node count; latency is smooth in N, so beyond N = 16 the model is
    computed on one canonical geometric grid (ratio ~1.06) and interpolated (< 0.5 % on latency in tests).
    The grid does not depend on which N are asked for, so `predict -n 103` equals `recommend`'s cell N = 103."""

    def __init__(self, N: np.ndarray, mix: bool):
        N = np.asarray(N, dtype=int)
        if not mix:
            self.sub, self.lo, self.hi, self.w = N, None, None, None
            return
        G = [*range(1, 17)]
        while G[-1] < N.max():
            G.append(max(G[-1] + 1, round(G[-1] * 1.06)))
        G = np.array(G)
        j = np.clip(np.searchsorted(G, N, side="right") - 1, 0, len(G) - 1)
        exact = G[j] == N
        up = np.minimum(j + 1, len(G) - 1)
        self.sub = np.unique(np.concatenate([G[j], G[up][~exact]]))
        self.lo = np.searchsorted(self.sub, G[j])
        self.hi = np.where(exact, self.lo, np.searchsorted(self.sub, G[up]))
        self.w = np.where(exact, 0.0, (N - G[j]) / np.maximum(G[up] - G[j], 1))

    def __call__(self, a: np.ndarray) -> np.ndarray:
        if self.lo is None:
            return a
        a = np.asarray(a)
        return a[..., self.lo] * (1 - self.w) + a[..., self.hi] * self.w



def _p_le(T: np.ndarray, u: np.ndarray, t: np.ndarray) -> np.ndarray:
    """P(latency <= t) for T of shape (..., U) increasing in its last axis, t broadcast to T.shape[:-1]."""
    U = T.shape[-1]
    flat = T.reshape(-1, U)
    tf = np.broadcast_to(t, T.shape[:-1]).reshape(-1)
    idx = np.count_nonzero(flat <= tf[:, None], axis=1) - 1          # largest level whose latency fits
    i = np.clip(idx, 0, U - 2)
    rows = np.arange(flat.shape[0])
    t0, t1 = flat[rows, i], flat[rows, i + 1]
    w = np.clip((tf - t0) / np.maximum(t1 - t0, 1e-12), 0, 1)
    out = np.where(idx >= 0, u[i] + w * (u[i + 1] - u[i]), 0.0)
    return np.where(idx == U - 1, 1.0, out).reshape(T.shape[:-1])


def _finished(dist, t: np.ndarray, x: np.ndarray, deadline: float) -> np.ndarray:
    """Share of a node's branches answered by the deadline, from the time a branch reaches x tokens."""
    i = np.clip((t <= deadline).sum(-1) - 1, 0, t.shape[-1] - 2)       # t (K, N, X) increasing in x; x (N, X)
    t0 = np.take_along_axis(t, i[..., None], -1)[..., 0]
    t1 = np.take_along_axis(t, i[..., None] + 1, -1)[..., 0]
    x0, x1 = x[np.arange(x.shape[0])[None, :], i], x[np.arange(x.shape[0])[None, :], i + 1]
    reached = x0 + np.clip((deadline - t0) / np.maximum(t1 - t0, 1e-12), 0.0, 1.0) * (x1 - x0)
    reached = np.where(t[..., 0] > deadline, 0.0, reached)             # still in prefill
    reached = np.where(t[..., -1] <= deadline, x[:, -1][None, :] + 1, reached)  # everyone done
    return dist.answered(reached)


def _interp_rows(q: float, u: np.ndarray, T: np.ndarray) -> np.ndarray:
    j = int(np.clip(np.searchsorted(u, q), 1, len(u) - 1))
    w = (q - u[j - 1]) / (u[j] - u[j - 1])
    return T[..., j - 1] + w * (T[..., j] - T[..., j - 1])


def _node(p: Profile, N, K, dist, tau_k, u, x_nodes: int = _X_NODES, load=None):
    """One problem node: T (K, N, U) at max-length levels u, and the time a branch reaches x tokens. `load`
    (planner/model/load.py): other requests' mean active branches join every step, their prefills stretch it."""
    bg, stretch = (0.0, 1.0) if load is None else load.step_terms(K, N)  # scalars, or (K, N) arrays
    m = dist.quantile(u[None, :] ** (1.0 / N[:, None]))               # (N, U) slowest-branch length
    Fm = np.maximum(dist.cdf(m), 1e-12)
    frac = (np.arange(x_nodes) + 0.5) / x_nodes
    x = m[..., None] * frac                                           # (N, U, X)
    b = 1.0 + (N[:, None, None] - 1) * np.clip(1.0 - dist.cdf(x) / Fm[..., None], 0.0, 1.0)
    t = round_time(p, K[:, None, None, None], b[None] + _kn(bg, 2), p.prompt_tokens + x[None]) * _kn(stretch, 2)
    # the prefill's logits give every branch its first token: the slowest branch decodes m - 1 more
    pre = prefill_time(p, N)[None, :, None]  # (1, N, 1): the N branches prefill as the engine does
    T = pre + t.mean(-1) * np.maximum(m - 1.0, 0.0)[None] / tau_k[:, None, None]  # (K, N, U)
    # Time at which a branch holds 1 + x tokens (the first from the prefill), with the expected batch N(1 - F(x)).
    xs = np.linspace(0.0, dist.hi, 65)
    mids = 0.5 * (xs[1:] + xs[:-1])
    bb = np.maximum(N[:, None] * (1.0 - dist.cdf(mids))[None, :], 1.0)      # (N, X)
    tt = round_time(p, K[:, None, None], bb[None] + _kn(bg, 1), p.prompt_tokens + mids[None, None]) * _kn(stretch, 1)
    part = pre + np.concatenate(
        [np.zeros(tt.shape[:2] + (1,)), np.cumsum(tt * np.diff(xs), -1)], -1) / tau_k[:, None, None]
    return T, np.broadcast_to(xs + 1.0, (len(N), len(xs))), part


def _kn(v, extra: int):
    """A (K, N) load term broadcast against arrays with `extra` trailing axes (scalars pass through)."""
    return v if np.ndim(v) == 0 else np.asarray(v)[(...,) + (None,) * extra]


def latency_grid(p: Profile, N, K, dist: LengthDist | None = None, load=None) -> LatencyGrid:
    N = np.asarray(N, dtype=int)
    K = np.asarray(K, dtype=int)
    dist = dist or LengthDist(p.lengths)
    tau_k = tokens_per_round(p, K)  # (K,)
    u = np.sort(np.concatenate([(np.arange(_N_MEAN) + 0.5) / _N_MEAN, QUANTILES, _U_EXTRA]))
    rho = p.lengths.between_share or 0.0
    zs, ws = problem_nodes(rho)
    dists = [dist] if rho <= 0 else [ProblemLengths(dist, z, rho, p.lengths.within_shape) for z in zs]
    expand = _NInterp(N, rho > 0)
    Ns = expand.sub
    nodes = [_node(p, Ns, K, d, tau_k, u, _X_NODES if rho <= 0 else _X_NODES_MIX, load) for d in dists]
    T, px, pt = (np.stack([n[i] for n in nodes]) for i in range(3))
    f = np.asarray(p.hardware.speed_factors or (1.0,), dtype=float)
    if len(f) > 1:  # every node again at each speed factor, equally likely: latency = model x factor
        S = len(f)
        T = (T[:, None] * f[None, :, None, None, None]).reshape((-1,) + T.shape[1:])
        pt = (pt[:, None] * f[None, :, None, None, None]).reshape((-1,) + pt.shape[1:])
        px, ws = np.repeat(px, S, axis=0), np.repeat(ws, S) / S
        dists = [d for d in dists for _ in range(S)]
    mean_cols = np.isin(u, (np.arange(_N_MEAN) + 0.5) / _N_MEAN)
    grid = LatencyGrid(N, K, expand(np.tensordot(ws, T[..., mean_cols].mean(-1), axes=1)), {}, ws, u, T, px, pt,
                       dists, expand)
    grid.q = {qq: grid.quantile(qq) for qq in QUANTILES}
    return grid
