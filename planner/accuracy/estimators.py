"""Exact accuracy estimators over uniformly random N-subsets (without replacement) of each problem's M samples.

Structure used everywhere: only *participants* (finished samples with an answer) can vote or be selected. In a
random N-subset the number of participants V is hypergeometric(M, F, N), and given V = v they form a uniform
v-subset of the F participants. So each method only needs a per-problem *participant curve* c[v] (accuracy when a
uniform v-subset of the participants decides; c[0] = 0, i.e. no finished sample = wrong), and
  acc(N) = sum_v Hyp(v; M, F, N) * c[v].
The curves are exact (closed forms, a DP over class-count vectors for majority, subset enumeration for weighted
majority) except weighted majority with huge C(F, v), which subsamples subsets with a fixed seed; they live in
curves.py, this module mixes them over V and averages over problems."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from planner.special import gammaln, xlog1py, xlogy

from planner import scoring
from planner.accuracy.bank import Bank
from planner.accuracy.curves import RankScores, best_of_curve, majority_curve, pass_curve, weighted_curve
from planner.errors import PlannerError

METHODS = ("majority", "best_of_n", "weighted_majority", "pass")
MAX_EXACT_SAMPLES = 1000   # binomial coefficients of up to 2**1000 stay finite in float64


@dataclass(frozen=True)
class Estimate:
    mean: float
    stderr: float   # std over problems / sqrt(P)


def mean_stderr(per_problem: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over axis 0 (problems)."""
    v = np.asarray(per_problem, dtype=float)
    p = v.shape[0]
    se = v.std(axis=0, ddof=1) / np.sqrt(p) if p > 1 else np.zeros(v.shape[1:])
    return v.mean(axis=0), se


def score_weights(scores: np.ndarray, transform: str = "auto") -> np.ndarray:
    """Vote weights for weighted majority, by planner.scoring.transform (the executor's function too).
    "auto": raw scores if none is negative, else sigmoid for the whole bank (reward-model logits such as
    Qwen2.5-Math-RM's); "raw" (alias "identity"), "sigmoid" and "rank" force one (rank: see RankScores)."""
    s = np.asarray(scores, dtype=float)
    if not np.all(np.isfinite(s)):
        raise PlannerError("weighted majority and best-of-N need a score for every sample")
    kind = scoring.resolve(transform, s)
    if kind == "rank":
        return s.copy().view(RankScores)
    return scoring.transform(s, kind)


# ---------------------------------------------------------------- per-problem participants and mixing

@dataclass(frozen=True)
class Participants:
    """One problem's samples that can vote: finished and answered. cls is relabelled 0 (correct), 1..K."""

    m: int                    # all samples of the problem (M)
    cls: np.ndarray
    correct: np.ndarray
    scores: np.ndarray
    weights: np.ndarray       # vote weights for weighted majority (nan when the bank has no scores)

    @property
    def f(self) -> int:
        return len(self.cls)

    def majority_key(self) -> tuple[int, tuple[int, ...]]:
        counts = np.bincount(self.cls, minlength=1)
        return int(counts[0]), tuple(sorted((int(c) for c in counts[1:] if c), reverse=True))


def bank_weights(bank: Bank, transform: str = "auto") -> np.ndarray:
    """Vote weights for every sample, one transform decided for the whole bank (nan if it lacks scores)."""
    return score_weights(bank.scores, transform) if bank.has_scores else np.full(bank.num_samples, np.nan)


def participants(bank: Bank, p: int, finished: np.ndarray | None = None,
                 weights: np.ndarray | None = None) -> Participants:
    """Problem p's participants; `finished` is a flat per-sample mask of the whole bank (None = all)."""
    sl = bank.span(p)
    keep = bank.answered[sl] if finished is None else bank.answered[sl] & np.asarray(finished[sl], dtype=bool)
    return participants_from_mask(bank, p, keep, weights)


def participants_from_mask(bank: Bank, p: int, keep: np.ndarray, weights: np.ndarray | None = None) -> Participants:
    """`keep`: problem p's own samples that participate (must already exclude unanswered ones)."""
    sl = bank.span(p)
    weights = bank.scores if weights is None else weights
    cls = bank.class_ids[sl][keep]
    _, cls = np.unique(cls, return_inverse=True)  # 0 stays first when present
    if not np.any(bank.class_ids[sl][keep] == 0):
        cls = cls + 1
    return Participants(sl.stop - sl.start, cls.astype(np.int64), bank.correct[sl][keep], bank.scores[sl][keep],
                        weights[sl][keep])


