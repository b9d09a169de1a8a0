"""From evaluated profiles to a Plan: pick with a strategy (planner/optimize/strategies.py), explain the choice.

The public entry point is `planner.recommend` (planner/api.py), which evaluates the profiles and calls this."""

from __future__ import annotations

import numpy as np

from planner.errors import PlannerError
from planner.model import drafts
from planner.model.lengths import LengthDist
from planner.optimize import exhaustive
from planner.optimize.cost import with_cost
from planner.optimize.evaluate import Evaluation
from planner.optimize.explain import explain
from planner.optimize.select import Rule, select
from planner.optimize.strategies import Pick, SearchSettings, get_strategy
from planner.plan import Plan
from planner.profile.schema import Profile
from planner.units import format_duration


def speculative_section(p: Profile, k: int) -> dict:
    """The plan's `speculative` block: the engine-neutral method (draft_model, ngram, or the head kind eagle,
    eagle3, mtp), depth K, the drafter checkpoint, and for a tree its top-k and verify width (docs/plan.md)."""
    if k == 0 or p.draft.kind == "none":
        return {"method": "none", "num_speculative_tokens": 0, "draft_model": None}
    if p.draft.kind == "ngram":
        return {"method": "ngram", "num_speculative_tokens": k, "draft_model": None}
    if p.draft.kind == "model" and p.draft.arch is None:  # measured inside the step (endpoint): its checkpoint
        out = {"method": "draft_model", "num_speculative_tokens": k, "draft_model": p.draft.name}
    elif p.draft.kind == "model":
        out = {"method": "draft_model", "num_speculative_tokens": k,
               "draft_model": p.draft.arch.hf_id or p.draft.arch.name, "draft_vocab_size": p.draft.arch.vocab}
    else:  # a head: MTP layers usually ship inside the target's checkpoint (no separate model)
        out = {"method": p.draft.kind, "num_speculative_tokens": k, "draft_model": p.draft.head.hf_id}
        if p.draft.head.draft_vocab:
            out["draft_vocab_size"] = p.draft.head.draft_vocab
    if p.draft.tree is not None:
        out["eagle_topk"] = max(p.draft.tree.topk)
        out["num_draft_tokens"] = drafts.tree_size(k, p.draft.tree.topk, p.draft.tree.tokens) + 1
    return out


def engine_k_max(p: Profile, engine: str | None, k_max: int) -> tuple[int, str | None]:
    """Largest draft length the target engine can run for this profile, and why it is lower if it is."""
    if engine == "vllm" and p.draft.kind == "model" and p.draft.arch and p.draft.arch.vocab != p.model.vocab:
        return 0, (f"{p.id}: vLLM refuses draft {p.draft.name} (vocab_size {p.draft.arch.vocab} != "
                   f"{p.model.vocab}), so only plans without speculation were searched")
    wide = max(p.draft.tree.topk) if p.draft.tree is not None else 1
    if engine in TREE_ENGINES and wide > TREE_ENGINES[engine]:
        raise PlannerError(f"profile {p.id}: draft.tree.topk {wide} is wider than {engine} drafts (top-k <= "
                           f"{TREE_ENGINES[engine]}: a chain); set draft.tree.topk to 1 or use --engine sglang")
    return k_max, None


TREE_ENGINES = {"vllm": 1, "trtllm": 1}  # widest top-k each engine's exporter can express (docs/engines.md)


def _infeasible(evs: list[Evaluation], deadline: float, quantile: float) -> PlannerError:
    best = min(((float(ev.latency["q"][:, ev.fits_memory].min()) if ev.fits_memory.any() else np.inf), ev.profile.id)
               for ev in evs)
    if not np.isfinite(best[0]):
        return PlannerError("no configuration fits in device memory for any profile given")
    return PlannerError(f"no configuration meets a {format_duration(deadline)} deadline at p{quantile * 100:g}: "
                        f"the fastest achievable is {format_duration(best[0])} ({best[1]}, 1 branch)")


