"""The CLI through a subprocess, as a user runs it: outputs, exit codes, one-line errors, atomic -o."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parents[1] / "data"


def planner(*args, cwd=None):
    r = subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True, cwd=cwd,
                       timeout=120)
    return r.returncode, r.stdout, r.stderr


def assert_one_line_error(rc, err, needle):
    assert rc == 2, err
    assert "Traceback" not in err
    lines = [l for l in err.strip().splitlines() if l]
    assert len(lines) == 1 and lines[0].startswith("planner: error:"), err
    assert needle in lines[0], lines[0]


@pytest.mark.slow
def test_recommend_default_profile_human_output():
    rc, out, err = planner("recommend", "--deadline", "60s")
    assert rc == 0, err
    assert "Plan for Qwen2.5-7B-Instruct on NVIDIA H100" in out and "h100-sxm-qwen2.5-7b" in out
    assert "alt 1" in out and "derived" in out


@pytest.mark.slow
def test_recommend_json_schema_and_constraint():
    rc, out, err = planner("recommend", "--deadline", "5s", "--profile", "h100-sxm-qwen2.5-3b", "--json")
    assert rc == 0, err
    plan = json.loads(out)
    assert plan["schema"] == "tts-plan/1"
    for key in ("method", "branches", "speculative", "deadline_s", "predicted", "profile", "runners_up"):
        assert key in plan
    assert set(plan["speculative"]) >= {"method", "num_speculative_tokens", "draft_model"}
    lat = plan["predicted"]["latency_s"]
    assert set(lat) == {"mean", "p50", "p90", "p99"} and lat["p90"] <= 5.0
    assert lat["p50"] <= lat["p90"] <= lat["p99"]
    assert 0 < plan["predicted"]["accuracy"] < 1 and plan["deadline_s"] == 5.0
    assert plan["profile"]["id"] == "h100-sxm-qwen2.5-3b" and plan["profile"]["provenance"]["kind"] == "derived"
    for r in plan["runners_up"]:
        assert r["latency_s"]["p90"] <= 5.0 and r["accuracy"] <= plan["predicted"]["accuracy"] + 1e-4


@pytest.mark.slow
def test_predict_agrees_with_recommend():
    rc, out, _ = planner("recommend", "-d", "10s", "-p", "a100-80gb-qwen2.5-7b", "--json")
    plan = json.loads(out)
    rc, out, err = planner("predict", "-p", "a100-80gb-qwen2.5-7b", "-n", str(plan["branches"]), "-k",
                           str(plan["speculative"]["num_speculative_tokens"]), "-d", "10s", "--json")
    assert rc == 0, err
    pred = json.loads(out)
    assert pred["accuracy"] == pytest.approx(plan["predicted"]["accuracy"], abs=1e-9)
    assert pred["latency_s"] == pytest.approx(plan["predicted"]["latency_s"])


@pytest.mark.parametrize("args,needle", [
    (["recommend", "--deadline", "soon"], "cannot parse --deadline 'soon'"),
    (["recommend", "--deadline", "0s"], "--deadline must be positive"),
    (["recommend", "--deadline", "-3"], "--deadline must be positive"),
    (["recommend", "--deadline", "1ms"], "the fastest achievable is"),
    (["recommend", "--deadline", "60s", "--profile", "no-such-gpu"], "unknown profile 'no-such-gpu'"),
    (["recommend", "--deadline", "60s", "--quantile", "1.5"], "--quantile: must be in (0, 1), got 1.5"),
    (["recommend", "--deadline", "60s", "--method", "vibes"], "--method: unknown value 'vibes'; choose from majority"),
    (["recommend", "--deadline", "60s", "--strategy", "magic"], "unknown strategy 'magic'"),
    (["recommend", "--deadline", "60s", "--strategy", "optuna", "--trials", "0"], "--trials: must be an integer in [1, 100000], got 0"),
    (["recommend", "--target-accuracy", "0.99"], "best reachable"),
    (["recommend"], "give --deadline"),
    (["predict", "-n", "0"], "--branches: must be an integer in [1, 4096], got 0"),
    (["predict", "-n", "4", "-q", "nan"], "--quantile: must be a finite"),
    (["recommend", "-d", "60s", "--max-draft-len", "17"], "--max-draft-len: must be an integer in [0, 16]"),
    (["recommend", "-d", "60s", "--engine", "tgi"], "--engine: unknown value 'tgi'"),
    (["pareto", "--max-latency", "soon"], "cannot parse --max-latency"),
    (["frobnicate"], "invalid choice"),
    (["recommend", "-d", "60s", "--tolerance", "-0.5pp"], "--tolerance: must be in [0, 100], got -0.5"),
    (["recommend", "-d", "60s", "--tolerance", "nan"], "--tolerance: must be a finite number"),
    (["recommend", "-d", "60s", "--objective", "speed"], "--objective: unknown value 'speed'"),
])
@pytest.mark.slow
def test_bad_input_one_line_exit_2(args, needle):
    rc, out, err = planner(*args)
    assert_one_line_error(rc, err, needle)


@pytest.mark.slow
def test_malformed_profile_json(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "tts-profile/1", ')
    rc, _, err = planner("recommend", "-d", "60s", "-p", str(bad))
    assert_one_line_error(rc, err, "is not valid JSON")
    wrong = json.loads((DATA / "profile_test.json").read_text())
    wrong["hardware"]["memory_GB"] = "lots"
    bad.write_text(json.dumps(wrong))
    rc, _, err = planner("recommend", "-d", "60s", "-p", str(bad))
    assert_one_line_error(rc, err, "hardware.memory_GB must be a finite number")


@pytest.mark.slow
def test_output_file_written_and_not_clobbered_on_error(tmp_path):
    out = tmp_path / "plan.json"
    rc, _, err = planner("recommend", "-d", "30s", "-o", str(out))
    assert rc == 0, err
    first = json.loads(out.read_text())
    assert first["schema"] == "tts-plan/1"
    rc, _, err = planner("recommend", "-d", "1ms", "-o", str(out))  # infeasible: the old plan must survive
    assert rc == 2 and json.loads(out.read_text()) == first
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]  # no temp files left behind


@pytest.mark.slow
def test_target_accuracy_picks_fastest(tmp_path):
    rc, out, err = planner("recommend", "--target-accuracy", "0.8", "-p", "h100-sxm-qwen2.5-7b", "--json")
    assert rc == 0, err
    plan = json.loads(out)
    assert plan["objective"] == "min_latency" and plan["predicted"]["accuracy"] >= 0.8


@pytest.mark.slow
def test_strategies_and_model_choice():
    res = {}
    for s, obj in (("exhaustive", "accuracy"), ("exhaustive", "cost"), ("greedy", "cost"), ("optuna", "cost")):
        rc, out, err = planner("recommend", "-d", "10s", "-p", "h100-sxm-qwen2.5-3b", "--strategy", s, "--json",
                               "--trials", "200", "--objective", obj)
        assert rc == 0, err
        pr = json.loads(out)["predicted"]
        assert pr["latency_quantile_s"] <= 10.0
        res[s, obj] = (pr["accuracy"], pr["device_s_per_request"])
    best = res["exhaustive", "accuracy"][0]
    acc, dev = res["exhaustive", "cost"]
    assert best - 0.005 - 1e-12 <= acc <= best + 1e-12        # in the 0.5-point band of the most accurate
    for s in ("greedy", "optuna"):                             # nothing in that band is cheaper than exhaustive's
        if res[s, "cost"][0] >= best + 1e-4 - 0.005:           # surely in it (best is within 1e-4 of the top)
            assert dev <= res[s, "cost"][1] + 1e-12, (s, res)
    rc, out, err = planner("recommend", "-d", "60s", "-p", "h100-sxm-qwen2.5-3b", "-p", "h100-sxm-qwen2.5-32b",
                           "--json")
    plan = json.loads(out)
    assert plan["profile"]["id"] == "h100-sxm-qwen2.5-32b"
    assert plan["runners_up"][0]["profile"] == "h100-sxm-qwen2.5-3b"
    assert any("h100-sxm-qwen2.5-3b" in n for n in plan["notes"])


@pytest.mark.slow
def test_profiles_list_and_show():
    rc, out, err = planner("profiles")
    assert rc == 0, err
    for gpu in ("h100-sxm", "h200", "h800", "a100-80gb", "l40s", "rtx4090"):
        for m in ("1.5b", "3b", "7b", "14b", "32b"):
            assert f"{gpu}-qwen2.5-{m}" in out
    assert "(default)" in out and "INVALID" not in out
    rc, out, err = planner("profiles", "show", "rtx4090-qwen2.5-32b")
    assert rc == 0 and "TP 4" in out
    rc, out, err = planner("profiles", "show", "h200-qwen2.5-7b", "--json")
    assert json.loads(out)["schema"] == "tts-profile/1"


@pytest.mark.slow
def test_hf_config_profile():
    cfg = str(DATA / "qwen2.5-7b-config.json")
    rc, out, err = planner("recommend", "-d", "10s", "--model-config", cfg, "--gpu", "l40s", "--json")
    assert_one_line_error(rc, err, "--accuracy pass1=P,maj=A@N or --bank FILE")  # no accuracy is borrowed
    rc, out, err = planner("recommend", "-d", "30s", "--model-config", cfg, "--gpu", "l40s", "--json",
                           "--accuracy", "pass1=0.768,maj=0.836@64")  # no draft borrowed either: 10 s is too tight
    assert rc == 0, err
    assert json.loads(out)["model"]["name"] == "qwen2.5-7b-config"


@pytest.mark.slow
def test_pareto_table_csv_and_plot(tmp_path):
    csv, png = tmp_path / "front.csv", tmp_path / "front.png"
    rc, out, err = planner("pareto", "-p", "h100-sxm-qwen2.5-3b", "--max-latency", "10s", "--csv", str(csv),
                           "--plot", str(png))
    assert rc == 0, err
    lines = csv.read_text().strip().splitlines()
    assert lines[0].startswith("method,branches,draft_len")
    rows = [l.split(",") for l in lines[1:]]
    lat = [float(r[7]) for r in rows]
    acc = [float(r[8]) for r in rows]
    assert lat == sorted(lat) and all(b > a for a, b in zip(acc, acc[1:])) and max(lat) <= 10.0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    rc, _, err = planner("pareto", "--plot", str(tmp_path / "x.jpg"))
    assert_one_line_error(rc, err, "--plot must name a .png file")


@pytest.mark.slow
def test_engine_restriction_and_engine_sections(tmp_path):
    rc, out, err = planner("recommend", "-d", "60s", "--engine", "vllm", "--json")
    assert rc == 0, err
    plan = json.loads(out)
    assert plan["speculative"]["method"] == "none"  # 0.5B draft vocab 151936 != 7B's 152064: vLLM refuses it
    assert any("vLLM refuses draft" in n for n in plan["notes"])
    assert "command" in plan["engines"]["vllm"] and plan["engines"]["vllm"]["request"]["body"]["n"] == plan["branches"]
    rc, out, err = planner("recommend", "-d", "60s", "--json")
    plan = json.loads(out)
    assert plan["speculative"]["draft_vocab_size"] == 151936 and plan["model"]["vocab_size"] == 152064
    assert "error" in plan["engines"]["vllm"] and "command" in plan["engines"]["sglang"]


@pytest.mark.slow
def test_placeholder_accuracy_is_said_in_the_plan(tmp_path):
    from planner.profile import load_profile

    d = load_profile("h100-sxm-qwen2.5-7b").to_dict()
    d["accuracy"] = {"kind": "parametric", "beta_a": 1.0, "beta_b": 1.0, "wrong_mode_share": 0.5,
                     "source": "placeholder: accuracy not measured"}
    prof = tmp_path / "p.json"
    prof.write_text(json.dumps(d))
    rc, out, err = planner("recommend", "-d", "10s", "-p", str(prof), "--json")
    assert rc == 0, err
    assert any("placeholder: accuracy not measured" in n and "latency only" in n for n in json.loads(out)["notes"])
    rc, out, _ = planner("recommend", "-d", "10s", "--json")
    assert not any("placeholder" in n for n in json.loads(out)["notes"])
