"""The accuracy interface the optimizer consumes: `table(method, n_max, finish_quantiles)` gives expected
accuracy (and standard error) for n = 1..n_max branches when only branches at or below a length quantile vote.

Parametric models cut per problem node of the latency model (cut.py): hard problems run long and wrong branches run
longer (link.py); with independent lengths and no link this is the old Bin(n, f) thinning. Their standard error is
that of a benchmark of `sample_size` problems. Bank models use each sample's own length (long chains are more often
wrong), exact estimators for n <= M and the with-replacement bootstrap extrapolation for n > M (see bootstrap.py for
its caveat); their standard error is the spread over problems / sqrt(problems)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

import numpy as np

from planner.accuracy import bootstrap as boot
from planner.accuracy import estimators as est
from planner.accuracy import parametric as par
from planner.accuracy.bank import FORMATS, Bank, load_bank
from planner.accuracy.cut import CutTables
from planner.accuracy.link import (DEFAULT_DIFFICULTY_LENGTH_CORR, DEFAULT_SAMPLE_SIZE, DEFAULT_WRONG_LENGTH_SHIFT,
                                   Link, binomial_se, sample_size)
from planner.errors import PlannerError
from planner.model.lengths import problem_nodes
from planner.scoring import resolve as resolve_transform

DIAGNOSTIC_METHODS = ("pass",)  # oracle pass@n: accepted by table() but never offered to the optimizer


class AccuracyModel:
    """Base: validation and caching of tables; subclasses implement _table."""

    kind = "abstract"
    methods: tuple[str, ...] = ()

    def __init__(self):
        self._cache: dict = {}

    def table(self, method: str, n_max: int, finish_quantiles) -> tuple[np.ndarray, np.ndarray]:
        """acc[t, n-1], stderr[t, n-1] for n = 1..n_max: expected accuracy when n branches are sampled and only
        branches whose generated length is at or below the finish_quantiles[t] quantile of the length
        distribution vote (1.0 = no deadline cut). Arrays are cached and read-only."""
        if method not in self.methods + DIAGNOSTIC_METHODS:
            raise PlannerError(f"accuracy method {method!r} is not available for this {self.kind} model; "
                               f"use one of {', '.join(self.methods)}")
        if isinstance(n_max, bool) or int(n_max) != n_max or n_max < 1:
            raise PlannerError(f"n_max must be a positive integer, got {n_max!r}")
        fq = np.atleast_1d(np.asarray(finish_quantiles, dtype=float))
        if fq.ndim != 1 or fq.size == 0 or not np.all(np.isfinite(fq)) or fq.min() < 0 or fq.max() > 1:
            raise PlannerError("finish_quantiles must be a non-empty 1-D array of numbers in [0, 1]")
        key = (method, int(n_max), fq.tobytes())
        if key not in self._cache:
            acc, se = self._table(method, int(n_max), fq)
            acc, se = np.clip(acc, 0.0, 1.0), se
            acc.setflags(write=False)
            se.setflags(write=False)
            self._cache[key] = (acc, se)
        return self._cache[key]

    def accuracy(self, method: str, n: int, finish_quantile: float = 1.0) -> tuple[float, float]:
        acc, se = self.table(method, n, [finish_quantile])
        return float(acc[0, n - 1]), float(se[0, n - 1])

    def bank_lengths(self) -> np.ndarray | None:
        return None

    def describe(self) -> dict:
        raise NotImplementedError

    def _table(self, method: str, n_max: int, fq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class ParametricAccuracyModel(AccuracyModel):
    """`between_share` is the latency model's length share rho (its problem nodes), `within_shape` its
    within-problem length shape s (planner/model/lengths.py); `link` the length-correctness link; `sample_size` the
    problems behind the fitted numbers (standard errors)."""

    kind = "parametric"
    methods = ("majority",)

    def __init__(self, a: float, b: float, rho: float, source: str | None = None, dataset: str | None = None,
                 between_share: float = 0.0, link: Link | None = None, sample_size: int = DEFAULT_SAMPLE_SIZE,
                 within_shape: float | None = 0.0):
        super().__init__()
        if not (a > 0 and b > 0 and 0 <= rho <= 1):
            raise PlannerError(f"parametric accuracy needs beta_a, beta_b > 0 and 0 <= wrong_mode_share <= 1")
        if not 0.0 <= between_share < 1.0:
            raise PlannerError(f"between_share must be in [0, 1), got {between_share}")
        if isinstance(sample_size, bool) or int(sample_size) != sample_size or sample_size < 1:
            raise PlannerError(f"accuracy.sample_size must be a positive integer, got {sample_size!r}")
        self.a, self.b, self.rho, self.source, self.dataset = float(a), float(b), float(rho), source, dataset
        self.between_share, self.link = float(between_share), link or Link(0.0, 0.0)   # None: no link
        self.sample_size = int(sample_size)
        self.within_shape = float(within_shape or 0.0)
        if not 0.0 <= self.within_shape <= 1.0:
            raise PlannerError(f"lengths.within_shape must be in [0, 1], got {within_shape}")
        self._cuts: dict = {}

    def _independent(self) -> bool:
        return self.between_share == 0.0 and self.link.delta == 0.0

    def cut_tables(self, method: str, n_max: int) -> CutTables:
        key = (method, n_max)
        if key not in self._cuts:
            self._cuts[key] = CutTables(method, self.a, self.b, self.rho, self.between_share, self.link, n_max,
                                        self.within_shape)
        return self._cuts[key]

    def _table(self, method, n_max, fq):
        if self._independent():   # one node, no link: the exact Bin(n, f) thinning of the vote curve
            curve = (par.majority_curve(self.a, self.b, self.rho, n_max) if method == "majority"
                     else par.pass_curve(self.a, self.b, n_max))
            acc = par.binomial_thinning(curve, n_max, fq)
        else:                     # a cut at a length quantile of all branches, per problem node
            acc = self.cut_tables(method, n_max).global_cut(fq)
        return acc, binomial_se(acc, self.sample_size)

    def node_accuracy(self, method: str, N: np.ndarray, weights: np.ndarray, z: np.ndarray,
                      finish: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Accuracy (and SE) of each configuration from the latency model's per-node finished shares:
        finish[e, ...] is node entry e's share (problem effect z[e], weight weights[e]) for configurations
        [...] whose last axis is N. Each entry uses its node's table at the threshold its share implies."""
        N = np.asarray(N, dtype=int)
        ct = self.cut_tables(method, int(N.max()))
        nodes_z, _ = problem_nodes(self.between_share)
        cols = np.broadcast_to(N - 1, np.shape(finish)[1:])
        acc = 0.0
        for w, ze, fe in zip(weights, z, finish):
            j = int(np.argmin(np.abs(nodes_z - ze)))
            acc = acc + w * ct.acc(j, ct.threshold(ze, fe), cols)
        acc = np.clip(acc / max(float(np.sum(weights)), 1e-300), 0.0, 1.0)
        return acc, binomial_se(acc, self.sample_size)

    def describe(self) -> dict:
        return {"kind": "parametric", "beta_a": self.a, "beta_b": self.b, "wrong_mode_share": self.rho,
                "mean_pass1": self.a / (self.a + self.b), "source": self.source, "dataset": self.dataset,
                "between_share": self.between_share, "difficulty_length_corr": self.link.lam,
                "wrong_length_shift": self.link.delta, "sample_size": self.sample_size,
                "within_shape": self.within_shape}


