"""Executor fan-out over replicas (planner.executor.backends.fanout) against fake OpenAI servers: the split of N
branches (against a brute-force search), two healthy replicas voting exactly as one server with every branch
(the union), a slow and a dead replica giving a partial vote with one message and nothing finished lost,
summed usage and the slowest replica's latency, early stop across replicas, and bad endpoint lists as one
line (exit 2) without a hang."""

import itertools
import json
import time
from collections import Counter

import pytest

from fake_openai import FakeOpenAI, dataset
from planner import cli
from planner.errors import PlannerError
from planner.executor.backends.fanout import FanOut, parse_endpoints, split_branches
from planner.executor.backends.openai import OpenAIBackend
from planner.executor.datasets import DatasetProblem
from planner.executor.deadline import Deadline
from planner.executor.runner import RunSettings, solve

ANSWERS = ["12", "7", "12", "12", "7", "3", "12", "7", "12"]   # branch g answers ANSWERS[g % 9]


def servers(k, **kw):
    return [FakeOpenAI(lifetime_s=30, **kw) for _ in range(k)]


def close(fakes):
    for f in fakes:
        f.close()


def brute_force_split(n, weights):
    """Every way to give n branches to the replicas; the ones closest (sum of squares) to the exact shares."""
    exact = [n * w / sum(weights) for w in weights]
    comps = [c for c in itertools.product(range(n + 1), repeat=len(weights)) if sum(c) == n]
    cost = {c: sum((x - e) ** 2 for x, e in zip(c, exact)) for c in comps}
    best = min(cost.values())
    return {c for c in comps if cost[c] <= best + 1e-9}


@pytest.mark.parametrize("weights", [[1], [1, 1], [1, 1, 1], [1, 1, 1, 1, 1], [3, 1], [2, 1, 1], [0, 1, 2]])
def test_split_sums_to_n_and_is_the_closest_to_proportional(weights):
    for n in range(0, 13):
        shares = split_branches(n, len(weights), weights)
        assert sum(shares) == n and tuple(shares) in brute_force_split(n, weights), (n, weights, shares)
        if len(set(weights)) == 1:
            assert max(shares) - min(shares) <= 1 and shares == sorted(shares, reverse=True)
    assert split_branches(8, 2, [3, 1]) == [6, 2] and split_branches(7, 3) == [3, 2, 2]   # by hand


def test_split_refuses_bad_weights():
    for bad in ([1], [0, 0], [-1, 2], [float("nan"), 1]):
        with pytest.raises(PlannerError, match="replica weights"):
            split_branches(4, 2, bad)


@pytest.mark.parametrize("mode", ["n", "parallel"])
def test_two_healthy_replicas_vote_as_one_server_with_every_branch(mode):
    fakes = servers(3, answers=ANSWERS, usage=True)
    one, a, b = fakes
    try:
        prob, s = DatasetProblem("p", "Problem 1: what?", "12"), RunSettings(9, early_stop=False, seed=0)
        kw = dict(mode=mode, timeout_s=10, send_seed=True)
        alone = solve(prob, OpenAIBackend(one.url, "m", **kw), s)
        fan = FanOut([a.url, b.url], "m", **kw)
        fan.check()
        rec = solve(prob, fan, s)
    finally:
        close(fakes)
    expected = Counter(ANSWERS)                        # the oracle: every branch's answer, counted by hand
    assert rec["votes"] == alone["votes"] == {k: float(v) for k, v in expected.items()}
    assert rec["answer"] == alone["answer"] == "12" and rec["voters"] == 9
    assert [r["answer"] for r in rec["branches"]] == [r["answer"] for r in alone["branches"]] == ANSWERS
    assert rec["engine"]["split"] == [5, 4]
    assert [r["branches"] for r in rec["engine"]["replicas"]] == [[0, 5], [5, 9]]
    assert [r["error"] for r in rec["engine"]["replicas"]] == [None, None]
    n_of = lambda f: sorted(bd["n"] for bd in f.bodies)  # noqa: E731 - every replica got its share, no more
    assert (n_of(a), n_of(b)) == (([5], [4]) if mode == "n" else ([1] * 5, [1] * 4))
    requests = 2 if mode == "n" else 9                 # usage summed over replicas: 10 prompt, 5 per branch each
    assert rec["engine"]["usage"] == {"prompt_tokens": 10 * requests, "completion_tokens": 5 * 9}


