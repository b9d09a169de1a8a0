"""Public Python API for notebooks and scripts: `from planner import load_profile, recommend, predict, grid`.

The CLI commands recommend/predict/pareto are thin layers over these functions, so a script gets exactly what
`planner recommend --json` prints. Light on purpose: numpy only; pandas is imported inside `grid()` alone.
Bad input raises `planner.errors.PlannerError` with a one-line message (the CLI prints it, exit 2).
The argument checks live in planner/api_inputs.py, the `--gpus` layout path in planner/api_layout.py, and what
both recommend paths add to a plan in planner/api_finish.py."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Iterable

from planner.api_finish import _load_summary, _refuse_beyond_capacity, finish, goodput_note
from planner.api_inputs import (ENGINES, ProfileLike, _deadline, _ints, _limits, _load, _methods,  # noqa: F401
                                _methods_for, _profiles, with_prompt_tokens)  # (ENGINES, ProfileLike re-exported)
from planner.api_layout import _layout_plan, _predict_layout
from planner.errors import PlannerError
from planner.plan import MAX_BRANCHES, MAX_DRAFT_LEN, MAX_PROMPT_TOKENS, METHODS, Plan  # noqa: F401 (re-exported)
from planner.profile.schema import Profile

if TYPE_CHECKING:  # pragma: no cover
    import pandas


def load_profile(name_or_path: str | None = None) -> Profile:
    """A shipped profile by name (`planner profiles`), a profile JSON path, or the default profile (None)."""
    from planner.profile import load_profile as load

    return load(name_or_path)


@dataclass(frozen=True)
class Prediction:
    """One configuration's predicted latency distribution and accuracy (`planner predict --json`)."""

    profile: str
    method: str
    branches: int
    draft_len: int
    latency_s: dict              # {"mean", "p50", "p90", "p99"} seconds
    latency_q_s: float           # latency at the requested quantile
    accuracy: float
    accuracy_stderr: float
    p_meet_deadline: float | None
    finished_share: float
    tokens_per_request: float    # generated tokens, all branches (cut ones up to the deadline)
    device_s_per_request: float  # device-seconds: min(mean latency, deadline) x tensor-parallel degree
    fits_memory: bool
    layout: dict | None = None   # `predict --gpus/--tp`: the layout predicted (absent without those flags)
    simulated: dict | None = None   # at a load: the simulation's statistics and SEs (absent without a load)

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("layout", "simulated"):
            if d[key] is None:
                del d[key]
        return d


