"""The workload as the latency model needs it: how long its prompts are, and whether a plan's prediction
describes the backend it is run on.

Why: prefill grows with the prompt (per branch on vLLM when the prompt is shorter than a KV block), so a
prediction made at the calibration prompts' length (a profile's `prompt_tokens`) can be far from a dataset's
(issue 16: 45 vs 118 tokens). `run` and `validate` count the prompts they send, in the served model's tokens
with its chat template, and say which length they used."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

CHARS_PER_TOKEN = 4.0   # fallback estimate for English/LaTeX text on BPE vocabularies when nothing can count
DIFFERS = 0.10          # relative difference of prompt lengths worth a note


@dataclass(frozen=True)
class PromptLength:
    mean: float
    problems: int
    how: str              # "tokenizer of the local model", "server /tokenize", "estimated from characters"

    @property
    def tokens(self) -> int:
        return max(1, round(self.mean))

    def describe(self) -> str:
        return f"mean {self.mean:.0f} tokens over {self.problems} problem(s) ({self.how})"


def prompt_length(backend, prompts: list[str]) -> PromptLength:
    """Mean prompt length of `prompts` as `backend` will send them (chat template included)."""
    counts, how = None, ""
    engine = getattr(backend, "engine", None)
    if engine is not None and hasattr(engine, "encode_chat"):
        counts = [len(engine.encode_chat(p, getattr(backend, "system", None))) for p in prompts]
        how = "the local model's tokenizer"
    elif getattr(backend, "name", None) == "openai":
        counts = _server_counts(backend, prompts)
        how = "the server's /tokenize, chat template included"
    if not counts:
        counts = [max(1.0, len(p) / CHARS_PER_TOKEN) for p in prompts]
        how = "estimated from characters, 4 per token: nothing here can count tokens"
    return PromptLength(float(statistics.fmean(counts)) if counts else 0.0, len(prompts), how)


def _server_counts(backend, prompts: list[str]) -> list[int] | None:
    """vLLM's (and SGLang's) `/tokenize` with the chat messages the backend sends; None when unsupported."""
    from planner.http import Endpoint
    from planner.errors import PlannerError

    root = f"{backend.scheme}://{backend.host}{':' + str(backend.port) if backend.port else ''}"
    ep = Endpoint(root, timeout_s=30)
    out = []
    for p in prompts:
        msgs = ([{"role": "system", "content": backend.system}] if getattr(backend, "system", None) else []) + [
            {"role": "user", "content": p}]
        body = {"model": backend.model, "messages": msgs, "add_generation_prompt": True} if getattr(
            backend, "chat", True) else {"model": backend.model, "prompt": p}
        try:
            r = ep.post_json("/tokenize", body, timeout_s=30)
        except (PlannerError, OSError, ValueError):
            return None
        n = r.get("count") if isinstance(r, dict) else None
        if not isinstance(n, int):
            toks = r.get("tokens") if isinstance(r, dict) else None
            n = len(toks) if isinstance(toks, list) else None
        if n is None:
            return None
        out.append(n)
    return out


def length_note(plan_tokens, measured: PromptLength, command: str) -> str | None:
    """A note when the plan's prediction assumed another prompt length than the problems have."""
    if not isinstance(plan_tokens, (int, float)) or plan_tokens <= 0:
        return (f"prompt length of these problems: {measured.describe()}; the plan does not say which length its "
                f"prediction assumed (made before `predicted.prompt_tokens` existed)")
    if abs(measured.mean - plan_tokens) <= DIFFERS * plan_tokens:
        return None
    return (f"the plan predicted for {plan_tokens:.0f}-token prompts; these problems average {measured.mean:.0f} "
            f"({measured.how}): re-plan with `planner recommend --prompt-tokens {measured.tokens}`"
            + (" or pass --profile to re-predict at their length" if command == "validate" else ""))


def backend_note(plan, backend: str) -> str | None:
    """A plan whose profile was measured on this project's local engine does not describe a server (its
    scheduler, kernels and prefill sharing differ), and one measured through a server does not describe the
    local engine; a datasheet-derived profile describes a deployment, so it gets no note."""
    prov = (plan.profile or {}).get("provenance") or {}
    if prov.get("kind") != "measured" or prov.get("method") == "points":
        return None
    on_server = prov.get("method") == "endpoint"
    if backend == "openai" and not on_server:
        return (f"the plan's profile {plan.profile.get('id')!r} was measured on the local engine; its latency "
                "prediction does not describe this server (calibrate it: planner calibrate --endpoint URL)")
    if backend == "local" and on_server:
        return (f"the plan's profile {plan.profile.get('id')!r} was measured through a server; its latency "
                "prediction does not describe the local engine")
    return None
