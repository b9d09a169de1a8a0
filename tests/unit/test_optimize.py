"""Strategies on a real latency grid with a simple, known accuracy surface (independent of the accuracy
package): exhaustive = brute force, greedy <= exhaustive, optuna close to exhaustive, Pareto front sane."""

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

import planner.optimize.evaluate as evmod
from planner.optimize import exhaustive
from planner.optimize.greedy import greedy_index, greedy_path
from planner.optimize.optuna_search import optuna_front, optuna_index
from planner.optimize.pareto import pareto_front
from planner.profile.schema import Profile

DATA = Path(__file__).parents[1] / "data"


class FakeAccuracy:
    """acc(n, f) = f * (0.9 - 0.5 * 0.93**n) for majority, slightly better curve for best_of_n."""

    methods = ("majority", "best_of_n")

    def table(self, method, n_max, fq):
        n = np.arange(1, n_max + 1)
        base = 0.9 - 0.5 * 0.93 ** n if method == "majority" else 0.88 - 0.45 * 0.9 ** n
        acc = np.asarray(fq)[:, None] * base[None, :]
        return acc, np.full_like(acc, 0.01)


@pytest.fixture()
def prof(monkeypatch):
    p = Profile.from_dict(json.loads((DATA / "profile_test.json").read_text()))
    monkeypatch.setitem(evmod._ACC_CACHE, id(p), (p, FakeAccuracy()))
    return p


def brute_force(ev, tol=0.005, z=1.0):
    """The selection rule written as plain loops: cheapest (mean latency x TP, capped at the deadline) among
    feasible configurations within max(tol, z |se_b - se_i|) of the most accurate."""
    tp = ev.profile.hardware.tensor_parallel
    feas = [(m, k, n) for m, k, n in itertools.product(range(len(ev.methods)), range(len(ev.K)), range(len(ev.N)))
            if ev.latency["q"][k, n] <= ev.deadline and ev.fits_memory[n]]
    b = max(feas, key=lambda i: ev.acc[i])
    band = [i for i in feas if ev.acc[i] >= ev.acc[b] - max(tol, z * abs(ev.acc_se[b] - ev.acc_se[i])) - 1e-12]
    dev = lambda i: min(ev.latency["mean"][i[1:]], ev.deadline) * tp
    return min(band, key=dev), dev, ev.acc[b]


@pytest.mark.parametrize("deadline", [2.0, 4.0, 8.0])
def test_exhaustive_equals_brute_force(prof, deadline):
    ev = evmod.evaluate(prof, deadline, 0.9, n_max=64)
    got = exhaustive.best_index(ev)
    want, dev, top = brute_force(ev)
    assert dev(got) == pytest.approx(dev(want), rel=1e-12)
    assert ev.acc[got] >= top - 0.005 - 1e-12 and ev.latency["q"][got[1:]] <= deadline
    most = exhaustive.most_accurate_index(ev)             # objective accuracy: the old rule, ties within 1e-4
    assert ev.acc[most] == pytest.approx(top, abs=exhaustive.TIE_TOL)


def test_more_time_never_hurts(prof):
    evs = [evmod.evaluate(prof, d, 0.9, n_max=64) for d in (3.0, 6.0, 12.0, 24.0)]
    accs = [ev.acc[exhaustive.most_accurate_index(ev)] for ev in evs]
    assert np.all(np.diff(accs) >= -1e-12)
    for ev, top in zip(evs, accs):  # the cheaper choice never leaves the band of the best
        assert ev.acc[exhaustive.best_index(ev)] >= top - 0.005 - 1e-12


def test_deadline_cut_lowers_accuracy(prof):
    free = evmod.evaluate(prof, None, 0.9, n_max=32)
    tight = evmod.evaluate(prof, 2.0, 0.9, n_max=32)
    assert np.all(tight.acc <= free.acc + 1e-12)
    assert tight.finish.min() < 1.0


def test_greedy_path_is_monotone_and_never_beats_exhaustive(prof):
    for d in (2.0, 4.0, 8.0):
        ev = evmod.evaluate(prof, d, 0.9, n_max=64)
        path = greedy_path(ev, 0)
        assert path[0] == (0, 0, 0)
        for (m0, k0, n0), (m1, k1, n1) in zip(path, path[1:]):
            assert (k1 - k0, n1 - n0) in ((0, 1), (0, 2), (1, 0))
        g, e = greedy_index(ev), exhaustive.most_accurate_index(ev)
        assert ev.acc[g] <= ev.acc[e] + 1e-12
        assert ev.latency["q"][g[1:]] <= d


