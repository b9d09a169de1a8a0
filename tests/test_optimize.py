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

DATA = Path(__file__).parent / "data"


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


@pytest.mark.parametrize("deadline", [2.0, 4.0, 8.0])
def test_exhaustive_equals_brute_force(prof, deadline):
    ev = evmod.evaluate(prof, deadline, 0.9, n_max=64)
    got = exhaustive.best_index(ev)
    best = None
    for m, k, n in itertools.product(range(2), range(len(ev.K)), range(len(ev.N))):
        if ev.latency["q"][k, n] > deadline:
            continue
        key = (ev.acc[m, k, n], -ev.latency["q"][k, n])
        if best is None or key[0] > best[0][0] + exhaustive.TIE_TOL or (
                abs(key[0] - best[0][0]) <= exhaustive.TIE_TOL and key[1] > best[0][1]):
            best = (key, (m, k, n))
    assert ev.acc[got] == pytest.approx(ev.acc[best[1]], abs=exhaustive.TIE_TOL)
    assert ev.latency["q"][got[1:]] <= deadline


def test_more_time_never_hurts(prof):
    accs = [ev.acc[exhaustive.best_index(ev)] for ev in
            (evmod.evaluate(prof, d, 0.9, n_max=64) for d in (3.0, 6.0, 12.0, 24.0))]
    assert np.all(np.diff(accs) >= -1e-12)


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
        g, e = greedy_index(ev), exhaustive.best_index(ev)
        assert ev.acc[g] <= ev.acc[e] + 1e-12
        assert ev.latency["q"][g[1:]] <= d


def test_optuna_within_one_point_of_exhaustive(prof):
    ev = evmod.evaluate(prof, 4.0, 0.9, n_max=256)
    o, e = optuna_index(ev, trials=300, seed=0), exhaustive.best_index(ev)
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


def test_optuna_cap_returns_feasible_capped_config(prof):
    from planner.optimize.optuna_search import optuna_with_cap

    ev = evmod.evaluate(prof, 4.0, 0.9, n_max=64)
    one, idx = optuna_with_cap(ev, trials=40, seed=1)
    assert idx == (0, 0, 0) and one.acc.shape == (1, 1, 1)
    assert one.latency["q"][0, 0] <= 4.0
    assert one.max_tokens is None or 64 <= one.max_tokens <= prof.lengths.max_tokens
    again, _ = optuna_with_cap(ev, trials=40, seed=1)
    assert (again.max_tokens, int(again.N[0]), int(again.K[0])) == (one.max_tokens, int(one.N[0]), int(one.K[0]))
