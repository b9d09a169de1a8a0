"""Parsing of human durations (`60s`, `500ms`, `1.5m`, `2`) used by every command that takes a deadline.

The parser is a single left-to-right scan (no regular expression), so its time is linear in the input: the old
regex backtracked and a 20,000-digit deadline took ~30 s. Over-long text is refused before any scanning."""

from __future__ import annotations

import math

from planner.errors import PlannerError

_UNITS = {"": 1.0, "s": 1.0, "sec": 1.0, "ms": 1e-3, "us": 1e-6, "m": 60.0, "min": 60.0, "h": 3600.0}
_DIGITS = frozenset("0123456789")  # ASCII only: str.isdigit() also accepts e.g. Arabic-Indic digits
MAX_CHARS = 64
MIN_SECONDS, MAX_SECONDS = 1e-6, 1e7  # 1 microsecond to ~116 days: anything outside is a typo
_HINT = "use e.g. 60s, 500ms, 1.5m or 2 (seconds)"


def _scan_digits(s: str, i: int) -> int:
    while i < len(s) and s[i] in _DIGITS:
        i += 1
    return i


def _split(s: str) -> tuple[str, str] | None:
    """(number, unit) of `s` (already stripped and lower-cased), or None if the number part is malformed."""
    i = _scan_digits(s, 0)
    int_digits = i
    if i < len(s) and s[i] == ".":
        j = _scan_digits(s, i + 1)
        if int_digits == 0 and j == i + 1:
            return None  # a lone "."
        i = j
    elif int_digits == 0:
        return None
    if i < len(s) and s[i] == "e" and i + 1 < len(s):  # exponent only if digits follow ("1e" is no unit)
        j = i + 1 + (s[i + 1] in "+-")
        k = _scan_digits(s, j)
        if k > j:
            i = k
    number, unit = s[:i], s[i:].strip()
    return number, unit


def parse_duration(text: str | float | int, field: str = "duration") -> float:
    """Return seconds. Accepts a bare number (seconds) or number + unit in {us, ms, s, sec, m, min, h}."""
    if isinstance(text, bool):
        raise PlannerError(f"{field}: expected a duration, got {text!r}; {_HINT}")
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        s = str(text).strip().lower()
        if len(s) > MAX_CHARS:
            raise PlannerError(f"{field} is {len(s)} characters long (at most {MAX_CHARS}); {_HINT}")
        if s.startswith("-") and _split(s[1:].lstrip()) is not None:
            raise PlannerError(f"{field} must be positive, got {text!r}; {_HINT}")
        parts = _split(s.lstrip("+"))
        if parts is None or parts[1] not in _UNITS:
            raise PlannerError(f"cannot parse {field} {text!r}: {_HINT}")
        value = float(parts[0]) * _UNITS[parts[1]]
    if math.isnan(value):
        raise PlannerError(f"{field} must be a number of seconds, got {text!r}; {_HINT}")
    if value <= 0:
        raise PlannerError(f"{field} must be positive, got {text!r}; {_HINT}")
    if not MIN_SECONDS <= value <= MAX_SECONDS:
        raise PlannerError(f"{field} {text!r} is out of range: use between 1us and {MAX_SECONDS:.0e} s")
    return value


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1e3:.0f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{seconds / 60:.1f} min"