def choose(evs: list[Evaluation], target_accuracy: float | None = None, strategy: str = "exhaustive",
           settings: SearchSettings | None = None) -> Pick:
    """Each profile's pick by the strategy, then the same selection rule across the picks (profiles have
    independent inputs, so their SEs add in quadrature). With `target_accuracy`: the fastest plan reaching it."""
    run = get_strategy(strategy)
    settings = settings or SearchSettings()
    picks = []
    for ev in evs:
        if target_accuracy is None:
            got = run(ev, settings)
        else:
            idx = exhaustive.min_latency_index(ev, target_accuracy)
            got = None if idx is None else Pick(ev, idx, ev)
        if got is not None:
            picks.append(got)
    return settle(picks, evs, target_accuracy, settings)


def settle(picks: list[Pick], evs: list[Evaluation], target_accuracy: float | None, settings: SearchSettings,
           what: str = "configuration") -> Pick:
    """The one plan among per-profile (or per-budget) picks: the fastest reaching `target_accuracy`, else the
    selection rule across them; no pick at all is an infeasible deadline or an unreachable target."""
    if not picks:
        if target_accuracy is not None:
            top = max(float(ev.acc[ev.feasible(deadline=None)].max(initial=0.0)) for ev in evs)
            raise PlannerError(f"target accuracy {target_accuracy:.1%} is above what any {what} reaches "
                               f"(best reachable: {top:.1%})")
        raise _infeasible(evs, evs[0].deadline, evs[0].quantile)
    rows = [_row(c) for c in picks]
    if target_accuracy is not None:
        return min(zip(rows, picks), key=lambda rp: (rp[0][4], -rp[0][0]))[1]
    return picks[select(*np.array(rows).T, settings.rule, source=np.arange(len(picks)))]


def _row(c: Pick) -> tuple[float, float, float, float, float]:
    """(accuracy, SE, device-s, tokens, latency quantile) of a pick: the columns select() reads."""
    cfg = with_cost(c.ev, c.idx)
    return (cfg["accuracy"], cfg["accuracy_stderr"], cfg["device_s_per_request"], cfg["tokens_per_request"],
            cfg["latency_q_s"])


OBJECTIVE_NAMES = {"cost": "min_cost", "accuracy": "max_accuracy"}


