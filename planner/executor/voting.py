"""Voting over branch answers: majority, weighted majority and best-of-N, with a deterministic tie rule and
an early-stop test ("can the leader still be overtaken by the branches still running?").

Why: the executor must return *one* answer per problem, reproducibly (same branches → same answer), and
should stop paying for branches once they cannot change it. Ties break by the smallest branch index in each
group (branch indices are fixed by the engine, unlike finish times), which makes the rule deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from planner import scoring
from planner.errors import PlannerError
from planner.executor.answers import Equivalence

METHODS = ("majority", "weighted_majority", "best_of_n")


@dataclass
class Group:
    answer: str                 # representative (first member's answer)
    members: list[int] = field(default_factory=list)   # branch indices
    weight: float = 0.0         # count (majority) or summed score (weighted)
    best_score: float = float("-inf")

    @property
    def first(self) -> int:
        return min(self.members)


@dataclass
class VoteResult:
    answer: str | None
    method: str
    groups: list[Group]         # ranked, winner first
    voters: int                 # branches that finished with an answer

    def table(self) -> dict[str, float]:
        return {g.answer: g.weight for g in self.groups}


class Ballot:
    """Accumulates answers as branches finish; `decided(remaining)` tells if voting can stop early.

    Weighted majority turns scores into vote weights with planner.scoring.transform (`transform`: raw, sigmoid
    or rank), the accuracy model's own function; best-of-N picks the highest raw score (transform-free)."""

    def __init__(self, method: str = "majority", eq: Equivalence | None = None, max_score: float | None = None,
                 transform: str = "raw"):
        if method not in METHODS:
            raise ValueError(f"unknown voting method {method!r}")
        self.method, self.eq, self.max_score = method, eq or Equivalence(), max_score
        self.transform = scoring.resolve(transform)
        self.groups: list[Group] = []
        self.scores: list[tuple[Group, float]] = []   # (group, raw score) per voter, in arrival order
        self.voters = 0

    def add(self, branch: int, answer: str | None, score: float | None = None) -> None:
        if answer is None:
            return
        if self.method != "majority" and score is None:
            raise ValueError(f"{self.method} needs a score for every branch")
        if score is not None and not math.isfinite(score):
            raise PlannerError(f"branch {branch} scored {score}: the scorer returned a NaN or infinite score")
        if self.method == "weighted_majority" and self.transform != "rank":
            scoring.transform([score], self.transform)   # raw + negative score: one line naming the fix
        self.voters += 1
        group = next((g for g in self.groups if self.eq.same(g.answer, answer)), None)
        if group is None:
            group = Group(answer)
            self.groups.append(group)
        group.members.append(branch)
        if score is not None:
            group.best_score = max(group.best_score, float(score))
            self.scores.append((group, float(score)))
        if self.method == "majority":
            group.weight += 1.0
        elif self.method == "weighted_majority":
            self._reweigh()

    def _reweigh(self) -> None:
        """Group weights = sums of the transformed scores of their voters (rank: over all voters so far)."""
        weights = scoring.transform([s for _, s in self.scores], self.transform)
        for g in self.groups:
            g.weight = 0.0
        for (g, _), w in zip(self.scores, weights):
            g.weight += float(w)

    def weights(self) -> list[float]:
        """Each voter's vote weight, in arrival order (weighted majority)."""
        return [float(w) for w in scoring.transform([s for _, s in self.scores], self.transform)]

    def ranked(self) -> list[Group]:
        if self.method == "best_of_n":
            return sorted(self.groups, key=lambda g: (-g.best_score, g.first))
        return sorted(self.groups, key=lambda g: (-g.weight, g.first))

    def result(self) -> VoteResult:
        ranked = self.ranked()
        return VoteResult(ranked[0].answer if ranked else None, self.method, ranked, self.voters)

    def decided(self, remaining: int) -> bool:
        """True when no outcome of the `remaining` running branches can change the winner.

        Majority: leader > runner-up + remaining (strict, so ties never end early). Weighted majority needs a
        known maximum score per branch; best-of-N can only stop when nothing is running."""
        if remaining <= 0:
            return True
        ranked = self.ranked()
        if not ranked or self.method == "best_of_n":
            return False
        if self.method == "weighted_majority" and self.transform == "rank":
            return False   # a later voter changes every earlier rank weight
        per_branch = 1.0 if self.method == "majority" else scoring.max_weight(self.transform, self.max_score)
        if per_branch is None:
            return False
        second = ranked[1].weight if len(ranked) > 1 else 0.0
        return ranked[0].weight > second + remaining * per_branch


def vote(answers: list[str | None], method: str = "majority", scores: list[float | None] | None = None,
         eq: Equivalence | None = None, transform: str = "raw") -> VoteResult:
    """One-shot vote over branch answers (index = branch number)."""
    ballot = Ballot(method, eq, transform=transform)
    for i, a in enumerate(answers):
        ballot.add(i, a, scores[i] if scores is not None else None)
    return ballot.result()
