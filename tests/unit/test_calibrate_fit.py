"""Step and prefill fits: recover known coefficients from synthetic points (with noise), residual statistics,
priors for coefficients the data cannot see, and the sweep's outlier rejection."""

import numpy as np
import pytest

from planner.calibrate.fit import fit_prefill, fit_step, predict
from planner.calibrate.points import StepPoint
from planner.calibrate.repeats import robust_median
from planner.errors import PlannerError
from planner.profile.schema import ModelArch, StepCoeffs

SMOL = ModelArch("smol", 134.5e6, 30, 576, 9, 3, 64, 49152, 2.0)
TRUE = StepCoeffs(0.004, 20.0, 10.0, 0.4)


def synth(coeffs, noise, seed=0, batches=(1, 2, 4, 8, 16, 32, 64), queries=(1, 3, 9), contexts=(64, 1024),
          arch=SMOL):
    rng = np.random.default_rng(seed)
    pts = []
    for B in batches:
        for q in queries:
            for L in contexts:
                t = float(predict(coeffs, arch, B, q, L)) * (1 + noise * rng.standard_normal())
                pts.append(StepPoint("target", B, q, L, t))
    return pts


def test_fit_recovers_exact_coefficients_without_noise():
    f = fit_step(synth(TRUE, 0.0), SMOL)
    c = f.coeffs
    assert c.t0_s == pytest.approx(TRUE.t0_s, rel=0.02)
    assert c.weight_bw_GBps == pytest.approx(TRUE.weight_bw_GBps, rel=0.02)
    assert c.kv_bw_GBps == pytest.approx(TRUE.kv_bw_GBps, rel=0.02)
    assert c.tflops == pytest.approx(TRUE.tflops, rel=0.02)
    assert f.median_rel_error < 1e-3 and f.p90_rel_error < 1e-3
    assert all(f.identified.values())


@pytest.mark.parametrize("seed", [1, 2])
def test_fit_with_3pct_noise_stays_close_and_reports_residuals(seed):
    pts = synth(TRUE, 0.03, seed)
    f = fit_step(pts, SMOL)
    c = f.coeffs
    assert c.weight_bw_GBps == pytest.approx(TRUE.weight_bw_GBps, rel=0.15)
    assert c.kv_bw_GBps == pytest.approx(TRUE.kv_bw_GBps, rel=0.25)
    assert c.tflops == pytest.approx(TRUE.tflops, rel=0.1)
    assert c.t0_s == pytest.approx(TRUE.t0_s, rel=0.5)  # t0 only shows in compute-bound points
    # residuals are those of the returned coefficients, and their median is ~ the noise level
    rel = [(float(predict(c, SMOL, p.batch, p.query, p.context)) - p.seconds) / p.seconds for p in pts]
    assert np.allclose(rel, f.rel_residuals, atol=1e-4)
    assert 0.005 < f.median_rel_error < 0.05
    assert f.p90_rel_error >= f.median_rel_error
    # predictions on held-out configurations stay within a few % of the truth
    for B, q, L in [(3, 2, 300), (24, 5, 700), (48, 1, 128)]:
        assert float(predict(c, SMOL, B, q, L)) == pytest.approx(float(predict(TRUE, SMOL, B, q, L)), rel=0.06)


def test_unseen_compute_falls_back_to_prior():
    # only memory-bound points: tflops is not identified and the GEMM prior decides it
    pts = synth(TRUE, 0.0, batches=(1, 2), queries=(1,), contexts=(64, 1024))
    f = fit_step(pts, SMOL, priors={"tflops": 0.3, "weight_bw_GBps": 25.0})
    assert not f.identified["tflops"]
    assert f.coeffs.tflops == pytest.approx(0.3, rel=0.05)
    assert f.median_rel_error < 0.01


def test_fit_needs_three_points():
    with pytest.raises(PlannerError, match="at least 3"):
        fit_step(synth(TRUE, 0.0)[:2], SMOL)


def test_prefill_fit_by_hand():
    pts = [StepPoint("prefill", 1, n, 0, 0.02 + 0.001 * n) for n in (16, 64, 256, 1024)]
    c, err = fit_prefill(pts)
    assert c.t0_s == pytest.approx(0.02, rel=1e-6) and c.s_per_token == pytest.approx(0.001, rel=1e-6)
    assert err < 1e-9
    # a single length: no intercept can be separated, so the per-token slope carries it all
    c1, _ = fit_prefill([StepPoint("prefill", 1, 100, 0, 0.5)])
    assert c1.t0_s == 0 and c1.s_per_token == pytest.approx(0.005)


def test_robust_median_drops_slow_outliers_only():
    m, dropped, _ = robust_median([1.0, 1.01, 0.99, 1.02, 5.0])
    assert dropped == 1 and m == pytest.approx(1.005)
    m, dropped, _ = robust_median([0.5, 1.0, 1.01, 0.99, 1.02])  # fast values are kept (one-sided)
    assert dropped == 0 and m == pytest.approx(1.0)
    with pytest.raises(PlannerError, match="finite positive"):
        robust_median([1.0, float("nan")])
    with pytest.raises(PlannerError, match="finite positive"):
        robust_median([1.0, -0.1])


