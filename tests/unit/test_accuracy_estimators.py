"""Exact estimators equal brute-force enumeration of all N-subsets; the bootstrap equals enumeration of all
with-replacement draw sequences (closed forms exactly, Monte-Carlo parts within their noise); hand values."""

import itertools
from pathlib import Path

import numpy as np
import pytest

from planner.accuracy import bootstrap as boot
from planner.accuracy import estimators as est
from planner.accuracy.bank import Bank, BankProblem, Sample, load_bank
from planner.errors import PlannerError

QWEN = Path(__file__).parents[1] / "data" / "qwen_math_cot_5.jsonl"


def random_bank(rng, problems, m) -> Bank:
    """Mixed banks: several correct strings, 1-3 wrong answers, missing answers, integer scores (many ties)."""
    out = []
    for p in range(problems):
        k = int(rng.integers(1, 4))
        samples = []
        for _ in range(m):
            r = rng.random()
            if r < 0.4:
                ans, ok = ("c" if rng.random() < 0.7 else "c2"), True
            elif r < 0.9:
                ans, ok = str(rng.integers(0, k)), False
            else:
                ans, ok = None, False
            samples.append(Sample(ans, ok, int(rng.integers(1, 20)), float(rng.integers(-2, 3))))
        out.append(BankProblem(f"p{p}", tuple(samples)))
    return Bank.from_problems(out)


def outcome(method, bank, draw, finished, weights):
    """Credit of one drawn multiset of sample indices, straight from the rules."""
    voters = [i for i in draw if finished[i] and bank.class_ids[i] >= 0]
    if not voters:
        return 0.0
    if method == "pass":
        return float(any(bank.correct[i] for i in voters))
    if method == "best_of_n":
        top = max(bank.scores[i] for i in voters)
        return float(np.mean([bank.correct[i] for i in voters if bank.scores[i] == top]))
    totals = {}
    for i in voters:
        totals[bank.class_ids[i]] = totals.get(bank.class_ids[i], 0.0) + (
            1.0 if method == "majority" else weights[i])
    best = max(totals.values())
    leaders = [c for c, t in totals.items() if abs(t - best) < 1e-9]
    return 1.0 / len(leaders) if 0 in leaders else 0.0


def brute(method, bank, n, finished, replace=False):
    weights = est.bank_weights(bank)
    out = []
    for p in range(bank.num_problems):
        idx = range(bank.span(p).start, bank.span(p).stop)
        draws = itertools.product(idx, repeat=n) if replace else itertools.combinations(idx, n)
        out.append(np.mean([outcome(method, bank, d, finished, weights) for d in draws]))
    return np.array(out)


