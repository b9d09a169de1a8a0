"""Between-problem length correlation (lengths.between_share): the mixed latency model against a Monte-Carlo
simulation of whole requests, where branches of one problem share a difficulty effect."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from planner.model.latency import StepModel, latency_grid, prefill_time
from planner.model.lengths import LengthDist, ProblemLengths, problem_nodes
from planner.profile.schema import LengthSpec, Profile, StepCoeffs
from planner.special import norm_cdf

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(scope="module")
def cpu_like() -> Profile:
    """A compute-bound step (time grows linearly with the batch, like a CPU): correlation matters most here."""
    p = Profile.from_dict(json.loads((DATA / "profile_test.json").read_text()), origin=str(DATA / "x.json"))
    return replace(p, step=StepCoeffs(t0_s=0.002, weight_bw_GBps=1e5, kv_bw_GBps=1e5, tflops=0.4))


def skewed(x: np.ndarray, s: float) -> np.ndarray:
    """The within-problem shape by its definition: (exp(s X) - E exp(s X)) / SD, X standard normal."""
    return (np.exp(s * x) - np.exp(s * s / 2)) / np.sqrt(np.expm1(s * s) * np.exp(s * s))


def simulate(p: Profile, N: int, rho: float, problems: int = 4000, seed: int = 0, shape: float = 0.0) -> np.ndarray:
    """Exact request latency for simulated problems: every token step at the batch of still-running branches.
    With a skewed within-problem shape the latent Y is mapped to a length through its own rank among a large
    reference draw (the marginal stays F without using the model's latent CDF)."""
    rng = np.random.default_rng(seed)
    dist = LengthDist(p.lengths)
    z = rng.standard_normal((problems, 1))
    e = rng.standard_normal((problems, N))
    if shape:
        ref = np.sort(np.sqrt(rho) * rng.standard_normal(400_000) +
                      np.sqrt(1 - rho) * skewed(rng.standard_normal(400_000), shape))
        y = np.sqrt(rho) * z + np.sqrt(1 - rho) * skewed(e, shape)
        n = np.ceil(dist.quantile((np.searchsorted(ref, y) + 0.5) / (len(ref) + 1))).astype(int)
    else:
        n = np.ceil(dist.quantile(norm_cdf(np.sqrt(rho) * z + np.sqrt(1 - rho) * e))).astype(int)
    sm = StepModel(p.step, p.model)
    step = sm.time(np.arange(1, N + 1)[:, None], 1, p.prompt_tokens + np.arange(int(n.max()))[None, :])  # (B, x)
    cum = np.concatenate([np.zeros((N, 1)), np.cumsum(step, 1)], 1)          # time of x steps at a fixed batch
    out = np.empty(problems)
    for i, lens in enumerate(np.sort(n, 1)):
        prev, t = 0, prefill_time(p)
        for j, ln in enumerate(lens):                    # between finishes, the batch is N - j
            t += cum[N - j - 1, ln] - cum[N - j - 1, prev]
            prev = ln
        out[i] = t
    return out


def test_problem_nodes_are_a_distribution():
    z, w = problem_nodes(0.8)
    assert w.sum() == pytest.approx(1.0) and np.all(np.diff(z) > 0) and np.all(w > 0)
    assert problem_nodes(0.0)[1].tolist() == [1.0]


def test_conditional_lengths_mix_back_to_the_marginal():
    base = LengthDist(LengthSpec("lognormal", 300, 0.6, 16, 4096))
    x = np.array([50.0, 150, 300, 600, 1500])
    zs = np.linspace(-6, 6, 2001)
    wz = np.exp(-zs ** 2 / 2)
    mixed = sum(w * ProblemLengths(base, z, 0.8).cdf(x) for z, w in zip(zs, wz)) / wz.sum()
    assert mixed == pytest.approx(base.cdf(x), abs=2e-4)
    hard, easy = ProblemLengths(base, 1.5, 0.8), ProblemLengths(base, -1.5, 0.8)
    assert easy.quantile(0.5) < base.quantile(0.5) < hard.quantile(0.5)
    assert hard.quantile(hard.cdf(700.0)) == pytest.approx(700.0, rel=1e-3)   # quantile inverts cdf


def test_skewed_within_shape_keeps_the_marginal_and_tightens_the_shortest_branch():
    """lengths.within_shape: mixing the nodes gives back F exactly as with the normal shape; a problem's
    shortest of 8 branches sits closer to its median (the bank's pattern), its longest further out."""
    base = LengthDist(LengthSpec("lognormal", 300, 0.6, 16, 4096))
    x = np.array([50.0, 150, 300, 600, 1500])
    zs = np.linspace(-6, 6, 1201)
    wz = np.exp(-zs ** 2 / 2)
    mixed = sum(w * ProblemLengths(base, z, 0.8, 0.5).cdf(x) for z, w in zip(zs, wz)) / wz.sum()
    assert mixed == pytest.approx(base.cdf(x), abs=5e-4)
    norm, skew = ProblemLengths(base, 0.0, 0.8), ProblemLengths(base, 0.0, 0.8, 0.5)
    lo, hi = 1 - 0.5 ** (1 / 8), 0.5 ** (1 / 8)            # median of the shortest / longest of 8
    assert norm.quantile(lo) < skew.quantile(lo) < skew.quantile(0.5)
    assert skew.quantile(hi) > norm.quantile(hi) * 0.98
    rng = np.random.default_rng(1)                          # one problem's CDF against its own draws
    draws = np.sort(base.quantile(ProblemLengths(base, 0.7, 0.8, 0.5).lat.cdf(
        np.sqrt(0.8) * 0.7 + np.sqrt(0.2) * skewed(rng.standard_normal(200_000), 0.5))))
    assert ProblemLengths(base, 0.7, 0.8, 0.5).cdf(x) == pytest.approx(
        np.searchsorted(draws, x, side="right") / len(draws), abs=5e-3)


def test_within_shape_is_read_and_range_checked():
    from planner.errors import PlannerError

    raw = json.loads((DATA / "profile_test.json").read_text())
    raw["lengths"]["within_shape"] = 0.4
    assert Profile.from_dict(raw).lengths.within_shape == 0.4
    raw["lengths"]["within_shape"] = 1.5
    with pytest.raises(PlannerError, match="within_shape"):
        Profile.from_dict(raw)


def test_no_correlation_keeps_the_independent_model(cpu_like):
    p0 = replace(cpu_like, lengths=LengthSpec("lognormal", 300, 0.5, 16, 4096))
    p1 = replace(cpu_like, lengths=LengthSpec("lognormal", 300, 0.5, 16, 4096, between_share=0.0))
    g0, g1 = latency_grid(p0, [1, 8], [0]), latency_grid(p1, [1, 8], [0])
    assert np.array_equal(g0.mean, g1.mean) and np.array_equal(g0.q[0.9], g1.q[0.9])


@pytest.mark.parametrize("rho,shape", [(0.0, 0.0), (0.5, 0.0), (0.85, 0.0), (0.85, 0.5)])
def test_mixed_model_matches_simulated_requests(cpu_like, rho, shape):
    p = replace(cpu_like, lengths=LengthSpec("lognormal", 300, 0.5, 16, 4096, between_share=rho or None,
                                             within_shape=shape or None))
    for N in (1, 8):
        sim = simulate(p, N, rho, shape=shape)
        g = latency_grid(p, [N], [0])
        assert g.mean[0, 0] == pytest.approx(sim.mean(), rel=0.03), (N, rho)
        assert g.q[0.9][0, 0] == pytest.approx(np.quantile(sim, 0.9), rel=0.05), (N, rho)
        assert g.q[0.5][0, 0] == pytest.approx(np.quantile(sim, 0.5), rel=0.04), (N, rho)
        assert g.p_meet(np.quantile(sim, 0.9))[0, 0] == pytest.approx(0.9, abs=0.04), (N, rho)


def test_skewed_shape_matters_when_the_longest_branch_sets_the_latency():
    """Memory-bound (cost ~ the longest of 8 branches): simulated requests whose branches spread with the skewed
    shape are predicted within 2 % by the model with that shape; the normal shape is off by more than 4 %."""
    p = Profile.from_dict(json.loads((DATA / "profile_test.json").read_text()))
    skew = replace(p, lengths=LengthSpec("lognormal", 300, 0.5, 16, 4096, between_share=0.85, within_shape=0.5))
    sim = simulate(skew, 8, 0.85, shape=0.5)
    g = latency_grid(skew, [8], [0])
    assert g.mean[0, 0] == pytest.approx(sim.mean(), rel=0.02)
    assert g.q[0.9][0, 0] == pytest.approx(np.quantile(sim, 0.9), rel=0.02)
    normal = latency_grid(replace(skew, lengths=replace(skew.lengths, within_shape=None)), [8], [0])
    assert abs(normal.mean[0, 0] / sim.mean() - 1) > 0.04


def test_correlation_widens_compute_bound_and_shortens_memory_bound_requests(cpu_like):
    """Compute-bound (cost ~ total tokens): the mean stays, but a hard problem makes all 16 branches long, so the
    p90 across problems grows. Memory-bound (cost ~ longest branch): the slowest of 16 correlated branches is
    shorter than the slowest of 16 independent ones, so every statistic drops."""
    for prof, compute_bound in ((cpu_like, True),
                                (Profile.from_dict(json.loads((DATA / "profile_test.json").read_text())), False)):
        ind = replace(prof, lengths=LengthSpec("lognormal", 300, 0.5, 16, 4096))
        cor = replace(prof, lengths=LengthSpec("lognormal", 300, 0.5, 16, 4096, between_share=0.85))
        gi, gc = latency_grid(ind, [1, 16], [0]), latency_grid(cor, [1, 16], [0])
        assert gc.mean[0, 0] == pytest.approx(gi.mean[0, 0], rel=0.01)          # one branch: same marginal
        if compute_bound:
            assert gc.mean[0, 1] == pytest.approx(gi.mean[0, 1], rel=0.03)
            assert gc.q[0.9][0, 1] > 1.3 * gi.q[0.9][0, 1]
        else:
            assert gc.mean[0, 1] < 0.7 * gi.mean[0, 1] and gc.q[0.9][0, 1] < 0.8 * gi.q[0.9][0, 1]


def test_finish_fraction_mixes_nodes(cpu_like):
    p = replace(cpu_like, lengths=LengthSpec("lognormal", 300, 0.5, 16, 4096, between_share=0.8))
    g = latency_grid(p, [1, 4], [0])
    f = g.finish_fraction(float(g.q[0.5][0, 0]))
    assert f[0, 0] == pytest.approx(0.5, abs=0.03)      # one branch: half the problems end by their median
    assert f[0, 1] < f[0, 0]
    assert np.all(g.finish_fraction(None) == 1.0) and np.all(g.finish_fraction(1e9) == pytest.approx(1.0))


def test_subgrid_interpolation_in_n_is_close_to_exact(cpu_like, monkeypatch):
    import planner.model.latency as L

    p = replace(load_default(), lengths=replace(load_default().lengths, between_share=0.8))
    N, K = np.arange(1, 200), np.array([0, 2])
    g = latency_grid(p, N, K)
    assert len(g._expand.sub) < 70                       # the work is on a subgrid
    one = latency_grid(p, [103], K)                      # a single N gets the same interpolation
    assert np.allclose(one.q[0.9][:, 0], g.q[0.9][:, 102]) and np.allclose(one.mean[:, 0], g.mean[:, 102])
    orig = L._NInterp.__init__
    monkeypatch.setattr(L._NInterp, "__init__", lambda self, N, mix: orig(self, N, False))
    exact = latency_grid(p, N, K)
    assert np.max(np.abs(g.mean / exact.mean - 1)) < 0.005
    assert np.max(np.abs(g.q[0.9] / exact.q[0.9] - 1)) < 0.005
    assert np.max(np.abs(g.p_meet(3.0) - exact.p_meet(3.0))) < 0.03


def load_default():
    from planner.profile import load_profile

    return load_profile("h100-sxm-qwen2.5-7b")
