"""Request-level prediction from known branch lengths (the fidelity bench's predictor) against hand sums."""

import json
import sys
from pathlib import Path

import pytest

from planner.model.latency import StepModel
from planner.profile.schema import Profile

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.request import predict_request  # noqa: E402

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(scope="module")
def prof():
    return Profile.from_dict(json.loads((DATA / "profile_test.json").read_text()))


def test_two_branches_no_speculation_by_hand(prof):
    P = 100
    step = StepModel(prof.step, prof.model).time
    pre = 0.01 + 0.0001 * P
    # the prefill gives both branches their first token; both decode the next 99 (context at mid-segment
    # P + 1 + 49.5), then one branch 200 more (mid-segment P + 1 + 99 + 100)
    want = pre + 99 * float(step(2, 1, P + 50.5)) + 200 * float(step(1, 1, P + 200))
    assert predict_request(prof, [300, 100], 0, P) == pytest.approx(want, rel=1e-9)


def test_speculation_divides_rounds_by_tau_and_adds_draft_steps(prof):
    P, n = 100, 245
    tau = 1 + 0.8 + 0.64
    R = (n - 1) / tau         # the first token comes from the prefill
    L = P + 1 + R / 2 * tau
    target = StepModel(prof.step, prof.model).time(1, 3, L)
    draft = StepModel(prof.draft.step, prof.draft.arch).time(1, 1, L)
    want = 0.01 + 0.0001 * P + R * float(target + 2 * draft)
    assert predict_request(prof, [n], 2, P) == pytest.approx(want, rel=1e-9)


def test_a_one_token_branch_costs_only_the_prefill(prof):
    assert predict_request(prof, [1, 1, 1], 0, 100) == pytest.approx(0.01 + 0.0001 * 100, rel=1e-12)
    assert predict_request(prof, [1, 2], 0, 100) > 0.01 + 0.0001 * 100


def test_more_branches_never_faster(prof):
    base = predict_request(prof, [200], 0, 100)
    assert predict_request(prof, [200] * 8, 0, 100) >= base
    assert predict_request(prof, [200, 400], 0, 100) > predict_request(prof, [200, 200], 0, 100)
