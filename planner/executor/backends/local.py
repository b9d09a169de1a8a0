"""The `local` backend: the project's own decoding engine (planner.engine) on CPU or CUDA."""

from __future__ import annotations

from planner.executor.backends import Backend, BackendResult, BranchOutput, OnFinish
from planner.executor.deadline import Deadline


class LocalBackend(Backend):
    name = "local"

    def __init__(self, engine, draft_len: int = 0, temperature: float = 0.7, top_p: float = 1.0, top_k: int = 0,
                 max_tokens: int = 1024, stop: list[str] | None = None, logprobs: bool = False,
                 system: str | None = None):
        self.engine, self.draft_len = engine, int(draft_len)
        self.temperature, self.top_p, self.top_k = temperature, top_p, top_k
        self.max_tokens, self.stop, self.logprobs, self.system = max_tokens, list(stop or []), logprobs, system

    def describe(self) -> dict:
        d = self.engine.drafter
        return {"backend": self.name, "device": str(self.engine.device), "draft": d.name if d else "none",
                "draft_len": self.draft_len, "temperature": self.temperature, "top_p": self.top_p,
                "max_tokens": self.max_tokens}

    def generate(self, prompt: str, n: int, deadline: Deadline, on_finish: OnFinish | None = None,
                 seed: int = 0) -> BackendResult:
        ids = self.engine.encode_chat(prompt, self.system)
        offset = deadline.elapsed()
        remaining = deadline.remaining()
        if remaining is not None and remaining <= 0:
            cut = [BranchOutput(i, None, 0, "deadline", offset) for i in range(n)]
            return BackendResult(cut, deadline.elapsed(), len(ids), "deadline")

        def relay(branch) -> bool:
            return bool(on_finish(self._convert(branch, offset))) if on_finish else False

        gen = self.engine.generate(ids, n_branches=n, draft_len=self.draft_len, temperature=self.temperature,
                                   top_p=self.top_p, top_k=self.top_k, max_new_tokens=self.max_tokens,
                                   deadline_s=remaining, stop=self.stop, seed=seed, logprobs=self.logprobs,
                                   on_finish=relay if on_finish else None)
        branches = [self._convert(b, offset) for b in gen.branches]
        return BackendResult(branches, deadline.elapsed(), len(ids), gen.stopped_by, gen.steps,
                             {"prefill_s": gen.prefill_s, "decode_s": gen.total_s,
                              "acceptance": gen.acceptance_by_position()})

    @staticmethod
    def _convert(b, offset: float) -> BranchOutput:
        return BranchOutput(b.index, b.text, b.num_tokens, b.finish_reason, offset + b.finish_s, b.logprob)
