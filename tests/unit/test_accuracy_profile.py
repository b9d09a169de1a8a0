"""The accuracy section's optional fields (sample_size, difficulty_length_corr, wrong_length_shift): old profiles
load with the documented defaults, bad values exit 2 with one line naming the field, and the plan's accuracy
carries the standard error of a benchmark of sample_size problems."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from planner.accuracy.link import DEFAULT_DIFFICULTY_LENGTH_CORR, DEFAULT_WRONG_LENGTH_SHIFT
from planner.optimize.evaluate import accuracy_model, evaluate
from planner.profile.schema import Profile

BASE = Path(__file__).resolve().parents[2] / "profiles" / "h100-sxm-qwen2.5-7b.json"


def _profile(**acc) -> dict:
    d = json.loads(BASE.read_text())
    d["accuracy"].update(acc)
    return d


def test_old_profile_loads_with_documented_defaults():
    d = _profile()
    for k in ("sample_size", "difficulty_length_corr", "wrong_length_shift"):
        assert k not in d["accuracy"]
    desc = accuracy_model(Profile.from_dict(d, origin="<test>")).describe()
    assert desc["sample_size"] == 500                      # dataset MATH-500
    assert desc["difficulty_length_corr"] == DEFAULT_DIFFICULTY_LENGTH_CORR
    assert desc["wrong_length_shift"] == DEFAULT_WRONG_LENGTH_SHIFT
    assert desc["between_share"] == d["lengths"]["between_share"]


def test_plan_accuracy_carries_the_sample_size_standard_error():
    p = Profile.from_dict(_profile(sample_size=120), origin="<test>")
    ev = evaluate(p, deadline=3.0, n_values=np.array([1, 4, 16]))
    se = np.sqrt(ev.acc * (1 - ev.acc) / 120)               # binomial SE of a 120-problem benchmark
    np.testing.assert_allclose(ev.acc_se, se, rtol=1e-9)
    assert np.all(ev.acc_se > 0.01)


def test_a_tight_deadline_cuts_accuracy_through_the_nodes():
    p = Profile.from_dict(_profile(), origin="<test>")
    loose = evaluate(p, deadline=None, n_values=np.array([8]), k_values_=np.array([0]))
    tight = evaluate(p, deadline=0.6 * float(loose.latency["mean"][0, 0]), n_values=np.array([8]),
                     k_values_=np.array([0]))
    assert tight.finish[0, 0] < 0.9 and tight.acc[0, 0, 0] < loose.acc[0, 0, 0] - 0.02


@pytest.mark.parametrize("field,value", [("sample_size", -3), ("sample_size", 2.5), ("difficulty_length_corr", 2.0),
                                         ("wrong_length_shift", -4.0), ("wrong_length_shift", "long")])
def test_bad_accuracy_fields_exit_2_with_one_line(tmp_path, field, value):
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(_profile(**{field: value})))
    r = subprocess.run([sys.executable, "-m", "planner", "recommend", "--deadline", "60s", "--profile", str(f)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("planner: error:") and f"accuracy.{field}" in lines[0]
