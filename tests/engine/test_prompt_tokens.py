"""Prompt length as an input of every prediction: `--prompt-tokens` on recommend/predict/pareto, the dataset's
length counted by run/validate (local tokenizer, a server's /tokenize, a character estimate) and used for the
predictions, and the notes when a plan was predicted for another length or another backend."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from conftest import needs_torch
from planner import api
from planner.cli import main
from planner.model.latency import latency_grid
from planner.plan import Plan
from planner.profile.schema import Profile
from planner.workload import backend_note, length_note, prompt_length, PromptLength


PARAMETRIC = {"kind": "parametric", "beta_a": 0.5, "beta_b": 2.0}


def _blocks_profile() -> Profile:
    data = dict(api.load_profile("cpu-smollm2-135m").to_dict())
    data["serving"] = {"prefill_sharing": {"mode": "blocks", "block_size": 128, "prefix_caching": True}}
    data["accuracy"] = PARAMETRIC
    return Profile.from_dict(data)


def test_api_prompt_tokens_is_the_profile_at_that_length():
    p = _blocks_profile()
    for P in (45, 118, 300):
        got = api.predict(p, 6, 0, prompt_tokens=P).latency_s["mean"]
        want = float(latency_grid(replace(p, prompt_tokens=P), [6], [0]).mean[0, 0])
        assert got == pytest.approx(want, rel=1e-12)
    short, longer = (api.predict(p, 6, 0, prompt_tokens=P).latency_s["mean"] for P in (45, 118))
    # the prefill part alone grows by s * 6 * (118 - 45) (both prompts shorter than a block: every branch)
    assert longer - short >= p.prefill.s_per_token * 6 * (118 - 45) * 0.999
    g = api.grid(p, max_branches=4, max_draft_len=0, prompt_tokens=118)
    row = g[(g.branches == 4) & (g.method == "majority")].iloc[0]
    assert row.latency_mean_s == pytest.approx(api.predict(p, 4, 0, prompt_tokens=118).latency_s["mean"])


def test_recommend_records_the_prompt_length_it_assumed():
    plan = api.recommend("cpu-smollm2-135m", 600, prompt_tokens=77)
    assert plan.predicted["prompt_tokens"] == 77
    assert api.recommend("cpu-smollm2-135m", 600).predicted["prompt_tokens"] == \
        api.load_profile("cpu-smollm2-135m").prompt_tokens


@pytest.mark.parametrize("cmd", [["predict", "-n", "2"], ["recommend", "-d", "60s"], ["pareto"]])
@pytest.mark.parametrize("bad", ["0", "-5", "nan", "1e3x", "2.5"])
def test_bad_prompt_tokens_is_one_line_exit_2(cmd, bad, capsys):
    assert main([*cmd, "--prompt-tokens", bad]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("planner: error: --prompt-tokens")


def test_predict_cli_uses_the_flag(capsys):
    assert main(["predict", "-p", "cpu-smollm2-135m", "-n", "3", "--prompt-tokens", "400", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)["latency_s"]["mean"]
    assert got == pytest.approx(api.predict("cpu-smollm2-135m", 3, 0, prompt_tokens=400).latency_s["mean"])


# ---- counting the dataset's prompts --------------------------------------------------------------------------

class _Tokenize(BaseHTTPRequestHandler):
    counted: list = []

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.server.no_tokenize or self.path != "/tokenize":
            self.send_response(404)
            self.end_headers()
            return
        text = body["messages"][-1]["content"]
        out = json.dumps({"count": len(text.split()) + 7, "max_model_len": 2048}).encode()  # 7: chat template
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


@pytest.fixture
def tokenize_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Tokenize)
    srv.no_tokenize = False
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv, f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()
    srv.server_close()


def test_openai_backend_counts_with_the_servers_tokenize(tokenize_server):
    from planner.executor.backends.openai import OpenAIBackend

    srv, url = tokenize_server
    prompts = ["a b c", "one two three four five six seven eight nine"]
    pl = prompt_length(OpenAIBackend(url, "m"), prompts)
    assert pl.mean == pytest.approx(((3 + 7) + (9 + 7)) / 2) and pl.problems == 2 and "/tokenize" in pl.how
    srv.no_tokenize = True                                   # a server without /tokenize: characters / 4
    pl = prompt_length(OpenAIBackend(url, "m"), ["x" * 40, "y" * 120])
    assert pl.mean == pytest.approx((10 + 30) / 2) and "estimated" in pl.how


def test_notes_on_length_and_backend():
    pl = PromptLength(118.0, 2, "the server's /tokenize")
    assert length_note(118, pl, "run") is None and length_note(110, pl, "run") is None   # within 10 %
    note = length_note(45, pl, "validate")
    assert "45-token prompts" in note and "average 118" in note and "--prompt-tokens 118" in note
    assert "does not say" in length_note(None, pl, "run")

    def plan(prov):
        return Plan(method="majority", branches=1, speculative={"method": "none"}, deadline_s=None,
                    predicted={}, profile={"id": "x", "provenance": prov}, model={}, sampling={})
    local = plan({"kind": "measured", "method": "rounds"})
    served = plan({"kind": "measured", "method": "endpoint"})
    derived = plan({"kind": "derived", "sources": ["datasheet"]})
    assert "measured on the local engine" in backend_note(local, "openai")
    assert backend_note(local, "local") is None and backend_note(served, "openai") is None
    assert "through a server" in backend_note(served, "local")
    assert backend_note(derived, "openai") is None


def test_run_summary_quantiles_interpolate():
    from planner.commands.run import quantile

    assert quantile([1.0, 3.0], 0.5) == 2.0                  # two problems: p50 is their mean, not the larger
    assert quantile([1.0, 3.0], 0.9) == pytest.approx(2.8)
    vals = sorted(np.random.default_rng(0).random(11).tolist())
    assert quantile(vals, 0.9) == pytest.approx(float(np.quantile(vals, 0.9)))


# ---- dataset -> prediction, end to end on the tiny local model ------------------------------------------------

@needs_torch
def test_validate_predicts_at_the_datasets_prompt_length(tiny_model_dir, tmp_path, capsys):
    from transformers import AutoTokenizer

    from planner.executor.datasets import MATH_PROMPT
    from planner.profile import load_profile

    questions = ["1+1=", "a much longer question about 12 + 30 and then some more words"]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"problem": q, "answer": "2", "unique_id": f"q{i}"}) + "\n"
                            for i, q in enumerate(questions)))
    prof = api.load_profile("cpu-smollm2-135m").to_dict()
    prof.update(id="tiny-blocks", prompt_tokens=5, accuracy=PARAMETRIC,
                serving={"prefill_sharing": {"mode": "none", "block_size": 16, "prefix_caching": False}})
    pf = tmp_path / "p.json"
    pf.write_text(json.dumps(prof))
    rc = main(["validate", "--profile", str(pf), "--deadline", "600s", "--configs", "all", "--n-values", "2",
               "--k-values", "0", "--model", str(tiny_model_dir), "--dataset", str(data), "--max-tokens", "4",
               "--json", "--threads", "1"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert not getattr(tok, "chat_template", None)          # the tiny char tokenizer: prompts go in raw
    counts = [len(tok(MATH_PROMPT.format(question=q))["input_ids"]) for q in questions]
    assert counts[1] > counts[0] + 40 > 40
    assert out["prompt_tokens"] == pytest.approx(np.mean(counts), abs=0.05)
    want = api.predict(load_profile(str(pf)), 2, 0, deadline=600, prompt_tokens=round(np.mean(counts)))
    assert out["rows"][0]["predicted"]["latency_s"]["mean"] == pytest.approx(want.latency_s["mean"], rel=1e-9)


def test_predict_one_branch_with_a_deadline_equals_the_grid_cell():
    """validate --profile predicts each configuration alone; at N = 1 the accuracy cut tables hold one column
    (the endpoint loop's plan was N = 1 and failed with an IndexError before this was fixed)."""
    p = _blocks_profile()
    one = api.predict(p, 1, 0, deadline=30, prompt_tokens=97)
    g = api.grid(p, deadline=30, max_branches=4, max_draft_len=0, prompt_tokens=97)
    row = g[(g.branches == 1) & (g.method == "majority")].iloc[0]
    assert one.accuracy == pytest.approx(row.accuracy, abs=1e-9)
    assert one.latency_s["mean"] == pytest.approx(row.latency_mean_s, rel=1e-12)
