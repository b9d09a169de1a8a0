"""Parametric Beta model: majority@v against exact enumeration of the 3-class model integrated over the prior,
the thinning mix against scipy, and fit_beta recovering known parameters."""

import math

import numpy as np
import pytest
from scipy import integrate, stats

from planner.accuracy import parametric as par
from planner.errors import PlannerError


def maj_given_p(p, rho, v):
    """Enumerate the multinomial over (correct, recurring wrong, unique wrong) votes; plurality, fair ties."""
    q = (p, (1 - p) * rho, (1 - p) * (1 - rho))
    total = 0.0
    for x0 in range(1, v + 1):
        for x1 in range(v - x0 + 1):
            u = v - x0 - x1
            pr = math.factorial(v) / (math.factorial(x0) * math.factorial(x1) * math.factorial(u)) \
                * q[0] ** x0 * q[1] ** x1 * q[2] ** u
            classes = [x0] + ([x1] if x1 else []) + [1] * u
            if x0 == max(classes):
                total += pr / classes.count(x0)
    return total


@pytest.mark.parametrize("a, b, rho", [(2.0, 1.0, 0.5), (0.7, 0.4, 0.3), (1.5, 3.0, 0.9), (0.5, 0.5, 0.0),
                                       (3.0, 2.0, 1.0)])
@pytest.mark.slow
def test_majority_equals_enumeration_over_prior(a, b, rho):
    curve = par.majority_curve(a, b, rho, 6)
    assert curve[0] == 0.0
    for v in range(1, 7):
        ref = integrate.quad(lambda p: maj_given_p(p, rho, v) * stats.beta.pdf(p, a, b), 0, 1, limit=200)[0]
        assert curve[v] == pytest.approx(ref, abs=1e-8)


def test_one_and_two_voters_give_mean_p():
    curve = par.majority_curve(1.3, 0.6, 0.4, 4)
    assert curve[1] == pytest.approx(1.3 / 1.9) and curve[2] == pytest.approx(1.3 / 1.9)


def test_single_wrong_answer_is_two_class_vote():
    """rho = 1: one wrong answer -> win iff X0 > v/2, a tie counts 1/2, with X0 beta-binomial."""
    a, b = 2.5, 1.2
    curve = par.majority_curve(a, b, 1.0, 40)
    for v in (3, 10, 40):
        x = np.arange(v + 1)
        pmf = stats.betabinom.pmf(x, v, a, b)
        assert curve[v] == pytest.approx(pmf[2 * x > v].sum() + 0.5 * pmf[2 * x == v].sum(), abs=1e-12)


def test_large_v_matches_scipy_and_limits():
    a, b, rho = 2.0, 0.8, 0.5
    curve = par.majority_curve(a, b, rho, 256)
    assert np.all((curve >= 0) & (curve <= 1))
    # large v: correct wins iff p > rho (1 - p), i.e. p > rho / (1 + rho) = 1/3
    assert curve[256] == pytest.approx(stats.beta.sf(1 / 3, a, b), abs=0.01)
    x = np.arange(101)
    g = par._win_given_x0(rho, 100)[100]
    assert curve[100] == pytest.approx(stats.betabinom.pmf(x, 100, a, b) @ g, abs=1e-12)


def test_pass_curve():
    a, b = 0.8, 0.5
    ref = 1 - integrate.quad(lambda p: (1 - p) ** 5 * stats.beta.pdf(p, a, b), 0, 1)[0]
    assert par.pass_curve(a, b, 5)[5] == pytest.approx(ref, abs=1e-8)


def test_binomial_thinning_matches_scipy():
    curve = par.majority_curve(0.6, 0.3, 0.3, 64)
    f = np.array([0.0, 0.3, 0.9, 1.0])
    acc = par.binomial_thinning(curve, 64, f)
    for t, ft in enumerate(f):
        for n in (1, 7, 64):
            ref = stats.binom.pmf(np.arange(n + 1), n, ft) @ curve[:n + 1]
            assert acc[t, n - 1] == pytest.approx(ref, abs=1e-12)
    np.testing.assert_allclose(acc[-1], curve[1:], atol=1e-12)
    assert np.all(acc[0] == 0)


def test_fit_beta_recovers_parameters():
    a, b, rho = 1.8, 0.7, 0.5
    curve = par.majority_curve(a, b, rho, 64)
    fit = par.fit_beta(a / (a + b), {64: curve[64]}, rho=rho)
    assert fit.a == pytest.approx(a, rel=1e-4) and fit.b == pytest.approx(b, rel=1e-4)
    assert set(fit.residuals) == {"pass@1", "maj@64"} and fit.rms < 1e-8
    both = par.fit_beta(a / (a + b), {8: curve[8], 64: curve[64]}, rho=0.2, fit_rho=True)
    assert both.rho == pytest.approx(rho, abs=1e-3) and both.rms < 1e-6


def test_fit_beta_residuals_when_inconsistent():
    # maj@8 below pass@1 with rho = 0 (no recurring wrong answer) cannot be matched exactly
    fit = par.fit_beta(0.7, {8: 0.6}, rho=0.0)
    assert fit.rms > 0.01 and abs(fit.residuals["pass@1"]) < 0.2


@pytest.mark.parametrize("kwargs, needle", [
    (dict(pass1=1.2), "pass@1 must be in"),
    (dict(pass1=0.5, maj_points={0: 0.5}), "need k >= 1"),
    (dict(pass1=0.5, maj_points={8: 0.6}, fit_rho=True), "at least two maj@k points"),
    (dict(pass1=0.5, rho=1.5), "wrong_mode_share must be in"),
])
def test_fit_beta_rejects_bad_input(kwargs, needle):
    with pytest.raises(PlannerError, match=needle):
        par.fit_beta(**kwargs)
