"""Generation-length distribution of one branch: CDF and quantile function on numpy arrays.

The latency model needs F(x) (share of branches done after x tokens) and F^-1(u) (e.g. the length of the
slowest of N branches at quantile q is F^-1(q^(1/N))).

Branches of one problem are not independent: a hard problem makes every branch long (on the shared Qwen2.5-Math
MATH sample bank 82 % of the variance of log-length is between problems). `between_share` rho models that with a
Gaussian copula: a branch's length is F^-1(Phi(sqrt(rho) Z + sqrt(1 - rho) E)), Z shared by the problem's
branches, E its own. Given Z = z the branches are i.i.d. again (`ProblemLengths`), so the latency model runs
per problem node and mixes; the marginal F is unchanged, so accuracy and mean length are unaffected.

`within_shape` s shapes E (`WithinShape`): 0 (default) keeps it normal; s > 0 makes it a standardized shifted
log-normal with log-SD s, right-skewed and bounded below, as on the shared Qwen2.5-Math bank (most branches close
together, a few run long, the shortest close to the centre). The latent Y = sqrt(rho) Z + sqrt(1 - rho) E is then
no longer normal, so a length is F^-1(H(Y)) with H the CDF of Y (`Latent`): the marginal F stays exact. The cut
accuracy (planner/accuracy/cut.py) reads the same `Latent` and nodes, so both models share one definition."""

from __future__ import annotations

import functools

import numpy as np
from planner.errors import PlannerError
from planner.profile.schema import LengthSpec
from planner.special import ndtr, norm_cdf, norm_ppf

_TABLE = 4097  # log-spaced points tabulating the truncated log-normal CDF (interpolation error < 1e-7)


