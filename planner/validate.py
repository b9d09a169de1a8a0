"""Predicted vs measured: run configurations with the executor on held-out problems and compare each with
the cost model's prediction (mean/p90 latency, accuracy within the deadline, deadline-hit rate).

Why one measurement serves every deadline: with early stop off, a branch's finish time does not depend on
whether a deadline is set (a deadline only cuts branches still running at it), so each problem is run once
without cutting at the deadline (only at a safety horizon) and the outcome under a deadline D is read off
the branch finish times: branches finished by D vote (with the executor's own `vote`), and the problem
"hits" D when its last branch finished by D. This keeps the measured latency untruncated, comparable with
the model's, and lets `bench/regret.py` evaluate many deadlines from one brute-force sweep.
`enforce=True` instead passes the deadline to the executor (what `planner run` does); latencies are then cut.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import numpy as np

from planner.errors import PlannerError

HORIZON = 3.0        # default safety cut, in deadlines, for the un-enforced measurement
GRID_N = (1, 2, 4, 8, 16)
GRID_K = (0, 2, 4)
FINISHED = ("eos", "stop", "length")


@dataclass(frozen=True)
class Config:
    method: str
    branches: int
    draft_len: int
    label: str = ""

    @property
    def key(self) -> str:
        return f"{self.method}/N{self.branches}/K{self.draft_len}"


@dataclass
class Comparison:
    config: Config
    predicted: dict           # latency_s {mean,p90}, accuracy, p_meet_deadline
    measured: dict            # latency_s {mean,p90}, accuracy, hit_rate, problems, censored
    errors: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        c = self.config
        return {"label": c.label, "method": c.method, "branches": c.branches, "draft_len": c.draft_len,
                "predicted": self.predicted, "measured": self.measured, "errors": self.errors}


# -- which configurations ---------------------------------------------------------------------------------

def plan_configs(plan, limit: int = 4) -> list[tuple[Config, dict]]:
    """The plan's configuration and its runners-up, each with the prediction stored in the plan."""
    first = plan.predicted or {}
    out = [(Config(plan.method, plan.branches, plan.draft_len, "plan"),
            {"latency_s": first.get("latency_s", {}), "accuracy": first.get("accuracy"),
             "p_meet_deadline": first.get("p_meet_deadline")})]
    for i, r in enumerate(plan.runners_up or []):
        if len(out) >= limit:
            break
        if r.get("profile") not in (None, plan.profile.get("id")):
            continue  # a runner-up from another model cannot run on this one
        c = Config(r["method"], int(r["branches"]), int(r["draft_len"]), f"runner-up {i + 1}")
        if all(c.key != o.key for o, _ in out):
            out.append((c, {"latency_s": r.get("latency_s", {}), "accuracy": r.get("accuracy"),
                            "p_meet_deadline": r.get("p_meet_deadline")}))
    return out


def grid_configs(profile, n_values=GRID_N, k_values=GRID_K, method: str = "majority") -> list[Config]:
    """A small grid: N x K (K only where the profile has a drafter)."""
    ks = sorted(set(k_values)) if profile.draft.kind != "none" else [0]
    return [Config(method, int(n), int(k), "grid") for k in ks for n in sorted(set(n_values))]


def predict(profile, deadline: float | None, quantile: float, cfg: Config) -> dict:
    """The cost model's prediction for one configuration (the same evaluation `recommend` uses)."""
    from planner.optimize.evaluate import evaluate

    if cfg.draft_len > 0 and profile.draft.kind == "none":
        raise PlannerError(f"profile {profile.id} has no drafter: cannot predict K={cfg.draft_len}")
    ev = evaluate(profile, deadline, quantile, (cfg.method,), n_values=[cfg.branches], k_values_=[cfg.draft_len])
    c = ev.config(0, 0, 0)
    return {"latency_s": {"mean": c["latency_s"]["mean"], "p90": c["latency_s"]["p90"]},
            "latency_q_s": c["latency_q_s"], "accuracy": c["accuracy"], "p_meet_deadline": c["p_meet_deadline"]}


# -- measurement ------------------------------------------------------------------------------------------

def set_draft_len(backend, k: int) -> None:
    """The local backend keeps its models loaded across configurations; only K changes."""
    if hasattr(backend, "draft_len"):
        backend.draft_len = int(k)
    elif k:
        raise PlannerError(f"backend {backend.name} cannot change the draft length per run (K={k})")


def measure(backend, problems, cfg: Config, run_deadline: float | None, template: str, seed: int = 0,
            scorer=None, early_stop: bool = False, progress: bool = True, skip=frozenset(),
            on_record=None) -> list[dict]:
    """Run one configuration on every problem with the executor; compact per-problem records. Problems whose
    id is in `skip` are not run (resumed); `on_record(rec)` gets each record as it finishes (streamed)."""
    from planner.executor.answers import Equivalence
    from planner.executor.runner import RunSettings, solve

    set_draft_len(backend, cfg.draft_len)
    settings = RunSettings(cfg.branches, cfg.method, run_deadline, early_stop, scorer, template=template, seed=seed)
    eq = Equivalence()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=sum(p.problem_id not in skip for p in problems), file=sys.stderr, desc=cfg.key, unit="problem", leave=False)
    out = []
    for i, prob in enumerate(problems):
        if prob.problem_id in skip:
            continue
        out.append(compact(solve(prob, backend, settings, eq, index=i)))
        if on_record is not None:
            on_record(out[-1])
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return out


