"""Parsing of human durations (`60s`, `500ms`, `1.5m`, `2`) used by every command that takes a deadline."""

from __future__ import annotations

import math
import re

from planner.errors import PlannerError

_UNITS = {"": 1.0, "s": 1.0, "sec": 1.0, "ms": 1e-3, "us": 1e-6, "m": 60.0, "min": 60.0, "h": 3600.0}
_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-z]*)\s*$")


def parse_duration(text: str | float | int) -> float:
    """Return seconds. Accepts a bare number (seconds) or number + unit in {ms, s, m, min, h}."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        m = _RE.match(str(text).lower())
        if not m or m.group(2) not in _UNITS:
            raise PlannerError(f"cannot parse duration {text!r}: use e.g. 60s, 500ms, 1.5m or 2 (seconds)")
        value = float(m.group(1)) * _UNITS[m.group(2)]
    if not math.isfinite(value) or value <= 0:
        raise PlannerError(f"duration must be positive, got {text!r}")
    return value


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1e3:.0f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{seconds / 60:.1f} min"
