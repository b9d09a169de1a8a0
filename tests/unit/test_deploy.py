"""Any model on any datasheet GPU (issue 18): TP link cost, quantised weight/KV bytes and FLOP/s path against hand
computations; no accuracy source -> refusal, never another model's numbers; every bad input one line, exit 2,
nothing written."""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from planner.errors import PlannerError
from planner.model.latency import StepModel
from planner.model.tpot import tpot_rows
from planner.profile import presets as P
from planner.profile import quant
from planner.profile.derive import derive_profile
from planner.profile.hf_config import arch_from_hf_config
from planner.profile.schema import ModelArch, Profile, StepCoeffs
from test_bad_inputs import assert_contract, run  # the CLI call and the one-line error check

LLAMA8B = {"architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
           "max_position_embeddings": 131072, "model_type": "llama", "num_attention_heads": 32,
           "num_hidden_layers": 32, "num_key_value_heads": 8, "tie_word_embeddings": False,
           "torch_dtype": "bfloat16", "vocab_size": 128256}
# hand count: 32 x (4096*128*(32+16) + 32*128*4096 + 3*4096*14336 + 2*4096) + 2*128256*4096 + 4096
LINEAR_8B = 32 * (4096 * 128 * 48 + 32 * 128 * 4096 + 3 * 4096 * 14336)
PARAMS_8B = LINEAR_8B + 32 * 2 * 4096 + 2 * 128256 * 4096 + 4096




def write_config(tmp_path, **extra) -> Path:
    p = tmp_path / "config.json"
    p.write_text(json.dumps({**LLAMA8B, **extra}))
    return p


