"""What recommend adds around the chosen plan: the profile's number formats, each engine's launch section, the
prompt length assumed (both paths: one deployment, or a GPU layout with `--gpus`), and at a load the capacity
check of one deployment and the plan's capacity and goodput. One place, so the paths cannot disagree on what a
plan carries."""

from __future__ import annotations

import numpy as np

from planner.errors import PlannerError
from planner.plan import Plan
from planner.profile.schema import Profile


def _formats(plan: Plan, p: Profile) -> None:
    """The number formats the profile sets (planner/profile/quant.py) go into plan.model, where the exporters
    turn them into the engines' quantisation flags; a profile without them leaves the plan as it was."""
    for key in ("weight_dtype", "kv_dtype"):
        if getattr(p.model, key, None):
            plan.model[key] = getattr(p.model, key)


def finish(plan: Plan, p: Profile) -> None:
    """The formats, the engine sections (pure python) and the prompt length the prediction assumed (run and
    validate compare against it), in that order."""
    from planner.export import engine_sections

    _formats(plan, p)
    plan.engines = engine_sections(plan)
    plan.predicted["prompt_tokens"] = p.prompt_tokens


def _load_summary(prof: Profile, plan: Plan, load, deadline: float | None, quantile: float, choice=None) -> dict:
    """The load the plan was chosen at, its capacity (closed form: the rate at which the KV budget is full) and
    goodput: the highest rate at which its latency quantile still meets the deadline, by bisection on the rate
    with the simulation (planner/optimize/load_check.py; common random numbers across rates) when the plan was
    confirmed by one, else with the closed forms. `simulated`: the plan's simulated statistics and their SEs."""
    from planner.model.load import Load
    from planner.optimize.evaluate import evaluate

    from planner.model.load import EngineLoad

    from planner.model.lengths import LengthDist

    cap_tokens = choice.ev.max_tokens if choice is not None else None   # an answer budget (--budgets)
    one = dict(n_values=[plan.branches], k_values_=[plan.draft_len], max_tokens=cap_tokens)
    ev = evaluate(prof, deadline, quantile, (plan.method,), **one)   # alone: the latency as the load vanishes
    cap = EngineLoad(prof, Load(arrival_rate=1.0), plan.draft_len,   # the plan's deployment: its own K
                     LengthDist(prof.lengths, cap=cap_tokens))
    capacity = float(cap.capacity(np.array([plan.draft_len]), np.array([plan.branches]))[0, 0])
    out = {"arrival_rate": load.arrival_rate, "concurrency": load.concurrency,
           "capacity_rps": capacity, "goodput_rps": None}
    sim = None
    if choice is not None and choice.ev.checked is not None and choice.idx[1:] in choice.ev.checked.cells:
        sim = choice.ev.checked.cells[choice.idx[1:]]
        out["simulated"] = sim.to_dict()
    if deadline is None or ev.latency["q"][0, 0] > deadline:
        return out
    lo, hi = 0.0, capacity
    if sim is not None and load.arrival_rate is not None and sim.q <= deadline:
        lo = min(float(load.arrival_rate), hi)   # the simulation confirmed the plan at its own rate
    for _ in range(6 if sim is not None else 12):
        mid = 0.5 * (lo + hi)
        if sim is not None:
            from planner.optimize.load_check import simulate_cell

            st = simulate_cell(choice.ev, *choice.idx[1:], rate=mid)
            q = np.inf if st is None else st.q
        else:
            q = evaluate(prof, deadline, quantile, (plan.method,), load=Load(arrival_rate=mid), **one).latency["q"][0, 0]
        lo, hi = (mid, hi) if q <= deadline else (lo, mid)
    out["goodput_rps"] = lo
    return out


def goodput_note(plan: Plan, quantile: float, replicas: int = 1) -> None:
    """The plan's note on its goodput (both recommend paths), when it has one."""
    g = plan.predicted["load"].get("goodput_rps")
    if g is not None:
        over = f" over its {replicas} replicas, round-robin" if replicas > 1 else ""
        plan.notes.append(f"goodput: this plan meets its deadline at p{round(quantile * 100)} up to {g:.3g} "
                          f"requests/s (Poisson{over})")


def _refuse_beyond_capacity(evs, load) -> str:
    """A Poisson rate no configuration can sustain is refused, stating the capacity; else a note on the load."""
    import numpy as np

    caps = [float(np.max(np.where(ev.fits_memory[None, :], ev.capacity, 0.0), initial=0.0))
            for ev in evs if ev.capacity is not None]
    if caps and not load.arrival_rate < max(caps):
        raise PlannerError(f"arrival rate {load.arrival_rate:g} requests/s is beyond capacity: the deployment "
                           f"serves at most {max(caps):.3g} requests/s (its best configuration, KV budget full); lower --arrival-rate")
    return f"load: {load.describe()}; latency is queueing + service at that load (planner/model/load.py)"
