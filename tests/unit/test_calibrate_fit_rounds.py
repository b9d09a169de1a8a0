"""Joint fit of target and draft on whole rounds: a drafting cost paid once per round (not per draft forward)
must land in verify_s, so rounds of every K are priced right; the separate fits (round minus draft time; draft
time / forwards) get K = 4 wrong when fitted on K = 2 and 4 together."""

from dataclasses import replace

import numpy as np
import pytest

from planner.calibrate.fit_rounds import fit_rounds, round_model
from planner.model.latency import StepModel
from planner.profile.schema import ModelArch, StepCoeffs

TARGET_ARCH = ModelArch("tgt", 1.0e6, 4, 128, 4, 4, 32, 64, 4.0)
DRAFT_ARCH = ModelArch("drf", 0.2e6, 2, 64, 2, 2, 32, 64, 4.0)
TARGET = StepCoeffs(0.004, 2.0, 2.0, 0.05, verify_s=0.0008)
DRAFT = StepCoeffs(0.0009, 1.0, 1.0, 0.02)
PER_ROUND = 0.0025   # drafting work once per round (catch-up, sampling, cache sync)


def rounds(noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for K in (0, 2, 4):
        for B in (1, 2, 4, 8, 16):
            for L in (16, 48, 96):
                tgt = float(StepModel(TARGET, TARGET_ARCH).time(B, K + 1, L))
                drf = K * float(StepModel(DRAFT, DRAFT_ARCH).time(B, 1, L)) + (PER_ROUND if K else 0.0)
                t = (tgt + drf) * (1 + noise * rng.standard_normal())
                out.append({"K": K, "B": B, "L": L, "t_s": t, "n": 10})
    return out


@pytest.mark.slow
def test_joint_fit_prices_every_draft_length():
    pts = rounds()
    # start where the separate fits would: the target without the per-round cost, the draft with it divided
    # among the forwards (at K = 2 a forward then looks 1.25 ms dearer than at K = 4)
    d_start = replace(DRAFT, t0_s=DRAFT.t0_s + PER_ROUND / 3)
    t_start = replace(TARGET, verify_s=1e-6)
    tc, dc, rel = fit_rounds(pts, TARGET_ARCH, DRAFT_ARCH, t_start, d_start)
    assert max(abs(r) for r in rel) < 0.01
    start = round_model(t_start, d_start, TARGET_ARCH, DRAFT_ARCH, [2, 4], 4, 48)
    true = [p["t_s"] for p in pts if p["B"] == 4 and p["L"] == 48 and p["K"] in (2, 4)]
    fitted = round_model(tc, dc, TARGET_ARCH, DRAFT_ARCH, [2, 4], 4, 48)
    assert fitted == pytest.approx(true, rel=0.01)
    assert not start == pytest.approx(true, rel=0.01)      # the starting point was off at K = 2 or 4
    # the per-round cost went to verify_s (charged once per speculative round), not to the draft forward
    assert tc.verify_s == pytest.approx(TARGET.verify_s + PER_ROUND, rel=0.05)
    assert dc.t0_s == pytest.approx(DRAFT.t0_s, rel=0.1)
    assert tc.fit_rel_error < 0.01


def test_joint_fit_with_noise_stays_close():
    pts = rounds(noise=0.03, seed=3)
    tc, dc, rel = fit_rounds(pts, TARGET_ARCH, DRAFT_ARCH, TARGET, DRAFT)
    clean = rounds()
    pred = round_model(tc, dc, TARGET_ARCH, DRAFT_ARCH, *(np.array([p[k] for p in clean]) for k in "KBL"))
    err = np.abs(pred / np.array([p["t_s"] for p in clean]) - 1)
    assert np.median(err) < 0.02 and err.max() < 0.06
    assert 0.01 < np.median(np.abs(rel)) < 0.05                 # residuals show the noise, not a misfit