def test_slow_and_dead_replicas_give_a_partial_vote_and_lose_nothing():
    ok, = servers(1, answers=ANSWERS)
    slow, = servers(1, answers=ANSWERS, branch_delay_s=0.5)    # choices at 0.5, 1.0, 1.5 s: the last is cut
    dead, = servers(1, answers=ANSWERS, die_after=1)           # one choice, then the connection breaks
    notes = []
    try:
        fan = FanOut([ok.url, slow.url, dead.url], "m", timeout_s=10, send_seed=True, log=notes.append)
        rec = solve(DatasetProblem("p", "Problem 1: what?", "12"), fan, RunSettings(9, deadline_s=1.25,
                                                                                  early_stop=False))
    finally:
        close([ok, slow, dead])
    reasons = [r["finish_reason"] for r in rec["branches"]]
    assert reasons == ["eos"] * 3 + ["eos", "eos", "deadline"] + ["eos", "error", "error"]
    arrived = [ANSWERS[g] for g in (0, 1, 2, 3, 4, 6)]         # the oracle: the branches that finished
    assert rec["votes"] == {k: float(v) for k, v in Counter(arrived).items()} and rec["voters"] == 6
    assert rec["cut_branches"] == [5] and rec["stopped_by"] == "deadline" and 1.25 <= rec["latency_s"] < 2.0
    reps = rec["engine"]["replicas"]
    assert [r["finished"] for r in reps] == [3, 2, 1] and reps[0]["error"] is None and reps[1]["error"] is None
    assert dead.url in reps[2]["error"] and "ended before [DONE]" in reps[2]["error"]
    assert rec["latency_s"] == pytest.approx(max(r["latency_s"] for r in reps), abs=1e-3)
    assert len(notes) == 1 and "1 of 3 replicas failed" in notes[0] and dead.url in notes[0]
    assert "the 6 of 9 branches that finished" in notes[0]


def test_all_replicas_failing_is_one_error_naming_each():
    fakes = servers(2, mode="http_500")
    try:
        with pytest.raises(PlannerError, match="2 of 2 replicas failed") as e:
            FanOut([f.url for f in fakes], "m", timeout_s=5).generate("Problem 1", 4, Deadline(None))
    finally:
        close(fakes)
    assert all(f.url in str(e.value) for f in fakes) and "HTTP 500" in str(e.value)


def test_early_stop_cancels_the_other_replicas():
    fast, slow = FakeOpenAI(lifetime_s=30), FakeOpenAI(lifetime_s=30, branch_delay_s=3.0)
    try:
        rec = solve(DatasetProblem("p", "Problem 4: what?", "4"), FanOut([fast.url, slow.url], "m", timeout_s=10),
                    RunSettings(5, early_stop=True))
    finally:
        close([fast, slow])
    # split [3, 2]: the fast replica's three votes for 4 beat the two still out, so the slow one is cancelled
    assert rec["answer"] == "4" and rec["stopped_by"] == "callback" and rec["latency_s"] < 2.0
    assert [b["finish_reason"] for b in rec["branches"]] == ["eos"] * 3 + ["cancelled"] * 2
    assert [(r["stopped_by"], r["finished"]) for r in rec["engine"]["replicas"]] == [("callback", 3), ("callback", 0)]


def test_latency_is_the_slowest_replica():
    fast, slow = FakeOpenAI(lifetime_s=30), FakeOpenAI(lifetime_s=30, branch_delay_s=0.3)
    try:
        res = FanOut([fast.url, slow.url], "m", timeout_s=10).generate(
            "Problem 2", 4, Deadline(None))
    finally:
        close([fast, slow])
    lat = [r["latency_s"] for r in res.info["replicas"]]
    assert lat[1] >= 0.6 > lat[0] and res.latency_s == pytest.approx(max(lat), abs=1e-3)
    assert [b.finish_reason for b in res.branches] == ["eos"] * 4 and [b.index for b in res.branches] == [0, 1, 2, 3]


# ---- bad endpoint lists: one line, exit 2, no hang -------------------------------------------------------------

def run_cli(capsys, urls, data, *extra):
    args = ["run", "--backend", "openai", "--server-model", "m", "--dataset", data, "-n", "4", "--quiet"]
    for u in urls:
        args += ["--endpoint", u]
    rc = cli.main([str(a) for a in args + list(extra)])
    out, err = capsys.readouterr()
    return rc, out, err


