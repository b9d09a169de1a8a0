"""The one score transform (planner.scoring) used by the accuracy model and the executor: hand values, the same
weights on both sides, and the rank transform's per-subset estimators against brute force."""

import itertools
import math

import numpy as np
import pytest

from planner import scoring
from planner.accuracy import estimators as est
from planner.accuracy.bank import Bank, BankProblem, Sample
from planner.accuracy.bootstrap import boot_weighted_curve
from planner.errors import PlannerError
from planner.executor.voting import Ballot, vote


def mid_ranks(s):
    """Independent oracle: sort, average the 1-based positions of tied scores, divide by n."""
    order = sorted(range(len(s)), key=lambda i: s[i])
    pos = {}
    for rank, i in enumerate(order, 1):
        pos.setdefault(s[i], []).append(rank)
    return [sum(pos[x]) / len(pos[x]) / len(s) for x in s]


def test_transforms_by_hand():
    s = [2.0, -1.0, 2.0, 0.5]
    assert scoring.transform([0.2, 0.9], "raw").tolist() == [0.2, 0.9]
    assert scoring.transform(s, "sigmoid") == pytest.approx([1 / (1 + math.exp(-x)) for x in s])
    assert scoring.transform(s, "rank").tolist() == pytest.approx([3.5 / 4, 1 / 4, 3.5 / 4, 2 / 4])
    assert scoring.transform(s, "rank").tolist() == pytest.approx(mid_ranks(s))
    assert scoring.resolve("auto", [0.1, 0.3]) == "raw" and scoring.resolve("auto", s) == "sigmoid"
    assert scoring.resolve("identity") == "raw"
    with pytest.raises(PlannerError, match="raw gives negative vote weights: use transform sigmoid"):
        scoring.transform(s, "raw")
    with pytest.raises(PlannerError, match="NaN or infinite"):
        scoring.transform([0.1, float("nan")], "sigmoid")
    with pytest.raises(PlannerError, match="unknown score transform 'log'"):
        scoring.resolve("log")


@pytest.mark.parametrize("kind", ["raw", "sigmoid", "rank"])
def test_executor_and_model_use_the_same_weights(kind):
    """Same scores -> same weights: the executor's ballot and the model's score_weights (rank: per voting set)."""
    rng = np.random.default_rng(3)
    s = rng.normal(size=7) if kind != "raw" else rng.random(7)
    s[2] = s[5]   # a tie
    ballot = Ballot("weighted_majority", transform=kind)
    for i, x in enumerate(s):
        ballot.add(i, str(i % 3), float(x))
    model = est.score_weights(s, kind)
    if kind == "rank":   # the model keeps raw scores and ranks them within each voting subset
        assert isinstance(model, est.RankScores)
        model = scoring.transform(np.asarray(model), "rank")
        assert model.tolist() == pytest.approx(mid_ranks(list(s)))
    assert ballot.weights() == pytest.approx(model.tolist())
    assert ballot.result().table() == pytest.approx({str(c): float(sum(model[c::3])) for c in range(3)})


def _credit(voters, cls, scores, kind):
    """Class 0's share of the win when `voters` (sample indices, repeats allowed) vote with the transform of
    their own scores: weighted plurality, ties split evenly."""
    w = scoring.transform([scores[i] for i in voters], kind)
    tot = {}
    for i, wi in zip(voters, w):
        tot[cls[i]] = tot.get(cls[i], 0.0) + wi
    top = max(tot.values())
    tied = [c for c, t in tot.items() if t >= top - 1e-9 * max(1.0, abs(top))]
    return (0 in tied) / len(tied)


def _brute_weighted(cls, scores, kind, sizes=None):
    """Average over every v-subset of: weighted plurality with the transform applied to the subset's scores."""
    f = len(cls)
    out = {0: 0.0}
    for v in sizes or range(1, f + 1):
        out[v] = float(np.mean([_credit(sub, cls, scores, kind) for sub in itertools.combinations(range(f), v)]))
    return [out[v] for v in sorted(out)]


@pytest.mark.parametrize("kind", ["sigmoid", "rank"])
def test_weighted_curve_equals_brute_force(kind):
    rng = np.random.default_rng(11)
    cls = np.array([0, 1, 0, 2, 1, 1, 0, 2, 1])
    scores = np.round(rng.normal(size=len(cls)), 1)
    got = est.weighted_curve(cls, est.score_weights(scores, kind))
    assert got.tolist() == pytest.approx(_brute_weighted(list(cls), list(scores), kind), abs=1e-12)


def test_rank_curve_beyond_exhaustive_enumeration_is_close():
    """F = 17 > 16: v with C(F, v) <= 20000 enumerates every subset (exact), v = 8 samples 4000 (seeded)."""
    rng = np.random.default_rng(2)
    cls = rng.choice(3, size=17)
    cls[0] = 0
    scores = rng.normal(size=17) + (cls == 0)
    got = est.weighted_curve(cls, est.score_weights(scores, "rank"))
    sizes = (1, 2, 3, 8, 16, 17)
    brute = dict(zip((0,) + sizes, _brute_weighted(list(cls), list(scores), "rank", sizes)))
    assert got[8] == pytest.approx(brute[8], abs=0.03)          # 4000 of 24310 subsets: MC std about 0.008
    assert [got[v] for v in brute if v != 8] == pytest.approx([brute[v] for v in brute if v != 8], abs=1e-12)


def test_bootstrap_rank_curve_equals_enumeration_of_draw_sequences():
    """With replacement: every sequence of n draws from F = 3 participants (duplicates tie), vs Monte Carlo."""
    cls, scores = np.array([0, 1, 2]), np.array([0.3, 0.9, 0.1])
    curve = boot_weighted_curve(cls, est.score_weights(scores, "rank"), 4, replicates=20000)
    for n in range(1, 5):
        credit = [_credit(seq, cls, scores, "rank") for seq in itertools.product(range(3), repeat=n)]
        assert curve[n] == pytest.approx(np.mean(credit), abs=0.015), n   # 4 MC std at R = 20000


@pytest.mark.parametrize("kind", ["raw", "sigmoid", "rank"])
def test_model_at_n_equals_m_is_the_executor_vote(kind):
    """n = M: the only subset is all samples, so the model's accuracy is the executor's vote's correctness."""
    rng = np.random.default_rng(7)
    probs = []
    for p in range(30):
        answers = [str(a) for a in rng.choice(["1", "2", "3"], size=6)]
        scores = rng.normal(size=6) if kind != "raw" else rng.random(6)
        probs.append((answers, [float(x) for x in scores]))
    bank = Bank.from_problems([BankProblem(f"p{i}", tuple(Sample(a, a == "1", 5, s) for a, s in zip(ans, sc)))
                               for i, (ans, sc) in enumerate(probs)])
    model = est.per_problem("weighted_majority", bank, 6, weight_transform=kind)
    executor = [float(vote(ans, "weighted_majority", sc, transform=kind).answer == "1") for ans, sc in probs]
    assert model.tolist() == pytest.approx(executor, abs=1e-12)