@pytest.mark.slow
def test_verify_overhead_is_fitted_from_whole_rounds():
    """Engine rounds: a verify step (q > 1) pays a fixed extra cost no forward sweep shows."""
    from dataclasses import replace

    true = replace(TRUE, verify_s=0.003)
    pts = synth(true, 0.0)
    assert predict(true, SMOL, 4, 3, 64) == pytest.approx(predict(TRUE, SMOL, 4, 3, 64) + 0.003)
    assert predict(true, SMOL, 4, 1, 64) == pytest.approx(predict(TRUE, SMOL, 4, 1, 64))   # plain steps: none
    f = fit_step(pts, SMOL, fit_verify=True)
    assert f.coeffs.verify_s == pytest.approx(0.003, rel=0.05) and f.median_rel_error < 1e-3
    assert f.identified["verify_s"] and f.to_dict()["coeffs"]["verify_s"] == f.coeffs.verify_s
    plain = fit_step(pts, SMOL)                       # without the term the same points fit worse
    assert plain.coeffs.verify_s is None and plain.p90_rel_error > 10 * f.p90_rel_error
    # forward-only sweeps (no q = 1 / q > 1 contrast) never get the term
    only_wide = [p for p in pts if p.query > 1]
    assert fit_step(only_wide, SMOL, fit_verify=True).coeffs.verify_s is None


def _rounds(rng, n, q, extra_s, draft=None, draft_extra_s=0.0, cpu_scale=1.0):
    """Engine round records whose time is the model's forward + extra_s (+ draft forwards + their extra)."""
    out = []
    for _ in range(n):
        B, L = int(rng.integers(1, 9)), int(rng.integers(64, 400))
        wall = float(predict(TRUE, SMOL, B, q, L)) + extra_s
        k = q - 1 if draft else 0
        d = sum(float(predict(draft, SMOL, B, 1, L + i)) + draft_extra_s for i in range(k)) if draft else 0.0
        out.append({"batch": B, "q": q, "context": L, "wall_s": (wall + d) / cpu_scale, "draft_s": d / cpu_scale,
                    "draft_forwards": k, "ref_s": None, "cpu_scale": cpu_scale})
    return out


def test_loop_verify_and_draft_overheads_are_read_off_engine_rounds():
    """planner calibrate: plain rounds give the per-round loop overhead (into t0), verify rounds the extra of a
    verify step (verify_s) on top of it, draft forwards their own extra (into the draft's t0)."""
    from dataclasses import replace

    from planner.calibrate.overheads import draft_overhead, loop_overhead, verify_overhead

    rng = np.random.default_rng(0)
    plain, spec = _rounds(rng, 30, 1, 0.002), _rounds(rng, 30, 4, 0.002 + 0.0015, draft=TRUE, draft_extra_s=0.0007)
    over, n = loop_overhead(plain + spec, TRUE, SMOL, 1)       # only q = 1 rounds count
    assert n == 30 and over == pytest.approx(0.002, rel=1e-6)
    ver, n = verify_overhead(spec + plain, replace(TRUE, t0_s=TRUE.t0_s + over), SMOL, 1)
    assert n == 30 and ver == pytest.approx(0.0015, rel=1e-6)
    assert draft_overhead(spec, TRUE, SMOL, 1) == pytest.approx(0.0007, rel=1e-6)
    # the CPU clock converts each round's wall time with its prompt's CPU/wall ratio
    slow = _rounds(rng, 30, 1, 0.002, cpu_scale=0.5)
    assert loop_overhead(slow, TRUE, SMOL, 1, clock="cpu")[0] == pytest.approx(0.002, rel=1e-6)
    assert loop_overhead(plain[:9], TRUE, SMOL, 1) == (0.0, 9)        # too few rounds: no estimate



def test_overheads_from_measured_forwards_ignore_a_drifted_step_model():
    """Rounds that carry their own forward time: overhead = round - forward - draft, whatever the coefficients
    say (a machine 30 % slower than at the sweep no longer reads as 30 % 'overhead')."""
    from planner.calibrate.overheads import loop_overhead, verify_overhead

    rng = np.random.default_rng(1)
    rounds = _rounds(rng, 20, 1, 0.002) + _rounds(rng, 20, 3, 0.003)
    for r in rounds:   # the machine ran 30 % slower than the coefficients say; the overheads did not change
        fw = float(predict(TRUE, SMOL, r["batch"], r["q"], r["context"]))
        r["forward_s"] = 1.3 * fw
        r["wall_s"] += 0.3 * fw
    assert loop_overhead(rounds, TRUE, SMOL, 1)[0] == pytest.approx(0.002, rel=1e-6)
    assert verify_overhead(rounds, TRUE, SMOL, 1, loop_s=0.002)[0] == pytest.approx(0.001, rel=1e-6)
    for r in rounds:
        del r["forward_s"]
    assert loop_overhead(rounds, TRUE, SMOL, 1)[0] > 0.005    # the old way: drift became overhead


@pytest.mark.slow
def test_weights_make_the_fit_match_where_the_time_is_spent():
    """Pooled engine rounds: a point standing for 100 rounds outweighs one standing for 1 round."""
    pts = synth(TRUE, 0.0, batches=(1, 4, 16), queries=(1, 3), contexts=(64,))
    slow = StepPoint("target", 16, 1, 64, float(predict(TRUE, SMOL, 16, 1, 64)) * 1.2)   # same config, 20 % slower
    w = [1.0] * len(pts) + [100.0]
    heavy, plain = fit_step(pts + [slow], SMOL, weights=w), fit_step(pts + [slow], SMOL)
    err = lambda f: abs(float(predict(f.coeffs, SMOL, 16, 1, 64)) / slow.seconds - 1)
    assert err(heavy) < 0.02 and err(plain) > 0.1
    with pytest.raises(PlannerError, match="weights"):
        fit_step(pts, SMOL, weights=[1.0, 0.0, 1.0])
