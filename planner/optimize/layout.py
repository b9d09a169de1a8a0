"""Layout search for `planner recommend --gpus G [--nodes M]`: tensor-parallel degree T x data-parallel replicas D
(T * D <= G) x method x K x N, by the one selection rule over all of them (docs/architecture.md, "Layout").

Why: given G GPUs the cheapest plan that meets the deadline may split the model wider (faster steps), run
replicas that each decode a share of the branches (smaller batches), or leave GPUs idle (cost counts the GPUs a
layout holds, planner/optimize/cost.py). T must divide the attention heads and split or replicate the KV heads
(as planner/profile/deploy.check_tp), stay within a node of G / M GPUs unless the inter-node network is known
(planner/profile/gpus.NETWORK: then a TP group takes whole nodes and all-reduces at the network's bandwidth),
and a replica never straddles nodes. Only run with --gpus: without it recommend is exactly the single-deployment
search."""

from __future__ import annotations

import numpy as np

from planner.errors import PlannerError
from planner.model.replicas import Layout, with_tp
from planner.optimize import exhaustive
from planner.optimize.evaluate import Evaluation, evaluate, memory_ok
from planner.optimize.select import Rule, select
from planner.optimize.strategies import Pick
from planner.profile.gpus import network_GBps
from planner.profile.schema import Profile

MAX_GPUS = 4096
SMALL_D = 8     # every replica count up to this is searched; beyond it powers of two and the largest


def check_gpus(gpus: int, nodes: int | None) -> int:
    """Validate --gpus / --nodes (one line naming the flag); returns the node count."""
    for flag, v in (("--gpus", gpus), ("--nodes", nodes)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_GPUS):
            raise PlannerError(f"{flag} must be an integer in 1..{MAX_GPUS}, got {v!r} (e.g. {flag} "
                               f"{8 if flag == '--gpus' else 1})")
    nodes = nodes or 1
    if gpus % nodes:
        raise PlannerError(f"--nodes {nodes} does not divide --gpus {gpus}: every node holds the same number of "
                           f"GPUs (e.g. --gpus {gpus - gpus % nodes or nodes} --nodes {nodes})")
    return nodes