def build_plan(choice: Pick, others: list[Evaluation], strategy: str = "exhaustive", rule: Rule | None = None,
               objective: str | None = None, extra_notes: list[str] | None = None) -> Plan:
    rule = rule or Rule()
    ev = choice.ev
    p = ev.profile
    cfg = with_cost(ev, choice.idx)
    if choice.grid is ev:
        runners = [_runner(ev, i) for i in exhaustive.runners_up(ev, choice.idx, rule=rule)]
    else:  # a tuned single configuration: compare with the grid's own choice
        best = exhaustive.best_index(choice.grid, rule=rule)
        runners = [_runner(choice.grid, best)] if best is not None else []
    notes = list(extra_notes or [])
    for other in others:
        if other is ev or other is choice.grid:
            continue
        idx = exhaustive.best_index(other, rule=rule)
        if idx is not None:
            r = _runner(other, idx)
            runners.insert(0, r)
            notes.append(f"best with {other.profile.id}: {r['method']} N={r['branches']} K={r['draft_len']} "
                         f"-> {r['accuracy']:.1%} at p{ev.quantile * 100:g} {r['latency_q_s']:.2f} s")
        else:
            notes.append(f"{other.profile.id}: no configuration meets the deadline")
    if objective is None:
        notes += explain(cfg, choice.grid, runners, rule, strategy)
    if p.provenance.get("kind") == "derived":
        notes.append("profile is derived from datasheet and published numbers, not measured: calibrate for "
                     "your device (`planner calibrate`) for trustworthy predictions")
        # where each number came from (planner/profile/derive.py writes these): accuracy, formats, draft, lengths
        notes.append(f"accuracy from: {p.accuracy.source or p.accuracy.kind}")
        hw = next((s for s in p.provenance.get("sources") or [] if isinstance(s, dict)
                   and "memory bandwidth" in str(s.get("what"))), None)
        if hw:
            notes.append(f"hardware from: {hw.get('source')} ({hw.get('value')}) x efficiencies of docs/sources.md")
        notes += [n for n in str(p.provenance.get("notes") or "").split("; ")[1:] if n]
    elif p.provenance.get("kind") == "measured" and p.draft.kind != "none" and p.acceptance is not None:
        cost = "its cost inside the measured step" if p.draft.cost == "in_step" else "its step measured"
        how = f"{p.provenance['method']} calibration" if p.provenance.get("method") else "calibration"
        notes.append(f"draft: {p.draft.name} ({p.draft.kind}, {cost}); acceptance: measured by {how} "
                     f"(profile {p.id})")
    if str(getattr(p.accuracy, "source", None) or "").startswith("placeholder"):
        notes.append(f"accuracy of profile {p.id} — {p.accuracy.source}: the plan optimises latency only")
    if ev.max_tokens:
        notes.append(f"max_tokens capped at {int(ev.max_tokens)} (the searched answer budget or Optuna's "
                     "tuned cap): longer branches stop without an answer")
    answer_share = LengthDist(p.lengths, cap=ev.max_tokens).answer_share if ev.max_tokens else 1.0
    if ev.deadline is not None and cfg["finished_share"] < answer_share - 0.001:
        cut = 1 - cfg["finished_share"] / answer_share
        notes.append(f"about {cut:.{0 if cut >= 0.01 else 1}%} of branches are expected to be cut at the deadline; "
                     "they do not vote")
    scorer = _scorer(p, cfg["method"], notes)
    return Plan(
        method=cfg["method"], branches=cfg["branches"], speculative=speculative_section(p, cfg["draft_len"]),
        deadline_s=ev.deadline,
        predicted={"latency_s": cfg["latency_s"], "latency_quantile_s": cfg["latency_q_s"],
                   "accuracy": cfg["accuracy"], "accuracy_stderr": cfg["accuracy_stderr"],
                   "p_meet_deadline": cfg["p_meet_deadline"], "finished_share": cfg["finished_share"],
                   "tokens_per_request": cfg["tokens_per_request"],
                   "device_s_per_request": cfg["device_s_per_request"],
                   **({"scoring_s": cfg["scoring_s"]} if "scoring_s" in cfg else {})},
        profile={"id": p.id, "provenance": p.provenance},
        model={"name": p.model.name, "hf_id": p.model.hf_id, "tensor_parallel": p.hardware.tensor_parallel,
               "vocab_size": p.model.vocab, **_served(p)},
        sampling={"temperature": p.temperature, "top_p": p.top_p,
                  "max_tokens": int(ev.max_tokens) if ev.max_tokens else p.lengths.max_tokens},
        quantile=ev.quantile, objective=objective or OBJECTIVE_NAMES[rule.objective], strategy=strategy,
        hardware={"name": p.hardware.name, "gpus": p.hardware.gpus,
                  **{k: p.provenance[k] for k in ("device_type", "threads", "dtype") if p.provenance.get(k)}},
        runners_up=runners, notes=notes, scorer=scorer)


def _scorer(p: Profile, method: str, notes: list) -> dict:
    """The bank's scorer for a scored method, so `planner run` loads the model the prediction assumed; a
    bank that recorded none gets a note (run then needs --scorer)."""
    if method == "majority":
        return {}
    from planner.optimize.evaluate import accuracy_model

    am = accuracy_model(p)
    scorer = dict(getattr(am, "scorer", None) or {})
    if not scorer:
        notes.append(f"the sample bank records no scorer: run this plan with --scorer SPEC (the scorer that wrote "
                     f"the bank's scores; the prediction weighed them with transform "
                     f"{getattr(am, 'weight_transform', 'auto')})")
    return scorer


def _served(p: Profile) -> dict:
    """The id a calibrated server answers to (`/v1/models`), so `run --plan` against it needs no
    --server-model and `export` names a model that server has."""
    eng = p.provenance.get("engine") if p.provenance.get("method") == "endpoint" else None
    served = eng.get("served_model") if isinstance(eng, dict) else None
    return {"served_model": served} if isinstance(served, str) and served else {}


def _runner(ev: Evaluation, idx) -> dict:
    return {"profile": ev.profile.id, **with_cost(ev, idx)}
