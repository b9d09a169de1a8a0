"""planner.validate without models: the deadline outcome read from branch finish times, summaries, errors,
and that validate's predictions are exactly the cells `recommend` chose from."""

import math

import numpy as np
import pytest

from planner import validate as V
from planner.profile import load_profile


def _rec(ref, branches, latency=None):
    br = [{"answer": a, "finish_s": t, "finish_reason": r, "num_tokens": 10, "score": None} for a, t, r in branches]
    return {"problem_id": "p", "reference": ref, "branches": br,
            "latency_s": latency if latency is not None else max(b["finish_s"] for b in br)}


TIE = _rec("5", [("3", 0.1, "eos"), ("5", 0.2, "eos"), ("5", 0.3, "eos"), ("3", 0.5, "eos")])


def test_only_branches_finished_by_the_deadline_vote():
    assert V.outcome(TIE, 0.15) == (False, False)   # only "3" has voted
    assert V.outcome(TIE, 0.25) == (False, False)   # 1-1 tie: the smaller branch index ("3") wins
    assert V.outcome(TIE, 0.35) == (True, False)    # "5" leads 2-1; the last branch is still running
    assert V.outcome(TIE, 0.6) == (False, True)     # 2-2 tie again, everything finished
    assert V.outcome(TIE, None) == (False, True)
    assert V.outcome(TIE, 0.05) == (False, False)   # nobody voted: no answer


def test_cut_and_unfinished_branches_never_vote_or_hit():
    rec = _rec("5", [("5", 0.1, "eos"), (None, 0.4, "deadline"), ("3", 0.2, "cancelled")], latency=0.4)
    assert V.outcome(rec, 1.0) == (True, False)     # a deadline cut means the problem missed its deadline
    rec2 = _rec("5", [("5", 0.1, "length"), ("7", 0.2, "eos")])
    assert V.outcome(rec2, 1.0) == (True, True)      # a max_tokens stop is a finished branch


def test_summarize_numbers():
    recs = [_rec("1", [("1", t, "eos")]) for t in (0.1, 0.2, 0.3, 0.4)] + [_rec("1", [("2", 1.0, "eos")])]
    s = V.summarize(recs, 0.35)
    assert s["problems"] == 5
    assert s["latency_s"]["mean"] == pytest.approx(0.4)
    assert s["latency_s"]["p90"] == pytest.approx(np.quantile([0.1, 0.2, 0.3, 0.4, 1.0], 0.9))
    assert s["accuracy"] == pytest.approx(3 / 5)     # 0.4 is past the deadline; 1.0 was wrong anyway
    assert s["hit_rate"] == pytest.approx(3 / 5)
    assert s["accuracy_stderr"] == pytest.approx(np.std([1, 1, 1, 0, 0]) / math.sqrt(5))
    nod = V.summarize(recs, None)
    assert nod["accuracy"] == pytest.approx(4 / 5) and nod["hit_rate"] is None


def test_compare_signs_and_units():
    cfg = V.Config("majority", 4, 2)
    pred = {"latency_s": {"mean": 1.2, "p90": 1.8}, "accuracy": 0.70, "p_meet_deadline": 0.9}
    meas = {"latency_s": {"mean": 1.0, "p90": 2.0}, "accuracy": 0.65, "hit_rate": 0.95, "problems": 10}
    e = V.compare(cfg, pred, meas).errors
    assert e["latency_mean_pct"] == pytest.approx(20.0) and e["latency_p90_pct"] == pytest.approx(-10.0)
    assert e["accuracy_pp"] == pytest.approx(5.0) and e["hit_rate_pp"] == pytest.approx(-5.0)
    text = V.format_table([V.compare(cfg, pred, meas)], 2.0, 0.9)
    assert "N=4 K=2" in text and "+20%" in text and "-10%" in text and "p90" in text


def test_grid_has_k_only_with_a_drafter():
    p = load_profile("h100-sxm-qwen2.5-7b")
    cfgs = V.grid_configs(p, (1, 4), (0, 2))
    assert [(c.branches, c.draft_len) for c in cfgs] == ([(1, 0), (4, 0), (1, 2), (4, 2)] if p.draft.kind != "none"
                                                        else [(1, 0), (4, 0)])


@pytest.mark.slow
def test_predictions_are_the_cells_recommend_chose_from():
    from planner.optimize.evaluate import evaluate
    from planner.api import recommend

    p = load_profile("h100-sxm-qwen2.5-7b")
    plan = recommend([p], 20.0, 0.9)
    pairs = V.plan_configs(plan, limit=4)
    assert pairs[0][0].label == "plan" and (pairs[0][0].branches, pairs[0][0].draft_len) == (plan.branches,
                                                                                            plan.draft_len)
    assert 2 <= len(pairs) <= 4 and len({c.key for c, _ in pairs}) == len(pairs)
    full = evaluate(p, 20.0, 0.9)
    for cfg, stored in pairs:
        mine = V.predict(p, 20.0, 0.9, cfg)
        assert mine["accuracy"] == pytest.approx(stored["accuracy"], abs=1e-9)
        assert mine["latency_s"]["p90"] == pytest.approx(stored["latency_s"]["p90"], rel=1e-9)
        assert mine["p_meet_deadline"] == pytest.approx(stored["p_meet_deadline"], abs=1e-9)
        k, n = list(full.K).index(cfg.draft_len), list(full.N).index(cfg.branches)
        cell = full.config(full.methods.index(cfg.method), k, n)
        assert mine["latency_s"]["mean"] == pytest.approx(cell["latency_s"]["mean"], rel=1e-9)


def test_runners_up_of_another_profile_are_skipped():
    from planner.plan import Plan

    plan = Plan("majority", 4, {"method": "none", "num_speculative_tokens": 0}, 10.0, {"accuracy": 0.5},
                {"id": "a"}, {"name": "m"}, {}, runners_up=[
                    {"profile": "b", "method": "majority", "branches": 8, "draft_len": 0, "accuracy": 0.6},
                    {"profile": "a", "method": "majority", "branches": 4, "draft_len": 0, "accuracy": 0.5},
                    {"profile": "a", "method": "majority", "branches": 2, "draft_len": 0, "accuracy": 0.4}])
    got = [(c.label, c.branches) for c, _ in V.plan_configs(plan)]
    assert got == [("plan", 4), ("runner-up 3", 2)]   # other profile and the duplicate of the plan dropped