@pytest.mark.parametrize("m", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("method", est.METHODS)
@pytest.mark.slow
def test_exact_estimators_equal_subset_enumeration(m, method):
    rng = np.random.default_rng(100 + m)
    for _ in range(4):
        bank = random_bank(rng, 4, m)
        cut = rng.random(bank.num_samples) < 0.7
        for finished in (None, cut):
            full = np.ones(bank.num_samples, bool) if finished is None else finished
            for n in range(1, m + 1):
                got = est.per_problem(method, bank, n, finished)
                np.testing.assert_allclose(got, brute(method, bank, n, full), atol=1e-12)


def test_majority_dp_against_enumeration_for_larger_groups():
    rng = np.random.default_rng(7)
    for _ in range(20):
        counts = rng.integers(0, 4, size=int(rng.integers(1, 5)))
        m0, wrong = int(counts[0]), tuple(int(c) for c in counts[1:] if c)
        labels = [0] * m0 + [k + 1 for k, c in enumerate(wrong) for _ in range(c)]
        curve = est.majority_curve(m0, wrong)
        for v in range(1, len(labels) + 1):
            vals = []
            for sub in itertools.combinations(labels, v):
                cnt = np.bincount(sub, minlength=len(wrong) + 1)
                vals.append((cnt[0] == cnt.max()) / (cnt == cnt.max()).sum())
            assert curve[v] == pytest.approx(np.mean(vals), abs=1e-12)


@pytest.mark.parametrize("method", est.METHODS)
def test_bootstrap_equals_with_replacement_enumeration(method):
    """pass, best-of-N and majority with one wrong class are closed forms (exact); the rest is Monte Carlo
    with 1000 draw sequences: per-problem error well inside 5 sigma = 5 * 0.5/sqrt(1000) = 0.08."""
    rng = np.random.default_rng(3)
    worst = 0.0
    for m in (1, 2, 3, 4):
        bank = random_bank(rng, 4, m)
        finished = rng.random(bank.num_samples) < 0.8
        for n in range(1, 5):
            got = boot.bootstrap_per_problem(method, bank, n, finished)
            ref = brute(method, bank, n, finished, replace=True)
            worst = max(worst, np.abs(got - ref).max())
    assert worst < (1e-12 if method in ("pass", "best_of_n") else 0.08)


def test_bootstrap_majority_two_classes_is_exact():
    bank = Bank.from_problems([BankProblem("x", tuple(Sample(a, a == "r", 5) for a in "rrwwwr"))])
    for n in (1, 2, 4, 5):
        assert boot.bootstrap_per_problem("majority", bank, n)[0] == pytest.approx(
            brute("majority", bank, n, np.ones(6, bool), replace=True)[0], abs=1e-12)


def test_hand_values_on_qwen_fixture():
    bank = load_bank(QWEN, "qwen-math")
    # pass@1 = per-sample accuracy; every problem has a correct sample, so pass@8 = 1
    assert est.pass_at_n(bank, 1).mean == pytest.approx(21 / 40)
    assert est.pass_at_n(bank, 8).mean == pytest.approx(1.0)
    # maj@8: problem 17 is a 4-4 tie and problem 28 a 2-2 tie between "11" and the correct "4" -> 1/2 each
    assert est.majority_at_n(bank, 8).mean == pytest.approx((1 + 1 + 0.5 + 0.5 + 1) / 5)
    # best-of-8 picks the top score: wrong on 28 ("11" at 0.365) and 98 ("759375" at 2.30)
    assert est.best_of_n(bank, 8).mean == pytest.approx(3 / 5)
    # weighted (sigmoid of RM logits): 28 loses ("11": 0.986 vs "4": 0.698), 98 wins (2.379 vs 1.812)
    assert est.weighted_majority_at_n(bank, 8).mean == pytest.approx(4 / 5)
    # best-of-2 by hand: problem 17, all correct scores above all wrong ones: 1 - C(4,2)/C(8,2) = 22/28;
    # problem 98: the two 759375 on top; correct iff the pair avoids them and is not the two bottom wrongs
    per = est.per_problem("best_of_n", bank, 2)
    assert per[2] == pytest.approx(22 / 28) and per[4] == pytest.approx(14 / 28)
    # standard error = sample std over problems / sqrt(P)
    maj = est.per_problem("majority", bank, 8)
    assert est.majority_at_n(bank, 8).stderr == pytest.approx(np.std(maj, ddof=1) / np.sqrt(5))


def test_pass_and_best_of_closed_forms_by_hand():
    # M = 5, c = 2 correct: pass@2 = 1 - C(3,2)/C(5,2) = 1 - 3/10
    bank = Bank.from_problems([BankProblem("x", tuple(
        Sample(a, a == "r", 5, s) for a, s in [("r", 1.0), ("w", 3.0), ("r", 2.0), ("w", 0.5), ("v", 2.0)]))])
    assert est.pass_at_n(bank, 2).mean == pytest.approx(0.7)
    # best-of-2: top 3.0 is wrong. Pairs without it: C(4,2) = 6 of 10. Among them, the max is the 2.0 tie
    # group {r, v} unless the pair is {1.0, 0.5} (max r): ties pick uniformly.
    # pairs: (r2,v2): 1/2, (r2,r1): 1, (r2,w.5): 1, (v2,r1): 0, (v2,w.5): 0, (r1,w.5): 1 -> 3.5 / 10
    assert est.best_of_n(bank, 2).mean == pytest.approx(0.35)
    # an unfinished top sample cannot be picked: best-of-5 then takes the 2.0 tie -> 1/2
    fin = np.array([True, False, True, True, True])
    assert est.best_of_n(bank, 5, fin).mean == pytest.approx(0.5)


def test_no_finished_sample_is_wrong_and_n_range_checked():
    bank = load_bank(QWEN, "qwen-math")
    none = np.zeros(bank.num_samples, bool)
    for method in est.METHODS:
        assert est.estimate(method, bank, 4, none).mean == 0.0
    with pytest.raises(PlannerError, match="between 1 and the smallest M"):
        est.majority_at_n(bank, 9)
    with pytest.raises(PlannerError, match="finished mask has 3 entries"):
        est.majority_at_n(bank, 2, np.ones(3, bool))


def test_weights_and_scores_required():
    assert est.score_weights(np.array([0.0, 2.0])).tolist() == [0.0, 2.0]
    assert est.score_weights(np.array([-1.0, 0.0]))[1] == pytest.approx(0.5)   # auto -> sigmoid
    with pytest.raises(PlannerError, match="raw gives negative vote weights"):
        est.score_weights(np.array([-1.0]), "identity")
    bank = Bank.from_problems([BankProblem("x", (Sample("1", True, 3), Sample("2", False, 3)))])
    with pytest.raises(PlannerError, match="need a score for every sample"):
        est.best_of_n(bank, 1)


@pytest.mark.slow
def test_weighted_subsampling_for_large_f_is_close_and_seeded():
    """F > 16 with huge C(F, v) subsamples 4000 v-subsets (fixed seed): compare with the exact majority DP
    by giving every vote weight 1 (weighted majority == majority)."""
    rng = np.random.default_rng(5)
    cls = rng.choice(4, size=24, p=[0.4, 0.3, 0.2, 0.1])
    cls[0] = 0
    got = est.weighted_curve(cls, np.ones(24))
    counts = np.bincount(cls)
    ref = est.majority_curve(int(counts[0]), tuple(sorted((int(c) for c in counts[1:] if c), reverse=True)))
    assert np.abs(got - ref).max() < 0.04
    np.testing.assert_array_equal(got, est.weighted_curve(cls, np.ones(24)))
