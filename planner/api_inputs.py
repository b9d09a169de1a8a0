"""The public API's argument checks and normalisation (planner/api.py): profiles, deadline, methods, integer
ranges, prompt length and load. Kept apart so the recommend/predict/grid bodies read as the search they run;
every bad value raises `PlannerError` naming the field, which the CLI prints as one line (exit 2)."""

from __future__ import annotations

from typing import Union

from planner.errors import PlannerError
from planner.plan import MAX_BRANCHES, MAX_DRAFT_LEN, MAX_PROMPT_TOKENS, METHODS
from planner.profile.schema import Profile
from planner.units import parse_duration

ProfileLike = Union[Profile, str, None]        # a Profile, a shipped name, a JSON path, or None (the default)
ENGINES = ("vllm", "sglang", "trtllm")


def _profiles(profiles) -> list[Profile]:
    from planner.profile import load_profile

    if profiles is None or isinstance(profiles, (str, Profile)):
        profiles = [profiles]
    out = [p if isinstance(p, Profile) else load_profile(p) for p in profiles]
    if not out:
        raise PlannerError("give at least one profile")
    return out


def with_prompt_tokens(profile: Profile, prompt_tokens: int | None) -> Profile:
    """The profile predicting for prompts of `prompt_tokens` tokens (None: the profile's own `prompt_tokens`,
    which is the calibration prompts' length, not necessarily the workload's)."""
    if prompt_tokens is None:
        return profile
    _ints(prompt_tokens=(prompt_tokens, 1, MAX_PROMPT_TOKENS))
    from dataclasses import replace

    return replace(profile, prompt_tokens=int(prompt_tokens))


def _deadline(d) -> float | None:
    return None if d is None else parse_duration(d)


def _methods(methods) -> tuple[str, ...] | None:
    meths = tuple(methods) if methods else None
    for m in meths or ():
        if m not in METHODS:
            raise PlannerError(f"unknown method {m!r}; choose from {', '.join(METHODS)}")
    return meths


def _ints(**checks) -> None:
    for name, (v, lo, hi) in checks.items():
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise PlannerError(f"{name} must be an integer in {lo}..{hi}, got {v!r}")


def _limits(max_branches: int, max_draft_len: int) -> None:
    _ints(max_branches=(max_branches, 1, MAX_BRANCHES), max_draft_len=(max_draft_len, 0, MAX_DRAFT_LEN))


def _methods_for(p: Profile, methods: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """With several profiles, a method one of them lacks is skipped for it (an error only if none has it)."""
    if not methods:
        return None
    from planner.optimize.evaluate import accuracy_model

    have = tuple(m for m in methods if m in accuracy_model(p).methods)
    return have or methods


def _load(arrival_rate, concurrency):
    """The offered load, or None (a request alone: today's model exactly)."""
    if arrival_rate is None and concurrency is None:
        return None
    from planner.model.load import Load

    return Load(arrival_rate, concurrency)
