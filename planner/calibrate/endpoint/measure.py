"""`planner calibrate --endpoint URL --model NAME [--quick]`: a `tts-profile/1` measured on a running
OpenAI-compatible server (vLLM first; SGLang / llama.cpp where they expose the same things).

The planner's latency model is fitted to the *engine's* numbers (its scheduler, kernels and sampling), not
to an eager Hugging Face loop: step time vs concurrent branches, prefill vs prompt length, generated lengths
at the plan's sampling settings, and acceptance per draft position from the engine's own counters. The
server is used as it is: speculative settings are server-wide, so the profile describes that launch.

If the server dies or stops answering mid-run, the measurements so far are written next to the output
(`FILE.partial.json`) and the error says so; nothing hangs (every call has a timeout)."""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

from planner.errors import PlannerError
from planner.io import atomic_write_json, iter_jsonl
from planner.calibrate.endpoint import sweeps
from planner.calibrate.endpoint.assemble import build_profile
from planner.http import Endpoint
from planner.calibrate.endpoint.probe import local_config, probe, speculative_from_args, tensor_parallel_from_args

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
class Settings:
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


QUICK = Settings((1, 4, 16), 24, (4,), 384, (16, 384), 1, 3, 4, 48)
FULL = Settings((1, 2, 4, 8, 16, 32, 64), 96, (1, 16), 1024, (16, 128, 512, 1024, 1536), 2, 16, 8, 512, 2)


def load_questions(path: str | None, limit: int) -> list[str]:
    """Questions from a JSONL file (keys question / problem / prompt), or the built-in arithmetic set."""
    if not path:
        return DEFAULT_QUESTIONS[:limit]
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


def _fits(settings: Settings, max_len: int | None) -> Settings:
    """Shrink prompt lengths and generation caps to the server's context window."""
    if not max_len:
        return settings
    room = max_len - settings.decode_tokens - 8
    return replace(settings, long_prompt_tokens=max(16, min(settings.long_prompt_tokens, room)),
                   prefill_tokens=tuple(sorted({max(8, min(t, max_len - 8)) for t in settings.prefill_tokens})),
                   max_tokens=min(settings.max_tokens, max(16, max_len // 2)))


def calibrate_endpoint(args) -> dict:
    """Measure the server at args.endpoint serving args.model; return the profile dict (validated).

    Reads (all optional except endpoint, model): quick, timeout (s per call, default 120), prompts (JSONL),
    model_config (config.json of the served model when its folder is not local), hardware (name),
    launch_args (the server's command line, recorded and parsed for --speculative-config and
    --tensor-parallel-size), temperature (0.7), top_p (1.0), max_tokens, n (branches per prompt for
    the length distribution), id, output (for FILE.partial.json on failure), batches (branch counts of the
    decode sweep, default 1,4,16 quick / 1..64 full), decode_tokens (tokens per sweep request),
    decode_repeats (repeats per decode point, the fastest kept; default 1 quick / 2 full)."""
    model = getattr(args, "model", None)
    if not model:
        raise PlannerError("--endpoint needs --model NAME (the served model name)")
    ep = Endpoint(args.endpoint, timeout_s=float(getattr(args, "timeout", None) or 120))
    settings = QUICK if getattr(args, "quick", False) else FULL
    temperature = float(getattr(args, "temperature", None) if getattr(args, "temperature", None) is not None else 0.7)
    top_p = float(getattr(args, "top_p", None) or 1.0)
    t_start = time.monotonic()
    info = probe(ep, model)
    # Everything that can be wrong with the inputs fails here, before minutes of measuring.
    speculative_from_args(getattr(args, "launch_args", None))
    tensor_parallel_from_args(getattr(args, "launch_args", None))
    local_config(info, getattr(args, "model_config", None))
    settings = _fits(settings, info.max_model_len)
    if getattr(args, "max_tokens", None):
        settings = replace(settings, max_tokens=int(args.max_tokens))
    if getattr(args, "batches", None):
        settings = replace(settings, batches=tuple(int(b) for b in args.batches))
    if getattr(args, "decode_tokens", None):
        settings = replace(settings, decode_tokens=int(args.decode_tokens))
    if getattr(args, "decode_repeats", None):
        settings = replace(settings, decode_repeats=int(args.decode_repeats))
    n_branch = int(getattr(args, "n", None) or settings.n_per_question)
    questions = load_questions(getattr(args, "prompts", None), settings.n_questions)
    raw: dict = {"decode_points": [], "prefill_points": [], "phases_s": {}}
    timeout = ep.timeout_s
    try:
        t = time.monotonic()  # warm-up: the first request after start pays one-off costs
        sweeps.prefill_point(ep, info, 8, 1, timeout)
        raw["phases_s"]["warmup"] = round(time.monotonic() - t, 2)

        t = time.monotonic()
        base_prompt = sweeps.filler_prompt(24, 0)
        long_prompt = sweeps.filler_prompt(sweeps.words_for_tokens(settings.long_prompt_tokens), 2)
        for B, prompt in [(b, base_prompt) for b in settings.batches] + [(b, long_prompt)
                                                                          for b in settings.long_batches]:
            reps = [sweeps.decode_point(ep, info, B, settings.decode_tokens, prompt, temperature, timeout)
                    for _ in range(settings.decode_repeats)]
            best = min(reps, key=lambda d: d["t_s"])
            best["repeats_t_s"] = [round(d["t_s"], 6) for d in reps]
            raw["decode_points"].append(best)
        raw["phases_s"]["decode"] = round(time.monotonic() - t, 2)

        t = time.monotonic()
        nonce = int(time.time()) % 100000 + 10
        for rep in range(settings.prefill_repeats):
            for tok in settings.prefill_tokens:
                nonce += 1
                raw["prefill_points"].append(sweeps.prefill_point(ep, info, sweeps.words_for_tokens(tok), nonce,
                                                                  timeout))
        raw["phases_s"]["prefill"] = round(time.monotonic() - t, 2)

        t = time.monotonic()
        before = info.scrape(ep)
        raw["lengths"] = sweeps.sample_lengths(ep, info, questions, n_branch, settings.max_tokens, temperature,
                                               top_p, timeout)
        raw["spec_before"], raw["spec_after"] = before, info.scrape(ep)
        raw["phases_s"]["lengths"] = round(time.monotonic() - t, 2)
    except PlannerError as e:
        raise PlannerError(f"{e}{_save_partial(args, info, raw)}") from None
    raw["phases_s"]["total"] = round(time.monotonic() - t_start, 2)
    host = urlparse(info.base).hostname or info.base
    return build_profile(args, info, raw, settings, temperature, top_p, host,
                         _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat())


def _save_partial(args, info, raw: dict) -> str:
    out = getattr(args, "output", None)
    if not out or not (raw["decode_points"] or raw["prefill_points"]):
        return ""
    path = Path(str(out) + ".partial.json")
    keep = {k: v for k, v in raw.items() if not k.startswith("spec_")}
    try:
        atomic_write_json(path, {"schema": "tts-endpoint-partial/1", "endpoint": info.base, "model": info.model,
                                 "engine": info.engine, "version": info.version, **keep})
    except (OSError, PlannerError):
        return ""
    return f" (measurements so far saved to {path})"
