"""Typed reading of one profile section: pulls fields out of a JSON object and reports any malformed one as a
PlannerError naming its dotted path (`profile x.json: hardware.mem_bw_GBps must be a positive number`)."""

from __future__ import annotations

import math
from typing import Any

from planner.checks import ABSURD
from planner.errors import PlannerError


class _Reader:
    """Pulls typed fields out of a dict and reports errors with a dotted path."""

    def __init__(self, data: Any, path: str, origin: str):
        if not isinstance(data, dict):
            raise PlannerError(f"profile {origin}: {path or 'top level'} must be a JSON object")
        self.d, self.path, self.origin = data, path, origin

    def _where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, msg: str):
        raise PlannerError(f"profile {self.origin}: {self._where(key)} {msg}")

    def has(self, key: str) -> bool:
        return self.d.get(key) is not None

    def sub(self, key: str, optional: bool = False) -> "_Reader | None":
        if key not in self.d or self.d[key] is None:
            if optional:
                return None
            self.fail(key, "is missing")
        return _Reader(self.d[key], self._where(key), self.origin) if isinstance(self.d[key], dict) else self.fail(
            key, "must be a JSON object")

    def num(self, key: str, default: Any = ..., *, positive: bool = False, nonneg: bool = False,
            lo: float | None = None, hi: float | None = None) -> float:
        if key not in self.d or self.d[key] is None:
            if default is ...:
                self.fail(key, "is missing")
            return default
        v = self.d[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            self.fail(key, f"must be a finite number, got {v!r}")
        if hi is None and abs(v) > ABSURD:  # no count, rate or size in a profile is this large: a typo
            self.fail(key, f"is absurdly large ({v:g}); expected a magnitude below {ABSURD:g}")
        if positive and v <= 0:
            self.fail(key, f"must be positive, got {v!r}")
        if nonneg and v < 0:
            self.fail(key, f"must be >= 0, got {v!r}")
        if lo is not None and v < lo or hi is not None and v > hi:
            self.fail(key, f"must be in [{lo}, {hi}], got {v!r}")
        return float(v)

    def int_(self, key: str, default: Any = ..., *, positive: bool = True) -> int:
        v = self.num(key, default, positive=positive)
        if v is None:
            return v
        if v != int(v):
            self.fail(key, f"must be an integer, got {v!r}")
        return int(v)

    def str_(self, key: str, default: Any = ..., choices: tuple[str, ...] | None = None) -> str:
        if key not in self.d or self.d[key] is None:
            if default is ...:
                self.fail(key, "is missing")
            return default
        v = self.d[key]
        if not isinstance(v, str) or not v:
            self.fail(key, f"must be a non-empty string, got {v!r}")
        if choices and v not in choices:
            self.fail(key, f"must be one of {', '.join(choices)}, got {v!r}")
        return v

    def nums(self, key: str, default: Any = ..., *, lo: float | None = None, hi: float | None = None,
             min_len: int = 1) -> list[float]:
        if key not in self.d or self.d[key] is None:
            if default is ...:
                self.fail(key, "is missing")
            return default
        v = self.d[key]
        if not isinstance(v, list) or len(v) < min_len:
            self.fail(key, f"must be a list of at least {min_len} numbers")
        out = []
        for i, x in enumerate(v):
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or abs(x) > ABSURD:
                self.fail(f"{key}[{i}]", f"must be a finite number below {ABSURD:g}, got {x!r}")
            if lo is not None and x < lo or hi is not None and x > hi:
                self.fail(f"{key}[{i}]", f"must be in [{lo}, {hi}], got {x!r}")
            out.append(float(x))
        return out
