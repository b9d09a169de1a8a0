"""Profile loading: validation errors name the field; HF config.json parameter counting."""

import json
from pathlib import Path

import pytest

from planner.errors import PlannerError
from planner.profile.hf_config import arch_from_hf_config
from planner.profile.schema import Profile

DATA = Path(__file__).parent / "data"


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
    with pytest.raises(PlannerError, match="missing or bad field"):
        arch_from_hf_config(tmp_path)
    with pytest.raises(PlannerError, match="not found"):
        arch_from_hf_config(tmp_path / "nope.json")
