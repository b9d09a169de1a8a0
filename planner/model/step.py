"""Step and round times (docs/architecture.md): one model's roofline step t(B, q, L) on a deployment, a speculative
round of K drafts plus one verify step and the tokens it advances, and the prompt's prefill as the serving engine
shares it between branches. The request-level model over the whole (K, N) grid is planner/model/latency.py."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.model import drafts
from planner.profile.schema import ModelArch, PrefillSharing, Profile, StepCoeffs


@dataclass(frozen=True)
class StepModel:
    """Roofline step time of one model on one deployment (TP degree splits weights, FLOPs and KV)."""

    coeffs: StepCoeffs
    arch: ModelArch
    tp: int = 1
    interconnect_GBps: float | None = None

    def parts(self, B, L):
        """Split t(B, q, L) = fixed + join(mem, comp * q) + link * q so a caller can reuse the q-free parts."""
        a, c, tp = self.arch, self.coeffs, self.tp
        B, L = np.asarray(B, dtype=float), np.asarray(L, dtype=float)
        # KV heads split over min(tp, kv_heads) devices: past that the engines replicate them (vLLM, SGLang)
        kv_split = min(tp, a.kv_heads)
        mem = a.weight_bytes / tp / (c.weight_bw_GBps * 1e9) + B * L * (a.kv_bytes_per_token / kv_split /
                                                                          (c.kv_bw_GBps * 1e9))
        comp = (2.0 * a.params + 4.0 * a.layers * a.heads * a.head_dim * L) * B / (tp * c.tflops * 1e12)
        fixed, link = c.t0_s, 0.0
        if tp > 1:
            # two all-reduces per layer (attention out, MLP out) of hidden * dtype_bytes per token; a ring
            # all-reduce moves 2 (tp - 1) / tp of the message over each device's link (docs/profile.md)
            fixed = fixed + 2 * a.layers * c.allreduce_s
            ring = 2.0 * (tp - 1) / tp
            link = B * (2 * a.layers * ring * a.hidden * a.dtype_bytes / ((self.interconnect_GBps or 100.0) * 1e9))
        return fixed, mem, comp, link

    def time(self, B, q, L) -> np.ndarray:
        fixed, mem, comp, link = self.parts(B, L)
        q = np.asarray(q, dtype=float)
        return fixed + self.verify_s * (q > 1) + join(mem, comp * q, self.coeffs.roofline_p) + link * q

    @property
    def verify_s(self) -> float:
        return self.coeffs.verify_s or 0.0


def join(mem, comp, p: float | None):
    """Memory and compute time of one step joined: max without p (hard roofline), else the p-norm, which lies
    between the max (p large) and the sum (p = 1) and grows with the compute term from the first token on."""
    if p is None:
        return np.maximum(mem, comp)
    hi = np.maximum(np.maximum(mem, comp), 1e-300)   # scaled so that m^p cannot underflow for large p
    return hi * ((mem / hi) ** p + (comp / hi) ** p) ** (1.0 / p)


def target_step(p: Profile) -> StepModel:
    return StepModel(p.step, p.model, p.hardware.tensor_parallel, p.hardware.interconnect_GBps)


def draft_step(p: Profile) -> StepModel | None:
    """A draft model's or head's step (planner/model/drafts.py prices a head from its own layers and LM head,
    on the target's step coefficients with a draft step's launch cost unless the profile gives its own); None
    for n-gram and no draft."""
    arch = drafts.draft_arch(p.model, p.draft)
    if arch is None:
        return None
    return StepModel(p.draft.step or drafts.head_coeffs(p.step, p.draft.kind), arch, p.hardware.tensor_parallel,
                     p.hardware.interconnect_GBps)


def alphas(p: Profile, k_max: int) -> np.ndarray:
    """Per-position acceptance, extended past the measured positions with the last value."""
    if k_max == 0 or p.acceptance is None:
        return np.zeros(k_max)
    a = np.asarray(p.acceptance.alpha, dtype=float)
    return np.concatenate([a, np.full(max(0, k_max - len(a)), a[-1])])[:k_max]


def tau(alpha: np.ndarray, K) -> np.ndarray:
    """Expected tokens per round with K drafts: 1 + sum_{i<=K} prod_{j<=i} alpha_j (between 1 and K+1)."""
    cum = np.concatenate([[1.0], 1.0 + np.cumsum(np.cumprod(alpha))])
    return cum[np.asarray(K, dtype=int)]


def tokens_per_round(p: Profile, K) -> np.ndarray:
    """Expected tokens a row gains per round at each draft length in K (1 at K = 0): from the acceptance measured
    at that K when the profile has it (`acceptance.by_draft_len`), else from the pooled per-position alpha; an
    n-gram drafter's rounds without a match gain 1."""
    K = np.asarray(K, dtype=int)
    if p.acceptance is None or K.size == 0 or K.max() == 0:
        return np.ones(K.shape)
    if p.draft.tree is not None:  # per-depth acceptance over the best-first tree (planner/model/drafts.py)
        return drafts.round_shape(p.draft, alphas(p, int(K.max())), K)[0]
    out = tau(alphas(p, int(K.max())), K)
    for k, a in (p.acceptance.by_draft_len or {}).items():
        out = np.where(K == k, tau(np.asarray(a, dtype=float), k), out)
    return 1.0 + draft_rate(p) * (out - 1.0)