# ---- number formats ---------------------------------------------------------------------------------------
def test_weight_and_kv_bytes_by_hand(tmp_path):
    assert PARAMS_8B == 8_030_261_248 == P.MODELS["llama-3.1-8b"]["params"]
    bf16 = arch_from_hf_config(write_config(tmp_path))
    assert bf16.weight_bytes == PARAMS_8B * 2 and bf16.kv_bytes_per_token == 2 * 32 * 8 * 128 * 2 == 131_072
    # int4 with group-128 fp16 scales on the linear layers; embedding, lm_head and norms stay bf16
    a = arch_from_hf_config(write_config(tmp_path), weight_dtype="int4", kv_dtype="fp8")
    assert a.quantized_params == LINEAR_8B
    assert a.weight_bytes == pytest.approx(LINEAR_8B * (0.5 + 2 / 128) + (PARAMS_8B - LINEAR_8B) * 2, rel=1e-12)
    assert a.kv_bytes_per_token == 2 * 32 * 8 * 128 * 1
    # AWQ config: 4 bits, group 128, zero points (one 4-bit zero per group as well)
    awq = arch_from_hf_config(write_config(tmp_path, quantization_config={
        "quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True}))
    assert awq.weight_bytes == pytest.approx(LINEAR_8B * (0.5 + 2.5 / 128) + (PARAMS_8B - LINEAR_8B) * 2)
    assert awq.kv_bytes_per_token == 131_072   # the KV cache stays in the activation format
    fp8 = arch_from_hf_config(write_config(tmp_path, quantization_config={"quant_method": "fp8"}))
    assert (fp8.weight_dtype, fp8.compute_dtype) == ("fp8", "fp8")
    assert fp8.weight_bytes == LINEAR_8B * 1 + (PARAMS_8B - LINEAR_8B) * 2


def test_compressed_tensors_reads_weights_activations_and_kv(tmp_path):
    q = {"quant_method": "compressed-tensors", "kv_cache_scheme": {"num_bits": 8, "type": "float"},
         "config_groups": {"group_0": {"weights": {"num_bits": 8, "type": "int", "strategy": "channel"},
                                       "input_activations": {"num_bits": 8, "type": "int"}}}}
    a = arch_from_hf_config(write_config(tmp_path, quantization_config=q))
    assert (a.weight_dtype, a.compute_dtype, a.kv_dtype, a.weight_group_size) == ("int8", "int8", "fp8", None)
    # the --weight-dtype flag overrides what the config says
    b = arch_from_hf_config(write_config(tmp_path, quantization_config=q), weight_dtype="bf16")
    assert b.weight_dtype == "bf16" and b.weight_bytes == PARAMS_8B * 2


def test_old_profiles_read_unchanged():
    p = Profile.from_dict(json.loads((Path(__file__).parents[2] / "profiles" /
                                      "h100-sxm-qwen2.5-7b.json").read_text()))
    assert p.model.weight_dtype is None and p.model.weight_bytes == p.model.params * 2
    assert p.hardware.fp8_tflops is None and "weight_dtype" not in p.to_dict()["model"]


def test_flops_of_the_matching_tensor_core_path():
    base = derive_profile("h100-sxm", "llama-3.1-8b")
    f8 = derive_profile("h100-sxm", "llama-3.1-8b", weight_dtype="fp8")
    i4 = derive_profile("h100-sxm", "llama-3.1-8b", weight_dtype="int4")
    eff = P.EFFICIENCY["flops"]["value"]
    assert base["step"]["target"]["tflops"] == pytest.approx(989 * eff)
    assert f8["step"]["target"]["tflops"] == pytest.approx(1979 * eff)     # W8A8-FP8 GEMMs
    assert i4["step"]["target"]["tflops"] == pytest.approx(989 * eff)      # weight-only: dequantised to bf16
    assert f8["hardware"]["fp8_tflops"] == 1979 and "fp8_tflops" not in base["hardware"]


# ---- tensor parallel --------------------------------------------------------------------------------------
def test_tp_link_cost_by_hand():
    arch = ModelArch(**P.model_arch_fields("llama-3.1-70b"))
    c = StepCoeffs(t0_s=0.001, weight_bw_GBps=1e3, kv_bw_GBps=1e3, tflops=1e6, allreduce_s=5e-6)
    for tp, bw in ((2, 450.0), (4, 450.0), (8, 32.0)):
        fixed, _, _, link = StepModel(c, arch, tp, bw).parts(16, 1000)
        # per layer two all-reduces (attention out, MLP out), each a ring moving 2(T-1)/T of 16 x 8192 x 2 bytes
        assert fixed == pytest.approx(0.001 + 2 * 80 * 5e-6)
        assert link == pytest.approx(2 * 80 * (2 * (tp - 1) / tp) * 16 * 8192 * 2 / (bw * 1e9), rel=1e-12)


def test_tp_on_a_datasheet_profile_uses_that_gpus_link():
    nv = derive_profile("h100-sxm", "llama-3.1-70b", tp=8)
    pcie = derive_profile("l40s", "llama-3.1-70b", tp=8)
    assert nv["hardware"]["tensor_parallel"] == nv["hardware"]["gpus"] == 8
    assert (nv["hardware"]["interconnect_GBps"], pcie["hardware"]["interconnect_GBps"]) == (450, 32)
    assert nv["step"]["target"]["allreduce_s"] == 5e-6 and pcie["step"]["target"]["allreduce_s"] == 15e-6
    assert nv["id"].endswith("-tp8")
    a = Profile.from_dict(nv)
    b = replace(a, hardware=replace(a.hardware, interconnect_GBps=32))
    from planner.model.latency import target_step
    assert target_step(b).time(64, 1, 500) > target_step(a).time(64, 1, 500)   # a slower link costs time


def test_kv_heads_replicated_past_their_count():
    arch = ModelArch(**P.model_arch_fields("qwen2.5-7b"))   # 4 KV heads
    c = StepCoeffs(t0_s=0.0, weight_bw_GBps=1e12, kv_bw_GBps=1.0, tflops=1e12)
    kv = lambda tp: StepModel(c, arch, tp, 450).parts(1, 1000)[1]   # noqa: E731 (memory term ~ KV read)
    assert kv(4) == pytest.approx(kv(1) / 4, rel=1e-6) and kv(28) == pytest.approx(kv(4), rel=1e-6)


# ---- accuracy: own, user's, or refused ----------------------------------------------------------------------
def test_no_accuracy_source_is_refused_and_never_inherited(capsys, tmp_path):
    cfg = write_config(tmp_path)
    d = derive_profile("h100-sxm", arch_from_hf_config(cfg))
    assert d["accuracy"]["kind"] == "none"
    assert "beta_a" not in d["accuracy"] and "2502.06703" not in json.dumps(d["accuracy"])
    rc, out, err = run(capsys, "recommend", "-d", "30s", "--model-config", cfg, "--gpu", "h100-sxm")
    assert_contract(rc, err, "--accuracy pass1=P,maj=A@N or --bank FILE")
    assert out == ""
    for preset in ("qwen3-8b", "r1-distill-qwen-7b"):   # pass@1 only / nothing published: latency-only
        rc, _, err = run(capsys, "predict", "-n", "4", "--model-config", preset, "--gpu", "h100-sxm")
        assert_contract(rc, err, "--bank FILE")


def test_user_accuracy_is_fitted_and_named_in_the_plan(capsys, tmp_path):
    cfg = write_config(tmp_path)
    rc, out, err = run(capsys, "recommend", "-d", "30s", "--model-config", cfg, "--gpu", "h100-sxm", "--json",
                       "--accuracy", "pass1=0.5,maj=0.62@8")
    assert rc == 0, err
    plan = json.loads(out)
    assert any("user --accuracy pass1=0.5,maj=0.62@8" in n for n in plan["notes"])
    from planner.accuracy.parametric import majority_curve
    acc = derive_profile("h100-sxm", arch_from_hf_config(cfg), accuracy="pass1=0.5,maj=0.62@8")["accuracy"]
    a, b = acc["beta_a"], acc["beta_b"]
    assert a / (a + b) == pytest.approx(0.5, abs=1e-3)
    assert majority_curve(a, b, acc["wrong_mode_share"], 8)[8] == pytest.approx(0.62, abs=2e-3)


def test_preset_with_its_own_published_accuracy():
    d = derive_profile("h100-sxm", "llama-3.1-8b")
    assert d["accuracy"]["kind"] == "parametric" and "pass@1 0.498, majority 0.664" in d["accuracy"]["source"]
    assert d["draft"]["kind"] == "none"   # no acceptance known for a Llama drafter: no Qwen draft borrowed


# ---- outputs ------------------------------------------------------------------------------------------------
def test_profiles_derive_writes_a_loadable_profile(capsys, tmp_path):
    out = tmp_path / "llama.json"
    rc, text, err = run(capsys, "profiles", "derive", "--model-config", "llama-3.1-8b", "--gpu", "l4",
                        "--weight-dtype", "int4", "--kv-dtype", "fp8", "-o", out)
    assert rc == 0, err
    p = Profile.from_dict(json.loads(out.read_text()))
    assert (p.model.weight_dtype, p.model.kv_dtype, p.hardware.name) == ("int4", "fp8", "NVIDIA L4 24GB")


def test_tpot_table_is_the_round_time_over_tokens(capsys):
    p = Profile.from_dict(derive_profile("h100-sxm", "qwen2.5-7b"))
    rows = tpot_rows(p, batches=(1, 64), ks=(0, 3), context=1000)
    from planner.model.latency import round_time, tokens_per_round
    import numpy as np
    for r in rows:
        rt = float(round_time(p, r["draft_len"], r["batch"], 1000))
        tau = float(tokens_per_round(p, np.array([r["draft_len"]]))[0])
        assert r["tpot_ms"] == pytest.approx(1e3 * rt / tau)
        assert r["output_tok_s"] == pytest.approx(r["batch"] * tau / rt)
    rc, out, err = run(capsys, "predict", "--tpot", "--model-config", "qwen3-8b", "--gpu", "b200")
    assert rc == 0 and "TPOT ms" in out, err   # latency-only models still get the step view


# ---- bad inputs: one line, exit 2, nothing written ----------------------------------------------------------
@pytest.mark.parametrize("args,needle", [
    (["--weight-dtype", "fp9"], "--weight-dtype: unknown number format 'fp9'"),
    (["--kv-dtype", "int4"], "--kv-dtype: unknown number format 'int4'"),
    (["--tp", "3"], "--tp 3: must divide the model's 32 attention heads"),
    (["--tp", "0"], "--tp"),
    (["--gpu", "a100-80gb", "--weight-dtype", "fp8"], "has no fp8 tensor cores"),
    (["--gpu", "nosuch"], "--gpu: unknown GPU preset 'nosuch'"),
    (["--gpu", "l4", "--tp", "1", "--model-config", "llama-3.1-70b"], "the weights need"),
    (["--accuracy", "pass1=1.2,maj=0.5@8"], "strictly between 0 and 1"),
    (["--accuracy", "0.5"], "expected pass1=P,maj=A@N"),
    (["--bank", "/nonexistent/bank.jsonl"], "--bank /nonexistent/bank.jsonl: no such file"),
])
def test_bad_deployment_inputs(capsys, tmp_path, args, needle):
    out = tmp_path / "p.json"
    base = {"--model-config": "llama-3.1-8b", "--gpu": "h100-sxm"}
    for flag, val in zip(args[::2], args[1::2]):
        base[flag] = val
    argv = [x for kv in base.items() for x in kv]
    rc, _, err = run(capsys, "profiles", "derive", *argv, "-o", out)
    assert_contract(rc, err, needle)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_bad_quantization_config(capsys, tmp_path):
    cfg = write_config(tmp_path, quantization_config={"quant_method": "hqq"})
    rc, _, err = run(capsys, "profiles", "derive", "--model-config", cfg, "--gpu", "h100-sxm")
    assert_contract(rc, err, "quant_method 'hqq' is not understood; state the format with --weight-dtype")
    cfg = write_config(tmp_path, quantization_config={"quant_method": "gptq", "bits": 3})
    rc, _, err = run(capsys, "profiles", "derive", "--model-config", cfg, "--gpu", "h100-sxm")
    assert_contract(rc, err, "3-bit int weights are not modelled")
    with pytest.raises(PlannerError, match="group_size"):
        quant.from_hf_config({"quantization_config": {"quant_method": "awq", "group_size": 0}}, "cfg")


@pytest.mark.parametrize("field,value,needle", [
    ("weight_dtype", "int3", "model.weight_dtype must be one of bf16, fp16, fp8, int8, int4"),
    ("kv_dtype", "int4", "model.kv_dtype must be one of"),
    ("weight_zero_point", "yes", "model.weight_zero_point must be true or false"),
    ("quantized_params", 1e12, "model.quantized_params"),
    ("weight_group_size", 0, "model.weight_group_size must be positive"),
])
def test_bad_quantisation_fields_in_a_profile(capsys, tmp_path, field, value, needle):
    d = derive_profile("h100-sxm", "llama-3.1-8b", weight_dtype="int4")
    d["model"][field] = value
    path = tmp_path / "p.json"
    path.write_text(json.dumps(d))
    rc, out, err = run(capsys, "predict", "-p", path, "-n", "2")
    assert_contract(rc, err, needle)


def test_quantised_profile_round_trips_and_8bit_torch_dtype(tmp_path):
    d = derive_profile("l40s", "qwen2.5-7b", weight_dtype="fp8", kv_dtype="fp8")
    p = Profile.from_dict(json.loads(json.dumps(d)))
    assert (p.model.weight_dtype, p.model.kv_dtype, p.hardware.fp8_tflops) == ("fp8", "fp8", 733)
    assert p.model.quantized_params == P.linear_params("qwen2.5-7b")
    a = arch_from_hf_config(write_config(tmp_path, torch_dtype="float8_e4m3fn"))
    assert (a.weight_dtype, a.dtype_bytes) == ("fp8", 2.0)   # 8-bit weights, bf16 activations


def test_speed_factors_and_8bit_peaks_read_into_their_own_fields():
    d = derive_profile("h100-sxm", "llama-3.1-8b", weight_dtype="fp8")
    d["hardware"]["speed_factors"] = [0.9, 1.1]
    hw = Profile.from_dict(d).hardware
    assert (hw.speed_factors, hw.fp8_tflops, hw.int8_tops) == ((0.9, 1.1), 1979.0, 1979.0)


def test_config_of_a_preset_by_its_hf_id_gets_that_presets_accuracy(tmp_path):
    cfg = write_config(tmp_path, _name_or_path="meta-llama/Llama-3.1-8B-Instruct")
    d = derive_profile("h100-sxm", arch_from_hf_config(cfg))
    assert d["accuracy"] == derive_profile("h100-sxm", "llama-3.1-8b")["accuracy"]
    other = write_config(tmp_path, _name_or_path="someone/llama-3.1-8b-finetune")   # a fine-tune: its own numbers
    assert derive_profile("h100-sxm", arch_from_hf_config(other))["accuracy"]["kind"] == "none"


def test_profile_and_model_flags_conflict(capsys):
    rc, _, err = run(capsys, "predict", "-n", "2", "-p", "h100-sxm-qwen2.5-7b", "--model-config", "llama-3.1-8b",
                     "--gpu", "h100-sxm")
    assert_contract(rc, err, "give --profile or --model-config/--gpu, not both")
    rc, _, err = run(capsys, "recommend", "-d", "10s", "--tp", "2")
    assert_contract(rc, err, "--model-config and --gpu go together")
