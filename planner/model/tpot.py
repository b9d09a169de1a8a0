"""Step time and time per output token (TPOT) by batch and draft length: the view a user holds against an engine
benchmark (vLLM `benchmark_serving`, SGLang `bench_serving`) before trusting a derived profile.

TPOT(B, K) = round time / tokens per round: a plain decode step at K = 0, a speculative round (K draft steps and a
verify of width K + 1) over the expected tokens it yields at K > 0, at B sequences of `context` cached tokens
each, from the same functions the planner prices requests with (planner/model/latency.py)."""

from __future__ import annotations

import numpy as np

from planner.model.latency import round_time, target_step, tokens_per_round
from planner.profile.schema import Profile

BATCHES = (1, 2, 4, 8, 16, 32, 64, 128)


def default_context(p: Profile) -> int:
    """Mean cached tokens over a request: the prompt plus half the median generation."""
    med = p.lengths.median_tokens if p.lengths.median_tokens else float(np.median(p.lengths.tokens))
    return int(round(p.prompt_tokens + med / 2))


def tpot_rows(p: Profile, batches=BATCHES, ks=(0,), context: int | None = None) -> list[dict]:
    """One row per (batch, K): step_ms (target decode step at q = 1), round_ms, tokens_per_round, tpot_ms and
    the aggregate output tokens/s of the batch."""
    L = default_context(p) if context is None else int(context)
    ts = target_step(p)
    rows = []
    for b in batches:
        step = float(ts.time(b, 1, L))
        for k in ks:
            if k > 0 and p.draft.kind == "none":
                continue
            rt, tau = float(round_time(p, k, b, L)), float(tokens_per_round(p, np.array([k]))[0])
            rows.append({"batch": int(b), "draft_len": int(k), "context": L, "step_ms": 1e3 * step,
                         "round_ms": 1e3 * rt, "tokens_per_round": tau, "tpot_ms": 1e3 * rt / tau,
                         "output_tok_s": b * tau / rt})
    return rows
