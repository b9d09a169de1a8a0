"""Participant curves c[v], v = 0..F: the exact accuracy when a uniform v-subset of one problem's F participants
(finished samples with an answer) decides, per method (majority, best-of-N, pass, score-weighted majority).

Why its own module: these are the combinatorics (closed forms, a DP over class counts, subset enumeration); the
estimators (estimators.py) and the bootstrap (bootstrap.py) only mix them over how many samples participate."""

from __future__ import annotations

import functools
import itertools
import zlib

import numpy as np
from planner.special import comb

from planner import scoring

MAX_ENUM = 20000           # weighted majority: enumerate all v-subsets when there are at most this many
SUBSETS = 4000             # ... else this many random v-subsets (fixed seed)


class RankScores(np.ndarray):
    """Raw scores whose vote weights are their mid-ranks among each voting subset (transform "rank"): the
    weights depend on which samples vote, so the curves recompute them per subset. A subclass so the flag
    survives the per-problem slicing in participants() and the bootstrap without new plumbing."""


@functools.lru_cache(maxsize=8192)
def majority_curve(m0: int, wrong: tuple[int, ...]) -> np.ndarray:
    """Plurality vote of a uniform v-subset of F = m0 + sum(wrong) voters: m0 correct, wrong[k] voters for wrong
    answer k. Ties count 1/(number of tied leaders) when the correct class leads. Exact: for x0 = j correct votes,
    a DP over wrong classes counts the ways (products of binomials) to draw s wrong votes with every wrong class
    at most j, tracking t = how many classes tie at exactly j."""
    s_tot = sum(wrong)
    f = m0 + s_tot
    out = np.zeros(f + 1)
    if m0 == 0 or f == 0:
        return out
    k = len(wrong)
    tie_credit = 1.0 / (np.arange(k + 1) + 1.0)
    for j in range(1, m0 + 1):
        ways = np.zeros((s_tot + 1, k + 1))
        ways[0, 0] = 1.0
        for m in wrong:
            new = np.zeros_like(ways)
            for x in range(min(j, m) + 1):
                c = comb(m, x)
                if x == j:
                    new[x:, 1:] += c * ways[:s_tot + 1 - x, :-1]
                else:
                    new[x:, :] += c * ways[:s_tot + 1 - x, :]
            ways = new
        out[j:j + s_tot + 1] += comb(m0, j) * (ways @ tie_credit)
    out[1:] /= comb(f, np.arange(1, f + 1))
    out.setflags(write=False)
    return out


def best_of_curve(correct: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Pick the highest score among a uniform v-subset (ties: uniform among the tied). For a tie group G of g
    samples (c_G correct) with h samples scored higher: P(the pick comes from G) = [C(F-h, v) - C(F-h-g, v)] /
    C(F, v) and the pick is then correct w.p. c_G/g. Distinct scores reduce to C(r-1, v-1)/C(F, v) for rank r."""
    f = len(scores)
    v = np.arange(f + 1)
    out = np.zeros(f + 1)
    if f == 0:
        return out
    uniq, inv = np.unique(-np.asarray(scores, dtype=float), return_inverse=True)  # descending score groups
    g = np.bincount(inv, minlength=len(uniq))
    cg = np.bincount(inv, weights=np.asarray(correct, dtype=float), minlength=len(uniq))
    h = np.concatenate([[0], np.cumsum(g)[:-1]])
    p_group = (comb(f - h[:, None], v) - comb(f - h[:, None] - g[:, None], v)) / comb(f, v)
    out = (cg / g) @ p_group
    out[0] = 0.0
    return out


def pass_curve(c: int, f: int) -> np.ndarray:
    """Some correct sample among a uniform v-subset: 1 - C(F-c, v)/C(F, v)."""
    v = np.arange(f + 1)
    out = 1.0 - comb(f - c, v) / comb(f, v)
    out[0] = 0.0
    return out


def plurality_credit(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Win credit of class 0 given per-class vote totals (..., K): among present classes the max total wins,
    ties split uniformly; no present class -> 0."""
    present = counts > 0
    s = np.where(present, sums, -np.inf)
    top = s.max(axis=-1, keepdims=True)
    tied = present & (s >= top - 1e-9 * np.maximum(1.0, np.abs(top)))
    return tied[..., 0] / np.maximum(tied.sum(axis=-1), 1)


def weighted_curve(cls: np.ndarray, w: np.ndarray, seed: int = 0) -> np.ndarray:
    """Score-weighted plurality of a uniform v-subset: class totals are sums of weights. Exact enumeration of all
    subsets when F <= 16 or C(F, v) <= MAX_ENUM, else SUBSETS random v-subsets (seeded by the data and v).
    RankScores `w`: each subset's weights are its members' mid-ranks (planner.scoring, transform "rank")."""
    cls = np.asarray(cls)
    f = len(cls)
    out = np.zeros(f + 1)
    if f == 0 or not np.any(cls == 0):
        return out
    if np.all(cls == 0):
        out[1:] = 1.0
        return out
    onehot = (cls[:, None] == np.arange(cls.max() + 1)).astype(float)
    ranks = scoring.rank_matrix(w) if isinstance(w, RankScores) else None
    w = np.asarray(w, dtype=float)
    weighted = onehot * w[:, None]

    def totals(masks: np.ndarray) -> np.ndarray:   # (subsets, F) 0/1 -> (subsets, K) class totals
        if ranks is None:
            return masks @ weighted
        return (masks * (masks @ ranks + 0.5)) @ onehot   # mid-rank within the subset (the common 1/v drops out)

    if f <= 16:
        masks = ((np.arange(2 ** f)[:, None] >> np.arange(f)) & 1).astype(float)
        credit = plurality_credit(totals(masks), masks @ onehot)
        size = masks.sum(axis=1).astype(int)
        out = np.bincount(size, credit, minlength=f + 1) / np.bincount(size, minlength=f + 1)
        out[0] = 0.0
        return out
    base = zlib.crc32(cls.tobytes() + w.tobytes() + (b"rank" if ranks is not None else b"")) ^ seed
    for v in range(1, f + 1):
        if comb(f, v) <= MAX_ENUM:
            idx = np.array(list(itertools.combinations(range(f), v)))
        else:
            rng = np.random.default_rng([base, v])
            idx = np.argsort(rng.random((SUBSETS, f)), axis=1)[:, :v]
        if ranks is None:
            out[v] = plurality_credit(weighted[idx].sum(axis=1), onehot[idx].sum(axis=1)).mean()
        else:
            masks = np.zeros((len(idx), f))
            np.put_along_axis(masks, idx, 1.0, axis=1)
            out[v] = plurality_credit(totals(masks), masks @ onehot).mean()
    return out
