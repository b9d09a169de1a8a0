"""Acceptance estimation: α_i = accepted_i / reached_i, Wilson intervals against hand values, CSV import,
and the length-distribution summary."""

import math

import numpy as np
import pytest

from planner.calibrate.acceptance import acceptance_from_counts, pool_counts, read_acceptance_csv, wilson
from planner.calibrate.lengths import length_section
from planner.errors import PlannerError


def test_wilson_hand_values():
    # 8 of 10: p = 0.8, z = 1.96: centre (0.8 + 0.19208)/1.38415 = 0.71678, half 0.22643 → (0.4902, 0.9433)
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.49016, abs=1e-4) and hi == pytest.approx(0.94332, abs=1e-4)
    # 0 of 20: lower bound exactly 0, upper z^2/(n+z^2) = 3.8415/23.8415
    lo, hi = wilson(0, 20)
    assert lo == 0.0 and hi == pytest.approx(3.841459 / 23.841459, rel=1e-6)
    lo, hi = wilson(20, 20)
    assert hi == 1.0 and lo == pytest.approx(20 / 23.841459, rel=1e-6)
    assert wilson(0, 0) == (0.0, 1.0)
    # the interval narrows like 1/sqrt(n)
    w1 = wilson(50, 100)
    w2 = wilson(5000, 10000)
    assert (w1[1] - w1[0]) / (w2[1] - w2[0]) == pytest.approx(10, rel=0.02)


def test_alpha_is_conditional_on_reaching_the_position():
    acc = acceptance_from_counts([80, 30, 10], [100, 80, 30], temperature=0.7)
    assert acc["alpha"] == pytest.approx([0.8, 0.375, 1 / 3], abs=1e-5)
    for a, lo, hi in zip(acc["alpha"], acc["ci_low"], acc["ci_high"]):
        assert lo < a < hi
    assert acc["ci_low"][0] == pytest.approx(wilson(80, 100)[0], abs=1e-5)
    assert acc["temperature"] == 0.7


def test_rarely_reached_positions_are_dropped_from_the_end():
    acc = acceptance_from_counts([40, 2, 1], [50, 5, 2], temperature=0.0)
    assert acc["alpha"] == [0.8]
    with pytest.raises(PlannerError, match="no draft position"):
        acceptance_from_counts([0], [0], 0.7)
    with pytest.raises(PlannerError, match="accepted <= reached"):
        acceptance_from_counts([5], [4], 0.7)


def test_pool_counts_sums_rounds():
    steps = [{"accepted": [1, 0], "reached": [2, 1]}, {"accepted": [2], "reached": [3]}]
    assert pool_counts(steps) == ([3, 0], [5, 1])


def test_acceptance_csv_counts_and_rates(tmp_path):
    p = tmp_path / "acc.csv"
    p.write_text("position,accepted,reached\n1,80,100\n2,30,80\n")
    acc = read_acceptance_csv(p, 0.6)
    assert acc["alpha"] == pytest.approx([0.8, 0.375]) and acc["temperature"] == 0.6
    p.write_text("position,alpha\n1,0.7\n2,0.6\n")
    assert read_acceptance_csv(p, 0.7)["alpha"] == [0.7, 0.6]
    p.write_text("position,alpha\n1,1.7\n")
    with pytest.raises(PlannerError, match=r"in \[0, 1\]"):
        read_acceptance_csv(p, 0.7)
    p.write_text("position,alpha\n2,0.5\n")
    with pytest.raises(PlannerError, match="positions must be 1, 2"):
        read_acceptance_csv(p, 0.7)
    p.write_text("position,rate\n1,0.5\n")
    with pytest.raises(PlannerError, match="accepted,reached or alpha"):
        read_acceptance_csv(p, 0.7)
    with pytest.raises(PlannerError, match="not found"):
        read_acceptance_csv(tmp_path / "none.csv", 0.7)


def test_length_section_empirical_and_lognormal():
    toks = [int(100 * math.exp(0.5 * z)) for z in (-1.5, -1, -0.6, -0.3, 0, 0.3, 0.6, 1, 1.5)]
    sec, rec = length_section(toks, cap=1000)
    assert sec["kind"] == "empirical" and sec["tokens"] == sorted(toks)
    assert rec["lognormal"]["median_tokens"] == pytest.approx(100, rel=0.02)
    assert 0.3 < rec["lognormal"]["sigma"] < 0.7
    assert rec["share_at_cap"] == 0
    sec, rec = length_section([50, 60, 60, 70], cap=70)  # too few distinct values → log-normal
    assert sec["kind"] == "lognormal" and sec["max_tokens"] == 70 and rec["share_at_cap"] == 0.25


def test_between_share_recovers_the_simulated_correlation():
    from planner.calibrate.lengths import between_share

    rng = np.random.default_rng(3)
    for rho in (0.0, 0.4, 0.8):
        z, e = rng.standard_normal((300, 1)), rng.standard_normal((300, 6))
        lens = np.exp(5 + 0.6 * (np.sqrt(rho) * z + np.sqrt(1 - rho) * e)).round().astype(int)
        assert between_share(lens.tolist()) == pytest.approx(rho, abs=0.06)
    assert between_share([[10, 20], [30, 40]]) is None             # two prompts: not enough to split variance
    assert between_share([[5, 5, 5], [9, 9, 9], [20, 20, 20]]) == 0.95   # identical within: clipped


def test_length_section_stores_between_share_with_groups():
    groups = [[100, 110, 95, 105], [300, 280, 320, 310], [50, 55, 45, 52]]
    sec, rec = length_section([t for g in groups for t in g], cap=1000, groups=groups)
    assert sec["kind"] == "empirical" and sec["between_share"] > 0.8 and rec["prompts"] == 3
    from planner.profile.schema import LengthSpec, _Reader

    assert LengthSpec.read(_Reader(sec, "lengths", "x")).between_share == sec["between_share"]


@pytest.mark.slow
def test_length_section_fits_the_within_problem_shape_with_enough_prompts():
    """Branches drawn with the skewed within-problem shape s (planner/model/lengths.py): the calibrated section
    carries s within 0.15 (fitted from lengths alone); normal draws give no field (or a small s); fewer than
    MIN_SHAPE_PROMPTS prompts: not fitted."""
    from planner.calibrate.lengths import MIN_SHAPE_PROMPTS
    from planner.profile.schema import LengthSpec, _Reader

    rng = np.random.default_rng(5)
    z, x = rng.standard_normal((400, 1)), rng.standard_normal((400, 8))
    for s in (0.0, 0.5):
        e = x if s == 0 else (np.exp(s * x) - np.exp(s * s / 2)) / np.sqrt(np.expm1(s * s) * np.exp(s * s))
        groups = np.round(300 * np.exp(0.5 * (np.sqrt(0.85) * z + np.sqrt(0.15) * e))).astype(int).tolist()
        sec, rec = length_section([t for g in groups for t in g], cap=100000, groups=groups)
        assert rec["within_shape"]["value"] == pytest.approx(s, abs=0.15)
        assert sec.get("within_shape", 0.0) == rec["within_shape"]["value"]
        assert LengthSpec.read(_Reader(sec, "lengths", "x")).within_shape == sec.get("within_shape")
        few = groups[:MIN_SHAPE_PROMPTS - 1]
        sec, rec = length_section([t for g in few for t in g], cap=100000, groups=few)
        assert "within_shape" not in sec and "within_shape" not in rec
