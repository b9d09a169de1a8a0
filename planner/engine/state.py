"""Per-model decoding state: the ragged KV cache plus, per row, the token ids it holds.

Why: the target and the draft model consume the same branch histories at different paces (the draft runs
ahead with guesses, the target verifies and some guesses are rejected). Each model keeps the list of tokens
its cache holds; `sync(histories)` rolls every row back to its longest common prefix with the branch's true
history and returns what is still to be fed. One mechanism serves rollback after rejection, draft catch-up,
and rows leaving the batch, for both models.
"""

from __future__ import annotations

import torch

from planner.engine.forward import forward_step, new_cache


class SeqState:
    def __init__(self, model, device, batch: int = 1, capacity: int = 256, pad_id: int = 0):
        self.model = model
        self.device = torch.device(device)
        self.cache = new_cache(model, batch, self.device, capacity)
        self.fed: list[list[int]] = [[] for _ in range(batch)]
        self._confirmed = [0] * batch  # prefix of fed[r] known to match the history (saves re-comparing)
        self.pad_id = pad_id
        self.forwards = 0

    @property
    def batch(self) -> int:
        return len(self.fed)

    @property
    def context(self) -> int:
        """Slots the next forward's attention reads per row (the longest row)."""
        return self.cache.max_length

    def feed(self, rows: list[list[int]], logits: str = "all") -> torch.Tensor:
        """Append rows[b] (possibly of different lengths, ≥ 1) to every row and run one forward.

        logits="all" → [B, w, V] (column j = prediction after rows[b][j]; columns past a row's end are junk);
        "last" → [B, V] at each row's last fed token."""
        n = [len(r) for r in rows]
        w = max(n)
        pad = self.pad_id
        ids = torch.tensor([r + [pad] * (w - len(r)) if len(r) < w else r for r in rows], dtype=torch.long)
        ids = ids.to(self.device, non_blocking=True)
        if logits == "last":
            at = 1 if min(n) == w else torch.tensor([[x - 1] for x in n], dtype=torch.long, device=self.device)
            out = forward_step(self.model, self.cache, ids, n, logits_at=at)[:, -1]
        else:
            out = forward_step(self.model, self.cache, ids, n)
        for b, r in enumerate(rows):
            self.fed[b].extend(r)
        self.forwards += 1
        return out

    def sync(self, histories: list[list[int]]) -> list[list[int]]:
        """Roll each row back to its longest common prefix with histories[b] (keeping at least the last history
        token un-fed, since the caller needs the prediction after it); return the tokens to feed."""
        if len(histories) != self.batch:
            raise ValueError(f"{len(histories)} histories for {self.batch} rows")
        pending, lengths = [], []
        for b, hist in enumerate(histories):
            fed = self.fed[b]
            i, end = self._confirmed[b], min(len(fed), len(hist))
            while i < end and fed[i] == hist[i]:
                i += 1
            i = min(i, len(hist) - 1)
            if i < len(fed):
                del fed[i:]
            self._confirmed[b] = i
            lengths.append(i)
            pending.append(hist[i:])
        if lengths != self.cache.lengths:
            self.cache.set_lengths(lengths)
        return pending

    def select(self, keep: list[int]) -> None:
        if list(keep) == list(range(self.batch)):
            return
        self.cache.select(keep)
        self.fed = [self.fed[i] for i in keep]
        self._confirmed = [self._confirmed[i] for i in keep]

    def fan_out(self, n: int) -> None:
        """Copy the single (prompt) row to n rows."""
        self.cache.repeat_rows(n)
        self.fed = [list(self.fed[0]) for _ in range(n)]
        self._confirmed = [self._confirmed[0]] * n
