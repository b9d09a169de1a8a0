"""`planner calibrate --scorer-model`: the reward model's scoring forward timed on the device and fitted as
t0 + s * tokens (planner/calibrate/scorer.py); the section it writes is what planner/model/scoring.py prices."""

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from planner.calibrate.scorer import load_reward_model, measure_scorer  # noqa: E402
from planner.cli import main  # noqa: E402
from planner.errors import PlannerError  # noqa: E402
from planner.model.scoring import scoring_time  # noqa: E402
from planner.profile.schema import Profile  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = ROOT / "planner" / "demo" / "miniworld" / "weights"
CPU = ROOT / "profiles" / "cpu-smollm2-135m.json"


def test_measured_section_fits_the_points_and_prices_scoring():
    sec = measure_scorer(str(WEIGHTS / "reward"), batches=(1, 8), tokens=(16, 64), repeats=2)
    pre = sec["prefill"]
    assert pre["t0_s"] >= 0 and pre["s_per_token"] > 0 and sec["name"] == "reward"
    pts = sec["fit"]["points"]
    assert len(pts) == 4 and all(t > 0 for _, t in pts)
    d = json.loads(CPU.read_text()) | {"scorer": sec}
    p = Profile.from_dict(d, origin="<test>")
    tokens = p.prompt_tokens + 30.0
    assert float(scoring_time(p, 8, 30.0)) == pytest.approx(pre["t0_s"] + pre["s_per_token"] * 8 * tokens)


def test_a_causal_lm_is_not_a_reward_model():
    with pytest.raises(PlannerError, match="not an outcome reward model"):
        load_reward_model(str(WEIGHTS / "target"))


def test_missing_scorer_folder_is_one_line_before_measuring(tmp_path, capsys):
    rc = main(["calibrate", "--model", str(WEIGHTS / "target"), "--scorer-model", str(tmp_path / "nope"),
               "-o", str(tmp_path / "p.json"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--scorer-model" in err[0] and err[0].startswith("planner: error:")
