"""Timing building blocks for calibration and benchmarks: the cost of one engine forward at batch B, query
width q and context L, prefill cost, and the device's streaming bandwidth (the floor of a decode step).

Why here: the latency model is fitted to exactly the forward the decode loop runs (`forward_step` over the
ragged cache), so the sweep must use the same code path — not HF generate, not a hand-written loop.
"""

from __future__ import annotations

import statistics

import torch

from planner.engine.forward import forward_step, new_cache, synchronize, timed


def _random_ids(n: int, vocab: int, gen: torch.Generator) -> list[int]:
    return torch.randint(0, vocab, (n,), generator=gen).tolist()


@torch.inference_mode()
def prefill_cache(model, batch: int, context: int, device, seed: int = 0, chunk: int = 512):
    """A ragged cache holding `context` random tokens in each of `batch` rows (prefilled once, fanned out)."""
    vocab = model.config.get_text_config(decoder=True).vocab_size if hasattr(model.config, "get_text_config") \
        else model.config.vocab_size
    gen = torch.Generator().manual_seed(seed)
    cache = new_cache(model, 1, device, capacity=context + 64)
    ids = _random_ids(max(context, 1), vocab, gen)
    for i in range(0, context, chunk):
        part = torch.tensor([ids[i: i + chunk]], device=device)
        forward_step(model, cache, part, logits_at=1)
    if batch > 1:
        cache.repeat_rows(batch)
    return cache, vocab


@torch.inference_mode()
def measure_step(model, batch: int, q: int, context: int, device="cpu", repeats: int = 5, warmup: int = 1,
                 seed: int = 0) -> dict:
    """Seconds per target forward of width q for `batch` rows that each hold `context` cached tokens.

    Each repeat writes q new tokens then rolls the rows back, so every repeat sees the same context. Logits
    are computed for all q columns (what verification needs). Returns {"median_s", "min_s", "times_s", ...}."""
    if batch < 1 or q < 1 or context < 0:
        raise ValueError("need batch >= 1, q >= 1, context >= 0")
    cache, vocab = prefill_cache(model, batch, context, device, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    ids = torch.tensor([_random_ids(q, vocab, gen) for _ in range(batch)], device=device)
    base = list(cache.lengths)
    times = []
    for i in range(warmup + repeats):
        t = timed(device)
        forward_step(model, cache, ids)
        dt = t()
        cache.set_lengths(base)
        if i >= warmup:
            times.append(dt)
    return {"batch": batch, "q": q, "context": context, "median_s": statistics.median(times), "min_s": min(times),
            "times_s": times}


@torch.inference_mode()
def measure_prefill(model, length: int, device="cpu", repeats: int = 3, seed: int = 0) -> dict:
    """Seconds to prefill one prompt of `length` tokens (batch 1, last-token logits only)."""
    times = []
    for r in range(repeats):
        t = timed(device)
        prefill_cache(model, 1, length, device, seed + r)
        times.append(t())
    return {"length": length, "median_s": statistics.median(times), "min_s": min(times), "times_s": times}


def weight_bytes(model) -> int:
    """Bytes of parameters a decode step streams (shared tensors, e.g. tied embeddings, counted once)."""
    seen, total = set(), 0
    for p in model.parameters():
        if p.data_ptr() not in seen:
            seen.add(p.data_ptr())
            total += p.numel() * p.element_size()
    return total


def measure_bandwidth(device="cpu", megabytes: int = 256, repeats: int = 5) -> float:
    """Effective streaming bandwidth in bytes/s (best of `repeats` reductions over a large buffer): the
    denominator of the decode floor `weight_bytes / bandwidth`."""
    n = megabytes * (1 << 20) // 4
    x = torch.ones(n, dtype=torch.float32, device=device)
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        t = timed(device)
        x.sum()
        best = min(best, t())
    return x.numel() * x.element_size() / best
