"""Public Python API for notebooks and scripts: `from planner import load_profile, recommend, predict, grid`.

The CLI commands recommend/predict/pareto are thin layers over these functions, so a script gets exactly what
`planner recommend --json` prints. Light on purpose: numpy only; pandas is imported inside `grid()` alone.
Bad input raises `planner.errors.PlannerError` with a one-line message (the CLI prints it, exit 2)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Iterable, Union

from planner.errors import PlannerError
from planner.plan import MAX_BRANCHES, MAX_DRAFT_LEN, MAX_PROMPT_TOKENS, METHODS, Plan  # noqa: F401 (re-exported)
from planner.profile.schema import Profile
from planner.units import parse_duration

if TYPE_CHECKING:  # pragma: no cover
    import pandas

ProfileLike = Union[Profile, str, None]        # a Profile, a shipped name, a JSON path, or None (the default)
ENGINES = ("vllm", "sglang", "trtllm")


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

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["layout"] is None:
            del d["layout"]
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
    if load is not None and budgets is not None:
        raise PlannerError("--budgets and a load (--arrival-rate/--concurrency) cannot be combined yet; drop one")
    if gpus is not None or nodes is not None:
        return _layout_plan(profs, d, quantile, meths, target_accuracy, max_branches, max_draft_len, engine,
                            strategy, rule, load, budgets, gpus, nodes)
    evs, notes = [], []
    if budgets is not None:
        choice, evs, notes = _budget_choice(profs, budgets, d, quantile, meths, target_accuracy, max_branches,
                                            max_draft_len, engine, strategy, settings)
    for p in profs if budgets is None else ():
        k, why = engine_k_max(p, engine, max_draft_len)
        notes += [why] if why else []
        evs.append(evaluate(p, d, quantile, _methods_for(p, meths), n_max=max_branches, k_max=k, load=load))
    if load is not None:
        notes.append(_refuse_beyond_capacity(evs, load))
    if budgets is None:
        choice = choose(evs, target_accuracy, strategy, settings)
    plan = build_plan(choice, evs, strategy=strategy, rule=rule, extra_notes=notes,
                      objective=None if target_accuracy is None else "min_latency")
    from planner.export import engine_sections  # pure python; renders each engine's launch + request

    chosen = next((p for p in profs if p.id == plan.profile.get("id")), profs[0])
    _formats(plan, chosen)
    plan.engines = engine_sections(plan)
    plan.predicted["prompt_tokens"] = chosen.prompt_tokens  # what the prediction assumed (run/validate compare)
    if load is not None:
        plan.predicted["load"] = _load_summary(chosen, plan, load, d, quantile)
        if plan.predicted["load"].get("goodput_rps") is not None:
            plan.notes.append(f"goodput: this plan meets its deadline at p{round(quantile * 100)} up to "
                              f"{plan.predicted['load']['goodput_rps']:.3g} requests/s (Poisson)")
    return plan


def _layout_plan(profs, d, quantile, meths, target_accuracy, max_branches, max_draft_len, engine, strategy, rule,
                 load, budgets, gpus, nodes) -> Plan:
    """recommend over GPU layouts (`--gpus`): every profile's (T, D) layouts, one rule over all of them."""
    from planner.choice import build_plan, engine_k_max
    from planner.export import engine_sections
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
    choice = LO.choose(evs, rule, target_accuracy, source)
    ev, L = choice.ev, choice.ev.layout
    notes += LO.layout_notes(evs, ev, rule)
    plan = build_plan(choice, [ev], strategy=strategy, rule=rule, extra_notes=notes,
                      objective=None if target_accuracy is None else "min_latency")
    plan.layout = L.to_dict(plan.branches)
    plan.hardware["gpus"] = L.held
    _formats(plan, ev.profile)
    plan.engines = engine_sections(plan)
    plan.predicted["prompt_tokens"] = ev.profile.prompt_tokens
    if load is not None:
        from planner.model.load import Load

        per = Load(arrival_rate=load.arrival_rate / L.replicas)
        summary = _load_summary(ev.profile, plan, per, d, quantile)
        for key in ("capacity_rps", "goodput_rps"):   # the layout's: every replica at its R / D
            summary[key] = None if summary[key] is None else summary[key] * L.replicas
        plan.predicted["load"] = {**summary, "arrival_rate": load.arrival_rate}
    return plan


def _formats(plan: Plan, p: Profile) -> None:
    """The number formats the profile sets (planner/profile/quant.py) go into plan.model, where the exporters
    turn them into the engines' quantisation flags; a profile without them leaves the plan as it was."""
    for key in ("weight_dtype", "kv_dtype"):
        if getattr(p.model, key, None):
            plan.model[key] = getattr(p.model, key)


