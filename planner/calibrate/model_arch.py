"""Architecture facts of a loaded Hugging Face model, for the profile's `model` and `draft.arch` sections."""

from __future__ import annotations

import os

from planner.profile.schema import ModelArch

DTYPE_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp32": 4.0}


def hub_id(name_or_path: str | None) -> str | None:
    """A Hugging Face hub id ("org/name"), or None for local folders and caches (no machine paths in profiles)."""
    if not name_or_path or name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") != 1:
        return None
    return None if os.path.exists(name_or_path) else name_or_path


def arch_from_model(model, name: str, dtype: str, hf_id: str | None = None) -> ModelArch:
    """Architecture facts of a loaded HF causal LM; params counted from its tensors (tied ones once)."""
    hf_id = hub_id(hf_id)
    cfg = model.config.get_text_config(decoder=True) if hasattr(model.config, "get_text_config") else model.config
    seen, params = set(), 0
    for p in model.parameters():
        if p.data_ptr() not in seen:
            seen.add(p.data_ptr())
            params += p.numel()
    heads = int(cfg.num_attention_heads)
    hidden = int(cfg.hidden_size)
    return ModelArch(name=name, params=float(params), layers=int(cfg.num_hidden_layers), hidden=hidden, heads=heads,
                     kv_heads=int(getattr(cfg, "num_key_value_heads", None) or heads),
                     head_dim=int(getattr(cfg, "head_dim", None) or hidden // heads), vocab=int(cfg.vocab_size),
                     dtype_bytes=DTYPE_BYTES.get(dtype, 2.0), hf_id=hf_id,
                     max_context=int(getattr(cfg, "max_position_embeddings", 0) or 0) or None)