def one_error(err):
    lines = [x for x in err.strip().splitlines() if x.startswith("planner: error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("urls", [["http://127.0.0.1:8000/v1,127.0.0.1:8000"], ["http://a:80/v1", "http://A/v1/"],
                                  ["http://a:1/v1,,http://b:1/v1"]])
def test_duplicate_or_empty_endpoint_entries(capsys, tmp_path, urls):
    rc, _, err = run_cli(capsys, urls, dataset(tmp_path / "d.jsonl", 1))
    assert rc == 2 and ("twice" in one_error(err) or "empty entry" in one_error(err))
    assert parse_endpoints(["http://a/v1,http://b/v1", "http://c/v1"]) == ["http://a/v1", "http://b/v1", "http://c/v1"]


def test_unreachable_member_at_start(capsys, tmp_path):
    with FakeOpenAI(lifetime_s=30) as ok:
        t = time.monotonic()
        rc, _, err = run_cli(capsys, [f"{ok.url},http://127.0.0.1:9/v1"], dataset(tmp_path / "d.jsonl", 1))
        took = time.monotonic() - t
        assert ok.total_posts == 0                     # nothing was sent before every member answered
    line = one_error(err)
    assert rc == 2 and "1 of 2 replicas not answering: http://127.0.0.1:9/v1" in line and took < 5


def test_hanging_member_at_start_is_bounded(capsys, tmp_path, monkeypatch):
    import planner.executor.backends.openai as O

    monkeypatch.setattr(O, "PROBE_TIMEOUT_S", 0.5)
    with FakeOpenAI(lifetime_s=30) as ok, FakeOpenAI(lifetime_s=30, get_mode="never") as hung:
        t = time.monotonic()
        rc, _, err = run_cli(capsys, [ok.url, hung.url], dataset(tmp_path / "d.jsonl", 1))
        took = time.monotonic() - t
    assert rc == 2 and hung.url in one_error(err) and ok.url not in one_error(err) and took < 3


def test_members_serving_different_models(capsys, tmp_path):
    with FakeOpenAI(lifetime_s=30) as a, FakeOpenAI(lifetime_s=30, model_id="other") as b:
        rc, _, err = run_cli(capsys, [a.url, b.url], dataset(tmp_path / "d.jsonl", 1))
    line = one_error(err)
    assert rc == 2 and "serve different models" in line and f"{b.url}/chat/completions serves other" in line


def test_cli_fan_out_streams_records_with_the_failure(capsys, tmp_path):
    with FakeOpenAI(lifetime_s=30) as ok, FakeOpenAI(lifetime_s=30, die_after=1) as dead:
        out = tmp_path / "r.jsonl"
        rc, stdout, err = run_cli(capsys, [f"{ok.url},{dead.url}"], dataset(tmp_path / "d.jsonl", 2),
                                  "--out", out, "--no-early-stop")
    assert rc == 0, err
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["answer"] for r in recs] == ["0", "1"] and [r["voters"] for r in recs] == [3, 3]
    assert all(r["engine"]["replicas"][1]["error"] and r["run"]["backend"]["urls"] == [ok.url + "/chat/completions",
                                                                                       dead.url + "/chat/completions"]
               for r in recs)
    notes = [x for x in err.splitlines() if "replicas failed" in x]
    assert len(notes) == 2 and all(x.startswith("planner run: note: 1 of 2 replicas failed") for x in notes)


def test_validate_splits_each_configuration_over_the_replicas(capsys, tmp_path):
    from pathlib import Path

    profile = Path(__file__).parents[1] / "data" / "profile_test.json"
    with FakeOpenAI(lifetime_s=30) as a, FakeOpenAI(lifetime_s=30) as b:
        rc = cli.main(["validate", "--deadline", "10s", "--profile", str(profile), "--configs", "all",
                       "--n-values", "2,5", "--k-values", "0", "--backend", "openai", "--endpoint", a.url,
                       "--endpoint", b.url, "--server-model", "m", "--dataset", dataset(tmp_path / "d.jsonl", 2),
                       "--json", "--quiet"])
        out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["backend"]["urls"] == [a.url + "/chat/completions", b.url + "/chat/completions"]
    assert [r["measured"]["accuracy"] for r in out["rows"]] == [1.0, 1.0]
    # N=2 -> 1 + 1, N=5 -> 3 + 2, for each of the 2 problems
    assert [bd["n"] for bd in a.bodies] == [1, 1, 3, 3] and [bd["n"] for bd in b.bodies] == [1, 1, 2, 2]