def _budget_choice(profs, budgets, d, quantile, meths, target_accuracy, max_branches, max_draft_len, engine,
                   strategy, settings):
    """The pick over (method, K, N, budget) of every profile, the evaluations build_plan compares it with, notes."""
    from planner.choice import engine_k_max
    from planner.optimize import budget as B

    if strategy == "optuna-cap":
        B.pick(strategy, [], settings)  # raises: the two contradict
    per, notes = [], []
    for p in profs:
        k, why = engine_k_max(p, engine, max_draft_len)
        notes += [why] if why else []
        per.append(B.evaluate_budgets(p, d, quantile, _methods_for(p, meths), n_max=max_branches, k_max=k,
                                      budgets=budgets))
    choice = B.choose(per, target_accuracy, strategy, settings)
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
    if layout is None:
        return Prediction(profile=prof.id, **with_cost(ev, (0, 0, 0)), fits_memory=bool(ev.fits_memory[0]))
    import numpy as np

    from planner.optimize.evaluate import memory_ok

    ev.layout = layout
    share = branches if layout.routing != "split" else -(-branches // layout.replicas)
    fits = bool(memory_ok(prof, np.array([share]), draft_len)[0])
    return Prediction(profile=prof.id, **with_cost(ev, (0, 0, 0)), fits_memory=fits,
                      layout=layout.to_dict(branches))


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

        L, load = replace(L, routing="requests"), Load(arrival_rate=load.arrival_rate / L.replicas)
    return with_tp(prof, T, L.link_GBps), L, load


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


def _load(arrival_rate, concurrency):
    """The offered load, or None (a request alone: today's model exactly)."""
    if arrival_rate is None and concurrency is None:
        return None
    from planner.model.load import Load

    return Load(arrival_rate, concurrency)


def _refuse_beyond_capacity(evs, load) -> str:
    """A Poisson rate no configuration can sustain is refused, stating the capacity; else a note on the load."""
    import numpy as np

    caps = [float(np.max(np.where(ev.fits_memory[None, :], ev.capacity, 0.0), initial=0.0))
            for ev in evs if ev.capacity is not None]
    if caps and not load.arrival_rate < max(caps):
        raise PlannerError(f"arrival rate {load.arrival_rate:g} requests/s is beyond capacity: the deployment "
                           f"serves at most {max(caps):.3g} requests/s (its best configuration, KV budget full); lower --arrival-rate")
    return f"load: {load.describe()}; latency is queueing + service at that load (planner/model/load.py)"


def _load_summary(prof: Profile, plan: Plan, load, deadline: float | None, quantile: float) -> dict:
    """The load the plan was chosen at, its capacity and goodput: the highest Poisson rate at which its latency
    quantile still meets the deadline (bisection on the rate)."""
    from planner.model.load import Load
    from planner.optimize.evaluate import evaluate

    one = dict(n_values=[plan.branches], k_values_=[plan.draft_len])
    ev = evaluate(prof, deadline, quantile, (plan.method,), load=Load(arrival_rate=1e-9), **one)
    out = {"arrival_rate": load.arrival_rate, "concurrency": load.concurrency,
           "capacity_rps": float(ev.capacity[0, 0]), "goodput_rps": None}
    if deadline is None or ev.latency["q"][0, 0] > deadline:
        return out
    lo, hi = 0.0, float(ev.capacity[0, 0])
    for _ in range(12):
        mid = 0.5 * (lo + hi)
        e = evaluate(prof, deadline, quantile, (plan.method,), load=Load(arrival_rate=mid), **one)
        lo, hi = (mid, hi) if e.latency["q"][0, 0] <= deadline else (lo, mid)
    out["goodput_rps"] = lo
    return out


def _profiles(profiles) -> list[Profile]:
    if profiles is None or isinstance(profiles, (str, Profile)):
        profiles = [profiles]
    out = [p if isinstance(p, Profile) else load_profile(p) for p in profiles]
    if not out:
        raise PlannerError("give at least one profile")
    return out


def with_prompt_tokens(profile: Profile, prompt_tokens: int | None) -> Profile:
    """The profile predicting for prompts of `prompt_tokens` tokens (None: the profile's own `prompt_tokens`,
    which is the calibration prompts' length, not necessarily the workload's)."""
    if prompt_tokens is None:
        return profile
    _ints(prompt_tokens=(prompt_tokens, 1, MAX_PROMPT_TOKENS))
    from dataclasses import replace

    return replace(profile, prompt_tokens=int(prompt_tokens))


def _deadline(d) -> float | None:
    return None if d is None else parse_duration(d)


def _methods(methods) -> tuple[str, ...] | None:
    meths = tuple(methods) if methods else None
    for m in meths or ():
        if m not in METHODS:
            raise PlannerError(f"unknown method {m!r}; choose from {', '.join(METHODS)}")
    return meths


def _ints(**checks) -> None:
    for name, (v, lo, hi) in checks.items():
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise PlannerError(f"{name} must be an integer in {lo}..{hi}, got {v!r}")


def _limits(max_branches: int, max_draft_len: int) -> None:
    _ints(max_branches=(max_branches, 1, MAX_BRANCHES), max_draft_len=(max_draft_len, 0, MAX_DRAFT_LEN))


def _methods_for(p: Profile, methods: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """With several profiles, a method one of them lacks is skipped for it (an error only if none has it)."""
    if not methods:
        return None
    from planner.optimize.evaluate import accuracy_model

    have = tuple(m for m in methods if m in accuracy_model(p).methods)
    return have or methods
