"""Why the plan, and why not each faster runner-up: the notes that keep a plan from being silently beaten by
its own "alt 1" (faster, same accuracy). Every faster or cheaper runner-up of the plan's profile gets a reason."""

from __future__ import annotations

from planner.optimize import exhaustive
from planner.optimize.cost import with_cost
from planner.optimize.evaluate import Evaluation
from planner.optimize.select import Rule, margin


def _name(c: dict) -> str:
    return f"{c['method']} N={c['branches']} K={c['draft_len']}"


def _acc(c: dict) -> str:
    return f"{c['accuracy'] * 100:.1f} ± {c['accuracy_stderr'] * 100:.1f} %"


def explain(plan: dict, grid: Evaluation, runners: list[dict], rule: Rule, strategy: str) -> list[str]:
    top = exhaustive.most_accurate_index(grid)
    if top is None:
        return []
    best = with_cost(grid, top)
    notes = []
    if rule.objective == "cost" and best["accuracy"] - plan["accuracy"] > 1e-9:
        notes.append(
            f"selection: {rule.describe()}: the most accurate, {_name(best)} ({_acc(best)}), is "
            f"{(best['accuracy'] - plan['accuracy']) * 100:.2f} points better for "
            f"{best['device_s_per_request'] / plan['device_s_per_request']:.1f}x the device-seconds and "
            f"{best['tokens_per_request'] / plan['tokens_per_request']:.1f}x the tokens per request "
            "(--objective accuracy takes it; --tolerance sets the band)")
    q = f"p{grid.quantile * 100:g}"
    for i, r in enumerate(runners, 1):
        if r.get("profile") not in (None, grid.profile.id):
            continue
        faster = r["latency_q_s"] < plan["latency_q_s"] - 1e-9
        cheaper = r["device_s_per_request"] < plan["device_s_per_request"] - 1e-9
        if not (faster or cheaper):
            continue
        gap = best["accuracy"] - r["accuracy"]
        band = margin(rule, best["accuracy_stderr"], r["accuracy_stderr"])
        what = "faster and cheaper" if faster and cheaper else ("faster" if faster else "cheaper")
        if rule.objective == "accuracy":
            why = (f"{(plan['accuracy'] - r['accuracy']) * 100:.2f} points less accurate (objective accuracy "
                   "keeps every point)")
        elif gap > band + 1e-12:
            why = f"{gap * 100:.2f} points below the best, outside the selection band of {band * 100:.2f} points"
        elif cheaper:
            why = f"as accurate within the band; the {strategy} strategy did not reach it (exhaustive does)"
        else:
            why = (f"a lower {q} but a higher mean latency ({r['latency_s']['mean']:.2f} s), so more "
                   "device-seconds per request")
        notes.append(f"alt {i} is {what}: {why}")
    return notes
