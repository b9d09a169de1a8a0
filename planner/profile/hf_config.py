"""Describe a model that has no preset from its Hugging Face `config.json` (no download, no transformers).

Every field goes through planner.checks: a zero, negative, fractional, infinite, boolean or string count is
refused naming the field (`model config x/config.json: num_attention_heads: must be an integer >= 1, got 0`)
instead of dividing by zero later. The upper bounds are far above any published model and only catch typos."""

from __future__ import annotations

from pathlib import Path

from planner import checks
from planner.errors import PlannerError
from planner.io import read_json
from planner.profile import quant
from planner.profile.schema import ModelArch

# Largest value each count may take (published models: hidden <= 25k, layers <= 200, vocab <= 260k, 10M context)
LIMITS = {"hidden_size": 1 << 20, "num_hidden_layers": 100_000, "num_attention_heads": 1 << 16,
          "vocab_size": 1 << 24, "intermediate_size": 1 << 24, "num_key_value_heads": 1 << 16,
          "head_dim": 1 << 16, "max_position_embeddings": 1 << 31}
REQUIRED = ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")


def arch_from_hf_config(path: str | Path, name: str | None = None, weight_dtype: str | None = None,
                        kv_dtype: str | None = None) -> ModelArch:
    """Count parameters from the config of a decoder-only transformer (Llama/Qwen2/Mistral-style, gated MLP).
    Number formats: `torch_dtype` gives the activation format (and the weights' when there is no
    `quantization_config`); `quantization_config` the weights' (and the KV cache's, compressed-tensors);
    `weight_dtype` / `kv_dtype` (the --weight-dtype / --kv-dtype flags) override both. Absent everywhere, the
    KV cache takes the activation format, as engines do with kv_cache_dtype "auto"."""
    path = Path(path)
    try:
        if path.is_dir():
            path = path / "config.json"
    except OSError:  # e.g. a name too long: read_json says so as a read error of the model config
        pass
    cfg = read_json(path, "model config")
    where = f"model config {path}"
    if not isinstance(cfg, dict):
        raise PlannerError(f"{where}: not a JSON object")
    prefix, outer = "", cfg
    if "text_config" in cfg:  # multimodal wrappers keep the LM config inside
        if not isinstance(cfg["text_config"], dict):
            checks.fail(f"{where}: text_config", "must be a JSON object")
        cfg, prefix = cfg["text_config"], "text_config."
    missing = [k for k in REQUIRED if cfg.get(k) is None]
    if missing:
        raise PlannerError(f"{where}: missing {', '.join(prefix + k for k in missing)}; need hidden_size, "
                           "num_hidden_layers, num_attention_heads, vocab_size")

    def count(key: str, default=None) -> int:
        return checks.integer(cfg.get(key), f"{where}: {prefix}{key}", lo=1, hi=LIMITS[key], default=default)

    hidden, layers, heads, vocab = (count(k) for k in REQUIRED)
    inter = count("intermediate_size", 4 * hidden)
    kv = count("num_key_value_heads", heads)
    if kv > heads or heads % kv:
        checks.fail(f"{where}: {prefix}num_key_value_heads", f"must divide num_attention_heads ({heads}), got {kv}")
    hd = count("head_dim", hidden // heads)
    if hd < 1:
        checks.fail(f"{where}: {prefix}num_attention_heads", f"({heads}) must not exceed hidden_size ({hidden})")
    tied = checks.boolean(cfg.get("tie_word_embeddings"), f"{where}: {prefix}tie_word_embeddings", default=False)
    bias = checks.boolean(cfg.get("attention_bias"), f"{where}: {prefix}attention_bias", default=False)
    model_type = checks.string(cfg.get("model_type"), f"{where}: {prefix}model_type", default=None, max_len=200)
    hf_name = checks.string(cfg.get("_name_or_path") or None, f"{where}: {prefix}_name_or_path", default=None,
                            max_len=1000)
    dtype = cfg.get("torch_dtype") or cfg.get("dtype") or "bfloat16"
    if not isinstance(dtype, str):
        checks.fail(f"{where}: {prefix}torch_dtype", f"must be a string such as \"bfloat16\", got {dtype!r}")
    act = quant.canonical(dtype, f"{where}: {prefix}torch_dtype", ("bf16", "fp16", "fp8", "int8"))
    q = {} if weight_dtype else quant.from_hf_config(outer, where)
    if act in ("fp8", "int8"):  # 8-bit torch_dtype without a quantization_config: 8-bit weights, bf16 activations
        q = q or {"weight_dtype": act, "compute_dtype": act}
        act = "bf16"
    if weight_dtype:
        wd = quant.canonical(weight_dtype, "--weight-dtype")
        q = {"weight_dtype": wd, "weight_group_size": quant.DEFAULT_GROUP.get(wd), "weight_zero_point": False}
    if kv_dtype:
        q["kv_dtype"] = quant.canonical(kv_dtype, "--kv-dtype", quant.KV_DTYPES)
    context = count("max_position_embeddings") if cfg.get("max_position_embeddings") is not None else None
    attn = hidden * hd * (heads + 2 * kv) + heads * hd * hidden
    if bias or model_type in ("qwen2",):
        attn += hd * (heads + 2 * kv)
    mlp = 3 * hidden * inter
    params = layers * (attn + mlp + 2 * hidden) + vocab * hidden * (1 if tied else 2) + hidden
    wd = q.get("weight_dtype")
    return ModelArch(name=name or hf_name or path.parent.name or "model", params=float(params),
                     layers=layers, hidden=hidden, heads=heads, kv_heads=kv, head_dim=hd, vocab=vocab,
                     dtype_bytes=quant.BYTES[act], hf_id=hf_name, max_context=context,
                     weight_dtype=wd, weight_group_size=q.get("weight_group_size") if wd else None,
                     weight_zero_point=q.get("weight_zero_point") or None if wd else None,
                     quantized_params=float(quant.linear_params(layers, hidden, heads, kv, hd, inter)) if wd
                     else None, kv_dtype=q.get("kv_dtype"), compute_dtype=q.get("compute_dtype") if wd else None)
