"""Weight and KV-cache number formats: bytes per parameter (with group scales), which tensor-core path a format
runs on, and what a Hugging Face `quantization_config` / `torch_dtype` says about a checkpoint.

Why separate: decode streams every weight once per step and reads the KV cache once per token, so an FP8 or
INT4 checkpoint (or an FP8 KV cache on a BF16 model) changes step time by up to 4x; reading such a checkpoint as
2-byte weights, or sizing its KV cache from the weight format, is wrong twice. Stdlib only (imported by the
schema, so `planner recommend` stays light). docs/profile.md, "Quantisation", states the rules."""

from __future__ import annotations

from planner.errors import PlannerError

# canonical name -> bytes per element (before group scales)
BYTES = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}
WEIGHT_DTYPES = ("bf16", "fp16", "fp8", "int8", "int4")
KV_DTYPES = ("bf16", "fp16", "fp8", "int8")   # engines keep no 4-bit KV cache
ALIASES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "fp32", "float": "fp32",
           "float8": "fp8", "float8_e4m3fn": "fp8", "float8_e4m3": "fp8", "fp8_e4m3": "fp8", "e4m3": "fp8",
           "float8_e5m2": "fp8", "fp8_e5m2": "fp8", "e5m2": "fp8", "w8a8": "int8", "w4a16": "int4", "nf4": "int4"}
# Tensor-core path a weight format runs its GEMMs on: fp8 weights with fp8 activations (W8A8-FP8); an int8
# weight *flag* means W8A8-INT8 (SmoothQuant-style); int4 (AWQ/GPTQ) is weight-only: dequantised to bf16.
COMPUTE_PATH = {"bf16": "bf16", "fp16": "bf16", "fp32": "bf16", "fp8": "fp8", "int8": "int8", "int4": "bf16"}
HW_KEY = {"bf16": "bf16_tflops", "fp8": "fp8_tflops", "int8": "int8_tops"}
DEFAULT_GROUP = {"int4": 128}   # AWQ and GPTQ default group size
SCALE_BYTES = 2.0               # one fp16 scale per group (AWQ, GPTQ, compressed-tensors)


def canonical(name, field: str, allowed: tuple[str, ...] = WEIGHT_DTYPES) -> str:
    """'bfloat16' -> 'bf16'; anything outside `allowed` is one error line naming the field and the choices."""
    if not isinstance(name, str) or not name.strip():
        raise PlannerError(f"{field}: must be one of {', '.join(allowed)}, got {name!r}")
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key == "fp32" and "fp32" not in allowed:
        key = "fp16"  # vLLM's dtype "auto" serves an fp32 checkpoint in fp16
    if key not in allowed:
        raise PlannerError(f"{field}: unknown number format {name!r}; use one of {', '.join(allowed)}")
    return key


def bytes_per_param(dtype: str, group_size: int | None = None, zero_point: bool = False) -> float:
    """Stored bytes per quantised weight: the element plus, per group of `group_size` weights, one fp16 scale
    and (asymmetric formats) one zero point of the element's width. int4, g=128, zero point: 0.5 + 2.5/128."""
    b = BYTES[dtype]
    if group_size:
        b += (SCALE_BYTES + (BYTES[dtype] if zero_point else 0.0)) / group_size
    return b


def compute_path(weight_dtype: str | None, compute_dtype: str | None = None) -> str:
    return compute_dtype or COMPUTE_PATH.get(weight_dtype or "bf16", "bf16")


def peak_tflops(gpu: dict, path: str, why: str) -> float:
    """Dense tensor-core peak of `gpu` (a presets.GPUS entry) on `path`; a path the GPU lacks is refused."""
    v = gpu.get(HW_KEY[path])
    if not v:
        other = [p for p in ("int4", "int8", "bf16") if p != path and (p == "int4" or gpu.get(HW_KEY[p]))]
        raise PlannerError(f"{why}: {gpu['name']} has no {path} tensor cores (datasheet); use "
                           f"{' or '.join(other)} weights, or a GPU with {path}")
    return float(v)


