"""Voting: grouping of equivalent answers, deterministic ties, weighted/best-of-N, early-stop rule, scorers,
deadline object and datasets."""

import pytest

from planner.errors import PlannerError
from planner.executor.voting import Ballot, vote


def test_majority_groups_equivalent_answers():
    r = vote(["\\frac{1}{2}", "0.5", "3", None, "1/2", "3"])
    assert r.answer == "\\frac{1}{2}"
    assert r.table() == {"\\frac{1}{2}": 3.0, "3": 2.0}
    assert r.voters == 5                       # None (no answer) does not vote


def test_ties_break_by_smallest_branch_index_whatever_the_arrival_order():
    b1, b2 = Ballot(), Ballot()
    for i, a in [(3, "7"), (0, "5"), (1, "7"), (2, "5")]:
        b1.add(i, a)
    for i, a in [(2, "5"), (1, "7"), (0, "5"), (3, "7")]:
        b2.add(i, a)
    assert b1.result().answer == b2.result().answer == "5"   # "5" holds branch 0


def test_weighted_and_best_of_n():
    answers, scores = ["1", "2", "2", "3"], [0.9, 0.2, 0.3, 0.95]
    assert vote(answers, "weighted_majority", scores).answer == "3"      # 0.95 > 0.9 > 0.5
    assert vote(answers, "best_of_n", scores).answer == "3"
    assert vote(answers, "weighted_majority", [0.9, 0.6, 0.6, 0.1]).answer == "2"
    assert vote(answers, "best_of_n", [0.9, 0.6, 0.6, 0.1]).answer == "1"
    with pytest.raises(ValueError):
        vote(answers, "best_of_n")                                       # needs scores
    with pytest.raises(PlannerError, match="raw gives negative vote weights"):
        vote(answers, "weighted_majority", [-1.0, 0.0, 0.0, 0.0])        # raw weights must be >= 0
    # sigmoid weights (reward logits): 1 gets s(3) = 0.953, 2 gets 2 s(-2) = 0.238
    assert vote(answers, "weighted_majority", [3.0, -2.0, -2.0, 0.0], transform="sigmoid").answer == "1"


def test_early_stop_only_when_the_leader_cannot_be_overtaken():
    b = Ballot()
    for i, a in enumerate(["4", "4", "4", "5"]):
        b.add(i, a)
    assert b.decided(1) and not b.decided(2)        # 3 > 1 + 1, but 3 == 1 + 2 could tie
    assert Ballot().decided(0) and not Ballot().decided(1)
    w = Ballot("weighted_majority", max_score=1.0)
    w.add(0, "4", 0.9)
    w.add(1, "4", 0.8)
    assert w.decided(1) and not w.decided(2)        # 1.7 > 0 + 1*1.0
    unbounded = Ballot("weighted_majority")
    unbounded.add(0, "4", 5.0)
    assert not unbounded.decided(1)                 # without a score bound nothing is safe
    bon = Ballot("best_of_n")
    bon.add(0, "4", 0.99)
    assert not bon.decided(1) and bon.decided(0)


def test_scorers():
    from planner.executor.scorers import make_scorer

    conf = make_scorer("confidence")
    assert conf.score("q", "t", 4, -4 * 0.5) == pytest.approx(2.718281828 ** -0.5)
    assert conf.max_score == 1.0 and conf.needs_logprobs
    assert make_scorer("boxed").score("q", "so \\boxed{3}", 5, None) == 1.0
    assert make_scorer("none") is None
    user = make_scorer("operator:contains")                   # module:function (question, text) -> float
    assert user.score("x = 3", "3", 0, None) == 1.0 and user.score("x = 3", "4", 0, None) == 0.0
    with pytest.raises(PlannerError, match="unknown scorer"):
        make_scorer("nope")
    with pytest.raises(PlannerError, match="cannot load scorer"):
        make_scorer("no_such_module_xyz:f")


def test_deadline():
    from planner.executor.deadline import Deadline

    t = [100.0]
    d = Deadline(2.0, clock=lambda: t[0])
    assert d.remaining() == 2.0 and not d.expired()
    t[0] = 102.5
    assert d.remaining() == pytest.approx(-0.5) and d.expired() and d.elapsed() == 2.5
    assert Deadline(None).remaining() is None and not Deadline(None).expired()


def test_datasets(tmp_path):
    from planner.executor.datasets import format_prompt, load_problems

    probs = load_problems("math500", limit=3)
    assert [p.problem_id for p in probs][0] == "test/precalculus/807.json" and len(probs) == 3
    assert probs[0].reference == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert "\\boxed{}" in format_prompt("Q?")
    f = tmp_path / "d.jsonl"
    f.write_text('{"question": "1+1?", "gt": "2", "idx": 7}\n\n{"problem": "2+2?"}\n')
    got = load_problems(str(f))
    assert [(p.problem_id, p.question, p.reference) for p in got] == [("7", "1+1?", "2"), ("1", "2+2?", None)]
    (tmp_path / "e.jsonl").write_text("\n")
    with pytest.raises(PlannerError, match="empty"):
        load_problems(str(tmp_path / "e.jsonl"))
    with pytest.raises(PlannerError, match="not found"):
        load_problems(str(tmp_path / "missing.jsonl"))
    (tmp_path / "b.jsonl").write_text('{"answer": "3"}\n')
    with pytest.raises(PlannerError, match="no problem/question"):
        load_problems(str(tmp_path / "b.jsonl"))
