"""A ragged KV cache: one batched buffer in which every row keeps its own length.

Why: per-row speculative decoding accepts a different number of tokens in every row, so a shared HF
`DynamicCache` (one length for the whole batch) would need either a batch-minimum acceptance or holes plus
periodic compaction. Here each row writes its new keys/values at *its own* end (`lengths[b]`), rollback of
rejected draft tokens is just `lengths[b] = n` (O(1), nothing copied), and the attention mask is built per
row: query j of row b sees slots `0 .. lengths[b] + j`. Buffers are pre-allocated and grown by doubling, so
a decode step never re-copies the whole cache (HF's `DynamicLayer` does `torch.cat` every step).

Rows fed fewer tokens than the step width are right-padded; the pad keys land after the row's end and are
overwritten by its next write, and no real query can see them (causality). Finished rows leave with
`select(keep)` (index-select of the batch dimension).
"""

from __future__ import annotations

import torch
from transformers.cache_utils import Cache, DynamicLayer


class _RaggedLayer(DynamicLayer):
    """One attention layer's buffers [B, H, capacity, D]; writes go to the slots the owner prepared."""

    def __init__(self, owner: "RaggedCache"):
        super().__init__()
        self.owner = owner
        self.buf_k: torch.Tensor | None = None
        self.buf_v: torch.Tensor | None = None

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.device = key_states.device
        self.is_initialized = True

    def _ensure(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        o = self.owner
        B, H, _, D = key_states.shape
        if self.buf_k is not None and self.buf_k.shape[0] == B and self.buf_k.shape[2] >= o.capacity:
            return
        new_k = key_states.new_zeros((B, H, o.capacity, D))
        new_v = value_states.new_zeros((B, value_states.shape[1], o.capacity, value_states.shape[3]))
        if self.buf_k is not None:
            if self.buf_k.shape[0] != B:
                raise RuntimeError(f"ragged cache holds {self.buf_k.shape[0]} rows but the step has {B}")
            n = min(self.buf_k.shape[2], o.capacity)
            new_k[:, :, :n] = self.buf_k[:, :, :n]
            new_v[:, :, :n] = self.buf_v[:, :, :n]
        self.buf_k, self.buf_v = new_k, new_v

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        o = self.owner
        if o._write_rows is None:
            raise RuntimeError("RaggedCache.prepare() must be called before every forward")
        self._ensure(key_states, value_states)
        B, H, q, D = key_states.shape
        self.buf_k[o._write_rows, :, o._write_slots, :] = key_states.transpose(1, 2).reshape(B * q, H, D)
        self.buf_v[o._write_rows, :, o._write_slots, :] = value_states.transpose(1, 2).reshape(
            B * q, value_states.shape[1], value_states.shape[3])
        self.keys = self.buf_k[:, :, : o._span]
        self.values = self.buf_v[:, :, : o._span]
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.owner.max_length

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.owner.max_length + query_length, 0

    def crop(self, tokens_to_remove: int) -> None:  # rollback goes through RaggedCache.truncate
        raise NotImplementedError("use RaggedCache.truncate(lengths) for per-row rollback")

    def _rebuild(self, rows: torch.Tensor) -> None:
        """New buffers holding `rows` (indices into the batch); only the used prefix of slots is copied."""
        used = self.owner.max_length
        for name in ("buf_k", "buf_v"):
            old = getattr(self, name)
            new = old.new_zeros((rows.shape[0],) + tuple(old.shape[1:]))  # zeros: masked slots must not hold NaN (0*NaN in P@V)
            new[:, :, :used] = old[:, :, :used].index_select(0, rows)
            setattr(self, name, new)

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.buf_k is not None:
            self._rebuild(indices)

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.buf_k is not None:
            self._rebuild(torch.arange(self.buf_k.shape[0], device=self.buf_k.device).repeat_interleave(repeats))

    def reset(self) -> None:
        self.buf_k = self.buf_v = self.keys = self.values = None
        self.is_initialized = False


class RaggedCache(Cache):
    """Per-row-length KV cache for a full-attention decoder (see module docstring).

    Protocol for one forward of width w: `pos, mask = cache.prepare(w)` → model forward with
    `position_ids=pos, attention_mask=mask` → `cache.advance(n_real)` (tokens actually kept per row).
    """

    def __init__(self, num_layers: int, batch: int, device: torch.device | str, *, float_mask_dtype=None,
                 capacity: int = 256):
        super().__init__(layers=[_RaggedLayer(self) for _ in range(num_layers)])
        self.device = torch.device(device)
        self.lengths: list[int] = [0] * batch  # host-side, so bookkeeping never waits for the device
        self.capacity = max(16, int(capacity))
        self.float_mask_dtype = float_mask_dtype  # None → bool mask (sdpa); a float dtype → additive (eager)
        self._write_rows = self._write_slots = None
        self._span = 0

    @property
    def batch_size(self) -> int:
        return len(self.lengths)

    @property
    def max_length(self) -> int:
        return max(self.lengths) if self.lengths else 0

    def prepare(self, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Reserve slots `lengths[b] .. lengths[b]+width-1` in every row; return (position_ids [B, w],
        4D attention mask [B, 1, w, span]) for the forward that follows."""
        B = self.batch_size
        span = self.max_length + width
        while self.capacity < span:
            self.capacity *= 2
        ar = torch.arange(width, device=self.device)
        lengths = torch.tensor(self.lengths, dtype=torch.long).to(self.device, non_blocking=True)
        pos = lengths[:, None] + ar[None, :]                            # [B, w]
        self._write_rows = torch.arange(B, device=self.device).repeat_interleave(width)
        self._write_slots = pos.reshape(-1)
        self._span = span
        allowed = (torch.arange(span, device=self.device)[None, None, :] <= pos[:, :, None])[:, None]
        if self.float_mask_dtype is not None:
            mask = torch.zeros(allowed.shape, dtype=self.float_mask_dtype, device=self.device)
            mask.masked_fill_(~allowed, torch.finfo(self.float_mask_dtype).min)
            return pos, mask
        return pos, allowed

    def advance(self, n_real: list[int]) -> None:
        """Commit the first n_real[b] tokens of the last forward in each row."""
        self.lengths = [a + int(n) for a, n in zip(self.lengths, n_real)]
        self._write_rows = self._write_slots = None

    def set_lengths(self, lengths: list[int]) -> None:
        """Roll rows back (or forward, over slots already written) to exactly `lengths[b]` tokens."""
        if len(lengths) != self.batch_size:
            raise ValueError("set_lengths needs one length per row")
        self.lengths = [int(n) for n in lengths]

    def select(self, keep: list[int]) -> None:
        """Keep only rows `keep` (finished rows leave the batch; their memory and compute go with them)."""
        idx = torch.tensor(list(keep), dtype=torch.long, device=self.device)
        for layer in self.layers:
            layer.batch_select_indices(idx)
        self.lengths = [self.lengths[i] for i in keep]

    def repeat_rows(self, n: int) -> None:
        """Fan a batch-1 cache (the shared prompt) out to n identical rows."""
        if self.batch_size != 1:
            raise ValueError("repeat_rows expects a batch-1 cache")
        for layer in self.layers:
            layer.batch_repeat_interleave(n)
        self.lengths = self.lengths * n
