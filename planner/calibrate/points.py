"""Measured step-time points: the raw data every fit starts from, and their CSV form.

Why a CSV: users measure step times with other tools (vLLM/SGLang benchmarks, their own scripts) and import
them with `planner calibrate --from-points FILE.csv`. The columns are documented in docs/calibration.md:

    role,batch,query,context,seconds
    target,1,1,256,0.0123

role is `target`, `draft` or `prefill` (prefill rows: batch 1, query = prompt tokens, context 0). Timings that
are not finite or not positive are rejected: a negative or NaN time is a broken measurement, never data."""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from planner.errors import PlannerError
from planner.io import read_text

ROLES = ("target", "draft", "prefill")
COLUMNS = ("role", "batch", "query", "context", "seconds")


@dataclass(frozen=True)
class StepPoint:
    role: str        # target | draft | prefill
    batch: int       # B: active sequences in the forward
    query: int       # q: query tokens per sequence (1 decode, K+1 verify; prompt tokens for prefill)
    context: int     # L: cached tokens each row attends to before this forward
    seconds: float   # median wall time of the forward

    def to_dict(self) -> dict:
        return asdict(self)


def check_seconds(seconds: float, what: str) -> float:
    """Refuse NaN, inf, zero and negative timings (a clock or device error, not a measurement)."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) \
            or seconds <= 0:
        raise PlannerError(f"{what}: timing must be a finite positive number of seconds, got {seconds!r}")
    return float(seconds)


def make_point(role: str, batch, query, context, seconds, where: str = "point") -> StepPoint:
    if role not in ROLES:
        raise PlannerError(f"{where}: role must be one of {', '.join(ROLES)}, got {role!r}")
    vals = []
    for name, v, lo in (("batch", batch, 1), ("query", query, 1), ("context", context, 0)):
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise PlannerError(f"{where}: {name} must be an integer, got {v!r}") from None
        if not math.isfinite(f) or f != int(f) or f < lo:
            raise PlannerError(f"{where}: {name} must be an integer >= {lo}, got {v!r}")
        vals.append(int(f))
    try:
        sec = float(seconds)
    except (TypeError, ValueError):
        raise PlannerError(f"{where}: seconds must be a number, got {seconds!r}") from None
    return StepPoint(role, *vals, check_seconds(sec, where))


def read_points_csv(path: str | Path) -> list[StepPoint]:
    """Parse a points CSV; any bad row gives one PlannerError naming the file and line."""
    path = Path(path)
    text = read_text(path, "points file")
    rows = list(csv.reader(line for line in text.splitlines() if line.strip() and not line.startswith("#")))
    if not rows:
        raise PlannerError(f"points file {path} is empty; expected columns {','.join(COLUMNS)}")
    header = [h.strip().lower() for h in rows[0]]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise PlannerError(f"points file {path}: header must have columns {','.join(COLUMNS)}; "
                           f"missing {','.join(missing)}")
    idx = {c: header.index(c) for c in COLUMNS}
    out = []
    for lineno, row in enumerate(rows[1:], 2):
        if len(row) < len(header):
            raise PlannerError(f"points file {path}: line {lineno} has {len(row)} fields, expected {len(header)}")
        out.append(make_point(row[idx["role"]].strip().lower(), row[idx["batch"]].strip(),
                              row[idx["query"]].strip(), row[idx["context"]].strip(), row[idx["seconds"]].strip(),
                              where=f"points file {path}: line {lineno}"))
    if not any(p.role == "target" for p in out):
        raise PlannerError(f"points file {path}: no 'target' rows; the step fit needs target step times")
    return out
