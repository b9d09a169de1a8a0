"""Token choice and speculative verification as pure tensor functions.

Why separate: these few lines decide whether speculative decoding is *lossless*. Greedy verification keeps a
draft token only if it equals the target's argmax (so the output equals plain greedy decoding); sampled
verification is the standard rejection rule (accept d with probability min(1, p(d)/q(d)), on rejection
sample from norm(max(p - q, 0)), after K acceptances sample a bonus token from p), which leaves the output
distribution exactly equal to the target's. A deterministic drafter (n-gram) is the special case q = one-hot.
Keeping them pure makes them testable statistically without a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.0  # 0 → greedy
    top_p: float = 1.0
    top_k: int = 0

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


def warped_logprobs(logits: torch.Tensor, sp: SamplingParams) -> torch.Tensor:
    """Log-probabilities (float32) of the distribution we sample from: temperature, then top-k, then top-p."""
    x = logits.float() / max(sp.temperature, 1e-6)
    if sp.top_k and 0 < sp.top_k < x.shape[-1]:
        kth = torch.topk(x, sp.top_k, dim=-1).values[..., -1:]
        x = x.masked_fill(x < kth, float("-inf"))
    if sp.top_p < 1.0:
        sorted_x, order = torch.sort(x, dim=-1, descending=True)
        probs = torch.softmax(sorted_x, dim=-1)
        drop = probs.cumsum(-1) - probs > sp.top_p  # keep the smallest prefix whose mass reaches top_p
        sorted_x = sorted_x.masked_fill(drop, float("-inf"))
        x = torch.full_like(x, float("-inf")).scatter(-1, order, sorted_x)
    return torch.log_softmax(x, dim=-1)


BLOCK = 256   # vocabulary entries per block of the two-level CDF in `sample`


def sample(probs: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    """One token per row of probs [B, V] (rows need not be normalised), by inverting the row's CDF at a uniform
    draw. Why not torch.multinomial: on a CPU it draws a random number per vocabulary entry, 1.2 ms a row at
    V = 49k (19 ms of a 16-row decode round; this takes under 1 ms). The CDF is two-level — float64 sums of
    blocks of 256 entries, then the chosen block's own float64 CDF — so it is as exact as a float64 CDF of the
    whole row without converting the row. A zero-probability token (or block) has an empty interval and is
    never drawn."""
    B, V = probs.shape
    nb = -(-V // BLOCK)
    x = probs if V == nb * BLOCK else torch.nn.functional.pad(probs, (0, nb * BLOCK - V))
    blocks = x.reshape(B, nb, BLOCK)
    cb = blocks.sum(-1, dtype=torch.float64).cumsum(-1)                               # [B, nb]
    total = cb[:, -1:]
    u = torch.rand((B, 1), generator=gen, dtype=torch.float64, device=probs.device) * total
    bi = torch.minimum(torch.searchsorted(cb, u, right=True), (cb < total).sum(-1, keepdim=True))
    before = torch.where(bi > 0, cb.gather(1, (bi - 1).clamp(min=0)), torch.zeros_like(u))
    inner = blocks.gather(1, bi[:, :, None].expand(B, 1, BLOCK)).squeeze(1).double().cumsum(-1)  # [B, BLOCK]
    ti = torch.minimum(torch.searchsorted(inner, u - before, right=True),
                       (inner < inner[:, -1:]).sum(-1, keepdim=True))   # rounding past the block's end: its last
    return (bi * BLOCK + ti).squeeze(-1)                                 # token with probability > 0


def choose(logits: torch.Tensor, sp: SamplingParams, gen: torch.Generator | None):
    """Pick one token per row from logits [B, V]; returns (tokens [B], probs [B, V] or None when greedy)."""
    if sp.greedy:
        return logits.argmax(-1), None
    probs = warped_logprobs(logits, sp).exp()
    return sample(probs, gen), probs


def _leading_true(mask: torch.Tensor) -> torch.Tensor:
    """Number of leading True values per row of a [B, K] bool tensor."""
    if mask.shape[1] == 0:
        return torch.zeros(mask.shape[0], dtype=torch.long, device=mask.device)
    return mask.long().cumprod(dim=1).sum(dim=1)


def verify_greedy(logits: torch.Tensor, drafts: torch.Tensor, k: torch.Tensor):
    """logits [B, K+1, V] (column j predicts the token after draft j), drafts [B, K], k [B] drafts per row.
    Returns (accepted [B], next_token [B]): the longest prefix equal to the argmax chain, then the argmax."""
    best = logits.argmax(-1)                                               # [B, K+1]
    K = drafts.shape[1]
    valid = torch.arange(K, device=drafts.device)[None, :] < k[:, None]
    accepted = _leading_true((drafts == best[:, :K]) & valid)
    return accepted, best.gather(1, accepted[:, None]).squeeze(1)


def verify_sampled(target_logp: torch.Tensor, drafts: torch.Tensor, k: torch.Tensor,
                   draft_probs: torch.Tensor | None, gen: torch.Generator | None):
    """Lossless rejection sampling for a batch of rows with per-row draft lengths.

    target_logp [B, K+1, V]: warped target log-probs; drafts [B, K]; k [B]; draft_probs [B, K, V] the
    distribution each draft token was sampled from (None = deterministic drafter, q = one-hot).
    Returns (accepted [B], next_token [B])."""
    B, K = drafts.shape
    p = target_logp.exp()
    d = drafts.clamp(min=0)
    valid = torch.arange(K, device=drafts.device)[None, :] < k[:, None]
    if K:
        p_d = p[:, :K].gather(-1, d[..., None]).squeeze(-1)                   # [B, K]
        q_d = draft_probs.gather(-1, d[..., None]).squeeze(-1) if draft_probs is not None else torch.ones_like(p_d)
        u = torch.rand((B, K), generator=gen, device=drafts.device)
        ok = (u * q_d < p_d) & valid                                         # u < p/q without dividing by 0
        accepted = _leading_true(ok)
    else:
        accepted = torch.zeros(B, dtype=torch.long, device=drafts.device)
    rows = torch.arange(B, device=drafts.device)
    p_a = p[rows, accepted]                                                  # [B, V]
    rejected = accepted < k
    if K and bool(rejected.any()):
        a_c = accepted.clamp(max=K - 1)
        if draft_probs is not None:
            q_a = draft_probs[rows, a_c]
        else:
            q_a = torch.zeros_like(p_a).scatter_(1, d[rows, a_c][:, None], 1.0)
        resid = (p_a - q_a).clamp(min=0)
        mass = resid.sum(-1, keepdim=True)
        resid = torch.where(mass > 0, resid / mass.clamp(min=1e-30), p_a)    # p == q exactly: never rejects
        p_a = torch.where(rejected[:, None], resid, p_a)
    nxt = sample(p_a, gen)
    return accepted, nxt


def emitted_logprobs(logp: torch.Tensor, drafts: torch.Tensor, accepted: torch.Tensor, nxt: torch.Tensor):
    """Log-prob under `logp` [B, K+1, V] of each token a row emitted this round (accepted drafts, then the
    next token); returns [B, K+1], positions after a row's last emitted token are 0."""
    B, K1, _ = logp.shape
    toks = torch.cat([drafts.clamp(min=0), drafts.new_zeros((B, 1))], 1)           # [B, K+1]
    toks = toks.scatter(1, accepted[:, None], nxt[:, None])
    lp = logp.gather(-1, toks[..., None]).squeeze(-1)
    keep = torch.arange(K1, device=logp.device)[None, :] <= accepted[:, None]
    return lp.masked_fill(~keep, 0.0)