def participant_curve(method: str, part: Participants) -> np.ndarray:
    if method == "majority":
        return majority_curve(*part.majority_key())
    if method == "best_of_n":
        return best_of_curve(part.correct, _needs_scores(part.scores))
    if method == "weighted_majority":
        return weighted_curve(part.cls, _needs_scores(part.weights))
    if method == "pass":
        return pass_curve(int(part.correct.sum()), part.f)
    raise PlannerError(f"unknown accuracy method {method!r}; use one of {', '.join(METHODS)}")


def _needs_scores(s: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(s)):
        raise PlannerError("best-of-N and weighted majority need a score for every sample of the bank")
    return s


def _lncomb(n, k):
    return gammaln(np.asarray(n) + 1.0) - gammaln(np.asarray(k) + 1.0) - gammaln(np.asarray(n) - k + 1.0)


def binom_pmf(k, n, q: float) -> np.ndarray:
    """Bin(k; n, q) from log-gamma (planner.special: scipy costs ~0.5-1 s to import); 0 outside 0..n."""
    k, n = np.broadcast_arrays(np.asarray(k, dtype=float), np.asarray(n, dtype=float))
    ok = (k >= 0) & (k <= n)
    kk = np.where(ok, k, 0.0)
    logp = _lncomb(n, kk) + xlogy(kk, q) + xlog1py(n - kk, -q)
    return np.where(ok, np.exp(logp), 0.0)


@functools.lru_cache(maxsize=4096)
def hypergeom_mix(m: int, f: int, n_max: int) -> np.ndarray:
    """H[N-1, v] = P(v participants in a random N-subset) for N = 1..min(n_max, M), v = 0..F."""
    n = np.arange(1, min(n_max, m) + 1)[:, None]
    v = np.arange(f + 1)[None, :]
    ok = (n - v >= 0) & (n - v <= m - f)
    out = np.where(ok, np.exp(_lncomb(f, v) + _lncomb(m - f, np.where(ok, n - v, 0)) - _lncomb(m, n)), 0.0)
    out.setflags(write=False)
    return out


def per_problem(method: str, bank: Bank, n: int, finished: np.ndarray | None = None,
                weight_transform: str = "auto") -> np.ndarray:
    """Expected accuracy of each problem for a random n-subset of its samples (exact, n <= M)."""
    sizes = bank.sizes
    if n < 1 or n > sizes.min():
        raise PlannerError(f"n={n} must be between 1 and the smallest M ({sizes.min()}); use the bootstrap "
                           "extrapolation for n > M")
    if sizes.max() > MAX_EXACT_SAMPLES:
        raise PlannerError(f"exact estimators support at most {MAX_EXACT_SAMPLES} samples per problem")
    if finished is not None and len(finished) != bank.num_samples:
        raise PlannerError(f"finished mask has {len(finished)} entries; the bank has {bank.num_samples} samples")
    weights = bank_weights(bank, weight_transform) if method == "weighted_majority" else None
    out = np.empty(bank.num_problems)
    for p in range(bank.num_problems):
        part = participants(bank, p, finished, weights)
        out[p] = hypergeom_mix(part.m, part.f, n)[n - 1] @ participant_curve(method, part)
    return out


def estimate(method: str, bank: Bank, n: int, finished: np.ndarray | None = None, **kw) -> Estimate:
    mean, se = mean_stderr(per_problem(method, bank, n, finished, **kw))
    return Estimate(float(mean), float(se))


def majority_at_n(bank: Bank, n: int, finished: np.ndarray | None = None) -> Estimate:
    return estimate("majority", bank, n, finished)


def best_of_n(bank: Bank, n: int, finished: np.ndarray | None = None) -> Estimate:
    return estimate("best_of_n", bank, n, finished)


def weighted_majority_at_n(bank: Bank, n: int, finished: np.ndarray | None = None,
                           weight_transform: str = "auto") -> Estimate:
    return estimate("weighted_majority", bank, n, finished, weight_transform=weight_transform)


def pass_at_n(bank: Bank, n: int, finished: np.ndarray | None = None) -> Estimate:
    return estimate("pass", bank, n, finished)
