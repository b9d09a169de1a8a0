"""Human-readable rendering of plans and configurations (plain text tables, no dependencies)."""

from __future__ import annotations

from planner.plan import Plan


def table(rows: list[list[str]], header: list[str]) -> str:
    cols = [header] + rows
    width = [max(len(str(r[i])) for r in cols) for i in range(len(header))]
    fmt = lambda r: "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, width)))
    return "\n".join([fmt(header), fmt(["-" * w for w in width])] + [fmt(r) for r in rows])


def _spec(k: int, method: str) -> str:
    return "none" if k == 0 else f"{method} K={k}"


CONFIG_HEADER = ["", "profile", "method", "N", "speculative", "mean s", "p90 s", "p99 s", "accuracy %",
                 "tokens/req", "device-s/req"]


def config_row(label: str, c: dict, spec_method: str) -> list[str]:
    lat = c["latency_s"]
    return [label, c.get("profile", ""), c["method"], str(c["branches"]), _spec(c["draft_len"], spec_method),
            f"{lat['mean']:.2f}", f"{lat['p90']:.2f}", f"{lat['p99']:.2f}",
            _acc(c["accuracy"], c["accuracy_stderr"]), f"{c.get('tokens_per_request', float('nan')):.0f}",
            f"{c.get('device_s_per_request', float('nan')):.2f}"]


def _acc(a: float, se: float) -> str:
    """Accuracy in % with its standard error (from the inputs' sample sizes: bank or source table)."""
    return f"{a * 100:.1f} ± {se * 100:.1f}"


def layout_text(L: dict) -> str:
    """`recommend --gpus`: replicas x TP of the GPUs given, and where a request's branches go."""
    where = f" in {L['nodes']} nodes" if L.get("nodes", 1) > 1 else ""
    per = L.get("branches_per_replica") or []
    if L["replicas"] == 1:
        route = "all of a request's branches on it"
    elif L.get("routing", "split") == "split":
        route = f"each request's branches split {'/'.join(map(str, per))} over the replicas"
    else:
        route = "each request runs whole on one replica (R / replicas each)"
    return (f"{L['replicas']} replica{'s' if L['replicas'] > 1 else ''} x TP {L['tensor_parallel']} = "
            f"{L['gpus_used']} of {L['gpus']} GPUs{where}; {route}")


def render_plan(plan: Plan) -> str:
    pr = plan.predicted
    spec = plan.speculative
    head = [f"Plan for {plan.model['name']} on {plan.hardware.get('name', '?')} (profile {plan.profile['id']}, "
            f"{plan.profile['provenance'].get('kind', '?')})"]
    if plan.deadline_s is not None:
        head.append(f"deadline {plan.deadline_s:g} s at p{plan.quantile * 100:g}; predicted P(meet deadline) = "
                    f"{pr['p_meet_deadline']:.1%}")
    spec_txt = "no speculation" if spec["method"] == "none" else (
        f"{spec['method']} K={spec['num_speculative_tokens']}" +
        (f" ({spec['draft_model']})" if spec.get("draft_model") else ""))
    head.append(f"=> {plan.method} over N={plan.branches} branches, {spec_txt}: accuracy "
                f"{_acc(pr['accuracy'], pr['accuracy_stderr'])} %, latency mean "
                f"{pr['latency_s']['mean']:.2f} s / p90 {pr['latency_s']['p90']:.2f} s")
    if plan.layout:
        head.append(f"   layout: {layout_text(plan.layout)}")
    if pr.get("scoring_s"):  # a reward model's prefill over the N answers (planner/model/scoring.py)
        head.append(f"   latency includes {pr['scoring_s']:.3f} s of reward-model scoring after generation")
    if "device_s_per_request" in pr:
        gpus = (plan.layout or {}).get("gpus_used") or plan.model.get("tensor_parallel") or 1
        head.append(f"   cost per request: {pr['tokens_per_request']:.0f} generated tokens, "
                    f"{pr['device_s_per_request']:.2f} device-seconds ({gpus} device{'s' if gpus > 1 else ''})")
    chosen = {"profile": plan.profile["id"], "method": plan.method, "branches": plan.branches,
              "draft_len": spec["num_speculative_tokens"], "latency_s": pr["latency_s"],
              "accuracy": pr["accuracy"], "accuracy_stderr": pr["accuracy_stderr"],
              **{k: pr[k] for k in ("tokens_per_request", "device_s_per_request") if k in pr}}
    sm = spec["method"] if spec["method"] != "none" else "spec"
    rows = [config_row("plan", chosen, sm)] + [config_row(f"alt {i + 1}", r, sm)
                                               for i, r in enumerate(plan.runners_up)]
    body = table(rows, CONFIG_HEADER)
    notes = "".join(f"\nnote: {n}" for n in plan.notes)
    return "\n".join(head) + "\n\n" + body + notes
