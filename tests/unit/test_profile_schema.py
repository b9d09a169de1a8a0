"""Profile loading: validation errors name the field; HF config.json parameter counting."""

import json
from pathlib import Path

import pytest

from planner.errors import PlannerError
from planner.profile.hf_config import arch_from_hf_config
from planner.profile.schema import Profile

DATA = Path(__file__).parents[1] / "data"


def _base() -> dict:
    return json.loads((DATA / "profile_test.json").read_text())


def test_round_trip():
    p = Profile.from_dict(_base())
    q = Profile.from_dict(p.to_dict())
    assert q == p
    assert p.model.kv_bytes_per_token == 2 * 10 * 2 * 128 * 2


@pytest.mark.parametrize("path,value,needle", [
    (("hardware", "mem_bw_GBps"), -5, "hardware.mem_bw_GBps must be positive"),
    (("hardware", "mem_bw_GBps"), "fast", "hardware.mem_bw_GBps must be a finite number"),
    (("acceptance", "alpha"), [0.5, 1.5], "acceptance.alpha[1] must be in [0.0, 1.0]"),
    (("lengths", "kind"), "gamma", "lengths.kind must be one of lognormal, empirical"),
    (("lengths", "between_share"), 1.0, "lengths.between_share must be in [0.0, 0.95]"),
    (("schema",), "tts-profile/0", "this planner reads 'tts-profile/1'"),
    (("acceptance", "by_draft_len"), {"2": [0.9]}, "acceptance.by_draft_len.2 must list 2 acceptance rates"),
    (("acceptance", "by_draft_len"), {"0": []}, "acceptance.by_draft_len.0 must be a draft length"),
    (("acceptance", "by_draft_len"), {"two": [0.9, 0.8]}, "acceptance.by_draft_len.two must be a draft length"),
    (("acceptance", "by_draft_len"), {"1": [1.2]}, "acceptance.by_draft_len.1[0] must be in [0.0, 1.0]"),
    (("model",), None, "model is missing"),
    (("provenance", "sources"), [], "provenance.sources must list"),
    (("step", "target", "verify_s"), -0.001, "step.target.verify_s must be >= 0"),
    (("step", "target", "verify_s"), float("nan"), "step.target.verify_s must be a finite number"),
    (("step", "target", "roofline_p"), 0.5, "step.target.roofline_p must be in [1.0, 64.0]"),
    (("step", "draft", "roofline_p"), float("nan"), "step.draft.roofline_p must be a finite number"),
])
def test_validation_errors_name_the_field(path, value, needle):
    d = _base()
    target = d
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(PlannerError) as e:
        Profile.from_dict(d, origin="x.json")
    assert needle in str(e.value) and "x.json" in str(e.value)


def test_acceptance_by_draft_len_round_trips():
    d = _base()
    d["acceptance"]["by_draft_len"] = {"2": [0.9, 0.7], "4": [0.95, 0.9, 0.7, 0.85]}
    p = Profile.from_dict(d)
    assert p.acceptance.by_draft_len == {2: (0.9, 0.7), 4: (0.95, 0.9, 0.7, 0.85)}
    assert Profile.from_dict(json.loads(json.dumps(p.to_dict()))) == p


def test_measured_profile_needs_device_and_date():
    d = _base()
    d["provenance"] = {"kind": "measured", "device": "cpu"}
    with pytest.raises(PlannerError, match="provenance.date is missing"):
        Profile.from_dict(d)


def test_draft_needs_acceptance():
    d = _base()
    del d["acceptance"]
    with pytest.raises(PlannerError, match="acceptance is required"):
        Profile.from_dict(d)


def test_hf_config_param_count_matches_qwen25_7b():
    a = arch_from_hf_config(DATA / "qwen2.5-7b-config.json", name="Qwen2.5-7B")
    assert a.params == 7_615_616_512  # the published parameter count of Qwen2.5-7B
    assert (a.layers, a.kv_heads, a.head_dim, a.vocab) == (28, 4, 128, 152064)
    assert a.kv_bytes_per_token == 2 * 28 * 4 * 128 * 2


def test_hf_config_errors(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text('{"hidden_size": 10}')
    with pytest.raises(PlannerError, match="config.json: missing num_hidden_layers, num_attention_heads, vocab_size"):
        arch_from_hf_config(tmp_path)
    with pytest.raises(PlannerError, match="not found"):
        arch_from_hf_config(tmp_path / "nope.json")


def test_profile_without_speculation_fields_loads_with_the_hard_roofline():
    """Old profiles (no roofline_p, no verify_s) load; absent means max(memory, compute) and no round overhead."""
    d = _base()
    for k in ("roofline_p", "verify_s"):
        d["step"]["target"].pop(k, None)
    p = Profile.from_dict(d)
    assert p.step.roofline_p is None and p.step.verify_s is None


def test_bad_speculation_value_exits_2_with_one_line(tmp_path):
    import subprocess
    import sys

    d = _base()
    d["step"]["target"]["verify_s"] = -0.5
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(d))
    r = subprocess.run([sys.executable, "-m", "planner", "recommend", "--deadline", "60s", "--profile", str(f)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("planner: error:") and "verify_s" in lines[0]
