"""Describe a model that has no preset from its Hugging Face `config.json` (no download, no transformers)."""

from __future__ import annotations

from pathlib import Path

from planner.errors import PlannerError
from planner.io import read_json
from planner.profile.schema import ModelArch

_DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4, "fp8": 1, "float8_e4m3fn": 1, "int8": 1}


def arch_from_hf_config(path: str | Path, name: str | None = None) -> ModelArch:
    """Count parameters from the config of a decoder-only transformer (Llama/Qwen2/Mistral-style, gated MLP)."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    cfg = read_json(path, "model config")
    if not isinstance(cfg, dict):
        raise PlannerError(f"model config {path}: not a JSON object")
    cfg = cfg.get("text_config", cfg)  # multimodal wrappers keep the LM config inside
    try:
        hidden = int(cfg["hidden_size"])
        layers = int(cfg["num_hidden_layers"])
        heads = int(cfg["num_attention_heads"])
        vocab = int(cfg["vocab_size"])
        inter = int(cfg.get("intermediate_size", 4 * hidden))
    except (KeyError, TypeError, ValueError) as e:
        raise PlannerError(f"model config {path}: missing or bad field {e}; need hidden_size, "
                           "num_hidden_layers, num_attention_heads, vocab_size") from None
    kv = int(cfg.get("num_key_value_heads") or heads)
    hd = int(cfg.get("head_dim") or hidden // heads)
    tied = bool(cfg.get("tie_word_embeddings", False))
    attn = hidden * hd * (heads + 2 * kv) + heads * hd * hidden
    if cfg.get("attention_bias") or cfg.get("model_type") in ("qwen2",):
        attn += hd * (heads + 2 * kv)
    mlp = 3 * hidden * inter
    params = layers * (attn + mlp + 2 * hidden) + vocab * hidden * (1 if tied else 2) + hidden
    dtype = str(cfg.get("torch_dtype") or cfg.get("dtype") or "bfloat16")
    return ModelArch(name=name or cfg.get("_name_or_path") or path.parent.name or "model", params=float(params),
                     layers=layers, hidden=hidden, heads=heads, kv_heads=kv, head_dim=hd, vocab=vocab,
                     dtype_bytes=float(_DTYPE_BYTES.get(dtype, 2)), hf_id=cfg.get("_name_or_path") or None,
                     max_context=int(cfg["max_position_embeddings"]) if cfg.get("max_position_embeddings") else None)