class LengthDist:
    """`cap` (a max_tokens limit below the natural maximum) stops branches at `cap` tokens: the generated
    length is min(n, cap), and `answer_share` = P(n <= cap) of branches end with an answer."""

    def __init__(self, spec: LengthSpec, tokens: np.ndarray | None = None, cap: float | None = None):
        self.spec = spec
        self.lo, self.hi = float(spec.min_tokens), float(spec.max_tokens)
        if spec.kind == "empirical" or tokens is not None:
            t = np.sort(np.asarray(tokens if tokens is not None else spec.tokens, dtype=float))
            self.lo, self.hi = float(t[0]), float(t[-1])
            # ECDF with linear interpolation between order statistics (plotting positions i/(n-1)).
            self._x = t
            self._u = np.linspace(0.0, 1.0, len(t))
            self._emp = True
        else:
            # Tabulate once; cdf and quantile are then exact inverses of each other by linear interpolation.
            self._emp = False
            logx = np.linspace(np.log(max(self.lo, 1e-6)), np.log(self.hi), _TABLE)
            z = ndtr((logx - np.log(spec.median_tokens)) / spec.sigma)
            F = (z - z[0]) / max(z[-1] - z[0], 1e-300)
            self._logx, self._F = logx, np.maximum.accumulate(F + np.arange(_TABLE) * 1e-16) / (1 + _TABLE * 1e-16)
        self.cap = None
        self.answer_share = 1.0
        if cap is not None and cap < self.hi:
            self.answer_share = float(self._cdf(cap))
            self.cap, self.hi = float(cap), float(cap)

    def answered(self, x) -> np.ndarray:
        """Share of branches that ended with an answer after x tokens (a capped branch never answers)."""
        x = np.asarray(x, dtype=float)
        return self._cdf(x if self.cap is None else np.minimum(x, self.cap))

    def cdf(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        out = self._cdf(x)
        return out if self.cap is None else np.where(x >= self.cap, 1.0, out)

    def _cdf(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if self._emp:
            return np.interp(x, self._x, self._u, left=0.0, right=1.0)
        with np.errstate(divide="ignore"):
            return np.interp(np.log(np.maximum(x, 1e-300)), self._logx, self._F, left=0.0, right=1.0)

    def quantile(self, u) -> np.ndarray:
        out = self._quantile(u)
        return out if self.cap is None else np.minimum(out, self.cap)

    def _quantile(self, u) -> np.ndarray:
        u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
        if self._emp:
            return np.interp(u, self._u, self._x)
        return np.exp(np.interp(u, self._F, self._logx))

    def mean(self) -> float:
        u = (np.arange(2000) + 0.5) / 2000
        return float(self.quantile(u).mean())


# Problem-difficulty nodes: bins of P(Z <= z), finer in the upper tail where the p90/p99 latency lives.
_NODE_EDGES = np.array([0.0, 0.15, 0.35, 0.55, 0.72, 0.84, 0.92, 0.96, 0.985, 0.995, 1.0])


def node_edges(rho: float) -> np.ndarray:
    """Edges of the problem nodes in P(Z <= z) (one node [0, 1] when branches are independent): the one
    definition of "a problem's branches" shared by the latency model and the cut accuracy (planner/accuracy/cut.py)."""
    return _NODE_EDGES.copy() if rho > 0.0 else np.array([0.0, 1.0])


def problem_nodes(rho: float) -> tuple[np.ndarray, np.ndarray]:
    """(z values, weights) of the problem effect; one node of weight 1 when branches are independent."""
    if rho <= 0.0:
        return np.zeros(1), np.ones(1)
    mids = 0.5 * (_NODE_EDGES[1:] + _NODE_EDGES[:-1])
    return norm_ppf(mids), np.diff(_NODE_EDGES)


class WithinShape:
    """Within-problem length residual E, mean 0 and variance 1: normal (s = 0) or (exp(s X) - m) / sd, X normal,
    m = exp(s^2/2), sd = sqrt((exp(s^2) - 1) exp(s^2)) (skewness 1.75 at s = 0.5; bounded below by -m/sd)."""

    def __init__(self, s: float | None = 0.0):
        self.s = float(s or 0.0)
        if not 0.0 <= self.s <= 1.0:
            raise PlannerError(f"lengths.within_shape must be in [0, 1], got {s}; 0 is the normal shape")
        self.m = float(np.exp(self.s ** 2 / 2))
        self.sd = float(np.sqrt(np.expm1(self.s ** 2) * np.exp(self.s ** 2)))

    def cdf(self, e) -> np.ndarray:
        if self.s == 0.0:
            return norm_cdf(e)
        x = self.m + self.sd * np.asarray(e, dtype=float)
        with np.errstate(divide="ignore"):
            return np.where(x > 0, norm_cdf(np.log(np.maximum(x, 1e-300)) / self.s), 0.0)

    def ppf(self, u) -> np.ndarray:
        if self.s == 0.0:
            return norm_ppf(u)
        return (np.exp(self.s * norm_ppf(u)) - self.m) / self.sd


class Latent:
    """CDF H and inverse of the latent length Y = a Z + b E (a = sqrt(rho), b = sqrt(1 - rho), Z normal, E of
    `WithinShape(s)`): exactly Phi for a normal E, else tabulated (Phi^-1(H) against y, interpolated)."""

    def __init__(self, rho: float, s: float | None = 0.0):
        self.g = WithinShape(s)
        self.a, self.b = float(np.sqrt(max(rho, 0.0))), float(np.sqrt(1.0 - max(rho, 0.0)))
        if self.g.s > 0.0:
            z = np.linspace(-8.0, 8.0, 321)
            wz = np.exp(-z ** 2 / 2)
            wz /= wz.sum()
            top = self.a * 8.0 + self.b * float(self.g.ppf(1.0 - 1e-12))
            self._y = np.linspace(-8.0, max(top, 8.0), 1601)
            H = self.g.cdf((self._y[:, None] - self.a * z[None, :]) / self.b) @ wz
            self._q = np.maximum.accumulate(norm_ppf(np.clip(H, 0.0, 1.0)) + np.arange(len(H)) * 1e-12)

    def cdf(self, y) -> np.ndarray:
        if self.g.s == 0.0:
            return norm_cdf(y)
        return norm_cdf(np.interp(np.asarray(y, dtype=float), self._y, self._q))

    def ppf(self, u) -> np.ndarray:
        if self.g.s == 0.0:
            return norm_ppf(u)
        return np.interp(norm_ppf(u), self._q, self._y)


@functools.lru_cache(maxsize=16)
def latent(rho: float, s: float | None = 0.0) -> Latent:
    """The shared (cached) latent length scale of a profile's `lengths` (between_share rho, within_shape s)."""
    return Latent(float(rho or 0.0), float(s or 0.0))


class ProblemLengths(LengthDist):
    """Lengths of one problem's branches given its effect z: i.i.d. with CDF G((H^-1(F(x)) - a z) / b),
    a = sqrt(rho), b = sqrt(1 - rho), G and H of `latent(rho, s)` (Phi and Phi for the normal shape). A LengthDist
    of its own: only the CDF and quantile differ (the cap, `answered`, `cdf` and `mean` are inherited)."""

    def __init__(self, base: LengthDist, z: float, rho: float, within_shape: float | None = 0.0):
        self.base, self.z = base, float(z)
        self.lat = latent(rho, within_shape)
        self.a, self.b = self.lat.a, self.lat.b
        self.lo, self.hi, self.cap, self.spec = base.lo, base.hi, base.cap, base.spec
        self.answer_share = float(self._cond(base._cdf(base.cap))) if base.cap is not None else 1.0
        # The latency model evaluates the CDF on large arrays: tabulate it once on log-spaced lengths.
        top = float(base._quantile(1.0))
        self._logx = np.linspace(np.log(max(base._quantile(0.0), 1e-6)), np.log(max(top, 1e-6) + 1e-9), 2049)
        self._Ft = self._cond(base._cdf(np.exp(self._logx)))

    def _cond(self, F) -> np.ndarray:
        return self.lat.g.cdf((self.lat.ppf(F) - self.a * self.z) / self.b)

    def _cdf(self, x) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.interp(np.log(np.maximum(np.asarray(x, dtype=float), 1e-300)), self._logx, self._Ft,
                             left=0.0, right=1.0)

    def quantile(self, u) -> np.ndarray:
        u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
        return self.base.quantile(self.lat.cdf(self.a * self.z + self.b * self.lat.g.ppf(u)))
