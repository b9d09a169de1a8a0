"""Joint evaluation of every configuration of one profile: latency distribution and deadline-aware accuracy.

Accuracy and latency come from one pass: the latency model gives, per (K, N), the share of branches that
finish by the deadline; the accuracy model gives accuracy when only that share votes. Everything is a numpy
array of shape (methods, K, N)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from planner.errors import PlannerError
from planner.model import drafts
from planner.model.latency import latency_grid
from planner.model.lengths import LengthDist
from planner.profile.schema import Profile

F_GRID = np.linspace(0.0, 1.0, 41)   # finish-fraction grid of the accuracy tables
MEMORY_HEADROOM = 0.9                # share of device memory usable for weights + KV cache


@dataclass
class Evaluation:
    profile: Profile
    methods: tuple[str, ...]
    N: np.ndarray
    K: np.ndarray
    deadline: float | None
    quantile: float
    latency: dict               # "mean", "p50", "p90", "p99", "q" -> (K, N) arrays (same for every method)
    p_meet: np.ndarray          # (K, N)
    finish: np.ndarray          # (K, N) expected share of branches finished by the deadline
    fits_memory: np.ndarray     # (N,)
    acc: np.ndarray             # (M, K, N)
    acc_se: np.ndarray          # (M, K, N)
    max_tokens: float | None = None  # generation cap, when one was applied
    load: object = None              # planner.model.load.Load the latency was predicted at (None: alone)
    capacity: np.ndarray | None = None  # (K, N) arrival rate at which the KV budget is full (Poisson load)
    layout: object = None            # planner.model.replicas.Layout over several GPUs (None: the profile's own)

    def feasible(self, deadline: float | None = None) -> np.ndarray:
        d = self.deadline if deadline is None else deadline
        ok = self.fits_memory[None, None, :] & np.ones_like(self.acc, dtype=bool)
        if d is not None:
            ok &= (self.latency["q"] <= d)[None]
        return ok

    def config(self, m: int, k: int, n: int) -> dict:
        """One configuration as plain data (indices into methods, K, N)."""
        lat = {key: float(self.latency[key][k, n]) for key in ("mean", "p50", "p90", "p99")}
        return {"method": self.methods[m], "branches": int(self.N[n]), "draft_len": int(self.K[k]),
                "latency_s": lat, "latency_q_s": float(self.latency["q"][k, n]),
                "accuracy": float(self.acc[m, k, n]), "accuracy_stderr": float(self.acc_se[m, k, n]),
                "p_meet_deadline": float(self.p_meet[k, n]) if self.deadline else None,
                "finished_share": float(self.finish[k, n])}


def memory_ok(p: Profile, N: np.ndarray, k_max: int) -> np.ndarray:
    """Weights + KV for N branches at full length must fit the devices (per device under TP)."""
    tp = p.hardware.tensor_parallel
    ctx = p.prompt_tokens + p.lengths.max_tokens + k_max
    # KV heads split over at most kv_heads devices; past that each device holds a replica (as latency.py)
    need = p.model.weight_bytes / tp + N * ctx * p.model.kv_bytes_per_token / min(tp, p.model.kv_heads)
    draft = drafts.draft_arch(p.model, p.draft)  # a draft model or an EAGLE/MTP head (its weights and KV)
    if draft is not None:
        need = need + draft.weight_bytes / tp + N * ctx * draft.kv_bytes_per_token / min(tp, draft.kv_heads)
    return need <= MEMORY_HEADROOM * p.hardware.memory_GB * 1e9


_ACC_CACHE: dict[int, tuple[Profile, object]] = {}


def accuracy_model(p: Profile):
    """Accuracy model of a profile, built once per profile object (tables are cached inside it)."""
    hit = _ACC_CACHE.get(id(p))
    if hit is None or hit[0] is not p:
        from planner.accuracy.model import build_accuracy_model

        base = Path(p.origin).parent if p.origin and not p.origin.startswith("<") else None
        # A bank keeps each sample's own length: the finish share maps to the bank's own length quantile, so
        # long (often wrong) chains are the ones a deadline cuts. The parametric model cuts per problem node of
        # the latency model, so it needs the same length share.
        hit = _ACC_CACHE[id(p)] = (p, build_accuracy_model(p.accuracy, length_quantile_fn=None, base_dir=base,
                                                           between_share=p.lengths.between_share,
                                                           within_shape=p.lengths.within_shape))
    return hit[1]


def k_values(p: Profile, k_max: int) -> np.ndarray:
    return np.arange(k_max + 1) if p.draft.kind != "none" and k_max > 0 else np.array([0])


def evaluate(p: Profile, deadline: float | None, quantile: float = 0.9, methods: tuple[str, ...] | None = None,
             n_max: int = 256, k_max: int = 8, n_values=None, k_values_=None,
             max_tokens: float | None = None, load=None, layout=None) -> Evaluation:
    """Every (method, K, N) of one profile. `max_tokens` caps generation below the profile's maximum: capped
    branches stop early and do not vote. `layout` (planner/model/replicas.py; p already at its TP degree): a
    request's branches split over its replicas (no load) and the cost counts all its GPUs."""
    if not 0.0 < quantile < 1.0:
        raise PlannerError(f"quantile must be in (0, 1), got {quantile}")
    am = accuracy_model(p)
    methods = tuple(methods or am.methods)
    for m in methods:
        if m not in am.methods:
            raise PlannerError(f"method {m!r} is not available for profile {p.id} (available: "
                               f"{', '.join(am.methods)})")
    N = np.asarray(n_values if n_values is not None else np.arange(1, n_max + 1))
    K = np.asarray(k_values_ if k_values_ is not None else k_values(p, k_max))
    if max_tokens is not None and max_tokens < 1:
        raise PlannerError(f"max_tokens must be at least 1, got {max_tokens}")
    dist = LengthDist(p.lengths, cap=max_tokens)
    split = layout is not None and layout.routing == "split" and layout.replicas > 1
    if load is None:
        if split:
            from planner.model.replicas import split_grid

            lg = split_grid(p, N, K, dist, layout.replicas)
        else:
            lg = latency_grid(p, N, K, dist)
        lat = {"mean": lg.mean, **{f"p{round(q * 100)}": v for q, v in lg.q.items()}, "q": lg.quantile(quantile)}
        loaded = None
    else:  # other requests share the engine (planner/model/load.py): queueing + service
        from planner.model.load import loaded_latency

        lg, lat, p_meet_l, cap = loaded_latency(p, N, K, dist, load, int(K.max()), quantile, deadline)
        loaded = (load, p_meet_l, cap)
    node_w, node_z, node_f = lg.node_finish(deadline)
    finish = np.tensordot(node_w, node_f, axes=1)
    acc = np.empty((len(methods), len(K), len(N)))
    se = np.empty_like(acc)
    if hasattr(am, "node_accuracy"):
        # Parametric: each problem node's own finished share, its own cut (hard problems' branches are all long).
        for i, m in enumerate(methods):
            acc[i], se[i] = am.node_accuracy(m, N, node_w, node_z, node_f)
        return _evaluation(p, methods, N, K, deadline, quantile, lat, lg, finish, acc, se, max_tokens, loaded)
    # Bank: tables on the finish-fraction grid (a cut at the bank's own length quantile), interpolated at each
    # config's mixed finish share.
    j = np.clip(np.searchsorted(F_GRID, finish) , 1, len(F_GRID) - 1)
    w = (finish - F_GRID[j - 1]) / (F_GRID[j] - F_GRID[j - 1])
    cols = N - 1
    for i, m in enumerate(methods):
        table, table_se = am.table(m, int(N.max()), F_GRID)
        lo, hi = table[j - 1, cols[None, :]], table[j, cols[None, :]]
        acc[i] = lo + w * (hi - lo)
        se[i] = table_se[j - 1, cols[None, :]] + w * (table_se[j, cols[None, :]] - table_se[j - 1, cols[None, :]])
    return _evaluation(p, methods, N, K, deadline, quantile, lat, lg, finish, acc, se, max_tokens, loaded)


def _evaluation(p, methods, N, K, deadline, quantile, lat, lg, finish, acc, se, max_tokens,
                loaded=None) -> Evaluation:
    p_meet = lg.p_meet(deadline) if deadline is not None else np.ones_like(finish)
    if loaded is None:
        return Evaluation(p, methods, N, K, deadline, quantile, lat, p_meet, finish,
                          memory_ok(p, N, int(K.max())), acc, se, max_tokens)
    load, p_meet_l, cap = loaded
    return Evaluation(p, methods, N, K, deadline, quantile, lat, p_meet if p_meet_l is None else p_meet_l, finish,
                      memory_ok(p, N, int(K.max())), acc, se, max_tokens, load, cap)
