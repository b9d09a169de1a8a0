"""Score transforms: how a scorer's raw scores become vote weights, in ONE function for the accuracy model
(planner/accuracy/estimators.py, bootstrap.py) and the executor (planner/executor/voting.py).

Why one function: the planner predicts weighted-majority accuracy from a bank's scores and the executor then
votes with live scores; if the two turned scores into weights differently (the model used sigmoid weights for
negative reward logits while the executor refused negative scores) the prediction would be for another method.

Transforms of the scores s_1..s_n of the answers that vote on ONE problem:
- raw:     w_i = s_i (must be >= 0 for weighted voting: probabilities such as the confidence scorer's);
- sigmoid: w_i = 1 / (1 + exp(-s_i)) (reward-model logits, which may be negative);
- rank:    w_i = (1 + #{j: s_j < s_i} + 0.5 #{j != i: s_j = s_i}) / n, the mid-rank over n, in (0, 1]: only the
           order of the scores counts. It depends on the whole set of voters, so the estimators recompute it for
           every subset of branches they consider (weighted_curve, boot_weighted_curve).
"auto" (the accuracy model's historical default) resolves once per bank: raw if no score is negative, else
sigmoid. Best-of-N ignores the transform: every transform is monotone, so the highest score is the same pick.
numpy only: this module is on `planner recommend`'s light path.
"""

from __future__ import annotations

import numpy as np

from planner.errors import PlannerError
from planner.special import expit

TRANSFORMS = ("raw", "sigmoid", "rank")
ALIASES = {"identity": "raw"}   # the estimators' old name for raw


def resolve(transform: str, scores=None) -> str:
    """A concrete transform name: aliases mapped, "auto" decided from `scores` (raw unless one is negative)."""
    t = ALIASES.get(transform, transform)
    if t == "auto":
        s = np.asarray([] if scores is None else scores, dtype=float)
        return "sigmoid" if np.any(s[np.isfinite(s)] < 0) else "raw"
    if t not in TRANSFORMS:
        raise PlannerError(f"unknown score transform {transform!r}: use {', '.join(TRANSFORMS)} (or auto)")
    return t


def rank_matrix(scores) -> np.ndarray:
    """L[j, i] = 1 if s_j < s_i, 0.5 if s_j == s_i (the diagonal too), else 0. For a vector x of how often each
    score is present (0/1 for a subset, draw counts for the bootstrap), (x @ L)_i + 0.5 = 1 + #lower + 0.5
    #other-equal = the mid-rank of one copy of score i among them (see transform)."""
    s = np.asarray(scores, dtype=float)
    return (s[:, None] < s[None, :]) + 0.5 * (s[:, None] == s[None, :])


def transform(scores, kind: str) -> np.ndarray:
    """Vote weights of one problem's voters (the order of `scores` is kept). Raises on NaN/inf scores and on
    negative weights, naming the fix."""
    s = np.asarray(scores, dtype=float)
    if not np.all(np.isfinite(s)):
        raise PlannerError("a score is NaN or infinite: weighted voting needs a finite score for every answer")
    kind = resolve(kind, s)
    if kind == "sigmoid":
        return expit(s)
    if kind == "rank":
        return (np.ones(len(s)) @ rank_matrix(s) + 0.5) / max(len(s), 1) if len(s) else s
    if np.any(s < 0):
        raise PlannerError("score transform raw gives negative vote weights: use transform sigmoid (reward "
                           "logits) or rank")
    return s


def max_weight(kind: str, max_score: float | None) -> float | None:
    """Largest weight one voter can add (weighted voting's early stop): None when unknown or set-dependent."""
    if kind == "rank":
        return 1.0   # a mid-rank over n is at most 1, but earlier weights change: callers must not stop early
    if max_score is None:
        return 1.0 if kind == "sigmoid" else None
    return float(expit(max_score)) if kind == "sigmoid" else float(max_score)
