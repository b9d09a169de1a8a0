"""The GPU-layout path of the public API (`recommend --gpus/--nodes`, `predict --gpus/--tp`): tensor-parallel
degree x replicas searched or named (planner/optimize/layout.py, planner/model/replicas.py). Apart from the
single-deployment path in planner/api.py, which runs exactly as before when no GPU count is given."""

from __future__ import annotations

from planner.api_finish import _load_summary, finish, goodput_note
from planner.api_inputs import _ints, _methods_for
from planner.errors import PlannerError
from planner.plan import Plan
from planner.profile.schema import Profile


def _layout_plan(profs, d, quantile, meths, target_accuracy, max_branches, max_draft_len, engine, strategy, rule,
                 load, budgets, gpus, nodes) -> Plan:
    """recommend over GPU layouts (`--gpus`): every profile's (T, D) layouts, one rule over all of them."""
    from planner.choice import build_plan, engine_k_max
    from planner.optimize import layout as LO

    if gpus is None:
        raise PlannerError("--nodes needs --gpus (the total GPU count, e.g. --gpus 16 --nodes 2)")
    nodes = LO.check_gpus(gpus, nodes)
    if budgets is not None or strategy != "exhaustive":
        raise PlannerError("--gpus searches layouts exhaustively: drop " +
                           ("--budgets" if budgets is not None else f"--strategy {strategy}"))
    evs, notes, source = [], [], []
    for i, p in enumerate(profs):
        k, why = engine_k_max(p, engine, max_draft_len)
        notes += [why] if why else []
        got = LO.evaluate_layouts(p, d, quantile, _methods_for(p, meths), max_branches, k, gpus, nodes, load)
        evs += got
        source += [i] * len(got)
    if load is not None:
        import numpy as np

        cap = max(float(np.max(np.where(ev.fits_memory[None, :], ev.capacity, 0.0), initial=0.0)) *
                  ev.layout.replicas for ev in evs)
        if not load.arrival_rate < cap:
            raise PlannerError(f"arrival rate {load.arrival_rate:g} requests/s is beyond capacity: {gpus} GPUs "
                               f"serve at most {cap:.3g} requests/s (best layout and configuration, KV budgets "
                               "full); lower --arrival-rate or add --gpus")
        notes.append(f"load: {load.describe()}; each replica serves its share R / replicas of whole requests "
                     "(latency is queueing + service, planner/model/load.py)")
    if load is None:
        choice = LO.choose(evs, rule, target_accuracy, source)
    else:   # screened by the closed forms, the pick confirmed by simulation
        from planner.optimize import load_check

        choice = load_check.confirm(evs, lambda: LO.choose(evs, rule, target_accuracy, source))
        notes.append(load_check.note(choice, evs))
    ev, L = choice.ev, choice.ev.layout
    notes += LO.layout_notes(evs, ev, rule)
    plan = build_plan(choice, [ev], strategy=strategy, rule=rule, extra_notes=notes,
                      objective=None if target_accuracy is None else "min_latency")
    plan.layout = L.to_dict(plan.branches)
    plan.hardware["gpus"] = L.held
    finish(plan, ev.profile)
    if load is not None:
        from planner.model.load import Load

        per = Load(arrival_rate=load.arrival_rate / L.replicas, round_robin=L.replicas)
        summary = _load_summary(ev.profile, plan, per, d, quantile, choice)
        for key in ("capacity_rps", "goodput_rps"):   # the layout's: every replica at its R / D
            summary[key] = None if summary[key] is None else summary[key] * L.replicas
        plan.predicted["load"] = {**summary, "arrival_rate": load.arrival_rate}
        goodput_note(plan, quantile, L.replicas)
    return plan


def _predict_layout(prof: Profile, gpus, tp, nodes, load):
    """(profile at TP T, Layout, per-replica load) for `predict --gpus G --tp T [--nodes M]`."""
    from dataclasses import replace

    from planner.model.replicas import with_tp
    from planner.optimize import layout as LO

    if gpus is None and nodes is not None:
        raise PlannerError("--nodes needs --gpus (the total GPU count, e.g. --gpus 16 --nodes 2)")
    T = tp if tp is not None else prof.hardware.tensor_parallel
    G = gpus if gpus is not None else T
    _ints(tp=(T, 1, 4096))
    nodes = LO.check_gpus(G, nodes)
    if G % T:
        raise PlannerError(f"--tp {T} does not divide --gpus {G}: the GPUs form G / T replicas of T each "
                           f"(e.g. --gpus {T * max(G // T, 1)})")
    from planner.profile.deploy import check_tp

    check_tp(prof.model, T, {"name": prof.hardware.name, "memory_GB": prof.hardware.memory_GB})
    found = {(L.tp, L.replicas): L for L in LO.layouts(prof, G, nodes)}
    L = found.get((T, G // T))
    if L is None:
        raise PlannerError(f"--tp {T} spans nodes of {G // nodes} GPUs and no inter-node network is known for "
                           f"{prof.hardware.name}: use --tp {G // nodes} or less")
    if load is not None:
        if load.concurrency is not None:
            raise PlannerError("--gpus with --concurrency is not modelled (clients do not split evenly over "
                               "replicas); use --arrival-rate R")
        from planner.model.load import Load

        L, load = replace(L, routing="requests"), Load(arrival_rate=load.arrival_rate / L.replicas,
                                                       round_robin=L.replicas)
    return with_tp(prof, T, L.link_GBps), L, load
