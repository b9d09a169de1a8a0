"""The selection rule every strategy applies: among plans meeting the deadline, the cheapest whose accuracy is
statistically indistinguishable from the best.

A candidate i is indistinguishable from the most accurate candidate b when
    acc_b - acc_i <= max(tolerance, z * se_diff),
with se_diff the standard error of the difference: |se_b - se_i| when both predictions come from the same
profile (same inputs, so their errors move together) and sqrt(se_b^2 + se_i^2) across profiles (independent
inputs). z = 1 is the one-standard-error rule (Breiman et al. 1984; Hastie, Tibshirani & Friedman, ESL 2nd ed.,
section 7.10: take the simplest model within one SE of the best). Among those, the lowest device-seconds per
request wins, then fewer tokens, then the lower latency quantile. The tolerance (default 0.5 points) stands for
the noise of the accuracy inputs the SE does not capture (published tables of ~500 problems).

`objective="accuracy"` is the old rule: the most accurate plan, differences under 1e-4 going to the lower latency."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from planner.errors import PlannerError

OBJECTIVES = ("cost", "accuracy")
TIE = 1e-4                       # accuracy differences below this are ties under objective "accuracy"
DEFAULT_TOLERANCE = 0.005        # 0.5 percentage points


@dataclass(frozen=True)
class Rule:
    objective: str = "cost"
    tolerance: float = DEFAULT_TOLERANCE   # accuracy fraction (0.005 = 0.5 pp)
    z: float = 1.0                         # multiple of the SE of the difference

    def __post_init__(self):
        if self.objective not in OBJECTIVES:
            raise PlannerError(f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        for name, v, hi in (("tolerance", self.tolerance, 1.0), ("z", self.z, 10.0)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v <= hi:
                raise PlannerError(f"{name} must be a number in [0, {hi:g}], got {v!r}"
                                   + (" (percentage points: 0.5pp is 0.005)" if name == "tolerance" else ""))

    def describe(self) -> str:
        if self.objective == "accuracy":
            return "the most accurate plan (objective accuracy)"
        return (f"the cheapest plan (device-seconds per request) whose accuracy is within max({self.tolerance * 100:g} "
                f"points, {self.z:g} SE of the difference) of the best")


def select(acc, se, dev_s, tokens, lat, rule: Rule, source=None) -> int | None:
    """Position of the chosen candidate in flat arrays of feasible candidates (None if there are none).
    `source` labels each candidate's profile (same label: same inputs); None means one profile."""
    acc, se, dev_s, tokens, lat = (np.asarray(a, dtype=float).ravel() for a in (acc, se, dev_s, tokens, lat))
    if acc.size == 0:
        return None
    src = np.zeros(acc.size, dtype=int) if source is None else np.asarray(source).ravel()
    if rule.objective == "accuracy":
        band = acc >= acc.max() - TIE
        return int(np.lexsort((-acc, lat, ~band))[0])        # in band first, then lowest latency
    b = int(np.lexsort((lat, dev_s, -acc))[0])                # the best (cheapest among exact ties)
    se_diff = np.where(src == src[b], np.abs(se[b] - se), np.hypot(se[b], se))
    band = acc >= acc[b] - np.maximum(rule.tolerance, rule.z * se_diff) - 1e-12
    return int(np.lexsort((-acc, lat, tokens, dev_s, ~band))[0])


def margin(rule: Rule, se_best: float, se_other: float, same_source: bool = True) -> float:
    """How far below the best an indistinguishable accuracy may be (for explanations)."""
    d = abs(se_best - se_other) if same_source else math.hypot(se_best, se_other)
    return max(rule.tolerance, rule.z * d)
