"""The length-correctness link of the parametric accuracy model, its defaults, and its fit to a sample bank.

A deadline cuts the longest branches, and long branches are not a random sample: (1) a hard problem makes every
branch long (the latency model's problem effect Z, `lengths.between_share`), and hard problems are also the ones
answered wrongly; (2) within one problem, wrong answers run longer than right ones. The model:
  difficulty:  p = F_Beta^-1(Phi(H)),  H = -lam Z + sqrt(1 - lam^2) W    (W independent; lam > 0: long = hard)
  within:      a branch's within-problem length score is E - delta (1-p) if correct, E + delta p if wrong, E of
               the profile's within-problem shape (normal by default; mean 0 within every problem, so the
               problem's length distribution stays the latency model's).
Defaults (old profiles, derived profiles) are the values fitted to the shared Qwen2.5-Math MATH bank by
`fit_link` with the normal shape: lam 0.35 (maximum likelihood over lam on a 0.05 grid), delta 0.5 (mean
wrong-minus-right gap of 10 problems with both; its standard error 0.33 is large). `fit_to_bank` fits lam to the
bank's own cut curve instead (with the fitted shape, lam -0.1 there; docs/accuracy.md, bench/cut_accuracy.py).
Standard errors: a parametric model's inputs are benchmark accuracies over `sample_size` problems (500 for
MATH-500, the source of every shipped profile), so a predicted accuracy a carries sqrt(a (1 - a) / P)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.errors import PlannerError
from planner.special import betaln, norm_cdf, norm_ppf

DEFAULT_DIFFICULTY_LENGTH_CORR = 0.35   # fitted on the shared bank (source: docs/accuracy.md, bench/cut_accuracy.py)
DEFAULT_WRONG_LENGTH_SHIFT = 0.5        # same bank; SE 0.33 (10 problems with right and wrong answers)
DATASET_SIZES = {"MATH-500": 500}       # problems in a named benchmark (HuggingFaceH4/MATH-500 test split)
DEFAULT_SAMPLE_SIZE = 500               # assumption for a parametric profile naming no known dataset


@dataclass(frozen=True)
class Link:
    lam: float = DEFAULT_DIFFICULTY_LENGTH_CORR
    delta: float = DEFAULT_WRONG_LENGTH_SHIFT

    def __post_init__(self):
        if not (-0.95 <= self.lam <= 0.95):
            raise PlannerError(f"difficulty_length_corr must be in [-0.95, 0.95], got {self.lam}")
        if not (-1.5 <= self.delta <= 1.5):
            raise PlannerError(f"wrong_length_shift must be in [-1.5, 1.5], got {self.delta}")


def sample_size(spec) -> int:
    """Problems behind a parametric profile's accuracy numbers: the field, else the dataset's size, else 500."""
    n = getattr(spec, "sample_size", None)
    if n is None:
        n = DATASET_SIZES.get(getattr(spec, "dataset", None) or "", DEFAULT_SAMPLE_SIZE)
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise PlannerError(f"accuracy.sample_size must be a positive integer, got {n!r}")
    return int(n)


def binomial_se(acc: np.ndarray, n_problems: int) -> np.ndarray:
    """Standard error of an accuracy measured as the mean of 0/1 outcomes over n_problems problems."""
    a = np.clip(np.asarray(acc, dtype=float), 0.0, 1.0)
    return np.sqrt(a * (1.0 - a) / n_problems)


def beta_cdf(x, a: float, b: float) -> np.ndarray:
    """Regularized incomplete beta I_x(a, b) by its continued fraction (modified Lentz; symmetric form beyond the
    mean), vectorised; scipy.special costs ~0.5 s to import on the recommend path."""
    x = np.clip(np.asarray(x, dtype=float), 0.0, 1.0)
    flip = x > (a + 1.0) / (a + b + 2.0)
    aa, bb, xx = np.where(flip, b, a), np.where(flip, a, b), np.where(flip, 1.0 - x, x)
    with np.errstate(divide="ignore", invalid="ignore"):
        front = np.exp(aa * np.log(xx) + bb * np.log1p(-xx) - betaln(aa, bb)) / aa
    tiny = 1e-300
    c, d = np.ones_like(xx), 1.0 - (aa + bb) * xx / (aa + 1.0)
    d = 1.0 / np.where(np.abs(d) < tiny, tiny, d)
    h = d.copy()
    for m in range(1, 300):
        for num in (m * (bb - m) * xx / ((aa + 2 * m - 1) * (aa + 2 * m)),
                    -(aa + m) * (aa + bb + m) * xx / ((aa + 2 * m) * (aa + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / np.where(np.abs(d) < tiny, tiny, d)
            c = 1.0 + num / c
            c = np.where(np.abs(c) < tiny, tiny, c)
            h = h * c * d
    out = np.where(xx <= 0, 0.0, front * h)
    return np.where(flip, 1.0 - out, out)


def difficulty_masses(z: np.ndarray, a: float, b: float, lam: float, grid: np.ndarray) -> np.ndarray:
    """P[i, q]: probability mass of p near grid[q] (cells between grid midpoints) for a problem with length effect
    z[i]; each row sums to 1. The Beta marginal is kept exactly (Gaussian copula)."""
    edges = np.concatenate([[0.0], 0.5 * (grid[1:] + grid[:-1]), [1.0]])
    h = norm_ppf(np.clip(beta_cdf(edges, a, b), 0.0, 1.0))
    s = np.sqrt(max(1.0 - lam * lam, 1e-12))
    cdf = norm_cdf((h[None, :] + lam * np.asarray(z, dtype=float)[:, None]) / s)
    cdf[:, 0], cdf[:, -1] = 0.0, 1.0
    return np.diff(cdf, axis=1)


def voter_correct_share(p: np.ndarray, e: np.ndarray, delta: float, cdf=norm_cdf) -> np.ndarray:
    """pi[q, m]: share of correct answers among a problem's finished branches when its branches finish with
    probability G(e[m]) and wrong ones run delta within-problem SDs longer than right ones (G = `cdf`, the
    within-problem shape; Phi by default). The threshold c solves p G(c + delta (1-p)) + (1-p) G(c - delta p) =
    G(e) (the problem's finished share stays G(e))."""
    p = np.asarray(p, dtype=float)[:, None]
    e = np.asarray(e, dtype=float)[None, :]
    if delta == 0.0:
        return np.broadcast_to(p, (p.shape[0], e.shape[1])).copy()
    f = cdf(e)
    lo, hi = e - abs(delta), e + abs(delta)
    for _ in range(40):   # bisection: the left side increases in c and brackets Phi(e) on [e - |d|, e + |d|]
        c = 0.5 * (lo + hi)
        below = p * cdf(c + delta * (1 - p)) + (1 - p) * cdf(c - delta * p) < f
        lo, hi = np.where(below, c, lo), np.where(below, hi, c)
    c = 0.5 * (lo + hi)
    sc, sw = p * cdf(c + delta * (1 - p)), (1 - p) * cdf(c - delta * p)
    return np.where(sc + sw > 0, sc / np.maximum(sc + sw, 1e-300), p)


def normal_scores(lengths: np.ndarray, rho: float = 0.0, within_shape: float = 0.0) -> np.ndarray:
    """H^-1 of pooled mid-ranks (ties share their mean rank): the latency model's latent length scale (Phi^-1
    for the normal within-problem shape; `lengths.latent(rho, within_shape)` otherwise)."""
    x = np.asarray(lengths, dtype=float)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x), dtype=float)
    uniq, inv = np.unique(x, return_inverse=True)
    mean_rank = np.bincount(inv, ranks) / np.bincount(inv)
    u = (mean_rank[inv] + 0.5) / len(x)
    if not within_shape:
        return norm_ppf(u)
    from planner.model.lengths import latent

    return latent(rho, within_shape).ppf(u)


