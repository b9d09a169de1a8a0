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
from planner.model.scoring import method_scoring, shifted
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
    # A reward model's scoring (planner/model/scoring.py): (M, N) seconds after generation, and for the scored
    # methods the finished share and P(meet) of a generation that must end that much before the deadline.
    scoring: np.ndarray | None = None
    scored_finish: np.ndarray | None = None   # (K, N)
    scored_p_meet: np.ndarray | None = None   # (K, N)
    checked: object = None   # under load: the cells simulated (planner/optimize/load_check.Checked)

    def lat(self, key: str = "q") -> np.ndarray:
        """Latency statistic `key` per (method, K, N): generation plus the method's scoring time."""
        base = self.latency[key][None]
        return np.broadcast_to(base if self.scoring is None else base + self.scoring[:, None, :], self.acc.shape)

    def feasible(self, deadline: float | None = None) -> np.ndarray:
        d = self.deadline if deadline is None else deadline
        ok = self.fits_memory[None, None, :] & np.ones_like(self.acc, dtype=bool)
        if d is not None:
            ok &= self.lat("q") <= d
        return ok

    def config(self, m: int, k: int, n: int) -> dict:
        """One configuration as plain data (indices into methods, K, N)."""
        s = float(self.scoring[m, n]) if self.scoring is not None else 0.0
        lat = {key: float(self.latency[key][k, n]) + s for key in ("mean", "p50", "p90", "p99")}
        scored = s > 0 and self.scored_finish is not None
        p_meet, finish = (self.scored_p_meet, self.scored_finish) if scored else (self.p_meet, self.finish)
        return {"method": self.methods[m], "branches": int(self.N[n]), "draft_len": int(self.K[k]),
                "latency_s": lat, "latency_q_s": float(self.latency["q"][k, n]) + s,
                "accuracy": float(self.acc[m, k, n]), "accuracy_stderr": float(self.acc_se[m, k, n]),
                "p_meet_deadline": float(p_meet[k, n]) if self.deadline else None,
                "finished_share": float(finish[k, n]), **({"scoring_s": s} if s > 0 else {})}


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
    split = layout is not None and layout.routing == "split"
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
    scoring = method_scoring(p, methods, N, dist) if p.scorer is not None else None
    scored = None  # a scored method's generation ends its scoring time before the deadline
    if scoring is not None and deadline is not None and scoring.any():
        node_fs, p_meet_s = shifted(lg, deadline, scoring.max(0))
        scored = (node_fs, np.tensordot(node_w, node_fs, axes=1), p_meet_s)
    acc = np.empty((len(methods), len(K), len(N)))
    se = np.empty_like(acc)
    if hasattr(am, "node_accuracy"):
        # Parametric: each problem node's own finished share, its own cut (hard problems' branches are all long).
        for i, m in enumerate(methods):
            nf = scored[0] if scored is not None and scoring[i].any() else node_f
            acc[i], se[i] = am.node_accuracy(m, N, node_w, node_z, nf)
        return _evaluation(p, methods, N, K, deadline, quantile, lat, lg, finish, acc, se, max_tokens, loaded,
                           scoring, scored)
    # Bank: tables on the finish-fraction grid (a cut at the bank's own length quantile), interpolated at each
    # config's mixed finish share.
    cols = N - 1
    for i, m in enumerate(methods):
        f = scored[1] if scored is not None and scoring[i].any() else finish
        j = np.clip(np.searchsorted(F_GRID, f), 1, len(F_GRID) - 1)
        w = (f - F_GRID[j - 1]) / (F_GRID[j] - F_GRID[j - 1])
        table, table_se = am.table(m, int(N.max()), F_GRID)
        lo, hi = table[j - 1, cols[None, :]], table[j, cols[None, :]]
        acc[i] = lo + w * (hi - lo)
        se[i] = table_se[j - 1, cols[None, :]] + w * (table_se[j, cols[None, :]] - table_se[j - 1, cols[None, :]])
    return _evaluation(p, methods, N, K, deadline, quantile, lat, lg, finish, acc, se, max_tokens, loaded,
                       scoring, scored)


def _evaluation(p, methods, N, K, deadline, quantile, lat, lg, finish, acc, se, max_tokens,
                loaded=None, scoring=None, scored=None) -> Evaluation:
    p_meet = lg.p_meet(deadline) if deadline is not None else np.ones_like(finish)
    extra = dict(scoring=scoring, scored_finish=scored[1] if scored else None,
                 scored_p_meet=scored[2] if scored else None)
    if loaded is None:
        return Evaluation(p, methods, N, K, deadline, quantile, lat, p_meet, finish,
                          memory_ok(p, N, int(K.max())), acc, se, max_tokens, **extra)
    load, p_meet_l, cap = loaded
    return Evaluation(p, methods, N, K, deadline, quantile, lat, p_meet if p_meet_l is None else p_meet_l, finish,
                      memory_ok(p, N, int(K.max())), acc, se, max_tokens, load, cap, **extra)