@pytest.mark.slow
def test_optuna_within_one_point_of_exhaustive(prof):
    ev = evmod.evaluate(prof, 4.0, 0.9, n_max=256)
    o, e = optuna_index(ev, trials=300, seed=0), exhaustive.most_accurate_index(ev)
    assert ev.latency["q"][o[1:]] <= 4.0
    assert ev.acc[o] >= ev.acc[e] - 0.01
    assert optuna_index(ev, trials=40, seed=3) == optuna_index(ev, trials=40, seed=3)  # seeded: reproducible


def test_pareto_front_is_non_dominated_and_monotone(prof):
    ev = evmod.evaluate(prof, None, 0.9, n_max=64)
    front = pareto_front(ev)
    lat = [ev.latency["q"][i[1:]] for i in front]
    acc = [ev.acc[i] for i in front]
    assert np.all(np.diff(lat) >= 0) and np.all(np.diff(acc) > 0)
    all_lat = np.broadcast_to(ev.latency["q"], ev.acc.shape)
    for i in front:  # nothing strictly better on both axes
        assert not np.any((all_lat < ev.latency["q"][i[1:]] - 1e-12) & (ev.acc > ev.acc[i] + 1e-9))
    nsga = optuna_front(ev, trials=150, seed=0)
    assert nsga and all(ev.fits_memory[i[2]] for i in nsga)


