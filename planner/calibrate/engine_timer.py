"""The sweep's Timer implemented with the project's decoding engine (planner.engine).

Every timed forward is `planner.engine.forward.forward_step` over the engine's ragged KV cache, exactly what
the decode loop runs per round (logits for all q columns, as verification needs). Per (B, L) the cache is
built once: the L-token context is prefilled at batch 1 (that prefill is timed and kept as a prefill point),
deep-copied and fanned out to B rows; each repeat writes q tokens and rolls the rows back, so every repeat
sees the same context."""

from __future__ import annotations

import copy

from planner.calibrate.sweep import OutOfMemory


def _is_oom(e: BaseException) -> bool:
    import torch

    if isinstance(e, getattr(torch, "OutOfMemoryError", ())):
        return True
    msg = str(e).lower()
    return isinstance(e, RuntimeError) and ("out of memory" in msg or "not enough memory" in msg
                                            or "failed to allocate" in msg)


class _Ctx:
    def __init__(self, owner: "EngineTimer", cache, batch: int):
        self.o, self.cache, self.batch = owner, cache, batch

    def time(self, q: int, repeats: int, warmup: int) -> list[float]:
        import torch

        from planner.calibrate.clock import stopwatch
        from planner.engine.forward import forward_step

        o = self.o
        ids = torch.randint(0, o.vocab, (self.batch, q), generator=o.gen).to(o.device)
        base = list(self.cache.lengths)
        out = []
        try:
            with torch.inference_mode():
                for i in range(warmup + repeats):
                    t = stopwatch(o.clock, o.device)
                    forward_step(o.model, self.cache, ids)
                    dt = t()
                    self.cache.set_lengths(base)
                    if i >= warmup:
                        out.append(dt)
        except (RuntimeError, MemoryError) as e:
            if isinstance(e, MemoryError) or _is_oom(e):
                o.release()
                raise OutOfMemory(str(e).splitlines()[0][:120] if str(e) else "MemoryError") from None
            raise
        return out


class EngineTimer:
    """Timer over one loaded HF model on `device` (see planner.calibrate.sweep.Timer)."""

    def __init__(self, model, device: str, kv_bytes_per_token: float, seed: int = 0, clock: str = "wall"):
        import torch

        self.model, self.device, self.clock = model, device, clock
        self.kv_per_token = float(kv_bytes_per_token)
        self.gen = torch.Generator().manual_seed(seed)
        self.vocab = None
        self._base: dict[int, object] = {}
        self.prefill_s: dict[int, list[float]] = {}   # context length -> prefill seconds (batch 1)

    def kv_bytes(self, batch: int, L: int) -> float:
        """Cache bytes of a (batch, L) context: slots are allocated as L + 64 per row."""
        return batch * (L + 64) * self.kv_per_token

    def _base_cache(self, L: int):
        from planner.calibrate.clock import stopwatch
        from planner.engine.timing import prefill_cache

        if L not in self._base:
            t = stopwatch(self.clock, self.device)
            cache, self.vocab = prefill_cache(self.model, 1, L, self.device, seed=L)
            self.prefill_s.setdefault(L, []).append(t())
            self._base[L] = cache  # batch-1 contexts are small; kept for every B
        return self._base[L]

    def context(self, batch: int, L: int) -> _Ctx:
        try:
            base = self._base_cache(L)
            cache = copy.deepcopy(base)
            if batch > 1:
                cache.repeat_rows(batch)
            return _Ctx(self, cache, batch)
        except (RuntimeError, MemoryError) as e:
            if isinstance(e, MemoryError) or _is_oom(e):
                self.release()
                raise OutOfMemory(str(e).splitlines()[0][:120] if str(e) else "MemoryError") from None
            raise

    def warmup(self, seconds: float = 1.0) -> None:
        """Run forwards until `seconds` pass (first calls pay allocator and kernel-selection costs)."""
        import time

        t_end = time.monotonic() + seconds
        had = set(self.prefill_s)
        ctx = self.context(1, 16)
        while time.monotonic() < t_end:
            ctx.time(1, 1, 0)
            ctx.time(4, 1, 0)
        for L in set(self.prefill_s) - had:  # a cold first call, not a prefill measurement
            del self.prefill_s[L]

    def time_prefill(self, length: int, repeats: int) -> list[float]:
        """Seconds to prefill one prompt of `length` tokens (batch 1), once per repeat, with this clock."""
        from planner.calibrate.clock import stopwatch
        from planner.engine.timing import prefill_cache

        out = []
        for r in range(repeats):
            t = stopwatch(self.clock, self.device)
            prefill_cache(self.model, 1, length, self.device, seed=length + r)
            out.append(t())
        return out

    def release(self) -> None:
        import torch

        self._base = {}
        if str(self.device).startswith("cuda"):
            torch.cuda.empty_cache()
