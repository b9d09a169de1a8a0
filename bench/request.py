"""Predicted latency of one request whose branch lengths are known (after the fact).

The fidelity check compares a measured request against the latency model evaluated on that request's own
branch lengths, so length sampling noise does not hide (or fake) model error. The formula is the one of the
design (docs/architecture.md): sort the lengths, R_j = (n_(j) − 1) / τ(K) rounds; between the (j-1)-th and the
j-th branch finishing, N - j + 1 branches are active, and each round costs `planner.model.latency.round_time`
at the context reached by then (evaluated at the middle of the segment). A branch's first token comes from the
prefill's logits, so n tokens take (n - 1) / τ rounds. Only benchmarks (fidelity, regret, engine_loop) and their
tests use it, so it lives in bench/, outside the wheel."""

from __future__ import annotations

import numpy as np

from planner.model.latency import prefill_time, round_time, tokens_per_round
from planner.profile.schema import Profile


def predict_request(p: Profile, lengths: list[int], K: int, prompt_tokens: int | None = None) -> float:
    from dataclasses import replace

    if prompt_tokens is not None:
        p = replace(p, prompt_tokens=int(prompt_tokens))
    n = np.sort(np.asarray(lengths, float))
    N = len(n)
    t_k = float(tokens_per_round(p, K))  # as latency_grid
    total = float(prefill_time(p, N))  # N branches prefill as the profile's engine does
    done = 0.0  # rounds completed so far
    for j, nj in enumerate(n):
        R = max(nj - 1.0, 0.0) / t_k
        dR = R - done
        if dR <= 0:
            continue
        L_mid = p.prompt_tokens + 1 + (done + dR / 2) * t_k
        total += dR * float(round_time(p, K, N - j, L_mid))
        done = R
    return total
