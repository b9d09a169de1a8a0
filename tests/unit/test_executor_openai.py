"""The openai backend against the shared fake OpenAI-compatible server (tests/fake_openai.py, streamed SSE):
both request shapes, votes, deadline cut with cancellation, early stop, and server errors."""

import json
import time

import pytest

from fake_openai import FakeOpenAI
from planner.errors import PlannerError
from planner.executor.backends.openai import OpenAIBackend
from planner.executor.datasets import DatasetProblem
from planner.executor.deadline import Deadline
from planner.executor.runner import RunSettings, solve

# branch i answers ANSWERS[i % len] after DELAYS[i % len] seconds (streamed in 3 chunks; the shared fake server,
# tests/fake_openai.py, with branch_delays); "7" is written confidently (log-prob -0.1 a token), "12" hesitantly
ANSWERS = ["12", "12", "7", "12", "7"]
DELAYS = [0.05, 0.1, 0.15, 0.2, 3.0]


@pytest.fixture
def server():
    with FakeOpenAI(answers=ANSWERS, branch_delays=DELAYS, logprob=lambda a: -0.1 if a == "7" else -1.0,
                    usage=True, usage_tokens=9, lifetime_s=30) as s:
        yield s


@pytest.mark.parametrize("mode", ["n", "parallel"])
def test_all_branches_vote(server, mode):
    be = OpenAIBackend(server.url, "m", mode=mode, api_key="sk-test", timeout_s=10, send_seed=True)
    rec = solve(DatasetProblem("p1", "What?", "12"), be, RunSettings(4, early_stop=False))
    assert rec["answer"] == "12" and rec["correct"] is True
    assert rec["votes"] == {"12": 3.0, "7": 1.0}
    assert [b["finish_reason"] for b in rec["branches"]] == ["eos"] * 4
    assert len(server.requests) == (1 if mode == "n" else 4)
    path, body, auth = server.requests[0]
    assert path == "/v1/chat/completions" and auth == "Bearer sk-test" and body["stream"] is True
    assert body["n"] == (4 if mode == "n" else 1) and "\\boxed{}" in body["messages"][-1]["content"]
    if mode == "parallel":  # exact per-branch token counts come from each request's usage
        assert [b["num_tokens"] for b in rec["branches"]] == [9] * 4


def test_best_of_n_with_server_logprobs(server):
    from planner.executor.scorers import make_scorer

    be = OpenAIBackend(server.url, "m", mode="n", timeout_s=10, logprobs=True)
    rec = solve(DatasetProblem("p1", "What?", "12"), be,
                RunSettings(4, method="best_of_n", scorer=make_scorer("confidence")))
    assert server.requests[0][1]["logprobs"] is True
    assert rec["answer"] == "7" and rec["correct"] is False           # majority would say 12
    assert [b["num_tokens"] for b in rec["branches"]] == [3, 3, 3, 3]  # one log-prob per token: exact counts
    assert rec["branches"][2]["score"] == pytest.approx(2.718281828 ** -0.1)


@pytest.mark.slow
def test_deadline_cuts_the_slow_branch_and_cancels_it(server):
    be = OpenAIBackend(server.url, "m", mode="n", timeout_s=10)
    t0 = time.perf_counter()
    rec = solve(DatasetProblem("p1", "What?", "12"), be, RunSettings(5, deadline_s=1.0, early_stop=False))
    took = time.perf_counter() - t0
    assert 1.0 <= took < 2.5                          # branch 4 would take 3 s
    assert rec["cut_branches"] == [4] and rec["stopped_by"] == "deadline"
    assert rec["answer"] == "12" and rec["voters"] == 4
    for _ in range(40):                               # the server notices the client went away
        if server.disconnects:
            break
        time.sleep(0.1)
    assert server.disconnects


def test_early_stop_when_vote_is_decided(server):
    be = OpenAIBackend(server.url, "m", mode="parallel", timeout_s=10, send_seed=True)
    rec = solve(DatasetProblem("p1", "What?", "12"), be, RunSettings(5, early_stop=True))
    # after branches 0, 1, 3 ("12" x3) and 2 ("7"): 3 > 1 + 1 remaining → stop without waiting 3 s for branch 4
    assert rec["stopped_by"] == "callback" and rec["latency_s"] < 2.0
    assert rec["answer"] == "12" and rec["branches"][4]["finish_reason"] == "cancelled"


@pytest.mark.slow
def test_server_errors_are_one_line():
    with FakeOpenAI(mode="http_404", lifetime_s=30) as bad:
        be = OpenAIBackend(bad.url, "m", timeout_s=5)
        with pytest.raises(PlannerError, match="HTTP 404"):
            be.generate("q", 2, Deadline(None))
    be = OpenAIBackend("http://127.0.0.1:9/v1", "m", timeout_s=2)   # nothing listens on port 9
    with pytest.raises(PlannerError, match=r"server http://127\.0\.0\.1:9/v1/chat/completions: cannot reach it"):
        be.generate("q", 1, Deadline(None))
    with pytest.raises(PlannerError, match="bad server URL"):
        OpenAIBackend("ftp://x", "m")


def test_planner_run_cli_with_openai_backend(server, tmp_path, capsys):
    from planner.cli import main

    data = tmp_path / "d.jsonl"
    data.write_text('{"problem": "What?", "answer": "12", "unique_id": "a"}\n'
                    '{"problem": "Again?", "answer": "7", "unique_id": "b"}\n')
    out = tmp_path / "r.jsonl"
    rc = main(["run", "--backend", "openai", "--url", server.url, "--server-model", "m", "--dataset", str(data),
               "-n", "4", "--openai-mode", "parallel", "--out", str(out), "--quiet"])
    assert rc == 0
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["answer"], r["correct"]) for r in recs] == [("12", True), ("12", False)]
    assert recs[0]["run"]["backend"]["mode"] == "parallel"
    assert "2 problems; accuracy 50.0%" in capsys.readouterr().out


def test_seed_is_sent_only_when_asked():
    import json as _json

    plain = OpenAIBackend("http://127.0.0.1:9/v1", "m")
    assert "seed" not in _json.loads(plain._body("p", 2, 5))  # vLLM CPU crashes on seeded chunked prefill
    seeded = OpenAIBackend("http://127.0.0.1:9/v1", "m", send_seed=True)
    assert _json.loads(seeded._body("p", 2, 5))["seed"] == 5
