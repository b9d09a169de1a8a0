"""Pluggable branch scorers for best-of-N and weighted voting.

Why pluggable: the planner's accuracy model treats the scorer (a reward model, a verifier, the policy's own
confidence) as an input; the executor only needs `score(question, text, branch) -> float`. Built-ins are
cheap and model-free so tests and CPU runs need nothing extra; a user scorer is `module:function` taking
(question, text) and returning a float (higher is better).
"""

from __future__ import annotations

import importlib
import math
from typing import Callable

from planner.errors import PlannerError


class Scorer:
    name = "base"
    max_score: float | None = None      # known upper bound (enables early stop for weighted voting)
    needs_logprobs = False

    def score(self, question: str, text: str | None, num_tokens: int, logprob: float | None) -> float:
        raise NotImplementedError


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


def make_scorer(spec: str | None) -> Scorer | None:
    """None/'none' → no scorer; a built-in name; or 'package.module:function'."""
    if spec in (None, "", "none"):
        return None
    if spec in BUILTIN:
        return BUILTIN[spec]()
    if ":" not in spec:
        raise PlannerError(f"unknown scorer {spec!r}: use {', '.join(BUILTIN)} or module:function")
    mod, _, attr = spec.partition(":")
    try:
        fn = getattr(importlib.import_module(mod), attr)
    except (ImportError, AttributeError) as e:
        raise PlannerError(f"cannot load scorer {spec!r}: {e}") from None
    if not callable(fn):
        raise PlannerError(f"scorer {spec!r} is not callable")
    return CallableScorer(fn, spec)