def test_eval_refuses_a_bank_with_a_failed_replica(capsys, tmp_path):
    with FakeOpenAI(lifetime_s=30) as a, FakeOpenAI(lifetime_s=30) as b:   # healthy: 4 samples, 2 from each
        good = tmp_path / "good.jsonl"
        rc = cli.main(["eval", "--backend", "openai", "--endpoint", f"{a.url},{b.url}", "--server-model", "m",
                       "--dataset", dataset(tmp_path / "g.jsonl", 1), "-M", "4", "--out", str(good), "--quiet"])
        assert rc == 0 and [bd["n"] for bd in a.bodies + b.bodies] == [2, 2]
    assert [x["answer"] for x in json.loads(good.read_text())["samples"]] == ["0"] * 4
    with FakeOpenAI(lifetime_s=30) as ok, FakeOpenAI(lifetime_s=30, die_after=1) as dead:
        out = tmp_path / "bank.jsonl"
        rc = cli.main(["eval", "--backend", "openai", "--endpoint", f"{ok.url},{dead.url}", "--server-model", "m",
                       "--dataset", dataset(tmp_path / "d.jsonl", 1), "-M", "4", "--out", str(out), "--quiet"])
        err = capsys.readouterr().err
        assert ok.total_posts == 1 and dead.total_posts == 1
    assert rc == 2 and dead.url in one_error(err) and "ended before [DONE]" in one_error(err)
    assert not out.exists()                           # no bank with samples the dead replica never generated


def _plan_with_layout(tmp_path, per, routing="split"):
    from pathlib import Path

    plan = tmp_path / "plan.json"
    profile = Path(__file__).parents[1] / "data" / "profile_test.json"
    assert cli.main(["recommend", "-d", "10s", "-p", str(profile), "--json", "-o", str(plan)]) == 0
    d = json.loads(plan.read_text())
    d["branches"] = sum(per)
    d["layout"] = {"gpus": len(per), "nodes": 1, "tensor_parallel": 1, "replicas": len(per), "gpus_used": len(per),
                   "routing": routing, "branches_per_replica": per}
    plan.write_text(json.dumps(d))
    return plan


def test_run_splits_as_the_plans_layout_says(capsys, tmp_path):
    plan = _plan_with_layout(tmp_path, [1, 4])          # uneven on purpose: an equal split would be 3 + 2
    with FakeOpenAI(lifetime_s=30) as a, FakeOpenAI(lifetime_s=30) as b, FakeOpenAI(lifetime_s=30) as c:
        rc, _, err = run_cli(capsys, [a.url, b.url], dataset(tmp_path / "d.jsonl", 1), "--plan", plan,
                             "--no-early-stop", "-n", "5")
        assert rc == 0, err
        assert [bd["n"] for bd in a.bodies] == [1] and [bd["n"] for bd in b.bodies] == [4]
        capsys.readouterr()
        # 3 endpoints for a 2-replica layout: an equal split and a note
        rc, _, err = run_cli(capsys, [a.url, b.url, c.url], dataset(tmp_path / "e.jsonl", 1), "--plan", plan,
                             "--no-early-stop", "-n", "5")
        assert rc == 0 and [bd["n"] for bd in (a.bodies[-1], b.bodies[-1], c.bodies[-1])] == [2, 2, 1]
    assert "the plan splits each request's branches over 2 replicas; --endpoint lists 3" in err
    assert split_branches(4, 2, [1, 4]) == [1, 3]     # --branches 4 against that layout: 0.8 + 3.2, by hand


def test_layout_weights_notes():
    from planner.executor.backends.fanout import layout_weights

    lay = {"replicas": 2, "routing": "split", "branches_per_replica": [3, 2]}
    assert layout_weights(None, 2) == (None, None) and layout_weights({"replicas": 1}, 3) == (None, None)
    assert layout_weights(lay, 2) == ([3, 2], None)
    assert "list the 2 replicas' URLs" in layout_weights(lay, 1)[1]
    assert layout_weights(lay | {"routing": "requests"}, 1) == (None, None)      # a router spreads the requests
    assert "sends each request whole" in layout_weights(lay | {"routing": "requests"}, 2)[1]
