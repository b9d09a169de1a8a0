"""Backends turn one prompt into N branches under a deadline: `local` (this project's engine) or `openai`
(any OpenAI-compatible server: vLLM, SGLang, TRT-LLM serve). Both return the same BranchOutput records, so
voting, grading and the result files do not depend on where the tokens came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from planner.executor.deadline import Deadline

FINISHED = ("eos", "stop", "length")


@dataclass
class BranchOutput:
    index: int
    text: str | None
    num_tokens: int
    finish_reason: str          # eos | stop | length | deadline | cancelled | error
    finish_s: float             # seconds since the problem started
    logprob: float | None = None
    exact_tokens: bool = True   # False when the server gave no per-branch token count (estimated)

    @property
    def completed(self) -> bool:
        return self.finish_reason in FINISHED


@dataclass
class BackendResult:
    branches: list[BranchOutput]
    latency_s: float
    prompt_tokens: int | None = None
    stopped_by: str | None = None          # None | deadline | callback
    steps: list = field(default_factory=list)  # engine StepRecords (local backend)
    info: dict = field(default_factory=dict)


OnFinish = Callable[[BranchOutput], bool]


class Backend:
    name = "base"

    def generate(self, prompt: str, n: int, deadline: Deadline, on_finish: OnFinish | None = None,
                 seed: int = 0) -> BackendResult:
        raise NotImplementedError

    def describe(self) -> dict:
        return {"backend": self.name}


def model_for_plan(model: dict, backend: str) -> str | None:
    """The model to run a plan with when --model is not given. The local engine loads presets by their short
    name (`smollm2-135m`, a GGUF shipped on PyPI, offline), so a plan naming a preset runs that; a server is
    asked for the id it was launched with, which `planner export` prints (the plan's served_model or hf_id)."""
    name, hf_id, served = model.get("name"), model.get("hf_id"), model.get("served_model")
    if backend == "local":
        from planner.engine.models import PRESETS  # light: no torch at module level

        return name if name in PRESETS else (hf_id or name)
    return served or hf_id or name


def require_local_engine(model: str | None, command: str | None) -> None:
    """One line naming the install command when the local engine's libraries are missing (no traceback);
    called by the commands before they print anything, and by make_backend."""
    from planner.engine.models import PRESETS  # light: no torch at module level
    from planner.errors import require_extra

    gguf = ("gguf",) if model and (str(model).endswith(".gguf") or model in PRESETS) else ()
    require_extra(("torch", "transformers", *gguf), purpose=f"the local backend of planner {command or 'run'}")
