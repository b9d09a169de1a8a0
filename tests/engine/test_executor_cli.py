"""`planner run` / `planner eval` end to end on a saved tiny model, and every bad input → one line, exit 2."""

import json

import pytest

from conftest import needs_torch
from planner.cli import main

pytestmark = needs_torch


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    f = tmp_path_factory.mktemp("data") / "tiny.jsonl"
    f.write_text("".join(json.dumps({"problem": f"What is {i}+{i}?", "answer": str(2 * i), "unique_id": f"p{i}"}) + "\n"
                         for i in range(3)))
    return f


def _err_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    return [line for line in err if line.startswith("planner: error:")]


def test_run_dataset_writes_records(tiny_model_dir, dataset, tmp_path, capsys):
    out = tmp_path / "res.jsonl"
    rc = main(["run", "--model", str(tiny_model_dir), "--dataset", str(dataset), "-n", "3", "-k", "2", "--draft",
               "ngram", "--max-tokens", "12", "--temperature", "1.0", "--out", str(out), "--quiet"])
    assert rc == 0
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["problem_id"] for r in recs] == ["p0", "p1", "p2"]
    for r in recs:
        assert len(r["branches"]) == 3 and r["reference"] is not None
        assert isinstance(r["correct"], bool) and r["latency_s"] > 0 and r["cut_branches"] == []
        assert r["num_tokens"] == sum(b["num_tokens"] for b in r["branches"]) and r["num_tokens"] <= 36
        assert {"answer", "finish_reason", "num_tokens", "correct"} <= set(r["branches"][0])
        assert r["run"]["config"]["draft_len"] == 2 and r["run"]["backend"]["draft"] == "ngram"
    assert "3 problems; accuracy" in capsys.readouterr().out


def test_run_prompt_with_deadline_reports_cut_branches(tiny_model_dir_no_eos, tmp_path, capsys):
    out = tmp_path / "one.jsonl"
    rc = main(["run", "--model", str(tiny_model_dir_no_eos), "--prompt", "Hi", "-n", "4", "--max-tokens", "100000",
               "--deadline", "300ms", "--no-early-stop", "--out", str(out)])
    assert rc == 0
    rec = json.loads(out.read_text())
    cut = [b["index"] for b in rec["branches"] if b["finish_reason"] == "deadline"]
    assert rec["cut_branches"] == cut == [0, 1, 2, 3] and rec["stopped_by"] == "deadline"
    assert all(b["answer"] is None for b in rec["branches"] if b["index"] in cut)   # cut branches do not vote
    assert rec["voters"] <= 4 - len(cut) and 0.3 <= rec["latency_s"] < 3.0
    assert f"cut branches: {cut}" in capsys.readouterr().out


def _plan(tmp_path, **over):
    from planner.plan import Plan, save_plan

    d = dict(method="majority", branches=2, speculative={"method": "ngram", "num_speculative_tokens": 2},
             deadline_s=None, predicted={"accuracy": 0.5, "latency_quantile_s": 1.0}, profile={"id": "h100-qwen"},
             model={"name": "Qwen2.5-7B-Instruct", "hf_id": "Qwen/Qwen2.5-7B-Instruct", "tensor_parallel": 1},
             sampling={"temperature": 0.8, "top_p": 1.0, "max_tokens": 10}, hardware={"name": "H100-SXM", "gpus": 1})
    d.update(over)
    path = tmp_path / "plan.json"
    save_plan(Plan(**d), path)
    return path


def test_cpu_plan_named_after_the_cpu_runs_without_a_hardware_note(tiny_model_dir, dataset, tmp_path, capsys):
    """A measured CPU profile is named after the CPU ('AMD EPYC'); its plan carries device_type cpu."""
    plan = _plan(tmp_path, hardware={"name": "AMD EPYC", "gpus": 1, "device_type": "cpu"})
    rc = main(["run", "--plan", str(plan), "--model", str(tiny_model_dir), "--dataset", str(dataset),
               "--limit", "1", "--device", "cpu", "--out", str(tmp_path / "r.jsonl"), "--quiet"])
    assert rc == 0 and "plan was made for hardware" not in capsys.readouterr().err


def test_run_plan_for_another_model_says_so(tiny_model_dir, dataset, tmp_path, capsys):
    out = tmp_path / "res.jsonl"
    rc = main(["run", "--plan", str(_plan(tmp_path)), "--model", str(tiny_model_dir), "--dataset", str(dataset),
               "--limit", "1", "--branches", "3", "--out", str(out), "--quiet"])
    assert rc == 0
    cap = capsys.readouterr()
    assert "plan was made for model 'Qwen/Qwen2.5-7B-Instruct'" in cap.err
    assert "plan was made for hardware 'H100-SXM'" in cap.err and "override: branches 2 -> 3" in cap.err
    assert "plan predicted: accuracy 50.0%" in cap.out
    rec = json.loads(out.read_text())
    assert rec["predicted"]["accuracy"] == 0.5 and len(rec["branches"]) == 3
    assert rec["run"]["config"]["draft"] == "ngram:4" and rec["run"]["config"]["temperature"] == 0.8
    assert any("plan was made for model" in n for n in rec["run"]["notes"])


