"""Pluggable branch scorers for best-of-N and weighted voting, built from a scorer spec (planner/scoring.py).

Why pluggable: the planner's accuracy model treats the scorer (a reward model, a verifier, the policy's own
confidence) as an input; the executor only needs `score(question, text, branch) -> float`. Built-ins are
cheap and model-free so tests and CPU runs need nothing extra; a user scorer is `python:module:function` taking
(question, text) and returning a float (higher is better). Reward models (`reward:DIR`, `reward-served:URL`)
live in reward_local.py / reward_served.py and score a problem's answers in one batch (`batched`).
"""

from __future__ import annotations

import importlib
import math
from typing import Callable

from planner.errors import PlannerError
from planner.scoring import ScorerConfig, parse_spec


class Scorer:
    name = "base"
    max_score: float | None = None      # known upper bound (enables early stop for weighted voting)
    needs_logprobs = False
    batched = False                     # True: score_many once per problem, after its branches finished
    spec: ScorerConfig = ScorerConfig("confidence")

    @property
    def transform(self) -> str:
        return self.spec.transform

    def score(self, question: str, text: str | None, num_tokens: int, logprob: float | None) -> float:
        raise NotImplementedError

    def score_many(self, question: str, branches: list[tuple[str | None, int, float | None]]) -> list[float]:
        """Scores of (text, num_tokens, logprob) answers of one problem; reward models do one forward."""
        return [self.score(question, t, n, lp) for t, n, lp in branches]


class ConfidenceScorer(Scorer):
    """exp(mean token log-prob): the policy's own per-token confidence, in (0, 1]."""

    name, max_score, needs_logprobs = "confidence", 1.0, True

    def score(self, question, text, num_tokens, logprob):
        if logprob is None or num_tokens <= 0:
            return 0.0
        return math.exp(logprob / num_tokens)


class BoxedScorer(Scorer):
    """1 if the text commits to a \\boxed{} answer, else 0: a trivial format verifier (useful in tests)."""

    name, max_score = "boxed", 1.0

    def score(self, question, text, num_tokens, logprob):
        return 1.0 if text and "\\boxed" in text else 0.0


class CallableScorer(Scorer):
    def __init__(self, fn: Callable[[str, str], float], name: str):
        self.fn, self.name = fn, name

    def score(self, question, text, num_tokens, logprob):
        return float(self.fn(question, text or ""))


BUILTIN = {"confidence": ConfidenceScorer, "boxed": BoxedScorer}


def make_scorer(spec: str | ScorerConfig | None, device: str = "cpu") -> Scorer | None:
    """None/'none' -> no scorer; else a spec string (planner.scoring.ScorerConfig's syntax) or a ScorerConfig.
    A scorer that cannot be loaded (missing module, not a reward model, no pooling API) raises PlannerError."""
    if spec is None or (isinstance(spec, str) and spec.strip() in ("", "none")):
        return None
    spec = parse_spec(spec) if isinstance(spec, str) else spec
    if spec.kind in BUILTIN:
        scorer = BUILTIN[spec.kind]()
    elif spec.kind == "python":
        scorer = _python_scorer(spec.model)
    elif spec.kind == "reward-local":
        from planner.executor.reward_local import LocalRewardScorer

        scorer = LocalRewardScorer(spec, device=device)
    else:
        from planner.executor.reward_served import ServedRewardScorer

        scorer = ServedRewardScorer(spec)
    scorer.spec = spec
    return scorer


def _python_scorer(target: str) -> CallableScorer:
    mod, _, attr = target.partition(":")
    try:
        fn = getattr(importlib.import_module(mod), attr)
    except (ImportError, AttributeError, ValueError) as e:
        raise PlannerError(f"cannot load scorer python:{target}: {e}") from None
    if not callable(fn):
        raise PlannerError(f"scorer python:{target} is not callable")
    return CallableScorer(fn, target)


def scorer_for(flag: str | None, plan_scorer: dict | None, methods: set[str], *, plan_path: str | None = None,
               device: str = "cpu", command: str = "run") -> tuple[Scorer | None, list[str]]:
    """The scorer `planner run` / `validate` use, and notes: --scorer when given (a note when it replaces the
    plan's), else the plan's own scorer, loaded or refused with one line; never another one silently."""
    notes: list[str] = []
    recorded = ScorerConfig.from_dict(plan_scorer, "plan scorer") if plan_scorer else None
    if flag:
        spec = parse_spec(flag)
        if recorded is not None and spec != recorded:
            notes.append(f"override: scorer {recorded.to_string()} -> {spec.to_string()} (the plan's accuracy "
                         "prediction assumed the first)")
        return make_scorer(spec, device), notes
    if methods <= {"majority"}:
        return None, notes
    if recorded is not None:
        try:
            return make_scorer(recorded, device), notes
        except PlannerError as e:
            raise PlannerError(f"plan {plan_path}: cannot load its scorer {recorded.to_string()} ({e}); make it "
                               "loadable or pass --scorer SPEC to use another") from None
    scored = ", ".join(sorted(methods - {"majority"}))
    if plan_path is not None:
        raise PlannerError(f"plan {plan_path} uses {scored} but records no scorer: pass --scorer SPEC (the scorer "
                           "of the bank it was planned from, e.g. confidence or reward:DIR)")
    raise PlannerError(f"{scored} needs a scorer: pass --scorer SPEC (confidence, boxed, python:M:F, reward:DIR "
                       f"or reward-served:URL; `planner {command} --help`)")
