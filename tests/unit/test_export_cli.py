"""`planner export` end to end through `python -m planner`: output formats, -o written atomically, and one
clear line + exit 2 for every bad input (no traceback, no partial file)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLANS = ROOT / "tests" / "golden" / "export" / "plans"


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "planner", "export", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd or ROOT, timeout=120)


def test_args_format_is_a_runnable_shell_snippet():
    r = cli(PLANS / "draft_k4.json", "--engine", "vllm")
    assert r.returncode == 0, r.stderr
    cmd = [line for line in r.stdout.splitlines() if line.startswith("vllm serve")]
    assert len(cmd) == 1
    argv = shlex.split(cmd[0])
    spec = json.loads(argv[argv.index("--speculative-config") + 1])  # quoting survives the shell
    assert spec == {"method": "draft_model", "model": "Qwen/Qwen2.5-0.5B-Instruct", "num_speculative_tokens": 4}
    assert all(line.startswith("#") for line in r.stdout.splitlines() if line not in cmd)
    check = subprocess.run(["bash", "-n"], input=r.stdout, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_trtllm_args_writes_config_then_serves(tmp_path):
    r = cli(PLANS / "ngram_k3.json", "--engine", "trtllm")
    assert r.returncode == 0, r.stderr
    script = "\n".join(line for line in r.stdout.splitlines() if not line.startswith("trtllm-serve"))
    subprocess.run(["bash", "-c", script], cwd=tmp_path, check=True)  # only the here-doc runs
    yaml = pytest.importorskip("yaml")
    cfg = yaml.safe_load((tmp_path / "trtllm-config.yaml").read_text())
    assert cfg["speculative_config"] == {"decoding_type": "NGram", "max_draft_len": 3,
                                         "max_matching_ngram_size": 5, "is_public_pool": False}
    assert "--config trtllm-config.yaml" in r.stdout


def test_json_format_and_version_choice():
    r = cli(PLANS / "ngram_k3.json", "--engine", "sglang", "--engine-version", "0.5.5", "--format", "json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert (d["engine"], d["version"]) == ("sglang", "0.5.9")
    assert set(d) >= {"engine", "version", "server_args", "request", "notes", "command"}
    assert "--speculative-ngram-max-match-window-size" in d["server_args"]
    assert d["request"]["body"]["sampling_params"]["n"] == 64


@pytest.mark.slow
def test_yaml_format(tmp_path):
    r = cli(PLANS / "tp2.json", "--engine", "trtllm", "--format", "yaml", "--engine-version", "1.0")
    assert r.returncode == 0, r.stderr
    assert "speculative_model_dir: Qwen/Qwen2.5-7B-Instruct" in r.stdout
    r = cli(PLANS / "no_spec.json", "--engine", "trtllm", "--format", "yaml")
    assert r.returncode == 0 and r.stdout.startswith("#")


def test_output_file_replaced_atomically(tmp_path):
    out = tmp_path / "serve.json"
    out.write_text("old content")
    r = cli(PLANS / "tp2.json", "--engine", "vllm", "--format", "json", "-o", out)
    assert r.returncode == 0 and r.stdout == ""
    args = json.loads(out.read_text())["server_args"]
    assert args[:3] == ["Qwen/Qwen2.5-32B-Instruct", "--tensor-parallel-size", "2"]
    assert [p.name for p in tmp_path.iterdir()] == ["serve.json"]  # no temp file left behind


def _bad_plan(tmp_path, **top):
    d = json.loads((PLANS / "no_spec.json").read_text())
    d.update(top)
    p = tmp_path / "plan.json"
    p.write_text(json.dumps(d))
    return p


@pytest.mark.parametrize("make,args,message", [
    (lambda t: t / "missing.json", ["--engine", "vllm"], "plan file not found"),
    (lambda t: (t / "c.json").write_text("{not json") and t / "c.json", ["--engine", "vllm"], "not valid JSON"),
    (lambda t: _bad_plan(t, schema="tts-plan/2"), ["--engine", "vllm"], "schema is 'tts-plan/2'"),
    (lambda t: _bad_plan(t, method="beam"), ["--engine", "sglang"], "unknown method 'beam'"),
    (lambda t: PLANS / "no_spec.json", ["--engine", "tgi"], "invalid choice: 'tgi'"),
    (lambda t: PLANS / "no_spec.json", ["--engine", "vllm", "--engine-version", "0.20"], "unknown vllm version '0.20'"),
    (lambda t: PLANS / "no_spec.json", ["--engine", "vllm", "--format", "yaml"], "--format yaml is the TRT-LLM"),
    (lambda t: PLANS / "draft_k4.json", ["--engine", "sglang", "--engine-version", "0.5.1"], "no plain draft-model"),
    (lambda t: PLANS / "no_spec.json", ["--engine", "vllm", "-o", "/nonexistent-dir/x.sh"], "does not exist"),
])
def test_bad_input_one_line_exit_2(tmp_path, make, args, message):
    out = tmp_path / "out.txt"
    out.write_text("keep")
    r = cli(make(tmp_path), *args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert r.stdout == "" and out.read_text() == "keep"


def test_refuses_to_overwrite_plan(tmp_path):
    p = tmp_path / "plan.json"
    p.write_text((PLANS / "no_spec.json").read_text())
    r = cli(p, "--engine", "vllm", "-o", p)
    assert r.returncode == 2 and "overwrite the plan" in r.stderr
    assert json.loads(p.read_text())["schema"] == "tts-plan/1"


def test_export_does_not_import_heavy_modules(tmp_path):
    code = ("import sys, planner.cli as c; c.main(['export', sys.argv[1], '--engine', 'trtllm', '-o', sys.argv[2]]);"
            "print(sorted(m for m in ('torch', 'numpy', 'yaml', 'vllm', 'sglang') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code, str(PLANS / "tp2.json"), str(tmp_path / "out.sh")],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "torch" not in r.stdout and "vllm" not in r.stdout and "sglang" not in r.stdout


def test_output_to_a_special_file_is_written_not_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE, text=True)
    r = cli(PLANS / "no_spec.json", "--engine", "vllm", "-o", fifo)
    out, _ = reader.communicate(timeout=60)
    assert r.returncode == 0, r.stderr
    assert out.startswith("# vllm 0.33") and fifo.is_fifo()  # still a pipe, not a regular file
