"""Endpoint-calibration building blocks with exact numbers: Prometheus parsing, conditional acceptance per
draft position, the step/prefill fits, launch-argument parsing and the launcher's argv."""

from __future__ import annotations

import numpy as np
import pytest

from planner.errors import PlannerError
from planner.model.latency import StepModel
from planner.profile.schema import ModelArch, StepCoeffs
from planner.calibrate.fit import fit_prefill_pooled as fit_prefill, fit_step_pooled as fit_step
from planner.http import normalize_base
from tools.serving.launch import strip_launcher
from planner.calibrate.acceptance import wilson
from planner.calibrate.endpoint.metrics import (EngineSteps, SpecCounters, cache_config, conditional_acceptance,
                                                parse_prometheus)
from planner.calibrate.endpoint.probe import speculative_from_args, tensor_parallel_from_args

METRICS = '''# HELP vllm:spec_decode_num_drafts_total Number of spec decoding drafts.
# TYPE vllm:spec_decode_num_drafts_total counter
vllm:spec_decode_num_drafts_total{engine="0",model_name="m"} 200.0
vllm:spec_decode_num_draft_tokens_total{engine="0",model_name="m"} 600.0
vllm:spec_decode_num_accepted_tokens_total{engine="0",model_name="m"} 280.0
vllm:spec_decode_num_accepted_tokens_per_pos_total{engine="0",model_name="m",position="1"} 80.0
vllm:spec_decode_num_accepted_tokens_per_pos_total{engine="0",model_name="m",position="0"} 160.0
vllm:spec_decode_num_accepted_tokens_per_pos_total{engine="0",model_name="m",position="2"} 40.0
vllm:iteration_tokens_total_count{engine="0",model_name="m"} 1000.0
vllm:iteration_tokens_total_sum{engine="0",model_name="m"} 5000.0
vllm:cache_config_info{block_size="128",enable_prefix_caching="True",note="a \\"quoted\\" value"} 1.0
this line is junk
'''

ARCH = ModelArch("t", params=1e8, layers=4, hidden=256, heads=4, kv_heads=2, head_dim=64, vocab=1000)


def test_parse_prometheus_labels_values_and_junk():
    s = parse_prometheus(METRICS)
    assert s["vllm:spec_decode_num_drafts_total"] == [({"engine": "0", "model_name": "m"}, 200.0)]
    assert cache_config(s)["note"] == 'a "quoted" value'
    assert cache_config(s)["block_size"] == "128"
    assert EngineSteps.from_samples(s) == EngineSteps(1000.0, 5000.0)
    assert "this" not in s


def test_spec_counters_sorted_positions_and_delta():
    c = SpecCounters.from_samples(parse_prometheus(METRICS), "m")
    assert c.per_pos == [160.0, 80.0, 40.0] and c.drafts == 200 and c.num_positions == 3
    d = c - SpecCounters(100, 300, 140, [80, 40, 20])
    assert (d.drafts, d.draft_tokens, d.accepted, d.per_pos) == (100, 300, 140, [80, 40, 20])
    assert SpecCounters.from_samples(parse_prometheus("vllm:other 1\n")) is None
    # llama.cpp's server uses the same suffixes under its own prefix
    lc = SpecCounters.from_samples(parse_prometheus("llamacpp:spec_decode_num_drafts_total 7\n"))
    assert lc is not None and lc.drafts == 7


def test_conditional_acceptance_per_position():
    acc = conditional_acceptance(SpecCounters(200, 600, 280, [160, 80, 40]))
    assert acc["alpha"] == pytest.approx([0.8, 0.5, 0.5])
    assert acc["mean_accept_length"] == pytest.approx(1 + 280 / 200)
    for a, lo, hi in zip(acc["alpha"], acc["ci_low"], acc["ci_high"]):
        assert lo < a < hi
    # a position nobody reached is dropped rather than reported as 0/0
    acc = conditional_acceptance(SpecCounters(10, 30, 5, [5, 0, 0]))
    assert acc["alpha"] == [0.5, 0.0]
    assert conditional_acceptance(SpecCounters(0, 0, 0, [0, 0])) is None


def test_wilson_interval_known_value():
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)


def test_fit_step_recovers_known_coefficients():
    true = StepCoeffs(0.004, 20.0, 10.0, 0.5)
    m = StepModel(true, ARCH)
    pts = [{"B": B, "q": q, "L": L, "t_s": float(m.time(B, q, L))}
           for B in (1, 2, 4, 8, 16, 32, 64) for q in (1, 4) for L in (64, 1024)]
    fit = fit_step(pts, ARCH)
    pred = StepModel(fit, ARCH).time(np.array([p["B"] for p in pts]), np.array([p["q"] for p in pts]),
                                     np.array([p["L"] for p in pts]))
    assert np.max(np.abs(pred / np.array([p["t_s"] for p in pts]) - 1)) < 0.02
    assert fit.fit_rel_error < 0.01
    assert fit.t0_s == pytest.approx(0.004, rel=0.1)
    assert fit.tflops == pytest.approx(0.5, rel=0.1)


def test_fit_step_needs_two_points():
    with pytest.raises(PlannerError, match="at least 2"):
        fit_step([{"B": 1, "q": 1, "L": 10, "t_s": 0.01}], ARCH)


def test_fit_prefill_linear_and_nonnegative():
    p = fit_prefill([{"tokens": n, "t_s": 0.05 + 0.001 * n} for n in (16, 128, 512, 1024)])
    assert p.t0_s == pytest.approx(0.05, rel=1e-3) and p.s_per_token == pytest.approx(0.001, rel=1e-3)
    p = fit_prefill([{"tokens": 10, "t_s": 0.5}, {"tokens": 1000, "t_s": 0.4}])  # decreasing: slope clipped
    assert p.s_per_token == 0.0 and p.t0_s > 0
    assert fit_prefill([{"tokens": 8, "t_s": 0.2}, {"tokens": 8, "t_s": 0.3}]).t0_s == 0.2


def test_launch_arg_parsing():
    args = "m --tensor-parallel-size 2 --speculative-config '{\"method\":\"ngram\",\"num_speculative_tokens\":3}'"
    assert speculative_from_args(args) == {"method": "ngram", "num_speculative_tokens": 3}
    assert speculative_from_args(["m", '--speculative-config={"method":"draft_model"}'])["method"] == "draft_model"
    assert tensor_parallel_from_args(args) == 2 and tensor_parallel_from_args(None) == 1
    assert speculative_from_args("m --dtype bf16") is None
    with pytest.raises(PlannerError, match="not JSON"):
        speculative_from_args("m --speculative-config {oops")


def test_strip_launcher_and_base_url():
    assert strip_launcher(["vllm", "serve", "/m", "--tensor-parallel-size", "1"]) == [
        "--model", "/m", "--tensor-parallel-size", "1"]
    assert strip_launcher(["--model", "/m"]) == ["--model", "/m"]
    assert normalize_base("localhost:8000/v1/") == "http://localhost:8000"
    assert normalize_base("https://h/v1") == "https://h"
    with pytest.raises(PlannerError):
        normalize_base("ftp://h")


def test_add_endpoint_arguments_respects_existing_options():
    import argparse

    from planner.calibrate.endpoint import add_endpoint_arguments

    p = argparse.ArgumentParser()
    p.add_argument("--prompts", help="the caller's own")
    add_endpoint_arguments(p)
    a = p.parse_args(["--launch-args", "vllm serve m", "--batches", "1,8", "--prompts", "x.jsonl"])
    assert a.launch_args == "vllm serve m" and a.batches == [1, 8] and a.timeout == 120.0
