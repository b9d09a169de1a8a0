"""`planner validate` end to end on a saved tiny model (grid and plan modes), and bad input → one line, exit 2."""

import json

import pytest

from conftest import needs_torch
from planner.cli import main


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    f = tmp_path_factory.mktemp("vdata") / "tiny.jsonl"
    f.write_text("".join(json.dumps({"problem": f"{i}+{i}=", "answer": str(2 * i), "unique_id": f"p{i}"}) + "\n"
                         for i in range(3)))
    return f


@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    """A CPU profile for the tiny model: step costs of a few ms, an n-gram drafter, a parametric accuracy."""
    prof = {"schema": "tts-profile/1", "id": "tiny-cpu", "description": "test",
            "provenance": {"kind": "measured", "device": "cpu", "date": "2026-11-25"},
            "hardware": {"name": "cpu", "mem_bw_GBps": 5.0, "bf16_tflops": 0.05, "memory_GB": 4},
            "model": {"name": "tiny", "params": 30000, "layers": 2, "hidden": 32, "heads": 4, "kv_heads": 2,
                      "head_dim": 8, "vocab": 99, "dtype_bytes": 4},
            "step": {"target": {"t0_s": 0.002, "weight_bw_GBps": 5.0, "kv_bw_GBps": 5.0, "tflops": 0.05}},
            "prefill": {"t0_s": 0.003, "s_per_token": 1e-5},
            "draft": {"kind": "ngram", "name": "ngram"},
            "acceptance": {"temperature": 1.0, "alpha": [0.3, 0.3, 0.3, 0.3]},
            "lengths": {"kind": "lognormal", "median_tokens": 6, "sigma": 0.3, "min_tokens": 1, "max_tokens": 8},
            "accuracy": {"kind": "parametric", "beta_a": 0.5, "beta_b": 2.0},
            "prompt_tokens": 8, "temperature": 1.0, "top_p": 1.0}
    f = tmp_path_factory.mktemp("vprof") / "tiny.json"
    f.write_text(json.dumps(prof))
    return f


