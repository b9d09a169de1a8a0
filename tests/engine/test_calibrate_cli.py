"""`planner calibrate` through the real CLI (subprocess): --from-points round trip, bad input (exit 2, one
line, nothing written) and a quick on-device calibration of a tiny random model whose profile `planner
recommend` accepts."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from planner.calibrate.fit import predict
from planner.profile import load_profile
from planner.profile.schema import StepCoeffs

from conftest import needs_torch

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
BASE = "h100-sxm-qwen2.5-7b"


def planner(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "planner", *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=timeout)


def one_error_line(r) -> str:
    assert r.returncode == 2, r.stderr
    lines = [l for l in r.stderr.strip().splitlines() if l.strip() and not l.startswith("[calibrate")]
    assert len(lines) == 1 and lines[0].startswith("planner: error:"), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def write_points(path, coeffs: StepCoeffs, arch, noise=0.01):
    rng = np.random.default_rng(0)
    rows = ["role,batch,query,context,seconds"]
    for B in (1, 4, 16, 64, 256):
        for q in (1, 4, 9):
            for L in (256, 2048):
                t = float(predict(coeffs, arch, B, q, L)) * (1 + noise * rng.standard_normal())
                rows.append(f"target,{B},{q},{L},{t:.6g}")
    rows += [f"prefill,1,{n},0,{0.01 + 2e-5 * n:.6g}" for n in (128, 512, 2048)]
    path.write_text("\n".join(rows) + "\n")


def test_from_points_round_trip_onto_base_profile(tmp_path):
    base = load_profile(BASE)
    true = StepCoeffs(0.003, 2500.0, 1800.0, 600.0)
    pts = tmp_path / "points.csv"
    write_points(pts, true, base.model)
    acc = tmp_path / "acc.csv"
    acc.write_text("position,accepted,reached\n1,700,1000\n2,400,700\n3,200,400\n")
    out = tmp_path / "mine.json"
    r = planner("calibrate", "--from-points", pts, "--base-profile", BASE, "--acceptance-csv", acc, "-o", out)
    assert r.returncode == 0, r.stderr
    prof = load_profile(str(out))
    assert prof.provenance["kind"] == "measured" and prof.model == base.model
    c = prof.step
    assert c.weight_bw_GBps == pytest.approx(2500, rel=0.05) and c.tflops == pytest.approx(600, rel=0.05)
    assert c.fit_rel_error < 0.02
    assert prof.prefill.s_per_token == pytest.approx(2e-5, rel=1e-3)
    assert prof.acceptance.alpha == pytest.approx((0.7, 400 / 700, 0.5), abs=1e-4)
    assert prof.raw["calibration"]["fit"]["target"]["n_points"] == 30
    assert len(prof.raw["calibration"]["points"]) == 33
    r = planner("recommend", "--profile", out, "--deadline", "60s")
    assert r.returncode == 0, r.stderr


def test_from_points_without_base_needs_config_and_memory(tmp_path):
    base = load_profile(BASE)
    pts = tmp_path / "points.csv"
    write_points(pts, StepCoeffs(0.003, 2500.0, 1800.0, 600.0), base.model)
    cfg = os.path.join(os.path.dirname(__file__), "..", "data", "qwen2.5-7b-config.json")
    line = one_error_line(planner("calibrate", "--from-points", pts, "-o", tmp_path / "x.json"))
    assert "--model-config" in line
    line = one_error_line(planner("calibrate", "--from-points", pts, "--model-config", cfg, "-o", tmp_path / "x.json"))
    assert "--memory-gb" in line
    assert not (tmp_path / "x.json").exists()
    r = planner("calibrate", "--from-points", pts, "--model-config", cfg, "--memory-gb", 80, "--hardware", "H100",
                "-o", tmp_path / "x.json")
    assert r.returncode == 0, r.stderr
    prof = load_profile(str(tmp_path / "x.json"))
    assert prof.hardware.name == "H100" and prof.draft.kind == "none"
    assert prof.step.tflops == pytest.approx(600, rel=0.05)


@pytest.mark.parametrize("content,msg", [
    ("", "empty"),
    ("role,batch,seconds\ntarget,1,0.1\n", "missing query,context"),
    ("role,batch,query,context,seconds\ntarget,1,1,64,-0.5\n", "line 2.*finite positive"),
    ("role,batch,query,context,seconds\ntarget,1,1,64,nan\n", "line 2.*finite positive"),
    ("role,batch,query,context,seconds\ntarget,0,1,64,0.1\n", r"line 2: batch: must be an integer in \[1, "),
    ("role,batch,query,context,seconds\nverify,1,1,64,0.1\n", "role must be one of"),
    ("role,batch,query,context,seconds\nprefill,1,100,0,0.1\n", "no 'target' rows"),
])
def test_bad_points_csv(tmp_path, content, msg):
    p = tmp_path / "bad.csv"
    p.write_text(content)
    import re

    line = one_error_line(planner("calibrate", "--from-points", p, "--base-profile", BASE, "-o", tmp_path / "o.json"))
    assert re.search(msg, line), line
    assert not (tmp_path / "o.json").exists()


def test_unwritable_output_fails_before_measuring(tmp_path):
    line = one_error_line(planner("calibrate", "--model", "smollm2-135m", "-o", tmp_path / "no" / "dir" / "p.json"))
    assert "does not exist" in line
    line = one_error_line(planner("calibrate", "--model", "smollm2-135m", "-o", tmp_path))
    assert "is a directory" in line
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user that can write anywhere (root)")
        line = one_error_line(planner("calibrate", "--model", "smollm2-135m", "-o", ro / "p.json"))
        assert "permission denied" in line
    finally:
        ro.chmod(0o700)
    assert list(ro.iterdir()) == []


@needs_torch
def test_gpu_without_cuda_is_one_line(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible")
    line = one_error_line(planner("calibrate", "--model", "smollm2-135m", "--gpu", "-o", tmp_path / "p.json"))
    assert "--gpu" in line and "CUDA" in line
    assert not (tmp_path / "p.json").exists()


def test_cpu_clock_needs_one_thread(tmp_path):
    line = one_error_line(planner("calibrate", "--model", "smollm2-135m", "--clock", "cpu", "--threads", "2",
                                  "-o", tmp_path / "p.json"))
    assert "--threads 1" in line
    assert not (tmp_path / "p.json").exists()


def test_endpoint_hook_reaches_the_serving_module(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    line = one_error_line(planner("calibrate", "--endpoint", f"http://127.0.0.1:{port}", "--model", "m",
                                  "--endpoint-timeout", "2", "-o", tmp_path / "p.json"))
    assert f"127.0.0.1:{port}" in line
    assert not (tmp_path / "p.json").exists()


def test_missing_model_is_one_line(tmp_path):
    line = one_error_line(planner("calibrate", "--model", str(tmp_path / "nope"), "-o", tmp_path / "p.json"))
    assert "model not found" in line
    line = one_error_line(planner("calibrate", "-o", tmp_path / "p.json"))
    assert "--model" in line


@needs_torch
def test_quick_calibration_of_tiny_model_feeds_recommend(tmp_path, tiny_model_dir):
    out = tmp_path / "tiny.json"
    r = planner("calibrate", "--model", tiny_model_dir, "--cpu", "--quick", "--max-seconds", "12", "--accuracy",
                "--clock", "cpu", "-o", out, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "target step-time sweep" in r.stderr and "left" in r.stderr  # progress with time left
    prof = load_profile(str(out))
    raw = prof.raw
    assert prof.provenance["kind"] == "measured" and prof.provenance["dtype"] == "fp32"
    assert prof.provenance["versions"]["torch"] and prof.provenance["threads"] == 1
    assert prof.provenance["clock"] == "cpu" and raw["calibration"]["gemm"]["clock"] == "cpu"
    assert prof.draft.kind == "ngram" and 0 <= prof.acceptance.alpha[0] <= 1
    assert prof.hardware.mem_bw_GBps == raw["calibration"]["bandwidth"]["read_GBps"] > 0
    assert prof.hardware.bf16_tflops == raw["calibration"]["gemm"]["tflops"] > 0
    pts = [p for p in raw["calibration"]["points"] if p["role"] == "target"]
    assert len(pts) >= 3 and all(p["seconds"] > 0 for p in pts)
    # the warm-up's cold prefill (16 tokens) is not a prefill point; quick settings take one sweep pass
    assert 16 not in {p["query"] for p in raw["calibration"]["points"] if p["role"] == "prefill"}
    assert raw["calibration"]["passes"] == {"target": 1}
    assert raw["calibration"]["verify_overhead_s"] >= 0 and raw["calibration"]["loop_overhead_s"] >= 0
    assert prof.accuracy.kind == "bank" and (tmp_path / prof.accuracy.bank_path).is_file()
    bank = [json.loads(l) for l in (tmp_path / prof.accuracy.bank_path).read_text().splitlines()]
    assert bank and all(len(b["samples"]) >= 1 for b in bank)
    r = planner("recommend", "--profile", out, "--deadline", "10s", "-o", tmp_path / "plan.json")
    assert r.returncode == 0, r.stderr
    assert "Plan for" in r.stdout
    # the plan carries what run/validate need to run as calibrated
    hw = json.loads((tmp_path / "plan.json").read_text())["hardware"]
    assert hw["device_type"] == "cpu" and hw["threads"] == 1 and hw["dtype"] == "fp32"
