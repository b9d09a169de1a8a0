"""The answer budget as a search axis (planner/optimize/budget.py), checked against independent oracles: every
(budget, method, K, N) predicted on its own and searched by brute force; a bank's accuracy under a budget counted
by enumerating every N-subset of every problem's samples; bad budgets refused in one line."""

import itertools
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from planner import api, cli
from planner.optimize import budget as B
from planner.optimize.cost import with_cost
from planner.optimize.select import Rule
from planner.optimize.strategies import SearchSettings
from planner.profile.schema import AccuracySpec

BUDGETS = (256, 416, 4096)     # two caps under the default profile's lengths, and its max_tokens (no cap)
NS, KS = [1, 2, 3, 4, 6], [0, 1, 2]
DEADLINE = 3.0                 # binds: long budgets with many branches miss it


@pytest.fixture(scope="module")
def prof():
    p = api.load_profile(None)
    assert p.draft.kind != "none" and p.lengths.max_tokens == 4096
    return p


@pytest.fixture(scope="module")
def grid(prof):
    return B.evaluate_budgets(prof, DEADLINE, 0.9, budgets=BUDGETS, n_values=NS, k_values_=KS)


@pytest.fixture(scope="module")
def brute(prof, grid):
    """Every configuration predicted alone (its own evaluate call): (budget, method, K, N) -> cost row."""
    out = {}
    for bi, b in enumerate(BUDGETS):
        for mi, m in enumerate(grid[0].methods):
            for ki, k in enumerate(KS):
                for ni, n in enumerate(NS):
                    one = B.evaluate_budgets(prof, DEADLINE, 0.9, (m,), budgets=[b], n_values=[n],
                                             k_values_=[k])[0]
                    out[bi, mi, ki, ni] = (with_cost(one, (0, 0, 0)), bool(one.feasible()[0, 0, 0]))
    return out


def _brute_choice(brute, rule):
    keys = [k for k, (_, ok) in brute.items() if ok]
    c = [brute[k][0] for k in keys]
    if rule.objective == "accuracy":   # most accurate; differences under 1e-4 go to the lower latency
        top = max(x["accuracy"] for x in c)
        return min((k for k, x in zip(keys, c) if x["accuracy"] >= top - 1e-4),
                   key=lambda k: (brute[k][0]["latency_q_s"], -brute[k][0]["accuracy"]))
    best = min(range(len(c)), key=lambda i: (-c[i]["accuracy"], c[i]["device_s_per_request"], c[i]["latency_q_s"]))
    b = c[best]
    band = [i for i in range(len(c)) if c[i]["accuracy"] >= b["accuracy"] - max(
        rule.tolerance, rule.z * abs(b["accuracy_stderr"] - c[i]["accuracy_stderr"])) - 1e-12]
    i = min(band, key=lambda i: (c[i]["device_s_per_request"], c[i]["tokens_per_request"], c[i]["latency_q_s"],
                                 -c[i]["accuracy"]))
    return keys[i]


@pytest.mark.slow
def test_grid_cells_equal_configurations_predicted_alone(grid, brute):
    for (b, m, k, n), (cfg, ok) in brute.items():
        ev = grid[b]
        assert ev.acc[m, k, n] == pytest.approx(cfg["accuracy"], abs=1e-9)
        assert ev.latency["q"][k, n] == pytest.approx(cfg["latency_q_s"], rel=1e-9)
        assert bool(ev.feasible()[m, k, n]) == ok
    # the budget matters: a cap lowers one chain's accuracy and its latency
    assert grid[0].acc[0, 0, 0] < grid[1].acc[0, 0, 0] < grid[2].acc[0, 0, 0]
    assert grid[0].latency["q"][0, 0] < grid[2].latency["q"][0, 0]
    assert 0 < sum(ok for _, ok in brute.values()) < len(brute)      # the deadline binds somewhere


@pytest.mark.parametrize("rule", [Rule("accuracy"), Rule("cost"), Rule("cost", tolerance=0.0, z=0.0)])
def test_exhaustive_over_budget_equals_brute_force(grid, brute, rule):
    got = B.exhaustive_index(grid, rule)
    assert got == _brute_choice(brute, rule)


@pytest.mark.slow
def test_greedy_and_optuna_search_the_budget_axis(grid, brute):
    best = B.exhaustive_index(grid, Rule("accuracy"))
    for m in range(len(grid[0].methods)):
        path = B.greedy_path(grid, m)
        assert path[0] == (0, m, 0, 0)
        for a, b in zip(path, path[1:]):   # each step raises exactly one of budget, K, N (N by 1 or 2)
            d = np.subtract(b, a)
            assert sorted(d.tolist()) in ([0, 0, 0, 1], [0, 0, 0, 2]) and (d[3] == 2 or d.max() == 1)
        assert any(b[0] > 0 for b in path)      # longer chains are bought, not just branches
    g = B.pick("greedy", grid, SearchSettings(rule=Rule("accuracy")))
    assert g.config["accuracy"] <= brute[best][0]["accuracy"] + 1e-12
    o = B.pick("optuna", grid, SearchSettings(trials=200, seed=0, rule=Rule("accuracy")))
    assert (BUDGETS.index(o.ev.max_tokens or 4096), *o.idx) == best


