"""Scoring latency: best-of-N and weighted voting with a reward model pay one more forward pass after the
branches finish and before the vote, a prefill of the N answers (prompt + answer tokens each, batch N). Without
it best-of-N would look as fast as majority voting at the same N, and win deadlines it cannot meet.

Priced on the profile's device (the `scorer` section, planner/profile/sections.py):
- measured (`scorer.prefill`, from `planner calibrate --scorer-model`): t = t0_s + s_per_token * N * tokens;
- else the step roofline of planner/model/step.py for the reward model's architecture, one forward of batch N
  and query width `tokens` over an average context of tokens / 2 (causal attention over a prefill sees half
  of it on average): t = StepModel(step or the target's coefficients, arch).time(N, tokens, tokens / 2).
tokens = prompt_tokens + the answers' mean length (under the generation cap). The deadline leaves the branches
D - t_score(N) to generate (`shifted`), so the cut and P(meet) see the scoring time as well."""

from __future__ import annotations

import numpy as np

from planner.model.lengths import LengthDist
from planner.model.step import StepModel, join

SCORED_METHODS = ("best_of_n", "weighted_majority")


def scoring_time(p, N, answer_tokens: float) -> np.ndarray:
    """Seconds to score N answers of `answer_tokens` generated tokens each (0 when the profile has no scorer)."""
    N = np.asarray(N, dtype=float)
    sc = p.scorer
    if sc is None:
        return np.zeros(N.shape)
    tokens = float(p.prompt_tokens) + float(answer_tokens)
    if sc.prefill is not None:
        return sc.prefill.t0_s + sc.prefill.s_per_token * N * tokens
    step = StepModel(sc.step or p.step, sc.arch, p.hardware.tensor_parallel, p.hardware.interconnect_GBps)
    fixed, mem, comp, link = step.parts(N, tokens / 2.0)  # one plain forward: no speculative verify cost
    return fixed + join(mem, comp * tokens, step.coeffs.roofline_p) + link * tokens


def method_scoring(p, methods, N, dist: LengthDist) -> np.ndarray:
    """(methods, N) scoring seconds: the reward model's prefill for scored methods, 0 for the others."""
    s = scoring_time(p, N, dist.mean())
    return np.stack([s if m in SCORED_METHODS else np.zeros_like(s) for m in methods])


def shifted(lg, deadline: float, s: np.ndarray):
    """The latency grid read at a per-N deadline D - s[n]: (node finish (E, K, N), p_meet (K, N)) for the
    generation that must end s[n] seconds before the deadline to leave time for scoring."""
    s = np.asarray(s, dtype=float)
    node_f, p_meet = None, None
    for d in np.unique(s):
        cols = np.nonzero(s == d)[0]
        _, _, f = lg.node_finish(deadline - d)
        pm = lg.p_meet(deadline - d)
        if node_f is None:
            node_f, p_meet = np.empty_like(f), np.empty_like(pm)
        node_f[..., cols], p_meet[..., cols] = f[..., cols], pm[..., cols]
    return node_f, p_meet
