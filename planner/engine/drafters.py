"""Draft proposers for speculative decoding: a small draft model, or model-free prompt lookup (n-gram).

Why an interface: the decode loop must not care where guesses come from. A drafter sees the branch histories
and returns up to k[b] guesses per row plus, for sampled drafting, the distribution q each guess was drawn
from (needed for lossless rejection sampling). Deterministic drafters return q = None (one-hot).
"""

from __future__ import annotations

import torch

from planner.engine.forward import timed
from planner.engine.sampling import SamplingParams, sample, warped_logprobs
from planner.engine.state import SeqState


class Drafter:
    """Base class. Lifecycle per generate(): start → (propose → select)* ."""

    name = "none"
    uses_model = False

    def start(self, prompt_ids: list[int], n_rows: int, vocab_size: int, capacity: int = 256) -> None:
        """New generation: prompt shared by n_rows branches; capacity = expected max tokens per row."""

    def propose(self, histories: list[list[int]], k: list[int], sp: SamplingParams,
                gen: torch.Generator | None) -> tuple[list[list[int]], torch.Tensor | None]:
        raise NotImplementedError

    def select(self, keep: list[int]) -> None:
        pass


class ModelDrafter(Drafter):
    """Autoregressive drafting with a smaller causal LM sharing the target's tokenizer.

    Per round it runs max(k) forwards: the first catches up on the tokens the target emitted since the last
    round (1 or 2 per row, right-padded), the next ones feed its own previous guess. The last guess is never
    fed (it would only matter if accepted, and then it is caught up next round)."""

    uses_model = True

    def __init__(self, model, device, name: str = "draft-model"):
        self.model, self.device, self.name = model, torch.device(device), name
        self.state: SeqState | None = None
        self.vocab = None
        self.prefill_s = 0.0

    def start(self, prompt_ids, n_rows, vocab_size, capacity=256):
        self.vocab = vocab_size
        t = timed(self.device)
        self.state = SeqState(self.model, self.device, 1, capacity=capacity)
        self.state.feed([list(prompt_ids)], logits="last")
        self.state.fan_out(n_rows)
        self.prefill_s = t()

    def _fit_vocab(self, logits: torch.Tensor) -> torch.Tensor:
        V = logits.shape[-1]
        if V == self.vocab:
            return logits
        if V > self.vocab:
            return logits[..., : self.vocab]
        pad = logits.new_full(logits.shape[:-1] + (self.vocab - V,), float("-inf"))
        return torch.cat([logits, pad], -1)

    def propose(self, histories, k, sp, gen):
        pending = self.state.sync(histories)
        K = max(k) if k else 0
        drafts = [[] for _ in histories]
        if K == 0:
            return drafts, None
        probs = []
        feed = pending
        for i in range(K):
            logits = self._fit_vocab(self.state.feed(feed, logits="last"))
            if sp.greedy:
                tok = logits.argmax(-1)
            else:
                q = warped_logprobs(logits, sp).exp()
                tok = sample(q, gen)
                probs.append(q)
            toks = tok.tolist()
            for b, t in enumerate(toks):
                drafts[b].append(t)
            if i + 1 < K:
                feed = [[t] for t in toks]
        drafts = [d[: k[b]] for b, d in enumerate(drafts)]
        return drafts, (torch.stack(probs, 1) if probs else None)

    def select(self, keep):
        self.state.select(keep)


class NgramDrafter(Drafter):
    """Prompt lookup: find the most recent earlier occurrence of the last n tokens (n = max_n … min_n) in the
    branch's own history (prompt included) and propose the tokens that followed it. Costs no model forward.

    Each row keeps dicts n-gram → position after its latest occurrence, updated incrementally (O(max_n) per
    token), so a lookup is O(max_n) regardless of context length."""

    name = "ngram"

    def __init__(self, max_n: int = 3, min_n: int = 1):
        if not 1 <= min_n <= max_n:
            raise ValueError("need 1 <= min_n <= max_n")
        self.max_n, self.min_n = max_n, min_n
        self.index: list[dict] = []
        self.seen: list[int] = []

    def _extend(self, idx: dict, hist: list[int], start: int, end: int) -> None:
        # register every n-gram ending at position j-1 whose continuation (position j) now exists
        for j in range(max(start, 1), end):
            for n in range(self.min_n, self.max_n + 1):
                if j - n >= 0:
                    idx[tuple(hist[j - n: j])] = j

    def start(self, prompt_ids, n_rows, vocab_size, capacity=256):
        base: dict = {}
        self._extend(base, list(prompt_ids), 0, len(prompt_ids))
        self.index = [dict(base) for _ in range(n_rows)]
        self.seen = [len(prompt_ids)] * n_rows

    def propose(self, histories, k, sp, gen):
        out = []
        for b, hist in enumerate(histories):
            idx = self.index[b]
            self._extend(idx, hist, self.seen[b], len(hist))
            self.seen[b] = len(hist)
            guess: list[int] = []
            if k[b] > 0:
                for n in range(self.max_n, self.min_n - 1, -1):
                    if len(hist) < n:
                        continue
                    pos = idx.get(tuple(hist[-n:]))
                    if pos is not None:
                        guess = hist[pos: pos + k[b]]
                        break
            out.append(guess)
        return out, None

    def select(self, keep):
        self.index = [self.index[i] for i in keep]
        self.seen = [self.seen[i] for i in keep]
