"""Shared flag types: each kind of flag (duration, quantile, trials, branch and draft counts, tolerance) is
parsed and range-checked once, here, with planner.checks' validators.

A type raises PlannerError naming the flag (`--quantile: must be in (0, 1), got 1.5`); argparse lets it pass
and planner.cli prints it as the one error line (exit 2), so command handlers never re-check their flags.
Use as `p.add_argument("--quantile", type=T.quantile(), default=0.9)`."""

from __future__ import annotations

import re
from typing import Callable

from planner.api import MAX_BRANCHES, MAX_DRAFT_LEN, MAX_PROMPT_TOKENS  # largest N, K, P accepted (light import)
from planner.checks import fail, flag_duration, flag_number

MAX_TRIALS = 100_000


def duration(flag: str = "--deadline") -> Callable[[str], float]:
    """Seconds from `60s`, `500ms`, `1.5m`, `2`."""
    return flag_duration(flag)


def quantile(flag: str = "--quantile") -> Callable[[str], float]:
    """A latency quantile strictly between 0 and 1 (0.9 = p90)."""
    return flag_number(flag, lo=0.0, hi=1.0, lo_open=True, hi_open=True)


def fraction(flag: str = "--target-accuracy") -> Callable[[str], float]:
    """An accuracy as a fraction in (0, 1]."""
    return flag_number(flag, lo=0.0, hi=1.0, lo_open=True)


def count(flag: str, lo: int = 1, hi: int | None = None) -> Callable[[str], int]:
    """An integer in lo..hi (trials, seeds, repeats...)."""
    return flag_number(flag, integer_=True, lo=lo, hi=hi if hi is not None else 10**15)


def trials(flag: str = "--trials") -> Callable[[str], int]:
    return count(flag, 1, MAX_TRIALS)


def branches(flag: str = "--branches") -> Callable[[str], int]:
    return count(flag, 1, MAX_BRANCHES)


def draft_len(flag: str = "--draft-len") -> Callable[[str], int]:
    return count(flag, 0, MAX_DRAFT_LEN)


def prompt_tokens(flag: str = "--prompt-tokens") -> Callable[[str], int]:
    """The workload's prompt length in tokens (1..MAX_PROMPT_TOKENS); 0, negatives and NaN are refused."""
    return count(flag, 1, MAX_PROMPT_TOKENS)


_PP = re.compile(r"^\s*(\S+?)\s*(pp)?\s*$", re.IGNORECASE)


def points(flag: str = "--tolerance") -> Callable[[str], float]:
    """Accuracy percentage points, `0.5pp` or `0.5`, returned as a fraction (0.005); 0..100."""
    number = flag_number(flag, lo=0.0, hi=100.0)

    def parse(text: str) -> float:
        m = _PP.match(text)
        return number(m.group(1) if m else text) / 100.0

    parse.__name__ = "points"
    return parse


def choice(flag: str, names: tuple[str, ...]) -> Callable[[str], str]:
    """One of `names`, with the same one-line message shape as every other flag."""

    def parse(text: str) -> str:
        if text not in names:
            fail(flag, f"unknown value {text[:40]!r}; choose from {', '.join(names)}")
        return text

    parse.__name__ = "choice"
    return parse


def add_load_flags(p) -> None:
    """--arrival-rate / --concurrency (recommend, predict): latency under other requests' load."""
    p.add_argument("--arrival-rate", type=flag_number("--arrival-rate", lo=0.0, lo_open=True), metavar="R",
                   help="requests/s arriving (Poisson) that share the deployment: latency is queueing + service "
                        "at that load (default: a request alone)")
    p.add_argument("--concurrency", type=count("--concurrency", 1), metavar="C",
                   help="instead: C closed-loop clients, each sending its next request when the last returns")
