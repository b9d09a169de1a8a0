"""Contract tests: exports only use keys each engine version documents, speculative numbers are set
together consistently, no-speculation plans carry no speculative keys, and version lookup is strict.
These run without any engine installed (TRT-LLM can only ever be checked this way; docs/engines.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from planner.errors import PlannerError
from planner.export import engine_sections, export_plan, known_versions, trtllm
from planner.plan import Plan, load_plan

GOLDEN = Path(__file__).parents[1] / "golden" / "export" / "plans"
PLANS = sorted(p.stem for p in GOLDEN.glob("*.json"))

# vLLM SpeculativeConfig fields (vllm/config/speculative.py, identical in 0.32.0 and 0.33.0) and the
# OpenAI chat-completions fields the planner sends.
VLLM_SPEC_FIELDS = {"method", "model", "num_speculative_tokens", "prompt_lookup_max", "prompt_lookup_min",
                    "draft_tensor_parallel_size"}
VLLM_SPEC_METHODS = {"ngram", "draft_model", "eagle", "eagle3", "mtp"}  # in SpeculativeMethod of 0.32 and 0.33
CHAT_FIELDS = {"model", "messages", "n", "temperature", "top_p", "max_tokens"}
# SGLang 0.5.23 ServerArgs flags the planner may emit (sglang/srt/arg_groups/fields/spec.py et al.).
SGLANG_FLAGS = {"--model-path", "--tp", "--speculative-algorithm", "--speculative-draft-model-path",
                "--speculative-num-steps", "--speculative-eagle-topk", "--speculative-num-draft-tokens",
                "--speculative-ngram-min-bfs-breadth", "--speculative-ngram-max-bfs-breadth",
                "--max-running-requests",
                # layout and number formats (accepted by 0.5.23's own parser: tests/integration/test_export_engines.py)
                "--dp", "--nnodes", "--node-rank", "--dist-init-addr", "--quantization", "--kv-cache-dtype", "--dtype"}
SGLANG_SAMPLING = {"n", "temperature", "top_p", "max_new_tokens"}
# decoding_type values listed in TRT-LLM docs/source/features/speculative-decoding.md (trtllm-serve section).
TRTLLM_DECODING_TYPES = {"MTP", "Eagle3", "NGram", "DraftTarget", "PARD", "DFlash", "SA"}
ONLY = {"eagle3_tree": ("sglang",)}  # a top-k tree: vLLM and the TRT-LLM exporter refuse it (tests/unit/test_drafts.py)


def plan(name: str, **changes) -> Plan:
    p = load_plan(str(GOLDEN / f"{name}.json"))
    for path, value in changes.items():
        section, key = path.split("__")
        getattr(p, section)[key] = value
    return p


def flags(args: list[str]) -> set[str]:
    return {a for a in args if a.startswith("--")}


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def make(method="majority", n=8, spec="none", k=0, draft=None, tp=1) -> Plan:
    return Plan(method=method, branches=n, speculative={"method": spec, "num_speculative_tokens": k,
                                                        "draft_model": draft},
                deadline_s=None, predicted={}, profile={"id": "x"},
                model={"name": "m", "hf_id": "Qwen/Qwen2.5-3B-Instruct", "tensor_parallel": tp},
                sampling={"temperature": 0.7, "top_p": 0.95, "max_tokens": 256})


# --- vLLM -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", PLANS)
def test_vllm_keys_documented(name):
    if "vllm" not in ONLY.get(name, ("vllm",)):
        pytest.skip("a tree plan: vLLM drafts chains")
    p = plan(name)
    exp = export_plan(p, "vllm")
    assert exp.version == "0.33" and exp.launcher == ["vllm", "serve"]
    assert exp.server_args[0] == p.model["hf_id"]
    assert flag(exp.server_args, "--tensor-parallel-size") == str(p.model["tensor_parallel"])
    lay = p.layout or {}
    dp = flag(exp.server_args, "--data-parallel-size") if "--data-parallel-size" in exp.server_args else None
    assert dp == (str(lay["replicas"]) if lay.get("replicas", 1) > 1 else None)
    body = exp.request["body"]
    assert set(body) <= CHAT_FIELDS and body["n"] == p.branches
    assert body["max_tokens"] == p.sampling["max_tokens"]
    if p.draft_len == 0:
        assert not any("speculative" in a for a in exp.server_args)
    else:
        spec = json.loads(flag(exp.server_args, "--speculative-config"))
        assert set(spec) <= VLLM_SPEC_FIELDS and spec["method"] in VLLM_SPEC_METHODS
        assert spec["num_speculative_tokens"] == p.draft_len
        if spec["method"] == "ngram":
            assert 1 <= spec["prompt_lookup_min"] <= spec["prompt_lookup_max"]
        elif spec["method"] == "mtp" and not p.speculative.get("draft_model"):
            assert "model" not in spec  # the target's own MTP layers
        else:
            assert spec["model"] == p.speculative["draft_model"]
    assert export_plan(p, "vllm", "0.32").server_args == exp.server_args  # same keys in 0.32


def test_vllm_legacy_flags():
    args = export_plan(plan("draft_k4"), "vllm", "0.6").server_args
    assert flag(args, "--speculative-model") == "Qwen/Qwen2.5-0.5B-Instruct"
    assert flag(args, "--num-speculative-tokens") == "4"
    args = export_plan(plan("ngram_k3"), "vllm", "0.6").server_args
    assert flag(args, "--speculative-model") == "[ngram]"
    assert (flag(args, "--ngram-prompt-lookup-min"), flag(args, "--ngram-prompt-lookup-max")) == ("2", "5")
    assert "--speculative-config" not in args


# --- SGLang -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", PLANS)
def test_sglang_keys_documented(name):
    p = plan(name)
    exp = export_plan(p, "sglang")
    assert exp.version == "0.5.23" and exp.launcher == ["python", "-m", "sglang.launch_server"]
    assert flags(exp.server_args) <= SGLANG_FLAGS
    assert flag(exp.server_args, "--model-path") == p.model["hf_id"]
    sp = exp.request["body"]["sampling_params"]
    assert exp.request["endpoint"] == "/generate" and set(sp) <= SGLANG_SAMPLING and sp["n"] == p.branches
    if p.draft_len == 0:
        assert not any("speculative" in a for a in exp.server_args)


@pytest.mark.parametrize("spec,draft", [("draft_model", "Qwen/Qwen2.5-0.5B-Instruct"), ("ngram", None)])
@pytest.mark.parametrize("k", range(1, 9))
def test_sglang_chain_numbers_consistent(spec, draft, k):
    args = export_plan(make(spec=spec, k=k, draft=draft), "sglang").server_args
    steps, topk, tokens = (int(flag(args, f)) for f in ("--speculative-num-steps", "--speculative-eagle-topk",
                                                        "--speculative-num-draft-tokens"))
    assert (steps, topk, tokens) == (k, 1, k + 1)
    assert flag(args, "--speculative-algorithm") == ("STANDALONE" if spec == "draft_model" else "NGRAM")
    if spec == "ngram":
        assert flag(args, "--speculative-ngram-max-bfs-breadth") == "1"


@pytest.mark.parametrize("n,expected", [(8, None), (48, None), (49, "49"), (256, "256")])
def test_sglang_running_requests_cover_branches(n, expected):
    args = export_plan(make(n=n, spec="ngram", k=2), "sglang").server_args
    assert (flag(args, "--max-running-requests") if "--max-running-requests" in args else None) == expected
    assert "--max-running-requests" not in export_plan(make(n=n), "sglang").server_args


def test_sglang_version_capabilities():
    draft, ngram = make(spec="draft_model", k=3, draft="d/d"), make(spec="ngram", k=3)
    for version in ("0.5.1", "0.4.10.post2"):
        with pytest.raises(PlannerError, match="no plain draft-model"):
            export_plan(draft, "sglang", version)
        assert export_plan(make(), "sglang", version).version == "0.5.1"
    assert flag(export_plan(draft, "sglang", "0.5.2").server_args, "--speculative-algorithm") == "STANDALONE"
    with pytest.raises(PlannerError, match="no n-gram"):
        export_plan(ngram, "sglang", "0.5.2")
    window = export_plan(ngram, "sglang", "0.5.5").server_args
    assert flag(window, "--speculative-ngram-max-match-window-size") == "4"
    assert "--speculative-ngram-max-match-window-size" not in export_plan(ngram, "sglang", "0.5.15.post1").server_args


# --- TensorRT-LLM -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("version,model_key,config_flag", [("1.0", "speculative_model_dir", "--extra_llm_api_options"),
                                                           ("1.2", "speculative_model", "--extra_llm_api_options"),
                                                           ("1.3", "speculative_model", "--config")])
@pytest.mark.parametrize("name", PLANS)
def test_trtllm_keys_documented(name, version, model_key, config_flag):
    if "trtllm" not in ONLY.get(name, ("trtllm",)):
        pytest.skip("a tree plan: the TRT-LLM exporter emits chains")
    p = plan(name)
    exp = export_plan(p, "trtllm", version)
    assert exp.launcher == ["trtllm-serve"] and exp.server_args[0] == p.model["hf_id"]
    assert flag(exp.server_args, "--tp_size") == str(p.model["tensor_parallel"])
    assert flag(exp.server_args, "--max_batch_size") == str(p.branches)  # what its own note asks for
    assert set(exp.request["sampling_params"]) <= trtllm.SAMPLING_KEYS
    assert exp.request["sampling_params"]["n"] == p.branches
    if p.model.get("kv_dtype") == "fp8":   # KvCacheConfig.dtype in the LLM API's YAML (llm_args.py)
        assert exp.config["kv_cache_config"] == {"dtype": "fp8"}
    if p.draft_len == 0:
        assert (exp.config is None) == (config_flag not in exp.server_args)
        assert exp.config is None or set(exp.config) == {"kv_cache_config"}
        return
    assert flag(exp.server_args, config_flag) == exp.config_path
    sc = exp.config["speculative_config"]
    assert sc["decoding_type"] in TRTLLM_DECODING_TYPES
    assert set(sc) <= trtllm.DOCUMENTED_KEYS[sc["decoding_type"]]
    assert sc.get("max_draft_len", sc.get("num_nextn_predict_layers")) == p.draft_len
    if sc["decoding_type"] in ("DraftTarget", "Eagle3"):
        assert sc[model_key] == p.speculative["draft_model"]
        assert ({"speculative_model", "speculative_model_dir"} - {model_key}).isdisjoint(sc)
    assert exp.config["disable_overlap_scheduler"] is True


def test_trtllm_yaml_round_trips():
    yaml = pytest.importorskip("yaml")
    from planner.export import render
    for name in (n for n in PLANS if "trtllm" in ONLY.get(n, ("trtllm",))):
        exp = export_plan(plan(name), "trtllm")
        if exp.config is not None:
            assert yaml.safe_load(render(exp, "yaml")) == exp.config


# --- shared checks ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("engine", ["vllm", "sglang", "trtllm"])
def test_notes_say_what_the_caller_must_do(engine):
    bon = export_plan(plan("best_of_n"), engine).notes
    assert any("reward model" in n for n in bon) and not any("Deadline" in n for n in bon)
    maj = export_plan(plan("no_spec"), engine).notes
    assert any("client-side" in n and "n=8" in n for n in maj) and any("Deadline 30 s" in n for n in maj)
    wm = export_plan(plan("weighted_majority"), engine).notes
    assert any("reward model" in n and "sum the scores" in n for n in wm)


@pytest.mark.parametrize("changes,match", [
    ({"sampling__temperature": 0.0}, "temperature 0"),
    ({"speculative__draft_model": None}, "draft_model is missing"),
    ({"sampling__max_tokens": None}, "max_tokens is missing"),
    ({"model__tensor_parallel": 0}, "tensor_parallel"),
    ({"model__hf_id": "", "model__name": None}, "model.hf_id"),
    ({"sampling__top_p": 1.5}, "top_p"),
])
@pytest.mark.parametrize("engine", ["vllm", "sglang", "trtllm"])
def test_bad_plan_fields_rejected(engine, changes, match):
    with pytest.raises(PlannerError, match=match):
        export_plan(plan("draft_k4", **changes), engine)


def test_ngram_window_order_checked():
    with pytest.raises(PlannerError, match="ngram_min"):
        export_plan(plan("ngram_k3", speculative__ngram_min=6), "vllm")


@pytest.mark.parametrize("engine,asked,got", [("vllm", None, "0.33"), ("vllm", "0.33.1", "0.33"),
                                              ("vllm", "v0.32.0", "0.32"), ("vllm", "0.7.3", "0.6"),
                                              ("sglang", "0.5.23", "0.5.23"),
                                              ("sglang", "0.5.3", "0.5.9"), ("trtllm", None, "1.3"),
                                              ("trtllm", "1.2.1", "1.2"), ("trtllm", "1.3.0rc27", "1.3")])
def test_version_resolution(engine, asked, got):
    assert export_plan(make(), engine, asked).version == got


@pytest.mark.parametrize("engine,asked", [("vllm", "0.20.0"), ("vllm", "1.0"), ("sglang", "0.6.0"),
                                          ("trtllm", "1.1.0"), ("trtllm", "latest")])
def test_unknown_version_lists_known(engine, asked):
    with pytest.raises(PlannerError, match=f"unknown {engine} version.*known: .*{known_versions(engine)[-1]}"):
        export_plan(make(), engine, asked)


def test_unknown_engine():
    with pytest.raises(PlannerError, match="unknown engine 'tgi'"):
        export_plan(make(), "tgi")


def test_engine_sections_for_plan_file():
    sec = engine_sections(plan("tp2"))
    assert {k: v["version"] for k, v in sec.items()} == {"vllm": "0.33", "sglang": "0.5.23", "trtllm": "1.3"}
    assert sec["vllm"]["command"].startswith("vllm serve Qwen/Qwen2.5-32B-Instruct --tensor-parallel-size 2")
    assert sec["trtllm"]["config"]["speculative_config"]["decoding_type"] == "DraftTarget"


def test_vllm_refuses_vocab_mismatch_that_sglang_accepts():
    bad = plan("tp2", model__vocab_size=152064, speculative__draft_vocab_size=151936)
    with pytest.raises(PlannerError, match="vocab_size 151936 != 152064"):
        export_plan(bad, "vllm")
    assert export_plan(plan("tp2", model__vocab_size=152064, speculative__draft_vocab_size=152064), "vllm")
    assert flag(export_plan(bad, "sglang").server_args, "--speculative-algorithm") == "STANDALONE"
    assert export_plan(bad, "vllm", "0.6").version == "0.6"  # no such check documented for 0.6


def test_vocab_sizes_from_the_shipped_profile_the_plan_names():
    p = make(spec="draft_model", k=2, draft="Qwen/Qwen2.5-0.5B-Instruct")
    p.model["hf_id"] = "Qwen/Qwen2.5-7B-Instruct"
    p.profile = {"id": "h100-sxm-qwen2.5-7b"}
    with pytest.raises(PlannerError, match="refuses draft Qwen/Qwen2.5-0.5B-Instruct"):
        export_plan(p, "vllm")
    p.profile = {"id": "no-such-profile"}  # unknown profile: nothing to compare, export goes through
    assert export_plan(p, "vllm").version == "0.33"


# --- served-model identity --------------------------------------------------------------------------------

@pytest.mark.parametrize("engine", ["vllm", "sglang", "trtllm"])
def test_bare_name_without_hf_id_is_refused_naming_the_flag(engine):
    p = make()
    p.model = {"name": "my-model", "hf_id": None, "tensor_parallel": 1}
    with pytest.raises(PlannerError, match="'my-model'.*--served-model"):
        export_plan(p, engine)
    exp = export_plan(p, engine, served_model="Org/My-Model")
    assert "Org/My-Model" in exp.server_args
    assert "my-model" not in exp.server_args and "my-model" not in json.dumps(exp.request)


@pytest.mark.parametrize("engine", ["vllm", "sglang", "trtllm"])
def test_local_preset_plan_serves_the_presets_hf_id(engine):
    """A profile calibrated on the `smollm2-135m` preset without an hf_id (older calibrations) still exports the
    model a server can load, never `vllm serve smollm2-135m`."""
    p = make()
    p.model = {"name": "smollm2-135m", "hf_id": None, "tensor_parallel": 1}
    exp = export_plan(p, engine)
    assert "HuggingFaceTB/SmolLM2-135M-Instruct" in exp.server_args and "smollm2-135m" not in exp.server_args


@pytest.mark.parametrize("model,served,want", [
    ({"name": "x", "hf_id": "Org/X"}, None, "Org/X"),
    ({"name": "x", "hf_id": "Org/X", "served_model": "/srv/models/x"}, None, "/srv/models/x"),
    ({"name": "x", "hf_id": "Org/X"}, "./local-x", "./local-x"),
    ({"name": "/models/y", "hf_id": None}, None, "/models/y"),
    ({"name": "Org/Z", "hf_id": None}, None, "Org/Z"),
])
def test_served_model_order(model, served, want):
    p = make()
    p.model = {**model, "tensor_parallel": 1}
    exp = export_plan(p, "vllm", served_model=served)
    assert exp.server_args[0] == want and exp.request["body"]["model"] == want


def test_shipped_cpu_profile_plan_exports_its_hf_id():
    from planner import load_profile, recommend

    prof = load_profile("cpu-smollm2-135m")
    assert prof.model.hf_id == "HuggingFaceTB/SmolLM2-135M-Instruct"
    p = recommend([prof], 600.0, max_branches=2, max_draft_len=1)
    exp = export_plan(p, "vllm")
    assert exp.argv()[:3] == ["vllm", "serve", "HuggingFaceTB/SmolLM2-135M-Instruct"]
    assert exp.request["body"]["model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"


# --- GPU layout and number formats (recommend --gpus, quantised profiles) ------------------------------------

def test_layout_and_formats_refused_where_an_engine_cannot_express_them():
    with pytest.raises(PlannerError, match="vLLM 0.6 has no data parallelism"):
        export_plan(plan("dp4_fp8"), "vllm", "0.6")
    for engine in ("vllm", "sglang", "trtllm"):
        with pytest.raises(PlannerError, match="int8 KV cache|fp8 KV cache only"):
            export_plan(plan("dp4_fp8", model__kv_dtype="int8"), engine)
    uneven = dict(layout__replicas=3, layout__gpus_used=6, layout__branches_per_replica=[3, 3, 2])
    with pytest.raises(PlannerError, match="does not split evenly"):      # TP 2 x 3 = 6 GPUs over 2 nodes of 4
        export_plan(plan("dp_two_nodes", **uneven), "vllm")
    with pytest.raises(PlannerError, match="split evenly over the nodes"):
        export_plan(plan("dp_two_nodes", **uneven), "sglang")
    with pytest.raises(PlannerError, match="layout.tensor_parallel"):
        export_plan(plan("dp4_fp8", model__tensor_parallel=4), "vllm")


def test_plans_without_a_layout_or_formats_emit_none_of_those_flags():
    for name in ("no_spec", "tp2", "draft_k4"):
        for engine in ("vllm", "sglang"):
            args = export_plan(plan(name), engine).server_args
            assert not {"--data-parallel-size", "--dp", "--nnodes", "--quantization", "--kv-cache-dtype",
                        "--dtype"} & set(args)


def test_int4_weights_leave_the_method_to_the_checkpoint():
    exp = export_plan(plan("dp_two_nodes"), "vllm")
    assert "--quantization" not in exp.server_args and any("AWQ or GPTQ" in n for n in exp.notes)
    assert flag(export_plan(plan("dp4_fp8", model__weight_dtype="int8"), "sglang").server_args,
                "--quantization") == "w8a8_int8"
