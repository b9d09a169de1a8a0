"""The one low-level model call of the project: a forward of width q over a ragged KV cache.

Why a separate module: the decode loop, the drafters and the calibration timing sweeps (step time at batch B,
query width q, context L) must all run *exactly* the same forward, so measured and modelled costs agree.
"""

from __future__ import annotations

import inspect
import time

import torch

from planner.engine.kv import RaggedCache
from planner.errors import PlannerError

_CACHE_KW: dict[type, str] = {}


def _cache_kwarg(model) -> str:
    cls = type(model)
    if cls not in _CACHE_KW:
        params = inspect.signature(model.forward).parameters
        _CACHE_KW[cls] = "cache" if "cache" in params else "past_key_values"
    return _CACHE_KW[cls]


def check_supported(model) -> None:
    """The ragged cache needs full causal attention in every layer and an attention that accepts a 4D mask."""
    cfg = model.config.get_text_config(decoder=True) if hasattr(model.config, "get_text_config") else model.config
    types = getattr(cfg, "layer_types", None) or []
    other = sorted({t for t in types if t != "full_attention"})
    if other:
        raise PlannerError(f"model type {cfg.model_type!r} has {', '.join(other)} layers; the engine supports "
                           "decoders whose layers are all full attention")
    impl = getattr(model.config, "_attn_implementation", None)
    if impl not in ("sdpa", "eager"):
        try:
            model.set_attn_implementation("sdpa")
        except Exception as e:  # noqa: BLE001 - any failure means the model cannot run here
            raise PlannerError(f"cannot switch attention {impl!r} to sdpa: {e}") from None


def num_layers(model) -> int:
    cfg = model.config.get_text_config(decoder=True) if hasattr(model.config, "get_text_config") else model.config
    return int(cfg.num_hidden_layers)


def new_cache(model, batch: int, device, capacity: int = 256) -> RaggedCache:
    """An empty ragged cache for `model` (bool masks for sdpa, additive float masks for eager attention)."""
    impl = getattr(model.config, "_attn_implementation", "sdpa")
    return RaggedCache(num_layers(model), batch, device, capacity=capacity,
                       float_mask_dtype=None if impl == "sdpa" else model.dtype)


def forward_step(model, cache: RaggedCache, input_ids: torch.Tensor, n_real: list[int] | None = None,
                 logits_at: torch.Tensor | int | None = None) -> torch.Tensor:
    """Run `input_ids` [B, w] (row b's real tokens first, then pads) through `model`, appending to `cache`.

    n_real[b]: how many of row b's w tokens are real (default all); only those are committed to the cache.
    logits_at: None → logits for every column [B, w, V]; an int k → the last k columns; a LongTensor [B, m]
    → those columns per row [B, m, V] (e.g. each row's last real token, saving the vocabulary projection).
    """
    B, w = input_ids.shape
    if cache.batch_size != B:
        raise ValueError(f"cache has {cache.batch_size} rows, input has {B}")
    pos, mask = cache.prepare(w)
    kwargs = {_cache_kwarg(model): cache, "use_cache": True}
    if logits_at is not None:
        kwargs["logits_to_keep"] = logits_at
    out = model(input_ids=input_ids, attention_mask=mask, position_ids=pos, **kwargs)
    cache.advance(n_real if n_real is not None else [w] * B)
    return out.logits


def synchronize(device) -> None:
    """Wait for queued device work so wall-clock timings mean something (no-op on CPU)."""
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def timed(device):
    """Context-free timer: `t = timed(dev); ...; seconds = t()` with device synchronisation at both ends."""
    synchronize(device)
    start = time.perf_counter()

    def stop() -> float:
        synchronize(device)
        return time.perf_counter() - start

    return stop