def recommend(profiles: ProfileLike | Iterable[ProfileLike] = None, deadline: float | str | None = None,
              quantile: float = 0.9, methods: Iterable[str] | None = None, target_accuracy: float | None = None,
              *, max_branches: int = 256, max_draft_len: int = 8, strategy: str = "exhaustive",
              trials: int = 300, seed: int = 0, engine: str | None = None, objective: str = "cost",
              tolerance: float | None = None, z: float = 1.0, prompt_tokens: int | None = None,
              budgets: Iterable[int] | None = None, arrival_rate: float | None = None,
              concurrency: int | None = None, gpus: int | None = None, nodes: int | None = None) -> Plan:
    """The plan for `deadline` (seconds or "60s") across one or more profiles: among configurations whose
    latency quantile meets it, the cheapest (device-seconds per request) whose accuracy is within
    max(tolerance, z * SE of the difference) of the best (`objective="accuracy"`: the most accurate);
    `tolerance` is a fraction (None: 0.005 = 0.5 points). With `target_accuracy` instead: the fastest plan reaching it.
    `engine` (vllm, sglang, trtllm) restricts the search to what that engine can run. `budgets` (tokens per
    branch, e.g. [512, 1024, 2048]) adds the answer budget as a search axis (planner/optimize/budget.py); None
    keeps today's search at the profile's max_tokens. `arrival_rate` (Poisson, requests/s) or `concurrency`
    (closed-loop clients): the deadline must hold at that load (queueing + service, planner/model/load.py).
    `gpus` (and `nodes`, GPUs per node = gpus / nodes) also searches the layout: tensor-parallel degree x
    replicas (planner/optimize/layout.py); None keeps the profile's own deployment, exactly as before.
    Returns the `tts-plan/1` Plan (`plan.to_dict()`)."""
    from planner.choice import build_plan, choose, engine_k_max
    from planner.optimize.evaluate import evaluate
    from planner.optimize.select import DEFAULT_TOLERANCE, Rule
    from planner.optimize.strategies import SearchSettings, get_strategy

    profs = [with_prompt_tokens(p, prompt_tokens) for p in _profiles(profiles)]
    d = _deadline(deadline)
    if d is None and target_accuracy is None:
        raise PlannerError("give a deadline (e.g. --deadline 60s) or a target accuracy")
    if target_accuracy is not None and not 0.0 < target_accuracy <= 1.0:
        raise PlannerError(f"target accuracy must be in (0, 1], got {target_accuracy}")
    meths = _methods(methods)
    _limits(max_branches, max_draft_len)
    if engine is not None and engine not in ENGINES:
        raise PlannerError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    get_strategy(strategy)
    rule = Rule(objective, DEFAULT_TOLERANCE if tolerance is None else tolerance, z)
    settings = SearchSettings(trials=trials, seed=seed, rule=rule)
    load = _load(arrival_rate, concurrency)
    if load is not None and strategy != "exhaustive":   # the pick under load is confirmed cell by cell
        raise PlannerError(f"a load (--arrival-rate/--concurrency) is searched exhaustively: drop --strategy "
                           f"{strategy}")
    if gpus is not None or nodes is not None:
        return _layout_plan(profs, d, quantile, meths, target_accuracy, max_branches, max_draft_len, engine,
                            strategy, rule, load, budgets, gpus, nodes)
    evs, notes = [], []
    if budgets is not None:
        choice, evs, notes = _budget_choice(profs, budgets, d, quantile, meths, target_accuracy, max_branches,
                                            max_draft_len, engine, strategy, settings, load)
    for p in profs if budgets is None else ():
        k, why = engine_k_max(p, engine, max_draft_len)
        notes += [why] if why else []
        evs.append(evaluate(p, d, quantile, _methods_for(p, meths), n_max=max_branches, k_max=k, load=load))
    if budgets is None and load is not None:   # screened by the closed forms, the pick confirmed by simulation
        from planner.optimize import load_check

        notes.append(_refuse_beyond_capacity(evs, load))
        choice = load_check.confirm(evs, lambda: choose(evs, target_accuracy, strategy, settings))
        notes.append(load_check.note(choice, evs))
    elif budgets is None:
        choice = choose(evs, target_accuracy, strategy, settings)
    plan = build_plan(choice, evs, strategy=strategy, rule=rule, extra_notes=notes,
                      objective=None if target_accuracy is None else "min_latency")
    chosen = next((p for p in profs if p.id == plan.profile.get("id")), profs[0])
    finish(plan, chosen)
    if load is not None:
        plan.predicted["load"] = _load_summary(chosen, plan, load, d, quantile, choice)
        goodput_note(plan, quantile)
    return plan


def _budget_choice(profs, budgets, d, quantile, meths, target_accuracy, max_branches, max_draft_len, engine,
                   strategy, settings, load=None):
    """The pick over (method, K, N, budget) of every profile, the evaluations build_plan compares it with, notes.
    At a load every budget is screened at it and the pick confirmed by simulation, as without budgets."""
    from planner.choice import engine_k_max
    from planner.optimize import budget as B

    if strategy == "optuna-cap":
        B.pick(strategy, [], settings)  # raises: the two contradict
    per, notes = [], []
    for p in profs:
        k, why = engine_k_max(p, engine, max_draft_len)
        notes += [why] if why else []
        per.append(B.evaluate_budgets(p, d, quantile, _methods_for(p, meths), n_max=max_branches, k_max=k,
                                      budgets=budgets, load=load))
    if load is None:
        choice = B.choose(per, target_accuracy, strategy, settings)
    else:
        from planner.optimize import load_check

        flat = [ev for evs in per for ev in evs]
        notes.append(_refuse_beyond_capacity(flat, load))
        choice = load_check.confirm(flat, lambda: B.choose(per, target_accuracy, strategy, settings))
        notes.append(load_check.note(choice, flat))
    shown = [choice.ev] + [evs[-1] for evs in per if all(e is not choice.ev for e in evs)]
    got = ", ".join(str(b) for b in B.check_budgets(choice.ev.profile, budgets))
    notes.append(f"answer budgets searched: {got} tokens; chosen: "
                 f"{int(choice.ev.max_tokens) if choice.ev.max_tokens else choice.ev.profile.lengths.max_tokens}")
    return choice, shown, notes