def layouts(p: Profile, gpus: int, nodes: int = 1) -> list[Layout]:
    """Every (T, D) the heads, the nodes and the interconnect allow on `gpus` GPUs over `nodes` nodes."""
    nodes = check_gpus(gpus, nodes)
    per_node, arch = gpus // nodes, p.model
    out = []
    for T in range(1, gpus + 1):
        if arch.heads % T or (arch.kv_heads % T and T % arch.kv_heads):
            continue
        if T <= per_node:
            link, fit = p.hardware.interconnect_GBps, nodes * (per_node // T)
        else:
            link = network_GBps(p.hardware.name)
            if link is None or T % per_node:
                continue
            fit = nodes // (T // per_node)
        for D in range(1, fit + 1):
            if D <= SMALL_D or D & (D - 1) == 0 or D == fit:
                out.append(Layout(T, D, gpus, nodes, link))
    return out


def tp_refusal(p: Profile, gpus: int, nodes: int) -> PlannerError:
    heads = p.model.heads
    ok = [t for t in range(1, gpus + 1) if heads % t == 0]
    return PlannerError(f"--gpus {gpus} --nodes {nodes}: no tensor-parallel degree of {p.model.name} fits (it must "
                        f"divide its {heads} attention heads, split or replicate its {p.model.kv_heads} KV heads "
                        f"and stay within a node of {gpus // nodes} GPUs; divisors: {', '.join(map(str, ok))})")


def evaluate_layouts(p: Profile, deadline, quantile, methods, n_max: int, k_max: int, gpus: int, nodes: int,
                     load=None) -> list[Evaluation]:
    """One Evaluation per layout (at its TP degree). Without load a request's branches split over the replicas;
    with a Poisson load whole requests go to the replicas in turn (round-robin), every replica seeing R / D."""
    from dataclasses import replace

    from planner.model.load import Load

    if load is not None and load.concurrency is not None:
        raise PlannerError("--gpus with --concurrency is not modelled (clients do not split evenly over replicas); "
                           "use --arrival-rate R")
    found = layouts(p, gpus, nodes)
    if not found:
        raise tp_refusal(p, gpus, nodes)
    from planner.optimize import evaluate as E

    am = E.accuracy_model(p)
    evs, per_tp = [], {}
    for L in found:
        if (L.tp, L.link_GBps) not in per_tp:   # one profile object per TP degree: its grid is shared by every D
            per_tp[(L.tp, L.link_GBps)] = with_tp(p, L.tp, L.link_GBps)
        pt = per_tp[(L.tp, L.link_GBps)]
        E._ACC_CACHE[id(pt)] = (pt, am)      # the layout changes no accuracy input: build its tables once
        if load is not None:
            L = replace(L, routing="requests")
        # every layout is screened by the mean field alone (a third of the spread's cost): the pick is simulated
        ld = None if load is None else Load(arrival_rate=load.arrival_rate / L.replicas, round_robin=L.replicas,
                                            spread=False)
        ev = evaluate(pt, deadline, quantile, methods, n_max=n_max, k_max=k_max, load=ld, layout=L)
        ev.layout = L
        share = ev.N if L.routing != "split" else -(-ev.N // L.replicas)
        ev.fits_memory = memory_ok(pt, share, int(ev.K.max()))   # a replica holds its share's KV
        evs.append(ev)
    return evs


def choose(evs: list[Evaluation], rule: Rule, target_accuracy: float | None = None,
           source: list[int] | None = None) -> Pick:
    """The selection rule over every (layout, method, K, N) at once (`source` labels each evaluation's profile:
    layouts of one profile share its inputs); with a target accuracy, the lowest latency quantile reaching it
    (ties to fewer GPUs)."""
    idx_all, cols_all, owner = [], [], []
    for i, ev in enumerate(evs):
        mask = ev.feasible() if target_accuracy is None else ev.feasible(deadline=None) & (ev.acc >= target_accuracy)
        idx, cols = exhaustive.candidates(ev, mask)
        idx_all.append(idx)
        cols_all.append(np.column_stack(cols) if len(idx) else np.zeros((0, 5)))
        owner += [i] * len(idx)
    cols = np.concatenate(cols_all) if cols_all else np.zeros((0, 5))
    if not len(cols):
        raise _none(evs, target_accuracy)
    owner = np.array(owner)
    flat = np.concatenate(idx_all)
    if target_accuracy is not None:
        held = np.array([evs[o].layout.held for o in owner])
        j = int(np.lexsort((held, cols[:, 4]))[0])
    else:
        src = None if source is None else np.asarray(source)[owner]
        j = select(*cols.T, rule, source=src)
    ev = evs[int(owner[j])]
    return Pick(ev, tuple(int(v) for v in flat[j]), ev)


def _none(evs: list[Evaluation], target_accuracy) -> PlannerError:
    if target_accuracy is not None:
        return PlannerError(f"target accuracy {target_accuracy:.1%} is above what any layout reaches")
    q = min((float(ev.lat("q")[:, :, ev.fits_memory].min()) if ev.fits_memory.any() else np.inf) for ev in evs)
    L = evs[0].layout
    if not np.isfinite(q):
        return PlannerError(f"no configuration fits in memory on any layout of {L.gpus} GPU(s)")
    return PlannerError(f"no layout of {L.gpus} GPU(s) meets a {evs[0].deadline:g} s deadline at "
                        f"p{evs[0].quantile * 100:g}: the fastest achievable is {q:.3g} s")


def layout_notes(evs: list[Evaluation], chosen: Evaluation, rule: Rule, limit: int = 6) -> list[str]:
    """One line: each other layout's own choice by the rule (what a user weighs against the plan's layout)."""
    rows, many = [], len({ev.profile.id for ev in evs}) > 1
    for ev in evs:
        if ev is chosen:
            continue
        i = exhaustive.best_index(ev, rule=rule)
        if i is None:
            continue
        tokens, dev = exhaustive.cost(ev)
        m, k, n = i
        who = f"{ev.profile.id} " if many else ""
        rows.append((-float(ev.acc[i]), f"{who}TP{ev.layout.tp}x{ev.layout.replicas}: {ev.methods[m]} N={int(ev.N[n])} "
                     f"K={int(ev.K[k])} -> {ev.acc[i]:.1%}, p{ev.quantile * 100:g} {ev.lat('q')[i]:.2f} s, "
                     f"{float(dev[k, n]):.2f} GPU-s"))
    rows.sort(key=lambda r: r[0])
    if not rows:
        return []
    return [f"other layouts (TP x replicas), each by the same rule: {'; '.join(r[1] for r in rows[:limit])}"]
