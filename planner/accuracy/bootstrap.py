"""Extrapolation to N > M: draw N branches *with replacement* from each problem's M samples, i.e. treat the
problem's empirical answer distribution as the truth (a plug-in bootstrap). This is an extrapolation, not an
estimate: it cannot know answers the bank never saw, and at N = M+1 it is biased low against the exact
without-replacement value at N = M (a split vote such as 5 correct / 3 wrong decides correctly at N = M but only
~75 % of the time with replacement). Treat predictions for N >> M with care.

Same participant decomposition as the exact estimators: with replacement the number of participants among N
draws is Binomial(N, F/M), and given v of them they are v i.i.d. draws from the F participants. Participant
curves are closed forms for pass and best-of-N and for majority with at most one wrong answer class; otherwise
one fixed-seed Monte-Carlo set of draw sequences gives every v = 1..n_max at once via cumulative class counts."""

from __future__ import annotations

import functools
import zlib

import numpy as np
from planner.special import bdtrc

from planner.accuracy.bank import Bank
from planner.accuracy.curves import RankScores
from planner.accuracy.estimators import Participants, bank_weights, binom_pmf, participants
from planner.errors import PlannerError
from planner.scoring import rank_matrix

REPLICATES = 1000  # Monte-Carlo draw sequences per participant curve: MC std <= 0.5/sqrt(R) per problem, and
# the bank mean's MC std is <= 0.016 * sqrt(#problems needing MC) / #problems (0.0007 for 20 of 100)


def _credit(totals: np.ndarray, tol: float | np.ndarray = 0) -> np.ndarray:
    """totals (k, n, R) with absent classes below every present one: mean credit of class 0 per n (ties within
    `tol` of the leader split the credit). Loops over the few classes keep every op elementwise."""
    top = totals[0].copy()
    for c in range(1, len(totals)):
        np.maximum(top, totals[c], out=top)
    top = top - tol
    others = np.zeros(top.shape, dtype=np.float32)
    for c in range(1, len(totals)):
        others += totals[c] >= top
    return ((totals[0] >= top) / (1.0 + others)).mean(axis=-1)


def _class_counts(draw_cls: np.ndarray, k: int) -> np.ndarray:
    """Cumulative votes per class after each draw; draw_cls is (n, R): draw-major, so that the draws for
    n_max = 20 are a prefix of those for n_max = 256 (same seed) and curves do not depend on n_max."""
    counts = np.empty((k,) + draw_cls.shape, dtype=np.int16 if draw_cls.shape[0] < 32000 else np.int32)
    for c in range(k):
        np.cumsum(draw_cls == c, axis=0, out=counts[c])
    return counts