def test_eval_writes_a_bank_the_accuracy_model_reads(tiny_model_dir, dataset, tmp_path, capsys):
    from planner.accuracy.bank import load_bank

    out = tmp_path / "bank.jsonl"
    rc = main(["eval", "--model", str(tiny_model_dir), "--dataset", str(dataset), "--samples", "4", "--max-tokens", "8",
               "--scorer", "boxed", "--out", str(out), "--quiet"])
    assert rc == 0
    bank = load_bank(out)
    assert bank.num_problems == 3 and len(bank.answers) == 12
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0]["schema"] == "tts-bank/1" and lines[0]["reference"] == "0"
    assert all(s["score"] in (0.0, 1.0) and 1 <= s["num_tokens"] <= 8 for s in lines[0]["samples"])
    assert "3 problems x 4 samples" in capsys.readouterr().out


@pytest.fixture(scope="module")
def other_tokenizer_dir(tmp_path_factory):
    """A tiny model whose tokenizer has a different vocabulary (digits only)."""
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    from conftest import make_tiny_qwen2

    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, **{str(i): 3 + i for i in range(10)}}
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=None))
    tk.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    path = tmp_path_factory.mktemp("digits")
    make_tiny_qwen2(seed=2, layers=1, vocab=len(tok)).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.mark.parametrize("case", ["missing_model", "tokenizer_mismatch", "cuda", "empty_dataset", "plan_schema",
                                  "plan_profile", "no_source", "draft_len_without_drafter", "bad_layers"])
def test_bad_input_is_one_line_exit_2(case, tiny_model_dir, other_tokenizer_dir, dataset, tmp_path, capsys):
    import torch

    model = ["--model", str(tiny_model_dir)]
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    plan_bad = tmp_path / "bad_plan.json"
    plan_bad.write_text(json.dumps({"schema": "tts-plan/0", "branches": 2}))
    argv = {
        "missing_model": ["run", "--model", str(tmp_path / "nope"), "--prompt", "x"],
        "tokenizer_mismatch": ["run", *model, "--draft", str(other_tokenizer_dir), "-k", "2", "--prompt", "x"],
        "cuda": ["run", *model, "--device", "cuda", "--prompt", "x"],
        "empty_dataset": ["run", *model, "--dataset", str(empty)],
        "plan_schema": ["run", "--plan", str(plan_bad), *model, "--prompt", "x"],
        "plan_profile": ["run", "--plan", str(_plan(tmp_path)), "--profile", "cpu-smollm2", *model, "--prompt", "x"],
        "no_source": ["run", *model],
        "draft_len_without_drafter": ["run", *model, "-k", "3", "--prompt", "x"],
        "bad_layers": ["run", *model, "--draft", "layers:9", "-k", "2", "--prompt", "x"],
    }[case]
    if case == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(argv) == 2
    lines = _err_line(capsys)
    assert len(lines) == 1, lines
    expect = {"missing_model": "model not found", "tokenizer_mismatch": "tokenizer differs",
              "cuda": "no CUDA device", "empty_dataset": "is empty", "plan_schema": "schema is 'tts-plan/0'",
              "plan_profile": "computed from profile 'h100-qwen'", "no_source": "one of the arguments",
              "draft_len_without_drafter": "needs a drafter", "bad_layers": "the target has 2 layers"}[case]
    assert expect in lines[0]


def test_run_and_validate_adopt_the_plans_calibration_threads_and_dtype():
    """A CPU plan from a profile measured with 1 thread in bf16 runs that way unless told otherwise."""
    from types import SimpleNamespace

    from planner.errors import PlannerError
    from planner.executor.setup import adopt_plan_settings

    plan = SimpleNamespace(hardware={"name": "AMD EPYC", "device_type": "cpu", "threads": 1, "dtype": "bf16"})
    args = SimpleNamespace(backend="local", device="cpu", threads=None, dtype="auto")
    notes = adopt_plan_settings(args, plan)
    assert (args.threads, args.dtype) == (1, "bf16") and len(notes) == 2
    mine = SimpleNamespace(backend="local", device="cpu", threads=2, dtype="fp32")
    assert adopt_plan_settings(mine, plan) == [] and (mine.threads, mine.dtype) == (2, "fp32")   # explicit wins
    gpu = SimpleNamespace(hardware={"name": "H100", "device_type": "cuda", "threads": 1, "dtype": "bf16"})
    other = SimpleNamespace(backend="local", device="cpu", threads=None, dtype="auto")
    assert adopt_plan_settings(other, gpu) == [] and other.threads is None      # a GPU plan says nothing about CPUs
    assert adopt_plan_settings(other, None) == []
    with pytest.raises(PlannerError, match="threads"):
        adopt_plan_settings(SimpleNamespace(backend="local", device="cpu", threads=0, dtype="auto"), plan)