def test_recommend_without_budgets_is_unchanged_and_with_budgets_searches_them(prof):
    plain = api.recommend(prof, 60, max_branches=16, max_draft_len=2)
    same = api.recommend(prof, 60, max_branches=16, max_draft_len=2, budgets=[4096])
    assert plain.to_dict()["predicted"] == same.to_dict()["predicted"]
    tight = api.recommend(prof, 1.8, max_branches=16, max_draft_len=2, budgets=[256, 416, 4096],
                          objective="accuracy")
    assert tight.sampling["max_tokens"] in (256, 416)      # a full-length chain misses 1.8 s at p90
    assert tight.predicted["latency_quantile_s"] <= 1.8


def _bank(tmp_path):
    """Four problems, 5 samples each: lengths straddle the budget, wrong answers recur, one abstains."""
    rng = np.random.default_rng(7)
    lines = []
    for p in range(4):
        samples = []
        for s in range(5):
            correct = bool(rng.random() < 0.55)
            ans = "42" if correct else (["7", "9"][int(rng.random() < 0.3)] if s != 4 or p != 2 else None)
            samples.append({"answer": ans, "correct": correct and ans is not None,
                            "num_tokens": int(rng.integers(40, 400))})
        lines.append(json.dumps({"problem_id": f"p{p}", "samples": samples}))
    path = tmp_path / "bank.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path, [json.loads(x)["samples"] for x in lines]


def _majority_by_enumeration(problems, n, budget):
    """Mean over problems of the mean over every n-subset: plurality of the answered samples within the
    budget (correct ones form one class), a tie shared evenly, no voter = wrong."""
    per = []
    for samples in problems:
        got = []
        for sub in itertools.combinations(samples, n):
            votes = Counter("CORRECT" if s["correct"] else s["answer"] for s in sub
                            if s["num_tokens"] <= budget and s["answer"] is not None)
            if not votes:
                got.append(0.0)
                continue
            top = max(votes.values())
            tied = [a for a, v in votes.items() if v == top]
            got.append(1.0 / len(tied) if "CORRECT" in tied else 0.0)
        per.append(np.mean(got))
    return float(np.mean(per))


@pytest.mark.parametrize("deadline", [None, 1e5])      # no deadline, and one that never binds
@pytest.mark.parametrize("budget", [60, 150, 260, 4096])
def test_bank_accuracy_under_a_budget_equals_enumeration(tmp_path, prof, budget, deadline):
    path, problems = _bank(tmp_path)
    p = replace(prof, accuracy=AccuracySpec("bank", bank_path=str(path)), origin=str(tmp_path / "p.json"))
    ev = B.evaluate_budgets(p, deadline, 0.9, ("majority",), budgets=[budget], n_values=[1, 2, 3, 4, 5],
                            k_values_=[0])[0]
    for i, n in enumerate(range(1, 6)):
        assert ev.acc[0, 0, i] == pytest.approx(_majority_by_enumeration(problems, n, budget), abs=1e-12)
    lost = sum(s["num_tokens"] > budget for ss in problems for s in ss)
    assert (lost > 0) == (budget < 400)          # the budgets really cut (but 4096 is no cap)


def run(capsys, *args):
    rc = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("args, needle", [
    (["recommend", "-d", "60s", "--budgets", "16"], "below the shortest answer"),
    (["recommend", "-d", "60s", "--budgets", "512,x"], "--budgets must be"),
    (["recommend", "-d", "60s", "--budgets", "512", "--strategy", "optuna-cap"], "contradict"),
    (["pareto", "--compare", "sequential,parallel", "--budgets", "8,512"], "below the shortest answer"),
    (["pareto", "--compare", "sequential"], "--compare takes"),
    (["pareto", "--budgets", "512"], "--budgets goes with --compare"),
])
def test_bad_budgets_exit_2_in_one_line(capsys, args, needle):
    rc, out, err = run(capsys, *args)
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("planner: error: ") and needle in lines[0], err


def test_compare_sequential_parallel(prof, capsys, tmp_path):
    cmp = B.compare(prof, None, 0.9, budgets=BUDGETS, n_max=8)
    assert [c["budget"] for c in cmp["sequential"]] == list(BUDGETS) and {c["N"] for c in cmp["sequential"]} == {1}
    assert {c["budget"] for c in cmp["parallel"]} == {4096} and [c["N"] for c in cmp["parallel"]] == [1, 2, 4, 8]
    # the front over budget x N: non-dominated and it dominates (or meets) every point of the two series
    pts = cmp["both"]
    assert all(a["latency_q_s"] <= b["latency_q_s"] and a["accuracy"] < b["accuracy"] for a, b in zip(pts, pts[1:]))
    for c in cmp["sequential"] + cmp["parallel"]:
        assert any(f["latency_q_s"] <= c["latency_q_s"] + 1e-12 and f["accuracy"] >= c["accuracy"] - 1e-12
                   for f in pts)
    rc, out, err = run(capsys, "pareto", "--compare", "sequential,parallel", "--budgets", "256,416,4096",
                       "--csv", tmp_path / "c.csv")
    assert rc == 0 and "longer chains" in out and "more branches" in out
    rows = (tmp_path / "c.csv").read_text().splitlines()
    assert rows[0].startswith("series,budget") and sum(r.startswith("sequential,") for r in rows) == 3