def linear_params(layers: int, hidden: int, heads: int, kv_heads: int, head_dim: int, inter: int) -> int:
    """Weights of the decoder's linear layers (q, k, v, o projections and the gated MLP): the part quantisation
    methods quantise; embeddings, lm_head, norms and biases stay in the activation format."""
    return layers * (hidden * head_dim * (heads + 2 * kv_heads) + heads * head_dim * hidden + 3 * hidden * inter)


def from_hf_config(cfg: dict, where: str) -> dict:
    """{weight_dtype, weight_group_size, weight_zero_point, compute_dtype, kv_dtype} from `quantization_config`
    (fp8, fbgemm_fp8, awq, gptq, bitsandbytes, compressed-tensors); {} when the checkpoint is not quantised.
    A method not listed is one error line pointing at --weight-dtype."""
    q = cfg.get("quantization_config")
    if q is None:
        return {}
    if not isinstance(q, dict):
        raise PlannerError(f"{where}: quantization_config must be a JSON object")
    method = str(q.get("quant_method", "")).lower()
    f = f"{where}: quantization_config"
    if method in ("fp8", "fbgemm_fp8"):
        return {"weight_dtype": "fp8", "compute_dtype": "fp8"}
    if method in ("awq", "gptq"):
        bits = _int(q.get("bits", q.get("w_bit")), f"{f}.bits", 4)
        group = _int(q.get("group_size", q.get("q_group_size")), f"{f}.group_size", 128, allow_minus1=True)
        zero = bool(q.get("zero_point", True)) if method == "awq" else not bool(q.get("sym", True))
        return {"weight_dtype": _bits(bits, "int", f"{f}.bits"), "weight_group_size": group if group > 0 else None,
                "weight_zero_point": zero, "compute_dtype": "bf16"}
    if method == "bitsandbytes":
        if q.get("load_in_4bit"):  # NF4 in blocks of 64 with one fp32 absmax each
            return {"weight_dtype": "int4", "weight_group_size": 32, "compute_dtype": "bf16"}  # 4 B / 64 = 2 B / 32
        if q.get("load_in_8bit"):
            return {"weight_dtype": "int8", "compute_dtype": "bf16"}
    if method == "compressed-tensors":
        return _compressed_tensors(q, f)
    raise PlannerError(f"{f}.quant_method {q.get('quant_method')!r} is not understood; state the format with "
                       "--weight-dtype (bf16, fp8, int8, int4) and --kv-dtype")


def _compressed_tensors(q: dict, f: str) -> dict:
    groups = q.get("config_groups") or {}
    if not isinstance(groups, dict) or not groups:
        raise PlannerError(f"{f}.config_groups: missing; state the format with --weight-dtype")
    g = next(iter(groups.values()))
    w, a = (g or {}).get("weights") or {}, (g or {}).get("input_activations")
    kind = "fp" if w.get("type") == "float" else "int"
    out = {"weight_dtype": _bits(_int(w.get("num_bits"), f"{f}.weights.num_bits", 8), kind, f"{f}.weights")}
    if w.get("strategy") == "group":
        out["weight_group_size"] = _int(w.get("group_size"), f"{f}.weights.group_size", 128)
    out["weight_zero_point"] = w.get("symmetric") is False
    if isinstance(a, dict) and a.get("num_bits") == 8:
        out["compute_dtype"] = "fp8" if a.get("type") == "float" else "int8"
    else:
        out["compute_dtype"] = "bf16"
    kv = q.get("kv_cache_scheme")
    if isinstance(kv, dict) and kv.get("num_bits") == 8:
        out["kv_dtype"] = "fp8" if kv.get("type") == "float" else "int8"
    return out


def _bits(bits: int, kind: str, field: str) -> str:
    name = {("int", 4): "int4", ("int", 8): "int8", ("fp", 8): "fp8", ("fp", 16): "fp16"}.get((kind, bits))
    if name is None:
        raise PlannerError(f"{field}: {bits}-bit {kind} weights are not modelled; state the format with "
                           "--weight-dtype (bf16, fp8, int8, int4)")
    return name


def _int(v, field: str, default: int, allow_minus1: bool = False) -> int:
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, int) or (v < 1 and not (allow_minus1 and v == -1)) or v > 1 << 20:
        raise PlannerError(f"{field}: must be a positive integer{' or -1' if allow_minus1 else ''}, got {v!r}")
    return v
