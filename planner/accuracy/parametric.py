"""Parametric accuracy fallback for profiles without a sample bank (the embedded datasheet profiles).

Per problem the correct-answer probability is p ~ Beta(a, b). Of the wrong mass 1-p a share rho (the
`wrong_mode_share`) goes to ONE recurring wrong answer; the rest are unique answers that never repeat.
With v voters: X0 ~ Bin(v, p) correct votes, and each of the v - X0 wrong votes is the recurring answer with
probability rho(1-p)/(1-p) = rho, so X1 | X0 ~ Bin(v - X0, rho) independently of p. Plurality vote:
  X0 >= 2:  win if X0 > X1, a tie X0 == X1 counts 1/2 (unique answers have one vote each, so they never lead);
  X0 == 1:  X1 >= 2 loses; X1 <= 1 means every vote is a class of its own (1 correct, X1 recurring, the rest
            unique), a v-way tie -> 1/v;
  X0 == 0:  0.
(v = 1 gives p, v = 2 gives p^2 + 2p(1-p)/2 = p, as for any tie-fair plurality.) Because the win probability
given X0 does not depend on p, averaging over the Beta prior is exact with the beta-binomial law of X0:
  maj[v] = sum_x0 BetaBinom(x0; v, a, b) * G[v, x0]
so no quadrature is needed; maj[v] is exact for every v."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
from planner.special import betaln

from planner.errors import PlannerError


def _binomial_table(n_max: int, q: float) -> np.ndarray:
    """T[r, k] = Bin(k; r, q) for r, k = 0..n_max by the forward recursion (exact up to rounding, fast)."""
    t = np.zeros((n_max + 1, n_max + 1))
    t[0, 0] = 1.0
    for r in range(1, n_max + 1):
        t[r, :r + 1] = t[r - 1, :r + 1] * (1.0 - q)
        t[r, 1:r + 1] += t[r - 1, :r] * q
    return t


@functools.lru_cache(maxsize=64)
def _win_given_x0(rho: float, n_max: int) -> np.ndarray:
    """G[v, x0] = P(correct wins | v voters, X0 = x0) for v, x0 = 0..n_max (0 where x0 > v)."""
    pmf = _binomial_table(n_max, rho)
    cdf = np.cumsum(pmf, axis=1)
    v, x0 = np.meshgrid(np.arange(n_max + 1), np.arange(n_max + 1), indexing="ij")
    rest = np.maximum(v - x0, 0)
    big = cdf[rest, np.maximum(x0 - 1, 0)] + 0.5 * pmf[rest, x0]
    one = cdf[rest, 1] / np.maximum(v, 1)
    g = np.where(x0 >= 2, big, np.where(x0 == 1, one, 0.0))
    g = np.where(x0 <= v, np.minimum(g, 1.0), 0.0)
    g.setflags(write=False)
    return g


def _betabinomial_table(a: float, b: float, n_max: int) -> np.ndarray:
    """BB[v, x] = BetaBinom(x; v, a, b) by the Polya-urn recursion over v."""
    t = np.zeros((n_max + 1, n_max + 1))
    t[0, 0] = 1.0
    for v in range(1, n_max + 1):
        x = np.arange(v)
        t[v, :v] = t[v - 1, :v] * (b + v - 1 - x) / (a + b + v - 1)
        t[v, 1:v + 1] += t[v - 1, :v] * (a + x) / (a + b + v - 1)
    return t


@functools.lru_cache(maxsize=256)
def majority_curve(a: float, b: float, rho: float, n_max: int) -> np.ndarray:
    """maj[v], v = 0..n_max (maj[0] = 0): expected plurality-vote accuracy with v voters."""
    out = (_betabinomial_table(a, b, n_max) * _win_given_x0(float(rho), n_max)).sum(axis=1)
    out[0] = 0.0
    out.setflags(write=False)
    return out


def pass_curve(a: float, b: float, n_max: int) -> np.ndarray:
    """Oracle pass@v = 1 - E[(1-p)^v] = 1 - B(a, b+v)/B(a, b)."""
    v = np.arange(n_max + 1)
    return 1.0 - np.exp(betaln(a, b + v) - betaln(a, b))


def binomial_thinning(curve: np.ndarray, n_max: int, finish: np.ndarray) -> np.ndarray:
    """acc[t, n-1] = sum_v Bin(v; n, finish[t]) * curve[v] for n = 1..n_max: each of n branches votes
    independently with probability finish[t]. De Casteljau: h_n(k) = E curve[k + Bin(n, f)] satisfies
    h_n(k) = (1-f) h_{n-1}(k) + f h_{n-1}(k+1), and acc(n) = h_n(0); convex combinations, so stable."""
    f = np.asarray(finish, dtype=float)[:, None]
    h = np.repeat(np.asarray(curve[:n_max + 1], dtype=float)[None, :], f.shape[0], axis=0)
    out = np.empty((f.shape[0], n_max))
    for n in range(1, n_max + 1):
        h = (1.0 - f) * h[:, :-1] + f * h[:, 1:]
        out[:, n - 1] = h[:, 0]
    return out


@dataclass(frozen=True)
class BetaFit:
    a: float
    b: float
    rho: float
    residuals: dict = field(default_factory=dict)  # "pass@1" / "maj@k" -> predicted - published

    @property
    def rms(self) -> float:
        r = np.array(list(self.residuals.values()), dtype=float)
        return float(np.sqrt(np.mean(r ** 2))) if r.size else 0.0


def fit_beta(pass1: float, maj_points: dict[int, float] | None = None, rho: float = 0.5,
             fit_rho: bool = False) -> BetaFit:
    """Least-squares fit of (a, b) (and rho if fit_rho) to a published pass@1 and maj@k points.
    Parameters are fitted in log / logit space; a, b are kept in [1e-3, 1e3]."""
    maj_points = {int(k): float(v) for k, v in (maj_points or {}).items()}
    if not 0.0 < pass1 < 1.0:
        raise PlannerError(f"pass@1 must be in (0, 1), got {pass1}")
    for k, acc in maj_points.items():
        if k < 1 or not 0.0 <= acc <= 1.0:
            raise PlannerError(f"maj@{k} = {acc}: need k >= 1 and accuracy in [0, 1]")
    if not 0.0 <= rho <= 1.0:
        raise PlannerError(f"wrong_mode_share must be in [0, 1], got {rho}")
    if fit_rho and len(maj_points) < 2:
        raise PlannerError("fitting wrong_mode_share too needs at least two maj@k points besides pass@1")
    from scipy.optimize import least_squares  # ~1 s import: only when fitting

    k_max = max(maj_points, default=1)
    ks = sorted(maj_points)

    def unpack(x):
        r = 1.0 / (1.0 + np.exp(-x[2])) if fit_rho else rho
        return float(np.exp(x[0])), float(np.exp(x[1])), float(r)

    def resid(x):
        a, b, r = unpack(x)
        curve = majority_curve(a, b, r, k_max)
        return np.array([a / (a + b) - pass1] + [curve[k] - maj_points[k] for k in ks])

    x0 = [np.log(2 * pass1), np.log(2 * (1 - pass1))] + ([0.0] if fit_rho else [])
    lo = [np.log(1e-3)] * 2 + ([-10.0] if fit_rho else [])
    hi = [np.log(1e3)] * 2 + ([10.0] if fit_rho else [])
    sol = least_squares(resid, x0, bounds=(lo, hi), xtol=1e-12, ftol=1e-12)
    a, b, r = unpack(sol.x)
    res = resid(sol.x)
    names = ["pass@1"] + [f"maj@{k}" for k in ks]
    return BetaFit(a, b, r, {n: float(x) for n, x in zip(names, res)})