def fit_link(bank, rho: float, a: float, b: float, within_shape: float = 0.0) -> tuple[Link, dict]:
    """Fit (lam, delta) to a bank given the length share rho, the within-problem shape and the Beta fit (a, b).
    lam: maximum likelihood of each problem's correct count given its length effect z = mean latent score /
    sqrt(rho), on a 0.05 grid. delta: mean over problems with right and wrong answers of (mean score of wrong - of
    right) / sqrt(1 - rho)."""
    y = normal_scores(bank.num_tokens, rho, within_shape)
    P = bank.num_problems
    z = np.array([y[bank.span(p)].mean() for p in range(P)]) / np.sqrt(max(rho, 1e-6))
    k = np.array([int(bank.correct[bank.span(p)].sum()) for p in range(P)])
    m = bank.sizes
    grid = np.linspace(0.0, 1.0, 513)
    from planner.accuracy.estimators import binom_pmf
    like = binom_pmf(k[:, None], m[:, None], grid[None, :])                      # (P, Q)
    lams = np.round(np.arange(-0.9, 0.9001, 0.05), 2)
    ll = [float(np.log(np.maximum((difficulty_masses(z, a, b, lam, grid) * like).sum(1), 1e-300)).sum())
          for lam in lams]
    lam = float(lams[int(np.argmax(ll))])
    gaps = []
    for p in range(P):
        s, c = bank.span(p), bank.correct[bank.span(p)]
        if 0 < c.sum() < len(c):
            gaps.append((y[s][~c].mean() - y[s][c].mean()) / np.sqrt(max(1.0 - rho, 1e-6)))
    delta = float(np.clip(np.mean(gaps), -1.5, 1.5)) if gaps else 0.0
    se = float(np.std(gaps, ddof=1) / np.sqrt(len(gaps))) if len(gaps) > 1 else float("nan")
    return Link(lam, round(delta, 3)), {"lam_grid": lams.tolist(), "loglik": ll, "delta_se": se,
                                        "mixed_problems": len(gaps)}


