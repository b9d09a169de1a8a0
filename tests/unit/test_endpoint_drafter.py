"""Endpoint calibration records the server's real drafter (issue 18): the draft kind and checkpoint read from the
launch arguments (vLLM --speculative-config / --speculative-model, SGLang --speculative-algorithm) or from the
server's GET /server_info, with the measured per-position acceptance; the drafter's cost stays inside the fitted
step (draft.cost in_step), so a round is priced as the verify step alone, never the head again."""

from __future__ import annotations

import json

import pytest

from planner.calibrate.endpoint import server_draft as S
from planner.errors import PlannerError
from planner.model.latency import round_time, target_step
from planner.profile.schema import Profile
from test_serving_calibrate import args, calibrate_endpoint, fake_server  # noqa: F401  (fixture)

EAGLE3 = "yuhuili/EAGLE3-LLaMA3.1-Instruct-8B"


def vllm(cfg: dict) -> str:
    return f"vllm serve m --speculative-config '{json.dumps(cfg)}'"


# ---- the kind each engine's configuration names (pure, fast) ------------------------------------------------
@pytest.mark.parametrize("method,model,kind", [
    ("eagle", "yuhuili/EAGLE-LLaMA3-Instruct-8B", "eagle"), ("eagle3", EAGLE3, "eagle3"),
    ("deepseek_mtp", None, "mtp"), ("qwen3_next_mtp", None, "mtp"), ("mtp", None, "mtp"),
    ("ngram", None, "ngram"), ("suffix", None, "ngram"), ("draft_model", "Qwen/Qwen2.5-0.5B-Instruct", "model"),
    # no method: vLLM's own inference (vllm/config/speculative.py): by the draft's name, else a draft model
    (None, "[ngram]", "ngram"), (None, "yuhuili/EAGLE-LLaMA3-Instruct-8B", "eagle"), (None, EAGLE3, "eagle3"),
    (None, "Qwen/Qwen2.5-0.5B-Instruct", "model"),
    ("medusa", "x/medusa", None), ("mlp_speculator", "x/y", None),
])
def test_vllm_method_to_kind(method, model, kind):
    assert S.vllm_kind(method, model) == kind


@pytest.mark.parametrize("launch,want", [
    (vllm({"method": "eagle3", "model": EAGLE3, "num_speculative_tokens": 3}),
     {"kind": "eagle3", "id": EAGLE3, "k": 3}),
    ("vllm serve m --speculative-model [ngram] --num-speculative-tokens 5", {"kind": "ngram", "k": 5}),
    ("python -m sglang.launch_server --model-path meta-llama/Llama-3.1-8B-Instruct --speculative-algorithm EAGLE3 "
     f"--speculative-draft-model-path {EAGLE3} --speculative-num-steps 3 --speculative-eagle-topk 4 "
     "--speculative-num-draft-tokens 16", {"kind": "eagle3", "id": EAGLE3, "k": 3, "topk": 4, "draft_tokens": 16}),
    ("python -m sglang.launch_server --model-path deepseek-ai/DeepSeek-V3 --speculative-algorithm NEXTN "
     "--speculative-num-steps 1", {"kind": "mtp", "id": None, "k": 1}),
    ("python -m sglang.launch_server --model-path org/m --speculative-algorithm STANDALONE "
     "--speculative-draft-model-path org/small --speculative-num-steps 4", {"kind": "model", "id": "org/small"}),
    ("vllm serve m --dtype bfloat16", None),
])
def test_drafter_from_launch_arguments(launch, want):
    from planner.calibrate.endpoint.probe import speculative_from_args

    got = S.from_launch(launch, speculative_from_args(launch))
    if want is None:
        assert got is None
        return
    assert {k: got.get(k) for k in want} == want and got["where"].startswith("--launch-args")


def test_sglang_eagle_on_the_targets_own_checkpoint_is_mtp():
    got = S.sglang("EAGLE", "/models/dsv3", 2, 1, 3, "GET /server_info", target="/models/dsv3/")
    assert (got["kind"], got["id"]) == ("mtp", None)


def test_bad_server_numbers_are_one_line():
    with pytest.raises(PlannerError, match="speculative_num_steps must be a positive integer, got 'two'"):
        S.sglang("EAGLE3", "x", "two", 1, None, "w")
    with pytest.raises(PlannerError, match="num_speculative_tokens must be a positive integer"):
        S.from_launch("v", {"method": "eagle3", "model": "x", "num_speculative_tokens": 0})


def test_unknown_method_is_recorded_as_free_drafts_and_said():
    notes: list[str] = []
    d = S.draft_section({"kind": None, "method": "medusa", "id": "x", "k": 3, "where": "w"}, 3, notes)
    assert d["kind"] == "ngram" and "medusa" in notes[0] and "does not model" in notes[0]