def predict(profile: ProfileLike = None, branches: int = 1, draft_len: int = 0, method: str = "majority",
            deadline: float | str | None = None, quantile: float = 0.9, prompt_tokens: int | None = None,
            arrival_rate: float | None = None, concurrency: int | None = None, gpus: int | None = None,
            tp: int | None = None, nodes: int | None = None) -> Prediction:
    """Latency distribution and accuracy of one configuration (N branches, draft length K, voting method);
    with `arrival_rate` or `concurrency`, at that load (queueing + service). `gpus` G and `tp` T: G / T
    replicas of T GPUs (planner/model/replicas.py), the branches split over them (whole requests under load)."""
    from planner.optimize.cost import with_cost
    from planner.optimize.evaluate import evaluate

    prof = with_prompt_tokens(_profiles(profile)[0], prompt_tokens)
    _ints(branches=(branches, 1, MAX_BRANCHES), draft_len=(draft_len, 0, MAX_DRAFT_LEN))
    _methods([method])
    if draft_len > 0 and prof.draft.kind == "none":
        raise PlannerError(f"profile {prof.id} has no draft (draft.kind is none): use draft_len 0 (--draft-len 0)")
    load = _load(arrival_rate, concurrency)
    layout = None
    if gpus is not None or tp is not None or nodes is not None:
        prof, layout, load = _predict_layout(prof, gpus, tp, nodes, load)
    ev = evaluate(prof, _deadline(deadline), quantile, (method,), n_values=[branches], k_values_=[draft_len],
                  load=load, layout=layout)
    if load is not None and ev.capacity is not None and not load.arrival_rate < ev.capacity[0, 0]:
        raise PlannerError(f"arrival rate {load.arrival_rate:g} requests/s is beyond the capacity of N={branches} "
                           f"K={draft_len} on {prof.id}: {ev.capacity[0, 0]:.3g} requests/s (lower --arrival-rate "
                           "or --branches)")
    if load is not None and not ev.latency["mean"][0, 0] < float("inf"):
        raise PlannerError(f"{load.describe()} is beyond what N={branches} K={draft_len} on {prof.id} can serve "
                           "(the queue grows without bound): lower the load or --branches")
    sim = None
    if load is not None:   # the closed form's figures replaced by the simulation's (planner/optimize/load_check.py)
        from planner.optimize.load_check import check_cell

        st = check_cell(ev, 0, 0)
        sim = None if st is None else st.to_dict()
    if layout is None:
        return Prediction(profile=prof.id, **with_cost(ev, (0, 0, 0)), fits_memory=bool(ev.fits_memory[0]),
                          simulated=sim)
    import numpy as np

    from planner.optimize.evaluate import memory_ok

    ev.layout = layout
    share = branches if layout.routing != "split" else -(-branches // layout.replicas)
    fits = bool(memory_ok(prof, np.array([share]), draft_len)[0])
    return Prediction(profile=prof.id, **with_cost(ev, (0, 0, 0)), fits_memory=fits,
                      layout=layout.to_dict(branches), simulated=sim)


def grid(profile: ProfileLike = None, deadline: float | str | None = None, quantile: float = 0.9,
         methods: Iterable[str] | None = None, max_branches: int = 256,
         max_draft_len: int = 8, prompt_tokens: int | None = None) -> "pandas.DataFrame":
    """Every (method, K, N) configuration of one profile as a pandas DataFrame, one row each: predicted latency
    (mean, p50, p90, p99, the requested quantile), accuracy and its standard error, P(meet deadline), the share
    of branches finished by the deadline, generated tokens and device-seconds per request, whether it fits in
    memory and meets the deadline (`feasible`)."""
    import numpy as np
    import pandas as pd

    from planner.optimize.cost import cost
    from planner.optimize.evaluate import evaluate

    prof = with_prompt_tokens(_profiles(profile)[0], prompt_tokens)
    _limits(max_branches, max_draft_len)
    ev = evaluate(prof, _deadline(deadline), quantile, _methods(methods), n_max=max_branches, k_max=max_draft_len)
    M, K, N = ev.acc.shape
    m, k, n = (a.ravel() for a in np.meshgrid(np.arange(M), np.arange(K), np.arange(N), indexing="ij"))
    lat = ev.latency
    tokens, dev = cost(ev)
    return pd.DataFrame({
        "profile": prof.id, "method": np.asarray(ev.methods)[m], "branches": ev.N[n].astype(int),
        "draft_len": ev.K[k].astype(int),
        **{f"latency_{key}_s": lat[key][k, n] for key in ("mean", "p50", "p90", "p99")},
        "latency_q_s": lat["q"][k, n], "accuracy": ev.acc[m, k, n], "accuracy_stderr": ev.acc_se[m, k, n],
        "p_meet_deadline": ev.p_meet[k, n] if ev.deadline else np.nan, "finished_share": ev.finish[k, n],
        "tokens_per_request": tokens[k, n], "device_s_per_request": dev[k, n], "fits_memory": ev.fits_memory[n], "feasible": ev.feasible()[m, k, n]})