def test_memory_limit_excludes_large_batches(prof):
    from dataclasses import replace

    small = replace(prof, hardware=replace(prof.hardware, memory_GB=4.0))
    evmod._ACC_CACHE[id(small)] = (small, FakeAccuracy())
    ev = evmod.evaluate(small, None, 0.9, n_max=256)
    # 2 GB target + 0.2 GB draft weights; KV (10240 + 2048 B/token) x (100 + 4096 + 8) tokens per branch
    per_branch = (10240 + 2048) * (100 + 4096 + 8)
    expect = int((0.9 * 4e9 - 2.2e9) // per_branch)
    assert ev.fits_memory.sum() == expect


@pytest.mark.slow
def test_optuna_cap_returns_feasible_capped_config(prof):
    from planner.optimize.optuna_search import optuna_with_cap

    ev = evmod.evaluate(prof, 4.0, 0.9, n_max=64)
    one, idx = optuna_with_cap(ev, trials=40, seed=1)
    assert idx == (0, 0, 0) and one.acc.shape == (1, 1, 1)
    assert one.latency["q"][0, 0] <= 4.0
    assert one.max_tokens is None or 64 <= one.max_tokens <= prof.lengths.max_tokens
    again, _ = optuna_with_cap(ev, trials=40, seed=1)
    assert (again.max_tokens, int(again.N[0]), int(again.K[0])) == (one.max_tokens, int(one.N[0]), int(one.K[0]))


class Curve:
    """Majority accuracy given as a function of n (no deadline effect beyond the finish share)."""

    methods = ("majority",)

    def __init__(self, fn, se=0.0):
        self.fn, self.se = fn, se

    def table(self, method, n_max, fq):
        acc = np.asarray(fq)[:, None] * self.fn(np.arange(1, n_max + 1, dtype=float))[None, :]
        return acc, np.full_like(acc, self.se)


def _with(prof, acc_model, monkeypatch):
    from dataclasses import replace

    p = replace(prof)
    monkeypatch.setitem(evmod._ACC_CACHE, id(p), (p, acc_model))
    return p


@pytest.mark.slow
def test_plateau_picks_the_cheapest(prof, monkeypatch):
    """Accuracy saturates by N ~ 8 and creeps up 0.4 point more by N = 64: the rule takes the cheapest plan
    within 0.5 point of the best; the old rule (objective accuracy) buys the most branches for the creep."""
    from planner.optimize.cost import cost
    from planner.optimize.select import Rule
    from planner.optimize.strategies import SearchSettings, pick

    p = _with(prof, Curve(lambda n: 0.80 - 0.3 * 0.5 ** n + 0.004 * (1 - 0.95 ** n)), monkeypatch)
    ev = evmod.evaluate(p, 8.0, 0.9, n_max=64)
    got, old = exhaustive.best_index(ev), exhaustive.best_index(ev, rule=Rule("accuracy"))
    assert ev.N[got[2]] <= 10 and ev.N[old[2]] > 30
    _, dev = cost(ev)
    ok = ev.feasible()[0]
    band = ok & (ev.acc[0] >= ev.acc[0][ok].max() - 0.005)
    assert dev[got[1:]] == pytest.approx(dev[band].min())               # the cheapest of the band (brute force)
    for name in ("greedy", "optuna"):                                    # the same rule on what they visited
        g = pick(name, ev, SearchSettings(trials=150))
        assert ev.acc[g.idx] >= ev.acc[old] - 0.005 - 1e-12 and ev.N[g.idx[2]] <= 12, (name, g.idx)


def test_a_real_gain_is_not_thrown_away(prof, monkeypatch):
    """Accuracy still rising by several points: the rule keeps the gain (within 0.5 point of the best)."""
    p = _with(prof, Curve(lambda n: 0.9 - 0.4 * 0.9 ** n, se=0.01), monkeypatch)
    ev = evmod.evaluate(p, 4.0, 0.9, n_max=128)
    got, top = exhaustive.best_index(ev), exhaustive.most_accurate_index(ev)
    assert ev.acc[top] - ev.acc[got] <= 0.005 + 1e-12
    assert ev.acc[top] - ev.acc[0, 0, 15] > 0.03                     # N = 16 would have thrown 3+ points away
    assert ev.N[got[2]] > 16


def test_select_rule_by_hand():
    from planner.errors import PlannerError
    from planner.optimize.select import Rule, select

    acc, dev, tok, lat = [0.85, 0.83, 0.80], [4.0, 1.0, 0.5], [9, 2, 1], [3.0, 1.0, 0.5]
    assert select(acc, [0.0] * 3, dev, tok, lat, Rule()) == 0                    # 2 points is a real gain
    assert select(acc, [0.0] * 3, dev, tok, lat, Rule(tolerance=0.02)) == 1      # within 2 points: cheaper
    # one profile: shared inputs, SE of the difference |0.02 - 0.02| = 0 -> the gain stands
    assert select(acc, [0.02] * 3, dev, tok, lat, Rule()) == 0
    # three profiles, independent: SE of the difference sqrt(2) * 0.02 = 2.8 points >= 2 -> cheaper wins
    assert select(acc, [0.02] * 3, dev, tok, lat, Rule(), source=[0, 1, 2]) == 1
    assert select(acc, [0.02] * 3, dev, tok, lat, Rule(z=2.0), source=[0, 1, 2]) == 2   # 5.7 points: cheapest
    assert select(acc, [0.0] * 3, dev, tok, lat, Rule("accuracy")) == 0
    assert select([], [], [], [], [], Rule()) is None
    for bad in (dict(tolerance=-0.01), dict(tolerance=float("nan")), dict(z=-1.0), dict(objective="speed")):
        with pytest.raises(PlannerError):
            Rule(**bad)


def test_cost_against_direct_computation(prof):
    """Tokens: no cut -> N x the length distribution's mean; a cut at finished share f -> N x E[min(L, F^-1(f))]
    by Monte Carlo. Device-seconds: min(mean latency, deadline) x TP."""
    from planner.model.lengths import LengthDist
    from planner.optimize.cost import cost

    dist = LengthDist(prof.lengths)
    free = evmod.evaluate(prof, None, 0.9, n_max=32)
    tokens, dev = cost(free)
    assert tokens[0] == pytest.approx(free.N * dist.mean(), rel=1e-3)
    assert dev == pytest.approx(free.latency["mean"] * prof.hardware.tensor_parallel)
    tight = evmod.evaluate(prof, 2.0, 0.9, n_max=32)
    tokens, dev = cost(tight)
    rng = np.random.default_rng(0)
    L = dist.quantile(rng.random(400_000))
    k, n = 0, 15
    f = tight.finish[k, n]
    assert f < 0.95
    assert tokens[k, n] == pytest.approx(16 * np.minimum(L, dist.quantile(f)).mean(), rel=0.01)
    assert dev[k, n] == pytest.approx(min(tight.latency["mean"][k, n], 2.0) * prof.hardware.tensor_parallel)