CUT_SHARES = np.round(np.arange(0.1, 0.91, 0.1), 2)   # cuts the link is fitted at (f = 0.1 .. 0.9)


def fit_lam_to_cuts(bank, a: float, b: float, omega: float, rho: float, delta: float, within_shape: float = 0.0,
                    shares=CUT_SHARES) -> tuple[float, float]:
    """(lam, rms error): the difficulty link that best reproduces the bank's own maj@M when only branches below the
    f length quantile vote, f in `shares` (least squares; a 0.15 grid on [-0.9, 0.9], then 0.05 around the best).
    Maximum likelihood (`fit_link`) weighs every problem's correct count; this weighs what a cut changes, which
    on the shared bank differs: its few all-wrong problems are short, its mixed ones long."""
    from planner.accuracy.cut import CutTables
    from planner.accuracy.model import BankAccuracyModel

    m = int(bank.sizes.min())
    fq = np.asarray(shares, dtype=float)
    target = BankAccuracyModel(bank).table("majority", m, fq)[0][:, m - 1]
    cache: dict = {}

    def err(lam: float) -> float:
        lam = round(float(np.clip(lam, -0.9, 0.9)), 2)
        if lam not in cache:
            ct = CutTables("majority", a, b, omega, rho, Link(lam, delta), m, within_shape)
            cache[lam] = float(np.mean((ct.global_cut(fq)[:, m - 1] - target) ** 2))
        return cache[lam]

    best = min(np.arange(-0.9, 0.901, 0.15), key=err)
    best = min(best + np.arange(-0.1, 0.101, 0.05), key=err)
    lam = round(float(np.clip(best, -0.9, 0.9)), 2)
    return lam, float(np.sqrt(err(lam)))


def fit_to_bank(bank, rho: float, within_shape: float = 0.0, lam_by: str = "cuts") -> dict:
    """The parametric path fitted to a bank: Beta (a, b) and wrong_mode_share from its uncut pass@1 and maj@k
    (k = 2, 4, M; exact estimators), then the link given the length share rho and within-problem shape: delta
    from the within-problem gap, lam by matching the bank's cut curve (`lam_by="cuts"`) or by maximum likelihood
    ("ml"). Offline use only (scipy)."""
    from planner.accuracy.estimators import majority_at_n
    from planner.accuracy.parametric import fit_beta

    m = int(bank.sizes.min())
    ks = sorted({k for k in (2, 4, m) if 2 <= k <= m})
    fit = fit_beta(majority_at_n(bank, 1).mean, {k: majority_at_n(bank, k).mean for k in ks}, 0.5,
                   fit_rho=len(ks) >= 2)
    link, info = fit_link(bank, rho, fit.a, fit.b, within_shape)
    info["lam_ml"] = link.lam
    if lam_by == "cuts":
        lam, rms = fit_lam_to_cuts(bank, fit.a, fit.b, fit.rho, rho, link.delta, within_shape)
        link, info["cut_rms"] = Link(lam, link.delta), rms
    return {"beta_a": fit.a, "beta_b": fit.b, "wrong_mode_share": fit.rho, "between_share": rho,
            "within_shape": within_shape, "lam_by": lam_by, "link": link, "fit_residuals": fit.residuals, **info}
