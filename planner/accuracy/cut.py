"""Parametric accuracy under a deadline cut, per problem node of the latency model (planner/model/lengths.py).

A branch's latent length is Y = a Z + b E (a = sqrt(rho), b = sqrt(1 - rho), E of the profile's within-problem
shape G, `lengths.latent`); it finishes iff Y <= y*, where the latency model's deadline position gives y* for each
problem node. Inside a node the problem effect Z still
varies, and (1 - f)^n, the chance that no branch finished, is very convex in f, so each node is integrated on
sub-nodes z_i (a 0.2 grid in Z, cells split at the node's edges). For a problem at z_i and a within-problem
threshold e = (y* - a z_i) / b:
  voters       V ~ Bin(n, G(e))                                      (every problem finishes the share G(e))
  difficulty   p | z_i from the copula of link.py                    (hard problems run long: lam)
  voters' mix  a finished branch is correct w.p. pi(p, e)            (wrong branches run longer: delta)
  accuracy     sum_v Bin(v; n, Phi(e)) E_p[M(v; pi(p, e))],  M(v; pi) = plurality of v voters of whom each is
               correct w.p. pi and, if wrong, the recurring wrong answer w.p. omega (parametric.py), M(0) = 0.
With the sub-node grid and the e grid aligned (e steps of a 0.2 / b), every (y*, z_i) pair lands on the e grid,
so the work is one (z_i x v) @ (v x n) product per e value. p is integrated on a 65-point grid (masses of the
copula's conditional CDF), M is tabulated on a 129-point grid of pi and interpolated."""

from __future__ import annotations

import functools

import numpy as np

from planner.accuracy.link import Link, difficulty_masses, voter_correct_share
from planner.accuracy.parametric import _betabinomial_table, _binomial_table, _win_given_x0  # noqa: F401
from planner.model.lengths import latent, node_edges
from planner.special import norm_cdf, norm_ppf

DZ = 0.2                              # sub-node spacing in the problem effect Z (0.05: < 0.0011 apart)
Z_MAX = 4.0                           # sub-nodes span [-Z_MAX, Z_MAX]; the end cells take the tails
E_MAX = 4.5                           # within-problem thresholds beyond +-E_MAX: nothing / everything finished
E_STEP_INDEPENDENT = 0.1              # e grid when rho = 0 (no problem effect)
P_GRID = np.linspace(0.0, 1.0, 65)    # per-problem correct-answer probability
PI_GRID = np.linspace(0.0, 1.0, 129)  # correct share among voters


@functools.lru_cache(maxsize=32)
def vote_curves(method: str, omega: float, n_max: int) -> np.ndarray:
    """M[q, v] = accuracy of v voters each correct w.p. PI_GRID[q] (v = 0..n_max): plurality with a recurring
    wrong answer (share omega of wrong votes) for "majority", any correct voter for "pass"."""
    v = np.arange(n_max + 1)
    if method == "pass":
        out = 1.0 - (1.0 - PI_GRID[:, None]) ** v[None, :]
    else:
        g = _win_given_x0(float(omega), n_max)              # G[v, x0]
        out = np.zeros((len(PI_GRID), n_max + 1))
        pmf = np.zeros((len(PI_GRID), n_max + 1))
        pmf[:, 0] = 1.0
        q = PI_GRID[:, None]
        for vv in range(1, n_max + 1):                      # Bin(x0; vv, pi) by the forward recursion
            pmf[:, 1:vv + 1] = pmf[:, 1:vv + 1] * (1 - q) + pmf[:, :vv] * q
            pmf[:, 0] *= 1 - PI_GRID
            out[:, vv] = pmf[:, :vv + 1] @ g[vv, :vv + 1]
    out[:, 0] = 0.0
    out.setflags(write=False)
    return out


def n_subgrid(n_max: int) -> np.ndarray:
    """Branch counts computed exactly: 1..16, then a geometric grid (ratio ~1.06, the latency model's) up to the
    first point >= n_max; accuracy in between is interpolated (it is smooth in n there). The points do not depend
    on n_max, so one configuration predicted alone equals its cell in a larger grid."""
    g = list(range(1, min(n_max, 16) + 1))
    while g[-1] < n_max:
        g.append(max(g[-1] + 1, round(g[-1] * 1.06)))
    return np.array(g)


def binomial_rows(f: np.ndarray, ns: np.ndarray) -> np.ndarray:
    """B[m, r, v] = Bin(v; ns[r], f[m]) for v = 0..max(ns) (forward recursion over n, vectorised over m)."""
    f = np.asarray(f, dtype=float)[:, None]
    n_max = int(ns[-1])
    cur = np.zeros((len(f), n_max + 1))
    cur[:, 0] = 1.0
    out = np.empty((len(f), len(ns), n_max + 1))
    r = 0
    for n in range(1, n_max + 1):
        cur[:, 1:n + 1] = cur[:, 1:n + 1] * (1 - f) + cur[:, :n] * f
        cur[:, 0] *= 1 - f[:, 0]
        if n == ns[r]:
            out[:, r] = cur
            r += 1
    return out


