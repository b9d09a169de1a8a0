"""Discrete-event simulation of the engine model planner/model/load.py approximates: the oracle its tests and
bench/load.py hold the mean-field prediction against (never imported by runtime code).

Requests arrive Poisson at rate R (or C closed-loop clients resubmit on completion); each has N branches whose
lengths follow the profile (the Gaussian copula of lengths.between_share: one problem draw per request). FIFO
admission when the request's N branches fit the KV budget (kv_branches); its prefill is one blocking engine step
of prefill_time(N), whose logits give each branch its first token; then every round advances every admitted
branch tau(K) tokens in round_time(K, B, L) at the total batch B and the mean context L of the admitted branches."""

from __future__ import annotations

from collections import deque

import numpy as np

from planner.model.latency import prefill_time, round_time, tokens_per_round
from planner.model.lengths import LengthDist, latent
from planner.model.load import kv_branches
from planner.profile.schema import Profile


def sample_lengths(p: Profile, n_requests: int, N: int, rng: np.random.Generator) -> np.ndarray:
    """(requests, N) branch lengths: a problem effect per request, a branch effect per branch."""
    dist = LengthDist(p.lengths)
    rho = p.lengths.between_share or 0.0
    if rho <= 0:
        return dist.quantile(rng.uniform(size=(n_requests, N)))
    lat = latent(rho, p.lengths.within_shape)
    from planner.model.lengths import WithinShape

    e = WithinShape(p.lengths.within_shape).ppf(rng.uniform(size=(n_requests, N)))
    y = np.sqrt(rho) * rng.standard_normal((n_requests, 1)) + np.sqrt(1 - rho) * e
    return dist.quantile(np.clip(lat.cdf(y), 1e-12, 1 - 1e-12))


def simulate(p: Profile, N: int, K: int, arrival_rate: float | None = None, concurrency: int | None = None,
             n_requests: int = 2000, seed: int = 0, warmup: float = 0.1) -> np.ndarray:
    """End-to-end latencies (queueing + service) of the requests after the warm-up share, in arrival order."""
    rng = np.random.default_rng(seed)
    lengths = sample_lengths(p, n_requests, N, rng)
    tau = float(tokens_per_round(p, np.array([K]))[0])
    kv = kv_branches(p, K)
    pre = float(prefill_time(p, np.array([N]))[0])
    if N > kv:
        raise ValueError(f"N={N} branches exceed the KV budget of {kv}")
    arrivals = deque()
    if arrival_rate is not None:
        arrivals.extend(np.cumsum(rng.exponential(1.0 / arrival_rate, n_requests)))
    else:
        arrivals.extend([0.0] * concurrency)
    born = np.full(n_requests, np.nan)
    done = np.full(n_requests, np.nan)
    step: dict = {}               # round time by (batch, context rounded to a token): the sim's hot path
    queue: deque = deque()        # request ids waiting for admission
    active_req, active_left, active_pos = [], [], []   # per admitted branch: request id, tokens left, position
    left_per_req = {}
    t, nxt = 0.0, 0
    while nxt < n_requests or queue or active_req:
        while arrivals and arrivals[0] <= t and nxt < n_requests:   # arrivals up to now join the queue
            born[nxt] = arrivals.popleft()
            queue.append(nxt)
            nxt += 1
        if queue and len(active_req) + N <= kv:   # admit the head: its prefill is one blocking step
            r = queue.popleft()
            t += pre
            for L in lengths[r]:
                active_req.append(r), active_left.append(L - 1.0), active_pos.append(1.0)
            left_per_req[r] = N
            _retire(active_req, active_left, active_pos, left_per_req, done, t, arrivals, arrival_rate)
            continue
        if not active_req:
            if not arrivals or nxt >= n_requests:
                break
            t = max(t, arrivals[0])
            continue
        B = len(active_req)
        L = p.prompt_tokens + round(sum(active_pos) / B)
        if (B, L) not in step:
            step[B, L] = float(round_time(p, np.array([K]), np.array([B]), np.array([L]))[0])
        t += step[B, L]
        active_left = [x - tau for x in active_left]
        active_pos = [x + tau for x in active_pos]
        _retire(active_req, active_left, active_pos, left_per_req, done, t, arrivals, arrival_rate)
    lat = (done - born)[int(warmup * n_requests):]
    return lat[np.isfinite(lat)]


def _retire(req, left, pos, left_per_req, done, t, arrivals, arrival_rate) -> None:
    """Drop finished branches (in place); a request whose last branch finished is done at t, and in a closed
    loop its client submits the next request at once."""
    keep = [i for i, x in enumerate(left) if x > 1e-9]
    for i in range(len(req)):
        if left[i] <= 1e-9:
            r = req[i]
            left_per_req[r] -= 1
            if left_per_req[r] == 0:
                done[r] = t
                if arrival_rate is None:
                    arrivals.append(t)
    req[:] = [req[i] for i in keep]
    left[:] = [left[i] for i in keep]
    pos[:] = [pos[i] for i in keep]
