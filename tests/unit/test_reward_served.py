"""The served reward scorer against the shared fake server's vLLM-style POST /pooling: request shape, scores in
index order, and the bad inputs (no pooling API, NaN scores with partial results kept, wrong label count)."""

import json
import math

import pytest

from planner import cli
from planner.errors import PlannerError
from planner.executor.scorers import make_scorer
from tests.fake_openai import FakeOpenAI, dataset


def reward(text: str) -> float:
    """The fake reward model: a deterministic function of the text (the oracle the scores must equal)."""
    return (sum(map(ord, text)) % 97) / 10.0 - 4.0


def test_scores_come_from_the_pooling_api_in_index_order():
    with FakeOpenAI(model_id="rm", pooling=lambda texts: [[reward(t)] for t in texts]) as srv:
        scorer = make_scorer(f"reward-served:{srv.url}")            # the server's only model
        answers = ["\\boxed{1}", "\\boxed{2}", "no idea", ""]
        got = scorer.score_many("Q?", [(a, 3, None) for a in answers])
        assert got == [reward(f"Q?\n\n{a}") for a in answers]
        body = srv.pool_bodies[-1]
        assert body == {"model": "rm", "input": [f"Q?\n\n{a}" for a in answers], "task": "classify",
                        "use_activation": False}
        assert len(srv.pool_bodies) == 2                             # the start-up probe + one batch
        assert scorer.batched and scorer.transform == "sigmoid"


def test_a_server_without_the_pooling_api_is_one_line():
    with FakeOpenAI(model_id="policy") as srv:                      # a generate-only server: /pooling is 404
        with pytest.raises(PlannerError, match="model 'policy' has no pooling API .*HTTP 404.*--runner pooling"):
            make_scorer(f"reward-served:{srv.url}")


@pytest.mark.parametrize("out,needle", [
    ([[0.1, 0.2]], "returns 2 outputs per text; an outcome reward model has 1 label"),
    (None, "did not answer one output list per text"),
])
def test_not_a_one_label_reward_model(out, needle):
    with FakeOpenAI(model_id="rm", pooling=lambda texts: out if out is not None else []) as srv:
        with pytest.raises(PlannerError, match=needle):
            make_scorer(f"reward-served:{srv.url}")


def test_model_choice_and_process_rewards():
    with FakeOpenAI(model_id="rm", pooling=lambda texts: [[0.0]] * len(texts)) as srv:
        with pytest.raises(PlannerError, match="does not serve 'other' .*it serves rm"):
            make_scorer(f"reward-served:{srv.url}?model=other")
        with pytest.raises(PlannerError, match="process rewards .* are scored locally only"):
            make_scorer(f"reward-served:{srv.url}?step=min")


def test_run_with_a_served_reward_model_and_nan_scores_keeps_finished_problems(tmp_path, capsys):
    """Problem 2's answers score NaN: one line, exit 2; problems 0 and 1 stay in FILE.partial."""
    def pool(texts):
        return [[math.nan] if "Problem 2" in t else [reward(t)] for t in texts]

    with FakeOpenAI(model_id="m", pooling=pool) as srv:
        data = dataset(tmp_path / "d.jsonl", 4)
        out = tmp_path / "out.jsonl"
        rc = cli.main(["run", "--backend", "openai", "--url", srv.url, "--server-model", "m", "--dataset", data,
                       "--method", "best_of_n", "--branches", "2", "--scorer", f"reward-served:{srv.url}",
                       "--out", str(out), "--quiet"])
        err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith("planner: error: scorer reward-served:") and "NaN" in err[-1], err
    assert "Traceback" not in "\n".join(err)
    recs = [json.loads(x) for x in (tmp_path / "out.jsonl.partial").read_text().splitlines()]
    assert [r["problem_id"] for r in recs] == ["p0", "p1"]
    for r in recs:   # each record's scores are the fake model's, its answer the best-scored branch's
        assert r["run"]["scorer"]["kind"] == "reward-served" and r["scoring_s"] >= 0
        scores = [b["score"] for b in r["branches"]]
        assert all(isinstance(s, float) for s in scores)
        assert r["answer"] == r["branches"][scores.index(max(scores))]["answer"]