class BankAccuracyModel(AccuracyModel):
    kind = "bank"

    def __init__(self, bank: Bank, length_quantile_fn: Callable[[np.ndarray], np.ndarray] | None = None,
                 weight_transform: str = "auto", replicates: int = boot.REPLICATES, seed: int = 0):
        super().__init__()
        if bank.sizes.max() > est.MAX_EXACT_SAMPLES:
            raise PlannerError(f"sample bank has more than {est.MAX_EXACT_SAMPLES} samples for one problem")
        self.bank, self.length_quantile_fn = bank, length_quantile_fn
        self.replicates, self.seed = int(replicates), int(seed)
        self.methods = ("majority",) + (("best_of_n", "weighted_majority") if bank.has_scores else ())
        # the bank's scorer (planner/scoring.py) fixes the transform unless one is forced; the plan records the
        # resolved spec so `planner run` votes with the same weights (empty: the bank recorded no scorer)
        recorded = dict(bank.meta.get("scorer") or {})
        if weight_transform == "auto" and recorded.get("transform"):
            weight_transform = recorded["transform"]
        resolved = resolve_transform(weight_transform, bank.scores if bank.has_scores else None)
        self.scorer = recorded | {"transform": resolved} if recorded else {}
        self.weight_transform = resolved
        self._weights = est.bank_weights(bank, resolved)
        self._rows: dict = {}

    def bank_lengths(self) -> np.ndarray:
        out = self.bank.num_tokens.astype(float)
        out.setflags(write=False)
        return out

    def thresholds(self, fq: np.ndarray) -> np.ndarray:
        """Token count at quantile f: the bank's empirical quantile (inverted CDF, so at least a fraction f of
        all samples finishes), or length_quantile_fn(f) if given. f = 0 finishes nothing, f = 1 everything."""
        if self.length_quantile_fn is not None:
            thr = np.asarray(self.length_quantile_fn(fq), dtype=float)
        else:
            thr = np.quantile(self.bank.num_tokens, fq, method="inverted_cdf").astype(float)
        return np.where(fq <= 0, -np.inf, np.where(fq >= 1, np.inf, thr))

    def _row(self, method: str, p: int, keep: np.ndarray, n_max: int) -> np.ndarray:
        part = est.participants_from_mask(self.bank, p, keep, self._weights)
        m, f = part.m, part.f
        c = int(part.correct.sum())
        if c == 0 or c == f:   # unanimous participants: every method reduces to "some participant is present"
            method = "pass"
        if method == "majority":
            key = (method, m, part.majority_key(), n_max)
        elif method == "pass":
            key = (method, m, f, c, n_max)
        else:
            key = (method, p, keep.tobytes(), n_max)
        row = self._rows.get(key)
        if row is None:
            row = np.empty(n_max)
            k = min(m, n_max)
            row[:k] = est.hypergeom_mix(m, f, n_max) @ est.participant_curve(method, part)
            if n_max > m:
                curve = boot.boot_participant_curve(method, part, n_max, self.replicates, self.seed)
                row[m:] = boot.binom_mix(m, f, m + 1, n_max) @ curve
            self._rows[key] = row
        return row

    def _table(self, method, n_max, fq):
        bank = self.bank
        fin = bank.num_tokens[None, :] <= self.thresholds(fq)[:, None]
        keep = fin & bank.answered[None, :]
        per = np.empty((bank.num_problems, len(fq), n_max))
        for p in range(bank.num_problems):
            masks, inv = np.unique(keep[:, bank.span(p)], axis=0, return_inverse=True)
            rows = np.stack([self._row(method, p, mk, n_max) for mk in masks])
            per[p] = rows[inv.reshape(-1)]
        return est.mean_stderr(per)

    def describe(self) -> dict:
        return {"kind": "bank", **self.bank.summary(), "methods": list(self.methods),
                "extrapolation": "N > M: with-replacement bootstrap from each problem's samples",
                "bootstrap_replicates": self.replicates, "seed": self.seed}