@needs_torch
def test_grid_json_and_records_agree(tiny_model_dir, dataset, profile, tmp_path, capsys):
    from planner import validate as V
    from planner.profile import load_profile

    recs = tmp_path / "recs.jsonl"
    rc = main(["validate", "--profile", str(profile), "--deadline", "5s", "--configs", "all", "--n-values", "1,3",
               "--k-values", "0,2", "--model", str(tiny_model_dir), "--draft", "ngram", "--dataset", str(dataset),
               "--template", "raw", "--max-tokens", "8", "--records", str(recs), "--json", "--threads", "1"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["deadline_s"] == 5.0 and out["quantile"] == 0.9 and out["problems"] == 3
    got = [(r["branches"], r["draft_len"]) for r in out["rows"]]
    assert got == [(1, 0), (3, 0), (1, 2), (3, 2)]
    lines = [json.loads(x) for x in recs.read_text().splitlines()]
    assert len(lines) == 12 and all(len(x["branches"]) == int(x["config"].split("/N")[1].split("/")[0])
                                    for x in lines)
    p = load_profile(str(profile))
    for row in out["rows"]:
        cfg = V.Config(row["method"], row["branches"], row["draft_len"])
        assert row["predicted"]["accuracy"] == pytest.approx(V.predict(p, 5.0, 0.9, cfg)["accuracy"])
        mine = [x for x in lines if x["config"] == cfg.key]
        assert V.summarize(mine, 5.0)["accuracy"] == pytest.approx(row["measured"]["accuracy"])
        m = row["measured"]
        lat = [x["latency_s"] for x in mine]
        assert m["problems"] == 3 and m["latency_s"]["mean"] == pytest.approx(sum(lat) / 3, abs=1e-6)
        a, b, c = sorted(lat)  # p90 of 3 values by linear interpolation: position 0.9 * 2 = 1.8
        assert m["latency_s"]["p90"] == pytest.approx(b + 0.8 * (c - b), abs=1e-6)
        hits = [all(br["finish_reason"] in ("eos", "stop", "length") and br["finish_s"] <= 5.0
                    for br in x["branches"]) for x in mine]
        assert m["hit_rate"] == pytest.approx(sum(hits) / 3)
        assert all(br["num_tokens"] <= 8 for x in mine for br in x["branches"])
        assert row["errors"]["accuracy_pp"] == pytest.approx(100 * (row["predicted"]["accuracy"] - m["accuracy"]))


@needs_torch
def test_plan_mode_prints_the_table(tiny_model_dir, dataset, profile, tmp_path, capsys):
    assert main(["recommend", "--profile", str(profile), "--deadline", "2s", "--max-branches", "4",
                 "--max-draft-len", "2", "-o", str(tmp_path / "plan.json")]) == 0
    capsys.readouterr()
    rc = main(["validate", "--plan", str(tmp_path / "plan.json"), "--model", str(tiny_model_dir), "--draft", "ngram",
               "--dataset", str(dataset), "--limit", "2", "--template", "raw", "--quiet", "--threads", "1"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "plan: N=" in text and "runner-up 1" in text and "2 problems per configuration" in text
    assert "deadline 2 s, requested quantile p90" in text


@pytest.mark.parametrize("argv, msg", [
    (["--deadline", "5s", "--dataset", "math500"], "needs --profile"),
    (["--deadline", "soon", "--profile", "h100-sxm-qwen2.5-7b", "--dataset", "math500"], "cannot parse duration"),
    (["--deadline", "5s", "--profile", "nope-x", "--dataset", "math500"], "unknown profile"),
    (["--deadline", "5s", "--profile", "h100-sxm-qwen2.5-7b", "--dataset", "math500", "--n-values", "1,x"],
     "--n-values must be"),
    (["--deadline", "5s", "--profile", "h100-sxm-qwen2.5-7b", "--dataset", "math500", "--template", "Q"],
     "--template must contain"),
    (["--deadline", "5s", "--profile", "h100-sxm-qwen2.5-7b", "--dataset", "/no/such.jsonl"], "dataset not found"),
    (["--deadline", "5s", "--profile", "h100-sxm-qwen2.5-7b", "--dataset", "math500", "--quantile", "1.5"],
     "--quantile: must be in (0, 1)"),
    (["--plan", "/no/plan.json", "--dataset", "math500"], "plan"),
    (["--deadline", "5s", "--profile", "h100-sxm-qwen2.5-7b", "--dataset", "math500", "--max-branches", "0"],
     "--max-branches: must be an integer in [1, 4096]"),
    (["--plan", "x.json", "--deadline", "5s", "--dataset", "math500"], "not allowed with"),
])
def test_bad_input_is_one_line_exit_2(argv, msg, capsys):
    assert main(["validate", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("planner: error:") and msg in err[0], err


def _plan_k0(provenance):
    from planner.plan import Plan

    return Plan(method="majority", branches=4, speculative={"method": "none", "num_speculative_tokens": 0,
                                                           "draft_model": None},
                deadline_s=20.0, predicted={}, profile={"id": "my-cpu", "provenance": provenance},
                model={"name": "smollm2-135m"}, sampling={"max_tokens": 96},
                runners_up=[{"method": "majority", "branches": 4, "draft_len": 2}])


@pytest.mark.parametrize("provenance,want", [({"kind": "measured", "draft": "ngram"}, "ngram"),
                                             ({"kind": "measured", "draft": "layers:4"}, "layers:4"),
                                             ({"kind": "measured", "draft": "none"}, None),
                                             ({"kind": "derived"}, None)])
def test_drafter_of_a_k0_plan_comes_from_its_profile_provenance(provenance, want):
    """An n-gram-calibrated profile whose plan chose K = 0 still has runners-up with K > 0: validate must run
    them with the profile's drafter instead of saying 'no drafter known'."""
    import argparse

    from planner.commands.validate import _draft_spec

    assert _draft_spec(argparse.Namespace(draft=None), _plan_k0(provenance), None) == want
    assert _draft_spec(argparse.Namespace(draft="self"), _plan_k0(provenance), None) == "self"
