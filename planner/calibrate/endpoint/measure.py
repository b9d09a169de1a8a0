"""`planner calibrate --endpoint URL --model NAME [--quick]`: a profile measured on a running
OpenAI-compatible server (vLLM first; SGLang / llama.cpp where they expose the same things).

The planner's latency model is fitted to the *engine's* numbers (its scheduler, kernels and sampling), not
to an eager Hugging Face loop: step time vs concurrent branches, prefill vs prompt length, generated lengths
at the plan's sampling settings, and acceptance per draft position from the engine's own counters. The
server is used as it is: speculative settings are server-wide, so the profile describes that launch.

If the server dies or stops answering mid-run, the measurements so far are written next to the output
(`FILE.partial.json`) and the error says so; nothing hangs (every call has a timeout)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

from planner.errors import PlannerError
from planner.io import atomic_write_json, iter_jsonl
from planner.calibrate.endpoint import server_draft, sweeps
from planner.calibrate.endpoint.parts import endpoint_parts
from planner.http import Endpoint
from planner.calibrate.endpoint.probe import local_config, probe, speculative_from_args, tensor_parallel_from_args
from planner.calibrate.output import Measured
from planner.calibrate.settings import EndpointRun

DEFAULT_QUESTIONS = [
    "What is 17 + 25? Answer with a number.",
    "A train travels 60 km in 45 minutes. What is its speed in km/h?",
    "Compute 12 * 13.",
    "If x + 7 = 19, what is x?",
    "What is the remainder when 100 is divided by 7?",
    "How many prime numbers are less than 20?",
    "Simplify (3/4) + (5/8).",
    "A rectangle is 8 by 5. What is its perimeter?",
    "What is 2 to the power 10?",
    "Solve 3x - 4 = 11 for x.",
    "What is the sum of the interior angles of a hexagon, in degrees?",
    "What is 15% of 240?",
    "The mean of 4, 8, x is 7. Find x.",
    "How many ways can 3 books be arranged on a shelf?",
    "What is the greatest common divisor of 84 and 36?",
    "Evaluate 7! / 5!.",
]


@dataclass(frozen=True)
class EndpointGrid:
    batches: tuple[int, ...]
    decode_tokens: int
    long_batches: tuple[int, ...]     # points at a long context (for the KV-read term)
    long_prompt_tokens: int
    prefill_tokens: tuple[int, ...]
    prefill_repeats: int
    n_questions: int
    n_per_question: int
    max_tokens: int
    decode_repeats: int = 1           # each decode point keeps its fastest repeat (shared machines add noise)


QUICK = EndpointGrid((1, 4, 16), 24, (4,), 384, (16, 384), 1, 3, 4, 48)
FULL = EndpointGrid((1, 2, 4, 8, 16, 32, 64), 96, (1, 16), 1024, (16, 128, 512, 1024, 1536), 2, 16, 8, 512, 2)


def load_questions(path: str | None, limit: int) -> list[str]:
    """Questions from a JSONL file (keys question / problem / prompt), or the built-in arithmetic set."""
    if not path:
        return DEFAULT_QUESTIONS[:limit]
    from planner.executor.datasets import BUILTIN, MATH_PROMPT, format_prompt, load_problems

    if path in BUILTIN:  # e.g. math500: sent as run/validate send them, so lengths and prompt_tokens match
        return [format_prompt(p.question, MATH_PROMPT) for p in load_problems(path, limit)]
    out = []
    for i, row in enumerate(iter_jsonl(path, "calibration prompts")):
        q = next((row.get(k) for k in ("question", "problem", "prompt") if isinstance(row, dict) and row.get(k)), None)
        if not isinstance(q, str):
            raise PlannerError(f"calibration prompts {path}: line {i + 1} has no question/problem/prompt string")
        out.append(q)
        if len(out) >= limit:
            break
    if not out:
        raise PlannerError(f"calibration prompts {path}: no prompts")
    return out


def _fits(grid: EndpointGrid, max_len: int | None) -> EndpointGrid:
    """Shrink prompt lengths and generation caps to the server's context window."""
    if not max_len:
        return grid
    room = max_len - grid.decode_tokens - 8
    return replace(grid, long_prompt_tokens=max(16, min(grid.long_prompt_tokens, room)),
                   prefill_tokens=tuple(sorted({max(8, min(t, max_len - 8)) for t in grid.prefill_tokens})),
                   max_tokens=min(grid.max_tokens, max(16, max_len // 2)))


def measure_endpoint(run: EndpointRun) -> Measured:
    """Measure the server at run.endpoint serving run.model; the profile's parts (validated when assembled).
    Defaults: the quick or full grid below, trimmed to the server's context window; run.batches,
    decode_tokens, decode_repeats, max_tokens and n override it."""
    ep = Endpoint(run.endpoint, timeout_s=float(run.timeout or 120))
    grid = QUICK if run.quick else FULL
    temperature, top_p = run.temperature, run.top_p
    t_start = time.monotonic()
    info = probe(ep, run.model)
    # Everything that can be wrong with the inputs fails here, before minutes of measuring.
    spec_cfg = speculative_from_args(run.launch_args)
    tensor_parallel_from_args(run.launch_args)
    info.drafter = server_draft.from_launch(run.launch_args, spec_cfg)
    if info.drafter is None and (info.spec_positions or info.engine == "sglang"):
        info.drafter = server_draft.from_server(ep, info.engine, info.root)
    local_config(info, run.model_config)
    grid = _fits(grid, info.max_model_len)
    for name in ("max_tokens", "batches", "decode_tokens", "decode_repeats"):
        if getattr(run, name):
            v = getattr(run, name)
            grid = replace(grid, **{name: tuple(int(b) for b in v) if name == "batches" else int(v)})
    n_branch = int(run.n or grid.n_per_question)
    questions = load_questions(run.prompts, grid.n_questions)
    raw: dict = {"decode_points": [], "prefill_points": [], "phases_s": {}}
    timeout = ep.timeout_s
    try:
        t = time.monotonic()  # warm-up: the first request after start pays one-off costs
        sweeps.prefill_point(ep, info, 8, 1, timeout)
        raw["phases_s"]["warmup"] = round(time.monotonic() - t, 2)

        t = time.monotonic()
        base_prompt = sweeps.filler_prompt(24, 0)
        long_prompt = sweeps.filler_prompt(sweeps.words_for_tokens(grid.long_prompt_tokens), 2)
        for B, prompt in [(b, base_prompt) for b in grid.batches] + [(b, long_prompt)
                                                                          for b in grid.long_batches]:
            reps = [sweeps.decode_point(ep, info, B, grid.decode_tokens, prompt, temperature, timeout)
                    for _ in range(grid.decode_repeats)]
            best = min(reps, key=lambda d: d["t_s"])
            best["repeats_t_s"] = [round(d["t_s"], 6) for d in reps]
            raw["decode_points"].append(best)
        raw["phases_s"]["decode"] = round(time.monotonic() - t, 2)

        t = time.monotonic()
        nonce = int(time.time()) % 100000 + 10
        for rep in range(grid.prefill_repeats):
            for tok in grid.prefill_tokens:
                nonce += 1
                raw["prefill_points"].append(sweeps.prefill_point(ep, info, sweeps.words_for_tokens(tok), nonce,
                                                                  timeout))
        raw["phases_s"]["prefill"] = round(time.monotonic() - t, 2)

        t = time.monotonic()
        before = info.scrape(ep)
        raw["lengths"] = sweeps.sample_lengths(ep, info, questions, n_branch, grid.max_tokens, temperature,
                                               top_p, timeout)
        raw["spec_before"], raw["spec_after"] = before, info.scrape(ep)
        raw["phases_s"]["lengths"] = round(time.monotonic() - t, 2)
    except PlannerError as e:
        raise PlannerError(f"{e}{_save_partial(run.output, info, raw)}") from None
    except BaseException:  # Ctrl-C, SIGTERM: minutes of measurements are still worth keeping
        saved = _save_partial(run.output, info, raw)
        if saved:
            print(f"planner calibrate:{saved}", file=sys.stderr)
        raise
    raw["phases_s"]["total"] = round(time.monotonic() - t_start, 2)
    host = urlparse(info.base).hostname or info.base
    try:
        return Measured(endpoint_parts(run, info, raw, grid, host))
    except Exception as e:  # noqa: BLE001 - a failed fit must not lose the raw measurements it was given
        why = str(e) if isinstance(e, PlannerError) else f"{type(e).__name__}: {e}"
        raise PlannerError(f"endpoint calibration: fitting the measurements failed: {why}"
                           f"{_save_partial(run.output, info, raw)}") from None


def _save_partial(out: str | None, info, raw: dict) -> str:
    if not out or not (raw["decode_points"] or raw["prefill_points"] or raw.get("lengths")):
        return ""
    path = Path(str(out) + ".partial.json")
    keep = {k: v for k, v in raw.items() if not k.startswith("spec_")}
    try:
        atomic_write_json(path, {"schema": "tts-endpoint-partial/1", "endpoint": info.base, "model": info.model,
                                 "engine": info.engine, "version": info.version, **keep})
    except (OSError, PlannerError):
        return ""
    return f" (measurements so far saved to {path})"