@functools.lru_cache(maxsize=4096)
def boot_majority_curve(m0: int, wrong: tuple[int, ...], n_max: int, replicates: int = REPLICATES,
                        seed: int = 0) -> np.ndarray:
    """Plurality of v i.i.d. draws from the voters (m0 correct, wrong[k] per wrong class), v = 0..n_max."""
    f = m0 + sum(wrong)
    out = np.zeros(n_max + 1)
    v = np.arange(1, n_max + 1)
    if m0 == 0:
        pass
    elif not wrong:
        out[1:] = 1.0
    elif len(wrong) == 1:  # exact: X0 ~ Bin(v, m0/F) against the single wrong class, a tie counts 1/2
        q = m0 / f
        out[1:] = bdtrc(v // 2, v, q) + np.where(v % 2 == 0, 0.5 * binom_pmf(v // 2, v, q), 0.0)
    else:
        rng = np.random.default_rng([seed, zlib.crc32(repr((m0, wrong)).encode())])
        voters = np.repeat(np.arange(len(wrong) + 1, dtype=np.int8), (m0,) + wrong)
        out[1:] = _credit(_class_counts(voters[rng.integers(0, f, size=(n_max, replicates))], len(wrong) + 1))
    out.setflags(write=False)
    return out


def boot_weighted_curve(cls: np.ndarray, w: np.ndarray, n_max: int, replicates: int = REPLICATES,
                        seed: int = 0) -> np.ndarray:
    """Score-weighted plurality of v i.i.d. draws from the participants (Monte Carlo unless one class)."""
    out = np.zeros(n_max + 1)
    if len(cls) == 0 or not np.any(cls == 0):
        return out
    if np.all(cls == 0):
        out[1:] = 1.0
        return out
    rank = isinstance(w, RankScores)
    w = np.asarray(w, dtype=float)
    rng = np.random.default_rng([seed, zlib.crc32(np.asarray(cls).tobytes() + w.tobytes())])
    idx = rng.integers(0, len(cls), size=(n_max, replicates))
    k = int(cls.max()) + 1
    if rank:  # mid-rank weights among the n draws so far (planner.scoring "rank"): x_i ((x @ L)_i + 1/2), x = counts
        x = np.cumsum(idx[..., None] == np.arange(len(cls)), axis=0, dtype=np.float32)  # (n, R, F)
        onehot = (cls[:, None] == np.arange(k)).astype(np.float32)
        totals = np.moveaxis((x * (x @ rank_matrix(w).astype(np.float32) + 0.5)) @ onehot, -1, 0)  # (k, n, R)
        n2 = np.arange(1, n_max + 1)[:, None] ** 2.0  # totals grow like n^2 / 2
        out[1:] = _credit(totals, 1e-6 * n2)
        return out
    per_class = np.zeros((k, len(cls)), dtype=np.float32)
    per_class[cls, np.arange(len(cls))] = w
    totals = np.cumsum(per_class[:, idx], axis=1)  # (k, n, R) weighted votes per class after each draw
    if w.min() <= 0:  # zero-weight votes: mark classes not yet drawn as absent explicitly
        totals -= _class_counts(cls[idx], k) == 0
    # float32 sums of equal weights in different orders may differ in the last bits: after n draws allow
    # 1e-6 * n * max weight (per n, so that a curve does not depend on n_max)
    tol = 1e-6 * max(1e-3, float(w.max())) * np.arange(1, n_max + 1)[:, None]
    out[1:] = _credit(totals, tol)
    return out


def boot_best_of_curve(correct: np.ndarray, scores: np.ndarray, n_max: int) -> np.ndarray:
    """Closed form: tie group G (g samples, c_G correct, h scored higher) holds the max of v draws w.p.
    ((F-h)/F)^v - ((F-h-g)/F)^v; the pick is then correct w.p. c_G/g."""
    f = len(scores)
    out = np.zeros(n_max + 1)
    if f == 0:
        return out
    uniq, inv = np.unique(-np.asarray(scores, dtype=float), return_inverse=True)
    g = np.bincount(inv, minlength=len(uniq))
    cg = np.bincount(inv, weights=np.asarray(correct, dtype=float), minlength=len(uniq))
    h = np.concatenate([[0], np.cumsum(g)[:-1]])
    v = np.arange(1, n_max + 1)
    p_group = ((f - h[:, None]) / f) ** v - ((f - h[:, None] - g[:, None]) / f) ** v
    out[1:] = (cg / g) @ p_group
    return out


def boot_pass_curve(c: int, f: int, n_max: int) -> np.ndarray:
    out = np.zeros(n_max + 1)
    if f:
        out[1:] = 1.0 - (1.0 - c / f) ** np.arange(1, n_max + 1)
    return out


def boot_participant_curve(method: str, part: Participants, n_max: int, replicates: int = REPLICATES,
                           seed: int = 0) -> np.ndarray:
    if method == "majority":
        return boot_majority_curve(*part.majority_key(), n_max, replicates, seed)
    if method == "best_of_n":
        return boot_best_of_curve(part.correct, part.scores, n_max)
    if method == "weighted_majority":
        return boot_weighted_curve(part.cls, part.weights, n_max, replicates, seed)
    if method == "pass":
        return boot_pass_curve(int(part.correct.sum()), part.f, n_max)
    raise PlannerError(f"unknown accuracy method {method!r}")


@functools.lru_cache(maxsize=4096)
def binom_mix(m: int, f: int, n_lo: int, n_max: int) -> np.ndarray:
    """B[i, v] = P(v participants among n = n_lo + i draws with replacement) = Bin(v; n, F/M), v = 0..n_max."""
    n = np.arange(n_lo, n_max + 1)
    out = binom_pmf(np.arange(n_max + 1)[None, :], n[:, None], f / m)
    out.setflags(write=False)
    return out


def bootstrap_per_problem(method: str, bank: Bank, n: int, finished: np.ndarray | None = None,
                          weight_transform: str = "auto", replicates: int = REPLICATES,
                          seed: int = 0) -> np.ndarray:
    """Per-problem accuracy of n branches drawn with replacement from the bank (any n >= 1)."""
    if n < 1:
        raise PlannerError(f"n must be >= 1, got {n}")
    weights = bank_weights(bank, weight_transform) if method == "weighted_majority" else None
    out = np.empty(bank.num_problems)
    for p in range(bank.num_problems):
        part = participants(bank, p, finished, weights)
        curve = boot_participant_curve(method, part, n, replicates, seed)
        out[p] = binom_mix(part.m, part.f, n, n)[0] @ curve
    return out
