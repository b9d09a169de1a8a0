"""Strategy registry: every search strategy is `fn(ev, settings) -> Pick | None`.

One return type for all of them (a strategy used to return an index, or a pair told apart by isinstance), so
callers never guess: `pick.ev` is the evaluation `pick.idx` points into (the grid itself, or a single tuned
configuration for optuna-cap) and `pick.grid` is the grid that was searched (for runners-up)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from planner.errors import PlannerError
from planner.optimize import exhaustive
from planner.optimize.evaluate import Evaluation
from planner.optimize.select import Rule

Index = tuple[int, int, int]


@dataclass(frozen=True)
class Pick:
    ev: Evaluation                  # the evaluation idx points into
    idx: Index                      # (method, K, N) indices into ev
    grid: Evaluation                # the grid that was searched (ev itself unless a config was tuned off-grid)

    @property
    def config(self) -> dict:
        return self.ev.config(*self.idx)


@dataclass(frozen=True)
class SearchSettings:
    """Knobs of a search, validated once here (library callers and the CLI alike)."""

    trials: int = 300               # optuna trials
    seed: int = 0                   # optuna seed
    rule: Rule = Rule()             # the selection rule every strategy applies to what it found (select.py)

    def __post_init__(self):
        if isinstance(self.trials, bool) or not isinstance(self.trials, int) or self.trials < 1:
            raise PlannerError(f"trials must be an integer of at least 1, got {self.trials!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise PlannerError(f"seed must be an integer, got {self.seed!r}")
        if not isinstance(self.rule, Rule):
            raise PlannerError(f"rule must be a planner.optimize.select.Rule, got {self.rule!r}")


Strategy = Callable[[Evaluation, SearchSettings], "Pick | None"]


def _on_grid(ev: Evaluation, idx: Index | None) -> Pick | None:
    return None if idx is None else Pick(ev, tuple(int(i) for i in idx), ev)


def _exhaustive(ev: Evaluation, s: SearchSettings) -> Pick | None:
    return _on_grid(ev, exhaustive.best_index(ev, rule=s.rule))


def _greedy(ev: Evaluation, s: SearchSettings) -> Pick | None:
    from planner.optimize.greedy import greedy_index

    return _on_grid(ev, greedy_index(ev, s.rule))


def _optuna(ev: Evaluation, s: SearchSettings) -> Pick | None:
    from planner.optimize.optuna_search import optuna_index

    return _on_grid(ev, optuna_index(ev, trials=s.trials, seed=s.seed, rule=s.rule))


def _optuna_cap(ev: Evaluation, s: SearchSettings) -> Pick | None:
    from planner.optimize.optuna_search import optuna_with_cap

    got = optuna_with_cap(ev, trials=s.trials, seed=s.seed, rule=s.rule)
    return None if got is None else Pick(got[0], got[1], ev)


STRATEGIES: dict[str, Strategy] = {
    "exhaustive": _exhaustive,   # exact: every (method, K, N) at once
    "greedy": _greedy,           # the seed paper's baseline
    "optuna": _optuna,           # TPE over the same grid, deadline as a constraint
    "optuna-cap": _optuna_cap,   # TPE that also tunes a max_tokens cap off the grid
}


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except (KeyError, TypeError):
        raise PlannerError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}") from None


def pick(name: str, ev: Evaluation, settings: SearchSettings | None = None) -> Pick | None:
    """Run strategy `name` on one profile's evaluation."""
    return get_strategy(name)(ev, settings or SearchSettings())
