"""The closed loop's pooling of engine rounds (no model needed): whole rounds by (K, B, L), acceptance per draft
length, the raw-round dump, and the standard error of a regret."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from planner.calibrate.rounds import MIN_ROUNDS_K, round_lines, whole_rounds
from planner.engine.records import StepRecord


def spec(K, B, L, wall, reached, accepted):
    return StepRecord(1, "spec", 0.0, wall, 0.001, wall - 0.001, B, K + 1, L, K, [B] * K, reached, accepted,
                      [], B, 0, wall / 2)


def decode(B, L, wall):
    return StepRecord(1, "decode", 0.0, wall, 0.0, wall, B, 1, L, forward_s=wall / 2)


def test_whole_rounds_pool_by_draft_length_and_measure_acceptance_per_k():
    k2 = [spec(2, 4, 40, 0.010, [4, 3], [3, 2])] * MIN_ROUNDS_K
    k4 = [spec(4, 4, 41, 0.020, [4, 4, 2, 2], [4, 2, 2, 1])] * (MIN_ROUNDS_K - 1)   # too few rounds of K = 4
    plain = [decode(4, 39, 0.004), decode(4, 40, 0.006), decode(1, 3, 0.002)]
    res = [SimpleNamespace(steps=[StepRecord(0, "prefill", 0, 0.05, 0, 0.05, 1, 12, 0)] + plain + k2 + k4)]
    pts, by_k = whole_rounds(res)
    got = {(p["K"], p["B"], p["L"]): (p["t_s"], p["n"]) for p in pts}
    assert got[(0, 4, 40)] == (pytest.approx(0.005), 2)          # L 39 and 40 share the bucket of 8
    assert got[(0, 1, 8)] == (0.002, 1)                          # contexts below one bucket count as 8
    assert got[(2, 4, 40)] == (0.010, MIN_ROUNDS_K) and got[(4, 4, 40)][1] == MIN_ROUNDS_K - 1
    assert set(by_k) == {2} and by_k[2] == pytest.approx([0.75, 2 / 3])


def test_round_lines_are_one_json_object_per_round():
    res = [SimpleNamespace(steps=[decode(2, 10, 0.003)]), SimpleNamespace(steps=[spec(2, 1, 12, 0.01, [1, 1],
                                                                                     [1, 0])])]
    rows = [json.loads(x) for x in round_lines(res).splitlines()]
    assert [r["run"] for r in rows] == [0, 1] and rows[1]["q"] == 3 and rows[1]["accepted"] == [1, 0]
    assert rows[0]["wall_s"] == 0.003 and rows[1]["draft_forwards"] == 2


def test_regret_standard_error_from_paired_problems():
    from planner.demo.closed_loop import paired_se
    from planner.executor.answers import Equivalence

    def rec(answer):
        return {"reference": "1", "latency_s": 0.1,
                "branches": [{"answer": answer, "finish_s": 0.1, "finish_reason": "eos"}]}

    best = [rec("1"), rec("1"), rec("1"), rec("2")]
    pick = [rec("1"), rec("2"), rec("1"), rec("2")]               # differences 0, 1, 0, 0
    se = paired_se(best, pick, 1.0, Equivalence())
    assert se == pytest.approx(0.5 / 2)                           # sample sd 0.5 over sqrt(4)
    assert paired_se(best, best, 1.0, Equivalence()) == 0.0


def test_speed_factors_keep_the_spread_within_a_kind_of_run_and_drop_its_misfit():
    from planner.calibrate.rounds import speed_factors

    def run(K, B0, wall):
        # 6 rounds; the model says 1 ms per round whatever the shape, so the run's factor is its wall / 6 ms
        return SimpleNamespace(steps=[spec(K, B0, 20, wall / 6, [B0] * K, [B0] * K) if K else decode(B0, 20, wall / 6)
                                      for _ in range(6)])

    def predict(K, B, L):
        return np.full(len(K), 0.001)

    spread = [0.8, 0.9, 1.0, 1.1, 1.2]
    fast = [run(0, 16, 0.006 * f) for f in spread * 4]          # fitted right
    slow = [run(2, 1, 0.006 * 1.5 * f) for f in spread * 4]     # a kind of run the model under-prices by 1/3
    f = speed_factors(fast + slow, predict, count=5)
    assert f == sorted(f) and f == pytest.approx(spread, abs=0.03)   # the misfit of 1.5 is gone
    assert sum(f) / len(f) == pytest.approx(1.0, abs=0.01)
    assert speed_factors(fast[:5], predict, count=5) is None          # too few runs for 5 factors
    short = [SimpleNamespace(steps=[decode(1, 20, 0.001)] * 4) for _ in range(40)]
    assert speed_factors(short, predict, count=5) is None             # runs under 5 rounds say nothing
