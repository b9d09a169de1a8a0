"""Optuna strategies: TPE for one objective with the deadline as a constraint, NSGA-II for the
accuracy-vs-latency front. Seeded, so the same call gives the same answer.

Trials read the precomputed evaluation grid (method x K x N), so a trial costs microseconds and the
study's own overhead dominates; the grid is exact, Optuna is for spaces too large to enumerate."""

from __future__ import annotations

import numpy as np

from planner.optimize.cost import cost
from planner.optimize.evaluate import Evaluation
from planner.optimize.exhaustive import best_index
from planner.optimize.select import Rule, select
from planner.optimize.strategies import SearchSettings

DEFAULT_TRIALS = 300


def _quiet():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _suggest(trial, ev: Evaluation) -> tuple[int, int, int]:
    m = trial.suggest_categorical("method", list(range(len(ev.methods)))) if len(ev.methods) > 1 else 0
    k = trial.suggest_int("k", 0, len(ev.K) - 1) if len(ev.K) > 1 else 0
    n = trial.suggest_int("n", 1, len(ev.N), log=True) - 1
    return m, k, n


def optuna_index(ev: Evaluation, trials: int = DEFAULT_TRIALS, seed: int = 0,
                 rule: Rule | None = None) -> tuple[int, int, int] | None:
    """TPE maximising accuracy under the deadline; the answer is chosen among the feasible trials by the
    selection rule (select.py)."""
    SearchSettings(trials=trials, seed=seed)  # validates
    optuna = _quiet()
    feasible = ev.feasible()
    lat = ev.latency["q"]
    deadline = ev.deadline if ev.deadline is not None else np.inf

    def objective(trial):
        m, k, n = _suggest(trial, ev)
        trial.set_user_attr("idx", (m, k, n))
        trial.set_constraint("latency_over_deadline", float(lat[k, n] - deadline) if ev.fits_memory[n] else 1e9)
        return float(ev.acc[m, k, n])

    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(20, trials))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=trials)
    mask = np.zeros_like(feasible)
    for t in study.trials:
        mask[tuple(t.user_attrs["idx"])] = feasible[tuple(t.user_attrs["idx"])]
    return best_index(ev, mask, rule) if mask.any() else None


def optuna_with_cap(ev: Evaluation, trials: int = DEFAULT_TRIALS, seed: int = 0, rule: Rule | None = None):
    """TPE over method x K x N plus a continuous max_tokens cap the grid does not enumerate. Each trial runs
    the cost model for its one configuration. Returns (evaluation of the best config, its index) or None."""
    SearchSettings(trials=trials, seed=seed)  # validates
    from planner.optimize.evaluate import evaluate

    optuna = _quiet()
    p = ev.profile
    hi = float(p.lengths.max_tokens)
    lo = min(64.0, hi)
    deadline = ev.deadline if ev.deadline is not None else np.inf
    cache: dict = {}

    def objective(trial):
        m, k, n = _suggest(trial, ev)
        cap = trial.suggest_float("max_tokens", lo, hi, log=True)
        one = evaluate(p, ev.deadline, ev.quantile, (ev.methods[m],), n_values=[int(ev.N[n])],
                       k_values_=[int(ev.K[k])], max_tokens=None if cap >= hi else round(cap))
        cache[trial.number] = one
        lat = float(one.latency["q"][0, 0])
        trial.set_constraint("latency_over_deadline", lat - deadline if one.fits_memory[0] else 1e9)
        return float(one.acc[0, 0, 0])

    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(20, trials)))
    study.optimize(objective, n_trials=trials)
    ok = [cache[t.number] for t in study.trials if cache[t.number].feasible()[0, 0, 0]]
    if not ok:
        return None
    rows = [(e.acc[0, 0, 0], e.acc_se[0, 0, 0], *(a[0, 0] for a in reversed(cost(e))), e.latency["q"][0, 0])
            for e in ok]
    return ok[select(*np.array(rows).T, rule or Rule())], (0, 0, 0)


def optuna_front(ev: Evaluation, trials: int = DEFAULT_TRIALS, seed: int = 0) -> list[tuple[int, int, int]]:
    """NSGA-II estimate of the Pareto front (max accuracy, min latency quantile)."""
    SearchSettings(trials=trials, seed=seed)  # validates
    optuna = _quiet()
    lat = ev.latency["q"]

    def objective(trial):
        m, k, n = _suggest(trial, ev)
        trial.set_user_attr("idx", (m, k, n))
        return float(ev.acc[m, k, n]), float(lat[k, n])

    study = optuna.create_study(directions=["maximize", "minimize"],
                                sampler=optuna.samplers.NSGAIISampler(seed=seed))
    study.optimize(objective, n_trials=trials)
    return sorted({tuple(t.user_attrs["idx"]) for t in study.best_trials}, key=lambda i: lat[i[1:]])
