"""Brute-force simulation of one request's branches split over D data-parallel replicas: the oracle that
planner/model/replicas.py (`split_grid`) is held against by tests/unit/test_replicas.py and bench/replicas.py
(never imported by runtime code). One copy, so the test and the benchmark measure the model against the same
thing.

Per-branch lengths come from the profile's Gaussian copula (lengths.between_share: one problem draw shared by
all of a request's branches); the N branches are dealt to D replicas, N mod D of them one more; each replica
prefills its share, then decodes token by token at its own batch of still-running branches (target step, no
draft, the profile's TP degree and link); the request ends with its slowest replica."""

from __future__ import annotations

import numpy as np

from planner.model.latency import StepModel, prefill_time
from planner.model.lengths import LengthDist
from planner.profile.schema import Profile
from planner.special import norm_cdf


def simulate_split(p: Profile, N: int, D: int, problems: int, seed: int = 0) -> np.ndarray:
    """Latency of `problems` requests of N branches on D replicas (seconds, one per request)."""
    rho = p.lengths.between_share or 0.0
    rng = np.random.default_rng(seed)
    z, e = rng.standard_normal((problems, 1)), rng.standard_normal((problems, N))
    n = np.ceil(LengthDist(p.lengths).quantile(norm_cdf(np.sqrt(rho) * z + np.sqrt(1 - rho) * e))).astype(int)
    big = -(-N // D)
    sm = StepModel(p.step, p.model, p.hardware.tensor_parallel, p.hardware.interconnect_GBps)
    step = sm.time(np.arange(1, big + 1)[:, None], 1, p.prompt_tokens + np.arange(int(n.max()))[None, :])
    cum = np.concatenate([np.zeros((big, 1)), np.cumsum(step, 1)], 1)
    sizes = [big] * (N % D) + [N // D] * (D - N % D)
    out = np.zeros(problems)
    for i in range(problems):
        start = 0
        for size in sizes:
            lens, start = np.sort(n[i, start:start + size]), start + size
            if size == 0:
                continue
            t, prev = float(prefill_time(p, size)), 0
            for j, ln in enumerate(lens):        # between finishes the replica's batch is size - j
                t += cum[size - j - 1, ln] - cum[size - j - 1, prev]
                prev = ln
            out[i] = max(out[i], t)
    return out