def draft_rate(p: Profile) -> float:
    """Share of rounds that carry a draft: 1 for a draft model; an n-gram drafter may find no match."""
    return p.acceptance.draft_rate if p.acceptance is not None and p.draft.kind == "ngram" else 1.0


def spec_round(ts: StepModel, ds: StepModel | None, K, B, L, width=None, beams=1.0) -> np.ndarray:
    """One round of K drafts and a verify of width K + 1 (K = 0: a plain decode step) from the two step models;
    the closed loop's joint fit (calibrate/fit_rounds.py) prices its rounds with this same function. A tree
    draft verifies `width` positions (tree size + 1) and its draft steps after the first expand `beams` rows."""
    K = np.asarray(K, dtype=float)
    t = ts.time(B, K + 1 if width is None else width, L)
    if ds is None:
        return t
    first = np.minimum(K, 1.0) * ds.time(B, 1, L)
    expand = ds.time(B, beams, L) - ds.verify_s * (np.asarray(beams) > 1)  # a draft step is no verify step
    return t + first + np.maximum(K - 1.0, 0.0) * expand


def round_time(p: Profile, K, B, L) -> np.ndarray:
    """Time of one decoding round at draft length K (K = 0: a plain decode step), broadcast over K, B, L.
    With draft rate r < 1, a share 1 - r of rounds is a plain decode step."""
    K = np.asarray(K, dtype=float)
    ts = target_step(p)
    width, beams = None, 1.0
    if p.draft.tree is not None and p.acceptance is not None:
        Ki = K.astype(int)
        _, width, beams = drafts.round_shape(p.draft, alphas(p, max(int(Ki.max()), 1)), Ki)
    t = spec_round(ts, draft_step(p), K, B, L, width, beams)
    r = draft_rate(p)
    if r < 1.0:
        t = np.where(K > 0, r * t + (1.0 - r) * ts.time(B, 1, L), t)
    return t


def prefilled_tokens(sharing: PrefillSharing, prompt_tokens: int, N) -> np.ndarray:
    """Prompt tokens the engine computes for one request of N branches (docs/serving.md §4, "Prefill").
    once: P. none: N * P. blocks (vLLM's prefix cache): the first branch computes P; each other one finds the
    first floor((P - 1) / b) full blocks cached (the last prompt token is never served from cache: its logits
    are needed) and recomputes the rest, the whole prompt when P <= b."""
    P, N = int(prompt_tokens), np.asarray(N, dtype=float)
    if sharing.mode == "once":
        return np.full(N.shape, float(P))
    if sharing.mode == "none":
        return N * P
    b = int(sharing.block_size)
    tail = P - b * ((P - 1) // b) if P > 0 else 0
    return P + (N - 1.0) * tail


def prefill_time(p: Profile, N=1) -> np.ndarray:
    """Prefill of one request of N branches: t0 + s_per_token * the tokens the engine prefills. A fan-out the
    engine splits into chunks and interleaves with decode steps costs the same work, so it is charged as one
    sum (a CPU or a busy GPU is compute-bound there); a server's queueing between chunks is not modelled."""
    return p.prefill.t0_s + p.prefill.s_per_token * prefilled_tokens(p.prefill_sharing, p.prompt_tokens, N)
