"""The one input boundary: validators for every external value (JSON fields, config.json, CSV cells, flags).

Why: `nan < lo` is False, `True` is an int and nothing had an upper bound, so garbage slipped through range
checks and surfaced later as tracebacks or absurd plans. Each validator names the field's path
(`profile.model.layers: must be ...`) so the user's one error line says what to fix. JSON is parsed strictly:
no NaN/Infinity literals, no overflowing numbers, no duplicate keys, bounded nesting (never a RecursionError)."""

from __future__ import annotations

import json
import math
from typing import Any, Callable, NoReturn

from planner.errors import PlannerError

ABSURD = 1e15        # no count, rate or size the planner reads is this large; larger is a typo or an attack
MAX_JSON_DEPTH = 64  # profiles and plans nest about 5 deep
MAX_INT_DIGITS = 30  # longer integer literals are refused before int() conversion (3.11 caps at 4300 digits)
_MISSING = object()


def fail(field: str, msg: str) -> NoReturn:
    raise PlannerError(f"{field}: {msg}" if field else msg)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e16 else f"{x:g}"


def _range_text(lo, hi, lo_open, hi_open) -> str:
    if lo is not None and (hi is None or hi >= ABSURD):
        return f"{'>' if lo_open else '>='} {_num(lo)}"
    if hi is not None and lo is None:
        return f"{'<' if hi_open else '<='} {_num(hi)}"
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    return f"{left}{_num(lo)}, {_num(hi)}{right}"


def _in(lo, hi, lo_open, hi_open) -> str:
    text = _range_text(lo, hi, lo_open, hi_open)
    return text if text[0] in "<>" else f"in {text}"


def number(value: Any, field: str, *, lo: float | None = None, hi: float | None = ABSURD, lo_open: bool = False,
           hi_open: bool = False, default: Any = _MISSING) -> float:
    """A finite real in the range (a bool is not a number); `default` is returned for a missing (None) value."""
    if value is None:
        if default is _MISSING:
            fail(field, "is missing")
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(field, f"must be a number, got {_show(value)}")
    try:
        v = float(value)
    except OverflowError:
        fail(field, f"is absurdly large ({str(value)[:20]}...)")
    if not math.isfinite(v):
        fail(field, f"must be a finite number, got {value!r}")
    if abs(v) > ABSURD and not (lo is not None and hi is not None and lo <= v <= hi):  # explicit bounds win
        fail(field, f"is absurdly large ({v:g}); expected a magnitude below {ABSURD:g}")
    if (lo is not None and (v < lo or lo_open and v == lo)) or (hi is not None and (v > hi or hi_open and v == hi)):
        fail(field, f"must be {_in(lo, hi, lo_open, hi_open)}, got {value!r}")
    return v


def positive(value: Any, field: str, *, hi: float | None = ABSURD, default: Any = _MISSING) -> float:
    return number(value, field, lo=0.0, lo_open=True, hi=hi, default=default)


def integer(value: Any, field: str, *, lo: int | None = None, hi: int | None = int(ABSURD),
            default: Any = _MISSING) -> int:
    """An integer (an integral float such as 4096.0 is accepted; 1.5, "8" and True are not)."""
    if value is None:
        if default is _MISSING:
            fail(field, "is missing")
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(field, f"must be an integer, got {_show(value)}")
    if isinstance(value, float) and (not math.isfinite(value) or value != int(value)):
        fail(field, f"must be an integer, got {value!r}")
    v = int(value)
    if abs(v) > ABSURD and not (lo is not None and hi is not None and lo <= v <= hi):
        fail(field, f"is absurdly large ({v:.3g}); expected a magnitude below {ABSURD:g}")
    if lo is not None and v < lo or hi is not None and v > hi:
        fail(field, f"must be an integer {_in(lo, hi, False, False)}, got {v}")
    return v


def string(value: Any, field: str, *, choices: tuple[str, ...] | None = None, max_len: int = 4096,
           default: Any = _MISSING) -> str:
    if value is None:
        if default is _MISSING:
            fail(field, "is missing")
        return default
    if not isinstance(value, str) or not value:
        fail(field, f"must be a non-empty string, got {_show(value)}")
    if len(value) > max_len:
        fail(field, f"is {len(value)} characters long (at most {max_len})")
    if choices and value not in choices:
        fail(field, f"must be one of {', '.join(choices)}, got {_show(value)}")
    return value