def compact(rec: dict) -> dict:
    """What validation keeps of one executor record: latency, and per branch its answer and finish."""
    return {"problem_id": rec["problem_id"], "reference": rec["reference"], "latency_s": rec["latency_s"],
            "branches": [{k: b[k] for k in ("answer", "finish_s", "finish_reason", "num_tokens", "score")}
                         for b in rec["branches"]]}


def outcome(rec: dict, deadline: float | None, method: str = "majority", eq=None) -> tuple[bool | None, bool]:
    """(correct, hit) of one problem under a deadline: branches finished by it vote; it is hit when the whole
    problem (every branch, or the early stop) finished by it."""
    from planner.executor.answers import is_correct
    from planner.executor.voting import vote

    br = rec["branches"]
    done = [b["finish_reason"] in FINISHED and (deadline is None or b["finish_s"] <= deadline) for b in br]
    answers = [b["answer"] if d else None for b, d in zip(br, done)]
    scores = None if method == "majority" else [b["score"] if d else None for b, d in zip(br, done)]
    v = vote(answers, method, scores, eq)
    hit = deadline is None or (rec["latency_s"] <= deadline and all(b["finish_reason"] != "deadline" for b in br))
    return is_correct(v.answer, rec["reference"], eq), hit


def summarize(records: list[dict], deadline: float | None, method: str = "majority", eq=None,
              horizon: float | None = None) -> dict:
    """Measured mean/p90 latency, accuracy within the deadline and hit rate over a problem set."""
    from planner.executor.answers import Equivalence

    eq = eq or Equivalence()
    lat = np.array([r["latency_s"] for r in records], dtype=float)
    res = [outcome(r, deadline, method, eq) for r in records]
    graded = [c for c, _ in res if c is not None]
    censored = sum(any(b["finish_reason"] == "deadline" for b in r["branches"]) for r in records) if horizon else 0
    return {"latency_s": {"mean": float(lat.mean()), "p90": float(np.quantile(lat, 0.9))},
            "accuracy": float(np.mean(graded)) if graded else None,
            "accuracy_stderr": float(np.std(graded) / math.sqrt(len(graded))) if len(graded) > 1 else None,
            "hit_rate": float(np.mean([h for _, h in res])) if deadline is not None else None,
            "problems": len(records), "censored": int(censored)}


def compare(cfg: Config, predicted: dict, measured: dict) -> Comparison:
    """Latency errors in % of the measured value; accuracy and hit-rate errors in percentage points."""
    err = {}
    for key in ("mean", "p90"):
        p, m = (predicted.get("latency_s") or {}).get(key), measured["latency_s"][key]
        err[f"latency_{key}_pct"] = None if p is None or not m else 100.0 * (p - m) / m
    for name, pk, mk in (("accuracy_pp", "accuracy", "accuracy"), ("hit_rate_pp", "p_meet_deadline", "hit_rate")):
        p, m = predicted.get(pk), measured.get(mk)
        err[name] = None if p is None or m is None else 100.0 * (p - m)
    return Comparison(cfg, predicted, measured, err)


# -- text -------------------------------------------------------------------------------------------------

def _f(x, fmt: str, none: str = "-") -> str:
    return none if x is None else format(x, fmt)


def format_table(rows: list[Comparison], deadline: float | None, quantile: float) -> str:
    head = (f"{'config':<24} {'lat mean pred/meas':>19} {'err':>6} {'p90 pred/meas':>15} {'err':>6} "
            f"{'accuracy pred/meas':>19} {'err pp':>7}")
    if deadline is not None:
        head += f" {'hit rate pred/meas':>19} {'err pp':>7}"
    lines = [head, "-" * len(head)]
    for c in rows:
        p, m, e = c.predicted, c.measured, c.errors
        pl, ml = p.get("latency_s") or {}, m["latency_s"]
        name = f"{c.config.label + ': ' if c.config.label not in ('', 'grid') else ''}N={c.config.branches} " \
               f"K={c.config.draft_len}"
        line = (f"{name:<24} {_f(pl.get('mean'), '8.3f')} /{ml['mean']:8.3f} {_f(e['latency_mean_pct'], '+5.0f')}% "
                f"{_f(pl.get('p90'), '6.3f')} /{ml['p90']:6.3f} {_f(e['latency_p90_pct'], '+5.0f')}% "
                f"{_f(p.get('accuracy'), '8.1%')} /{_f(m['accuracy'], '8.1%')} {_f(e['accuracy_pp'], '+7.1f')}")
        if deadline is not None:
            line += (f" {_f(p.get('p_meet_deadline'), '8.1%')} /{_f(m['hit_rate'], '8.1%')} "
                     f"{_f(e['hit_rate_pp'], '+7.1f')}")
        lines.append(line)
    lat_err = [abs(c.errors["latency_mean_pct"]) for c in rows if c.errors["latency_mean_pct"] is not None]
    acc_err = [abs(c.errors["accuracy_pp"]) for c in rows if c.errors["accuracy_pp"] is not None]
    n = rows[0].measured["problems"] if rows else 0
    foot = f"{n} problems per configuration; latency in seconds"
    if deadline is not None:
        foot += f"; deadline {deadline:g} s, requested quantile p{quantile * 100:g}"
    if lat_err:
        foot += f"; median |latency error| {np.median(lat_err):.0f}%"
    if acc_err:
        foot += f", median |accuracy error| {np.median(acc_err):.1f} pp"
    return "\n".join(lines + [foot])
