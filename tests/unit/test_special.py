"""planner.special (numpy-only) against scipy.special on the argument ranges the planner uses."""

import numpy as np
import pytest
import scipy.special as sc

import planner.special as ps


def test_gammaln_betaln_comb_match_scipy():
    x = np.concatenate([np.linspace(0.01, 3, 97), np.arange(1, 3000, 7.0)])
    assert np.allclose(ps.gammaln(x), sc.gammaln(x), rtol=1e-12, atol=1e-11)
    a, b = np.meshgrid(np.linspace(0.05, 50, 40), np.linspace(0.05, 300, 40))
    assert np.allclose(ps.betaln(a, b), sc.betaln(a, b), rtol=1e-11, atol=1e-10)
    n, k = np.meshgrid(np.arange(0, 60), np.arange(-2, 62))
    assert np.allclose(ps.comb(n, k), sc.comb(n, k), rtol=1e-11)
    assert ps.comb(8, 4) == pytest.approx(70.0, rel=1e-13)


def test_binomial_tail_expit_xlogy_ndtr():
    v = np.arange(1, 300)
    for q in (0.03, 0.5, 0.91):
        assert np.allclose(ps.bdtrc(v // 2, v, q), sc.bdtrc(v // 2, v, q), rtol=1e-11, atol=1e-12)
    x = np.linspace(-40, 40, 101)
    assert np.allclose(ps.expit(x), sc.expit(x), rtol=1e-13, atol=0)
    assert np.allclose(ps.xlogy([0, 2, 3], [0, 0.5, 4]), sc.xlogy([0, 2, 3], [0, 0.5, 4]))
    assert np.allclose(ps.xlog1py([0, 2], [-1, 0.5]), sc.xlog1py([0, 2], [-1, 0.5]))
    z = np.linspace(-9, 9, 181)
    assert np.allclose(ps.ndtr(z), sc.ndtr(z), rtol=1e-13, atol=1e-300)