@functools.lru_cache(maxsize=16)
def _load_cached(path: str, mtime: float, fmt: str) -> Bank:
    return load_bank(path, fmt)


def build_accuracy_model(spec, length_quantile_fn=None, base_dir=None, between_share: float | None = None,
                         within_shape: float | None = None) -> AccuracyModel:
    """From a profile's AccuracySpec: kind "parametric" (beta_a, beta_b, wrong_mode_share; the optional link and
    sample_size fields, else their defaults) or kind "bank" (bank_path relative to base_dir, default the working
    directory; bank_format "tts-bank" or "qwen-math"). `between_share`, `within_shape`: the profile's lengths
    section (the latency model's problem nodes and within-problem shape)."""
    if spec.kind == "parametric":
        lam, delta = getattr(spec, "difficulty_length_corr", None), getattr(spec, "wrong_length_shift", None)
        link = Link(DEFAULT_DIFFICULTY_LENGTH_CORR if lam is None else lam,
                    DEFAULT_WRONG_LENGTH_SHIFT if delta is None else delta)
        return ParametricAccuracyModel(spec.beta_a, spec.beta_b, spec.wrong_mode_share, spec.source,
                                       getattr(spec, "dataset", None), between_share or 0.0, link,
                                       sample_size(spec), within_shape or 0.0)
    if spec.kind == "none":  # a derived profile with no accuracy source (planner/profile/deploy.py)
        raise PlannerError(f"no accuracy source for this model ({spec.source or 'latency-only profile'}); "
                           "plans that weigh accuracy need --accuracy pass1=P,maj=A@N or --bank FILE; "
                           "`planner predict --tpot` works without one")
    if spec.kind != "bank":
        raise PlannerError(f"unknown accuracy kind {spec.kind!r}; use parametric or bank")
    if spec.bank_format not in FORMATS:
        raise PlannerError(f"unknown sample-bank format {spec.bank_format!r}; use one of {', '.join(FORMATS)}")
    path = Path(spec.bank_path)
    if not path.is_absolute():
        path = Path(base_dir or ".") / path
    if not path.exists():  # a directory or device is named as such by the reader (planner.io.read_text)
        raise PlannerError(f"sample bank not found: {path}")
    bank = _load_cached(str(path.resolve()), path.stat().st_mtime, spec.bank_format)
    return BankAccuracyModel(bank, length_quantile_fn)