def boolean(value: Any, field: str, *, default: Any = _MISSING) -> bool:
    if value is None:
        if default is _MISSING:
            fail(field, "is missing")
        return default
    if not isinstance(value, bool):
        fail(field, f"must be true or false, got {_show(value)}")
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}..." if len(text) > 40 else f"{type(value).__name__} {text}"


# ---- flags: argparse `type=` callables; the PlannerError passes through argparse unchanged ----------------

def flag_number(flag: str, *, integer_: bool = False, **bounds) -> Callable[[str], float | int]:
    """`type=` for a numeric flag: `flag_number("--quantile", lo=0, hi=1, lo_open=True, hi_open=True)`."""
    def parse(text: str):
        s = text.strip()
        kind = "an integer" if integer_ else "a number"
        if not s.isascii() or not s or len(s) > 64:
            fail(flag, f"expected {kind}, got {text[:40]!r}")
        try:
            v = int(s) if integer_ else float(s)
        except ValueError:
            fail(flag, f"expected {kind}, got {text[:40]!r}")
        return integer(v, flag, **bounds) if integer_ else number(v, flag, **bounds)
    parse.__name__ = "integer" if integer_ else "number"
    return parse


def flag_duration(flag: str) -> Callable[[str], float]:
    from planner.units import parse_duration

    def parse(text: str) -> float:
        return parse_duration(text, field=flag)
    parse.__name__ = "duration"
    return parse


# ---- JSON: strict parsing and a writer-side guard -------------------------------------------------------------

def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON (numbers must be finite)")


def _parse_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise ValueError(f"number {text[:20]} overflows a double")
    return v


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"integer with {len(text)} digits is absurdly large")
    return int(text)


def _no_duplicates(pairs: list) -> dict:
    d = dict(pairs)
    if len(d) != len(pairs):
        seen = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"duplicate key {dup[:40]!r}")
    return d


def depth(obj: Any) -> int:
    """Nesting depth of lists/dicts, computed iteratively (a recursive walk could itself overflow)."""
    best, stack = 0, [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if isinstance(o, dict):
            o = o.values()
        elif not isinstance(o, list):
            continue
        best = max(best, d)
        stack.extend((x, d + 1) for x in o if isinstance(x, (dict, list)))
    return best


def loads_json(text: str, what: str = "JSON", *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """json.loads that refuses NaN/Infinity, overflowing numbers, duplicate keys and deep nesting."""
    try:
        obj = json.loads(text, parse_constant=_reject_constant, parse_float=_parse_float, parse_int=_parse_int,
                         object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as e:
        raise PlannerError(f"{what} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except RecursionError:
        raise PlannerError(f"{what} is nested too deeply (at most {max_depth} levels)") from None
    except ValueError as e:
        raise PlannerError(f"{what} is not valid JSON: {e}") from None
    if depth(obj) > max_depth:
        raise PlannerError(f"{what} is nested too deeply (at most {max_depth} levels)")
    return obj


def find_nonfinite(obj: Any, path: str = "") -> str | None:
    """Dotted path of the first NaN/inf float inside `obj` (lists as [i]), or None."""
    stack = [(obj, path)]
    while stack:
        o, p = stack.pop()
        if isinstance(o, float) and not math.isfinite(o):
            return p or "value"
        if isinstance(o, dict):
            stack.extend((v, f"{p}.{k}" if p else str(k)) for k, v in reversed(list(o.items())))
        elif isinstance(o, (list, tuple)):
            stack.extend((v, f"{p}[{i}]") for i, v in reversed(list(enumerate(o))))
    return None


def dumps_json(obj: Any, what: str = "JSON", **kw) -> str:
    """json.dumps that never writes NaN/Infinity (invalid JSON): it names the offending field instead."""
    try:
        return json.dumps(obj, allow_nan=False, **kw)
    except ValueError:
        where = find_nonfinite(obj) or "a value"
        raise PlannerError(f"refusing to write {what}: {where} is not a finite number "
                           "(a degenerate fit or measurement; nothing was written)") from None
