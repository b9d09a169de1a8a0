"""Latency under load: the engine's continuous batching shared with other requests (issue 20, item 3).

Why: a plan sized for one request alone misses its deadline once other users' branches share every step.
Engine model (the one `tools/load_sim.py` simulates event by event): requests arrive Poisson at rate R (or from C
closed-loop clients); each is N branches; a request is admitted FIFO when its N branches fit the deployment's KV
budget; its prefill is one engine step that stalls decoding; every decode round advances all admitted branches
together at the total batch.

Mean background: the time-average number of admitted branches B solves Little's law
    B = R * N * (E[len] / tau) * t_round(K, n_own + B, L) / (1 - R * prefill(N)),
n_own a request's own live branches over its decode; the others' prefills stretch a request's decode time by
1 / (1 - R * prefill(N)). Its spread (planner/model/load_mix.py): the number of other requests an arrival meets
is negative binomial around Little's count, and the latency is mixed over it. The KV budget holds
S = floor(kv / N) requests; admission waits as in an M/M/S queue (Erlang C) with the service time the loaded
model's mean latency. Capacity: the rate at which the budget is full, B = S * N. With R -> 0 every term vanishes:
the single-request model exactly."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from planner.errors import PlannerError
from planner.model import drafts
from planner.model.latency import prefill_time, round_time, tokens_per_round
from planner.model.lengths import LengthDist
from planner.profile.schema import Profile

MEMORY_HEADROOM = 0.9   # as planner/optimize/evaluate.py: share of device memory for weights + KV
_WAIT_NODES = 8         # quadrature nodes of the exponential admission wait


@dataclass(frozen=True)
class Load:
    """Offered load: Poisson `arrival_rate` (requests/s) or `concurrency` closed-loop clients (one of them).
    `round_robin` D > 1: this replica is one of D a router feeds in turn from a Poisson stream of D x arrival_rate
    (its gaps are Erlang-D; the closed forms treat them as Poisson, the simulation as they are)."""

    arrival_rate: float | None = None
    concurrency: int | None = None
    round_robin: int = 1
    spread: bool = True   # screen with the spread over the background (load_mix.py); False: the mean field alone

    def __post_init__(self):
        r, c = self.arrival_rate, self.concurrency
        if (r is None) == (c is None):
            raise PlannerError("give one of arrival rate (--arrival-rate R) or concurrency (--concurrency C)")
        if r is not None and (not isinstance(r, (int, float)) or not math.isfinite(r) or r <= 0):
            raise PlannerError(f"arrival rate must be a positive number of requests per second, got {r!r} "
                               "(e.g. --arrival-rate 2)")
        if c is not None and (isinstance(c, bool) or not isinstance(c, int) or c < 1):
            raise PlannerError(f"concurrency must be a positive integer number of clients, got {c!r} "
                               "(e.g. --concurrency 8)")

    def describe(self) -> str:
        if self.concurrency is not None:
            return f"{self.concurrency} concurrent clients"
        if self.round_robin > 1:
            return (f"{self.arrival_rate:g} requests/s per replica (every {self.round_robin}th of a Poisson stream "
                    "of that rate x replicas, round-robin)")
        return f"{self.arrival_rate:g} requests/s (Poisson)"


def kv_branches(p: Profile, k_max: int) -> int:
    """Branches at full context whose KV fits next to the weights (the memory check of evaluate.memory_ok)."""
    tp = p.hardware.tensor_parallel
    ctx = p.prompt_tokens + p.lengths.max_tokens + k_max
    free = MEMORY_HEADROOM * p.hardware.memory_GB * 1e9 - p.model.weight_bytes / tp
    per = ctx * p.model.kv_bytes_per_token / min(tp, p.model.kv_heads)
    draft = drafts.draft_arch(p.model, p.draft)
    if draft is not None:
        free -= draft.weight_bytes / tp
        per += ctx * draft.kv_bytes_per_token / min(tp, draft.kv_heads)
    return max(int(free // per), 0)


class EngineLoad:
    """Mean-field state of the engine at one load, per (K, N): the background batch, the decode stretch from
    other requests' prefills, the admission wait and the capacity. `latency_grid(..., load=this)` reads
    `step_terms`; planner/optimize/evaluate.py adds the wait."""

    def __init__(self, p: Profile, load: Load, k_max: int, dist: LengthDist | None = None, rate_fn=None):
        self.p, self.load = p, load
        self.kv = kv_branches(p, k_max)
        self.dist = dist or LengthDist(p.lengths)
        self.mean_len = self.dist.mean()
        self._rate_fn = rate_fn     # closed loop: (K, N) -> equivalent arrival rate

    def rate(self, K, N) -> np.ndarray:
        K, N = np.asarray(K), np.asarray(N)
        if self.load.arrival_rate is not None:
            return np.full((len(K), len(N)), float(self.load.arrival_rate))
        return self._rate_fn(K, N)

    def slots(self, N) -> np.ndarray:
        """Requests of N branches the KV budget admits at once."""
        return self.kv // np.asarray(N, dtype=int)

    def _work(self, K, N, B, own=True):
        """Engine seconds one request's decoding occupies per admitted branch-slot, at total batch B."""
        p, L = self.p, self.p.prompt_tokens + 0.5 * self.mean_len
        tau_k = tokens_per_round(p, K)[:, None]
        if own:   # a request's rounds run at its own live branches (on average over its decode) plus the others
            u = (np.arange(16) + 0.5) / 16
            top = self.dist.quantile(u[None, :] ** (1.0 / N[:, None])).mean(-1)
            own = (N * self.mean_len / np.maximum(top, 1e-9))[None, :]
        else:
            own = 0.0
        return N[None, :] * self.mean_len / tau_k * round_time(p, K[:, None], np.maximum(B + own, 1.0), L)

    def capacity(self, K, N) -> np.ndarray:
        """Arrival rate (requests/s) at which the KV budget is full: beyond it the queue grows without bound."""
        K, N = np.asarray(K), np.asarray(N)
        full = (self.slots(N) * N).astype(float)[None, :] * np.ones((len(K), 1))
        pre = prefill_time(self.p, N)[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            cap = 1.0 / (self._work(K, N, full, own=False) / full + pre)
        return np.where(full > 0, cap, 0.0)

    def background(self, K, N) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(B, stretch, stable): mean admitted branches of the other requests, the decode-time stretch by their
        prefills, and whether the load is below capacity (else B is the full budget)."""
        K, N = np.asarray(K), np.asarray(N)
        R = self.rate(K, N)
        busy = R * prefill_time(self.p, N)[None, :]
        stable = (R < self.capacity(K, N)) & (busy < 1.0)
        stretch = 1.0 / np.maximum(1.0 - busy, 1e-9)
        hi = np.maximum((self.slots(N) * N).astype(float)[None, :] * np.ones_like(R), 1.0)
        lo = np.zeros_like(R)
        for _ in range(60):   # g(B) = R * work(B) * stretch - B decreases through its root below the budget
            mid = 0.5 * (lo + hi)
            up = R * self._work(K, N, mid) * stretch > mid
            lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
        B = np.where(stable, 0.5 * (lo + hi), hi)
        # N beyond the KV budget never fits (evaluate's memory check drops it): priced as alone, not as unstable
        none = np.broadcast_to(self.slots(N)[None, :] == 0, R.shape)
        return np.where(none, 0.0, B), np.where(none, 1.0, np.where(stable, stretch, np.inf)), stable | none

    def step_terms(self, K, N):
        """What a tagged request's rounds see at the mean: B other rows and the prefill stretch (the spread around
        B: planner/model/load_mix.py)."""
        B, stretch, stable = self.background(K, N)
        return B, np.where(stable, stretch, 1e6)

    def elasticity(self, K, N, B) -> np.ndarray:
        """e = d ln t_round / d ln batch in [0, 1], a secant (batch / 1.5 to x 1.5) around the batch a request runs
        at, its N plus B: 0 where steps are memory-bound, ~1 where they are compute-bound."""
        K, N = np.asarray(K), np.asarray(N)
        L = self.p.prompt_tokens + 0.5 * self.mean_len
        Bs = np.maximum(B + N[None, :], 1.0)
        e = np.log(round_time(self.p, K[:, None], Bs * 1.5, L) / round_time(self.p, K[:, None], Bs / 1.5, L)) / \
            np.log(2.25)
        return np.clip(e, 0.0, 1.0)

    def wait(self, K, N, mean_service) -> tuple[np.ndarray, np.ndarray]:
        """Admission wait as M/M/S (Erlang C): P(wait > 0) and the rate of the exponential wait given waiting."""
        K, N = np.asarray(K), np.asarray(N)
        R = self.rate(K, N)
        S = np.broadcast_to(self.slots(N)[None, :], R.shape)
        a = R * mean_service
        erl_b = np.ones_like(a)
        for k in range(1, int(min(S.max(initial=0), 5000)) + 1):   # Erlang B recursion, then C from B
            erl_b = np.where(k <= S, a * erl_b / (k + a * erl_b), erl_b)
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.where(a < S, S * erl_b / (S - a * (1.0 - erl_b)), 1.0)
            rate = np.where(a < S, S / mean_service - R, 0.0)
        c = np.where(S == 0, 0.0, np.clip(np.nan_to_num(c, nan=1.0), 0.0, 1.0))   # S = 0: never fits, as above
        return c, rate


def loaded_cdf(grid, t, wait_p, wait_rate) -> np.ndarray:
    """P(wait + service <= t) per configuration on the grid's N subgrid: service from the loaded grid, the wait
    zero with probability 1 - wait_p, else exponential (midpoint quadrature)."""
    out = (1.0 - wait_p) * grid._p_le(t)
    if np.any(wait_p > 0):
        with np.errstate(divide="ignore"):
            for u in (np.arange(_WAIT_NODES) + 0.5) / _WAIT_NODES:
                w = np.where(wait_rate > 0, -np.log1p(-u) / wait_rate, np.inf)
                out = out + wait_p / _WAIT_NODES * grid._p_le(np.maximum(t - w, -1.0))
    return out


def loaded_quantile(grid, q: float, wait_p, wait_rate) -> np.ndarray:
    """Latency quantile q of wait + service (on the grid's N subgrid), by bisection of loaded_cdf."""
    lo = np.zeros_like(wait_p)
    tail = np.where(wait_rate > 0, -np.log(1e-4) / np.maximum(wait_rate, 1e-300), np.inf)
    hi = grid._T.max(axis=(0, -1)) + np.where(wait_p > 0, tail, 0.0)
    hi = np.where(np.isfinite(hi), hi, np.inf)
    fin = np.isfinite(hi)
    h = np.where(fin, hi, 1.0)
    p_lo, p_hi = np.zeros_like(lo), np.ones_like(lo)
    for _ in range(12):
        mid = 0.5 * (lo + h)
        p_mid = loaded_cdf(grid, mid, wait_p, wait_rate)
        below = p_mid < q
        lo, h = np.where(below, mid, lo), np.where(below, h, mid)
        p_lo, p_hi = np.where(below, p_mid, p_lo), np.where(below, p_hi, p_mid)
    # the CDF is close to linear inside the last bracket (h / 4096): interpolate instead of bisecting further
    w = np.clip((q - p_lo) / np.maximum(p_hi - p_lo, 1e-12), 0.0, 1.0)
    return np.where(fin, lo + w * (h - lo), np.inf)


def sub_mean(grid) -> np.ndarray:
    """Mean latency per configuration on the grid's N subgrid (as LatencyGrid.mean before expansion)."""
    cols = np.isin(grid._u, (np.arange(16) + 0.5) / 16)
    return np.tensordot(grid._w, grid._T[..., cols].mean(-1), axes=1)


def loaded_latency(p: Profile, N, K, dist: LengthDist, load: Load, k_max: int, quantile: float, deadline):
    """The latency grid at `load` plus the statistics evaluate() reports: (grid, {"mean", "p50", "p90", "p99",
    "q"}, p_meet, capacity (K, N) in requests/s, None in a closed loop). Unstable configurations get infinite
    latency and p_meet 0. The deadline cuts branches by the loaded decode speed; the admission wait is not
    subtracted from their time (it is small below capacity)."""
    from planner.model.latency import latency_grid
    from planner.model.load_mix import mixed_grid

    N, K = np.asarray(N, dtype=int), np.asarray(K, dtype=int)
    rate_fn = None
    if load.concurrency is not None:   # closed loop: R = C / mean latency, iterated from the lone request
        base = latency_grid(p, N, K, dist)
        state = {"R": load.concurrency / sub_mean(base)}
        rate_fn = lambda K_, N_: state["R"]  # noqa: E731
        for _ in range(3):
            g = latency_grid(p, N, K, dist, load=EngineLoad(p, load, k_max, dist, rate_fn))
            state["R"] = 0.5 * state["R"] + 0.5 * load.concurrency / np.minimum(sub_mean(g), 1e12)
    el = EngineLoad(p, load, k_max, dist, rate_fn)
    grid = mixed_grid(p, N, K, dist, el) if load.spread else latency_grid(p, N, K, dist, load=el)
    Ns, ex = grid._expand.sub, grid._expand
    _, _, stable = el.background(K, Ns)
    mean_s = sub_mean(grid)
    wp, wr = el.wait(K, Ns, mean_s)
    wp = np.where(wp < 1e-12, 0.0, wp)       # a wait this unlikely moves no quantile
    stable &= wp < 1.0
    bad = ex((~stable).astype(float)) > 0     # an unstable config on either side of an interpolated N

    def out(a, fill=np.inf):
        return np.where(bad, fill, ex(np.where(stable, a, 0.0)))

    with np.errstate(divide="ignore", invalid="ignore"):
        mean_wait = np.where(wr > 0, wp / wr, np.where(wp > 0, np.inf, 0.0))
    if stable.all() and not np.any(wp > 0):   # no admission wait: the grid's own statistics, as for one request
        lat = {"mean": grid.mean, **{f"p{round(q * 100)}": v for q, v in grid.q.items()}, "q": grid.quantile(quantile)}
        return grid, lat, (None if deadline is None else grid.p_meet(deadline)), \
            (el.capacity(K, N) if load.arrival_rate is not None else None)
    lat = {"mean": out(mean_s + mean_wait)}
    for key, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("q", quantile)):
        lat[key] = lat[{0.5: "p50", 0.9: "p90", 0.99: "p99"}[q]] if key == "q" and q in (0.5, 0.9, 0.99) else \
            out(loaded_quantile(grid, q, wp, wr))
    p_meet = None
    if deadline is not None:
        p_meet = out(loaded_cdf(grid, np.full(stable.shape, float(deadline)), wp, wr), 0.0)
    return grid, lat, p_meet, (el.capacity(K, N) if load.arrival_rate is not None else None)