class CutTables:
    """Accuracy of n = 1..n_max branches for every latency node j at every threshold y* of a grid:
    `acc(j, y, n)` interpolates it; `node_weights`, `node_z` are the latency model's nodes."""

    def __init__(self, method: str, a: float, b: float, omega: float, rho: float, link: Link, n_max: int,
                 within_shape: float | None = 0.0):
        self.n_max = n_max
        self.lat = latent(max(rho, 0.0), within_shape)
        g = self.lat.g
        self.sa, self.sb = self.lat.a, self.lat.b
        if self.sa > 0:
            i0 = int(round(Z_MAX / DZ))
            z = (np.arange(2 * i0 + 1) - i0) * DZ
            de = self.sa * DZ / self.sb
        else:
            i0, z, de = 0, np.zeros(1), E_STEP_INDEPENDENT
        # e grid: +-E_MAX for the normal shape; a skewed shape's long right tail reaches further (G(e) < 1 - 1e-6)
        me = int(np.ceil(E_MAX / de))
        mhi = me if g.s == 0 else int(np.ceil(min(max(float(g.ppf(1 - 1e-6)), E_MAX), 4 * E_MAX) / de))
        e = np.arange(-me, mhi + 1) * de
        self.ystep = self.sa * DZ if self.sa > 0 else de
        # R[m, i, n-1]: accuracy of a problem at z[i] whose branches finish with probability G(e[m]).
        self.ns = n_subgrid(n_max)                                           # may end above n_max
        M = vote_curves(method, float(omega), int(self.ns[-1]))
        P = difficulty_masses(z, a, b, link.lam, P_GRID)                      # (I, Qp)
        pi = voter_correct_share(P_GRID, e, link.delta, g.cdf)               # (Qp, E)
        B = binomial_rows(g.cdf(e), self.ns)                                 # (E, n, v)
        R = np.empty((len(e), len(z), len(self.ns)))
        mbar = None
        for m in range(len(e)):
            if mbar is None or link.delta != 0.0:
                x = pi[:, m] * (len(PI_GRID) - 1)
                lo = np.clip(np.floor(x).astype(int), 0, len(PI_GRID) - 2)
                w = (x - lo)[:, None]
                mbar = P @ (M[lo] * (1 - w) + M[lo + 1] * w)                 # (I, v)
            R[m] = mbar @ B[m].T
        # Sub-node weights per latency node: Z-cell masses inside the node's edges, normalised per node.
        edges = node_edges(rho)
        cells = np.concatenate([[-np.inf], 0.5 * (z[1:] + z[:-1]), [np.inf]]) if self.sa > 0 else \
            np.array([-np.inf, np.inf])
        lo_e, hi_e = norm_ppf(edges[:-1]), norm_ppf(edges[1:])
        lo_e[0], hi_e[-1] = -np.inf, np.inf
        lo = np.maximum(cells[None, :-1], lo_e[:, None])
        hi = np.minimum(cells[None, 1:], hi_e[:, None])
        W = np.where(hi > lo, _Phi(hi) - _Phi(lo), 0.0)                      # (J, I)
        self.node_weights = W.sum(1)
        W = W / np.maximum(self.node_weights[:, None], 1e-300)
        # T[j, k, n-1] = sum_i W[j, i] R[k - i + i0, i, n-1] on y*_k = k * ystep (clipped at the e grid's ends).
        k = np.arange(-me - i0, mhi + i0 + 1)
        self.k0 = -k[0]
        idx = np.clip(k[:, None] - np.arange(len(z))[None, :] + i0 + me, 0, len(e) - 1)
        G = R[idx, np.arange(len(z))[None, :], :]                              # (K, I, n)
        self.T = np.ascontiguousarray(np.matmul(W[None], G).transpose(1, 0, 2))   # (J, K, n)
        self.T.setflags(write=False)

    def acc(self, j: int, y: np.ndarray, n_idx: np.ndarray) -> np.ndarray:
        """Accuracy at node j for thresholds y (any shape) and branch-count columns n_idx (n - 1, same shape)."""
        x = np.clip(np.asarray(y, dtype=float) / self.ystep + self.k0, 0, self.T.shape[1] - 1 - 1e-9)
        lo = np.floor(x).astype(int)
        w = x - lo
        t = self.T[j]
        n = np.asarray(n_idx) + 1
        at = lambda col: t[lo, col] * (1 - w) + t[lo + 1, col] * w         # noqa: E731
        if len(self.ns) == 1:                                               # tables for N = 1 only
            return at(np.zeros_like(n))
        c = np.clip(np.searchsorted(self.ns, n), 1, len(self.ns) - 1)      # ns[c-1] < n <= ns[c] (or n = 1)
        c = np.where(n <= self.ns[0], 1, c)
        v = np.clip((n - self.ns[c - 1]) / (self.ns[c] - self.ns[c - 1]), 0.0, 1.0)
        return at(c - 1) * (1 - v) + at(c) * v

    def threshold(self, z: np.ndarray, finish: np.ndarray) -> np.ndarray:
        """y* of a node at problem effect z whose branches finish with share `finish` (the latency model's)."""
        f = np.clip(np.asarray(finish, dtype=float), 0.0, 1.0)
        return self.sa * np.asarray(z, dtype=float) + self.sb * self.lat.g.ppf(f)

    def global_cut(self, finish_quantiles: np.ndarray) -> np.ndarray:
        """acc[t, n-1] when every branch shorter than the finish_quantiles[t] length quantile (of all branches,
        as in a bank cut) votes: y* = H^-1(f) for every node, nodes mixed by their weights."""
        y = self.lat.ppf(np.clip(np.asarray(finish_quantiles, dtype=float), 0.0, 1.0))
        y = np.where(np.asarray(finish_quantiles) >= 1.0, np.inf, np.where(np.asarray(finish_quantiles) <= 0.0,
                                                                            -np.inf, y))
        cols = np.arange(self.n_max)[None, :]
        yy = np.broadcast_to(y[:, None], (len(y), self.n_max))
        out = sum(w * self.acc(j, yy, np.broadcast_to(cols, yy.shape)) for j, w in enumerate(self.node_weights))
        return np.where(y[:, None] == -np.inf, 0.0, out)


def _Phi(x: np.ndarray) -> np.ndarray:
    return np.where(np.isinf(x), (x > 0).astype(float), norm_cdf(np.where(np.isinf(x), 0.0, x)))
