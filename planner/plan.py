"""The plan: what `planner recommend` decides, in the versioned schema `tts-plan/1` (docs/plan.md).

Everything downstream (executor, exporters, validate) reads plans through `load_plan`, so schema checks
live in one place."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from planner.errors import PlannerError
from planner.io import atomic_write_json, read_json

SCHEMA = "tts-plan/1"
METHODS = ("majority", "best_of_n", "weighted_majority")
SPEC_METHODS = ("none", "draft_model", "ngram")


@dataclass
class Plan:
    method: str                         # majority | best_of_n | weighted_majority
    branches: int                       # N parallel samples
    speculative: dict                   # {"method": none|draft_model|ngram, "num_speculative_tokens": K, "draft_model": id|None}
    deadline_s: float | None
    predicted: dict                     # {"latency_s": {mean,p50,p90,p99}, "accuracy", "accuracy_stderr", "p_meet_deadline"}
    profile: dict                       # {"id", "provenance"}
    model: dict                         # {"name", "hf_id", "tensor_parallel"}
    sampling: dict                      # {"temperature", "top_p", "max_tokens"}
    quantile: float = 0.9
    objective: str = "max_accuracy"
    strategy: str = "exhaustive"
    hardware: dict = field(default_factory=dict)
    runners_up: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    engines: dict = field(default_factory=dict)  # per-engine sections, filled by exporters

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, **asdict(self)}

    @property
    def draft_len(self) -> int:
        return int(self.speculative.get("num_speculative_tokens") or 0)

    @staticmethod
    def from_dict(d: Any, origin: str = "<memory>") -> "Plan":
        if not isinstance(d, dict):
            raise PlannerError(f"plan {origin}: not a JSON object")
        if d.get("schema") != SCHEMA:
            raise PlannerError(f"plan {origin}: schema is {d.get('schema')!r}; this planner reads {SCHEMA!r}")
        try:
            plan = Plan(**{k: v for k, v in d.items() if k != "schema"})
        except TypeError as e:
            raise PlannerError(f"plan {origin}: {e}") from None
        if plan.method not in METHODS:
            raise PlannerError(f"plan {origin}: unknown method {plan.method!r}")
        if not isinstance(plan.branches, int) or plan.branches < 1:
            raise PlannerError(f"plan {origin}: branches must be a positive integer")
        spec = plan.speculative if isinstance(plan.speculative, dict) else {}
        if spec.get("method") not in SPEC_METHODS:
            raise PlannerError(f"plan {origin}: speculative.method must be one of {', '.join(SPEC_METHODS)}")
        k = spec.get("num_speculative_tokens", 0)
        if not isinstance(k, int) or k < 0 or (spec["method"] == "none") != (k == 0):
            raise PlannerError(f"plan {origin}: speculative.num_speculative_tokens {k!r} does not fit method "
                               f"{spec['method']!r}")
        return plan


def load_plan(path: str) -> Plan:
    return Plan.from_dict(read_json(path, "plan file"), origin=str(path))


def save_plan(plan: Plan, path: str) -> None:
    atomic_write_json(path, plan.to_dict())