# ---- end to end against the fake server (vLLM counters: alpha 0.8, 0.5, 0.5) -------------------------------
def _round_is_the_verify_step_alone(p: Profile):
    for B, K in ((1, 3), (8, 2)):
        assert float(round_time(p, K, B, 300)) == pytest.approx(float(target_step(p).time(B, K + 1, 300)), rel=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("cfg,kind,hf_id", [
    ({"method": "eagle3", "model": EAGLE3, "num_speculative_tokens": 3}, "eagle3", EAGLE3),
    ({"method": "eagle", "model": "yuhuili/EAGLE-LLaMA3-Instruct-8B", "num_speculative_tokens": 3}, "eagle",
     "yuhuili/EAGLE-LLaMA3-Instruct-8B"),
    ({"method": "deepseek_mtp", "num_speculative_tokens": 3}, "mtp", None),
    ({"model": "org/small-draft", "num_speculative_tokens": 3}, "model", None),
])
def test_vllm_server_drafter_is_recorded_with_measured_acceptance(fake_server, tmp_path, cfg, kind, hf_id):  # noqa: F811
    _, url = fake_server
    prof = calibrate_endpoint(args(url, tmp_path, launch_args=vllm(cfg)))
    p = Profile.from_dict(json.loads(json.dumps(prof)))
    assert p.draft.kind == kind and p.draft.cost == "in_step"
    assert p.acceptance.alpha == pytest.approx((0.8, 0.5, 0.5))          # the fake's counters, per position
    if kind in ("eagle", "eagle3", "mtp"):
        assert p.draft.head.hf_id == hf_id
    else:
        assert p.draft.arch is None and p.draft.name == "org/small-draft"
    assert prof["provenance"]["engine"]["drafter"]["where"] == "--launch-args --speculative-config"
    assert any(f"drafter {kind}" in n and "in_step" in n for n in prof["provenance"]["notes"])
    _round_is_the_verify_step_alone(p)
    from dataclasses import replace
    dumped = json.loads(json.dumps(replace(p, raw={}).to_dict()))
    assert Profile.from_dict(dumped) == p and dumped["draft"]["cost"] == "in_step"   # the dataclass dump keeps them
    # a plan names the drafter as the engines do
    from planner.choice import speculative_section
    spec = speculative_section(p, 3)
    assert spec["method"] == ("draft_model" if kind == "model" else kind)
    assert spec["draft_model"] == (hf_id if kind != "model" else "org/small-draft")


@pytest.mark.slow
def test_drafter_from_vllm_dev_mode_server_info(fake_server, tmp_path):  # noqa: F811
    fake, url = fake_server
    fake.server_info = {"vllm_config": {"speculative_config": {"method": "eagle3", "model": EAGLE3,
                                                               "num_speculative_tokens": 3}}}
    prof = calibrate_endpoint(args(url, tmp_path, launch_args=None))
    p = Profile.from_dict(prof)
    assert (p.draft.kind, p.draft.head.hf_id) == ("eagle3", EAGLE3)
    assert prof["provenance"]["engine"]["drafter"]["where"] == ("GET /server_info?config_format=json "
                                                                "vllm_config.speculative_config")
    # a plan from it names the drafter and that its acceptance was measured
    from planner import cli
    (tmp_path / "ep.json").write_text(json.dumps(prof))
    assert cli.main(["recommend", "-p", str(tmp_path / "ep.json"), "-d", "30s", "-o", str(tmp_path / "plan.json")]) == 0
    notes = json.loads((tmp_path / "plan.json").read_text())["notes"]
    assert f"draft: {EAGLE3} (eagle3, its cost inside the measured step); acceptance: measured by endpoint " \
           f"calibration (profile {p.id})" in notes


@pytest.mark.slow
def test_no_launch_args_and_no_server_info_says_so(fake_server, tmp_path):  # noqa: F811
    _, url = fake_server
    prof = calibrate_endpoint(args(url, tmp_path, launch_args=None))
    assert prof["draft"]["kind"] == "ngram" and prof["draft"]["name"] == "server-side unknown (K=3)"
    assert any("speculative method unknown" in n for n in prof["provenance"]["notes"])


@pytest.mark.slow
def test_sglang_server_info_gives_kind_and_depth(fake_server, tmp_path):  # noqa: F811
    from planner.model.latency import alphas, tau

    fake, url = fake_server
    fake.sglang_tau = 2.2
    fake.server_info = {"speculative_algorithm": "EAGLE", "speculative_draft_model_path": fake.root,
                        "model_path": fake.root, "speculative_num_steps": 2, "speculative_eagle_topk": 1,
                        "speculative_num_draft_tokens": 3}
    prof = calibrate_endpoint(args(url, tmp_path, launch_args=None))
    p = Profile.from_dict(prof)
    assert p.draft.kind == "mtp" and p.draft.head.hf_id is None      # NEXTN resolved to EAGLE on the target
    assert len(p.acceptance.alpha) == 2 and float(tau(alphas(p, 2), 2)) == pytest.approx(2.2, abs=1e-3)
    assert prof["provenance"]["engine"]["drafter"]["where"] == "GET /server_info speculative_algorithm"
    _round_is_the_verify_step_alone(p)
