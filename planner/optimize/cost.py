"""What a plan costs a serving team per request: generated tokens and device-seconds.

- tokens per request = N * E[min(L, x_D)]: each branch generates its own length L (capped at max_tokens), or
  stops where the deadline cuts it; x_D is the length quantile at the configuration's finished share (the share
  answered by the deadline), so a cut branch counts the tokens it made before the cut. Target-model output
  tokens only: drafted tokens that were rejected are device time, not output.
- device-seconds per request = min(mean latency, deadline) * tensor-parallel degree: the request holds the
  devices its model is split over for its whole latency (the executor stops it at the deadline). On a CPU
  profile that is seconds of the machine. Over a GPU layout (`recommend --gpus`, planner/model/replicas.py) the
  multiplier is every GPU the layout holds, TP x replicas: a replica that finished its share early (or, under
  load, serves other requests) is still paid for, so more GPUs must buy accuracy or the deadline to be chosen. A reward model's scoring (planner/model/scoring.py) adds its time to
  the scored methods' latency (`method_device_s`)."""

from __future__ import annotations

import numpy as np

from planner.model.lengths import LengthDist
from planner.optimize.evaluate import Evaluation

_LEVELS = (np.arange(2000) + 0.5) / 2000      # quantile levels for E[min(L, x)]


def cost(ev: Evaluation) -> tuple[np.ndarray, np.ndarray]:
    """(tokens per request, device-seconds per request), each of shape (K, N)."""
    dist = LengthDist(ev.profile.lengths, cap=ev.max_tokens)
    q = np.sort(dist.quantile(_LEVELS))                          # lengths at evenly spaced levels
    csum = np.concatenate([[0.0], np.cumsum(q)])
    done = ev.finish >= dist.answer_share - 1e-9                  # nothing cut: every branch runs to its length
    x = np.where(done, np.inf, dist.quantile(np.clip(ev.finish, 0.0, 1.0)))
    below = np.searchsorted(q, x)                                 # levels whose length is under the cut
    per_branch = (csum[below] + np.where(np.isfinite(x), x, 0.0) * (len(q) - below)) / len(q)
    tokens = per_branch * ev.N[None, :]
    mean = ev.latency["mean"]
    held = np.minimum(mean, ev.deadline) if ev.deadline is not None else mean
    return tokens, held * gpus_held(ev)


def gpus_held(ev: Evaluation) -> int:
    """Devices a request is charged for: the layout's TP x replicas (`--gpus`), else the profile's TP degree."""
    return ev.layout.held if getattr(ev, "layout", None) is not None else ev.profile.hardware.tensor_parallel


def method_device_s(ev: Evaluation, dev: np.ndarray) -> np.ndarray:
    """(M, K, N) device-seconds per request: `dev` of cost(ev), plus each method's scoring time (the request
    holds the devices while the reward model scores its answers), still capped at the deadline."""
    if ev.scoring is None:
        return np.broadcast_to(dev, ev.acc.shape)
    mean = ev.latency["mean"][None] + ev.scoring[:, None, :]
    held = np.minimum(mean, ev.deadline) if ev.deadline is not None else mean
    return held * gpus_held(ev)


def with_cost(ev: Evaluation, idx, arrays: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """ev.config(*idx) plus its cost (pass `arrays = cost(ev)` when describing many configurations)."""
    tokens, dev = arrays if arrays is not None else cost(ev)
    m, k, n = idx
    return {**ev.config(m, k, n), "tokens_per_request": float(tokens[k, n]),
            "device_s_per_request": float(method_device_s(ev, dev)[m, k, n])}
