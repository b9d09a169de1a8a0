"""Measured step-time points: the raw data every fit starts from, and their CSV form.

Why a CSV: users measure step times with other tools (vLLM/SGLang benchmarks, their own scripts) and import
them with `planner calibrate --from-points FILE.csv`. The columns are documented in docs/calibration.md:

    role,batch,query,context,seconds
    target,1,1,256,0.0123

role is `target`, `draft` or `prefill` (prefill rows: batch 1, query = prompt tokens, context 0). Timings that
are not finite or not positive are rejected: a negative or NaN time is a broken measurement, never data. Every
cell goes through planner.checks (ASCII digits only, no absurd magnitudes), and rows that all share one batch
size are refused: the fit could not tell per-step from per-sequence cost and would invent a compute peak."""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from planner import checks
from planner.errors import PlannerError
from planner.io import read_text

ROLES = ("target", "draft", "prefill")
COLUMNS = ("role", "batch", "query", "context", "seconds")
LIMITS = {"batch": (1, 1_000_000), "query": (1, 10_000_000), "context": (0, 100_000_000)}
MIN_SECONDS, MAX_SECONDS = 1e-9, 1e4  # a forward under a nanosecond or over ~3 hours is not a measurement
MAX_ROWS = 100_000


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


def _float(text, field: str, kind: str) -> float:
    s = str(text).strip()
    if not s or not s.isascii() or len(s) > 64 or "_" in s:  # float() takes Arabic-Indic digits and 1_000
        checks.fail(field, f"must be {kind}, got {s[:40]!r}")
    try:
        return float(s)
    except ValueError:
        checks.fail(field, f"must be {kind}, got {s[:40]!r}")


def parse_cell(text, field: str, *, integer: bool = False, **bounds) -> float | int:
    """One CSV cell through planner.checks: ASCII only, at most 64 characters, a finite number in range; the
    error names `field` (file, line and column)."""
    v = _float(text, field, "an integer" if integer else "a number")
    return checks.integer(v, field, **bounds) if integer else checks.number(v, field, **bounds)


def make_point(role: str, batch, query, context, seconds, where: str = "point") -> StepPoint:
    if role not in ROLES:
        raise PlannerError(f"{where}: role must be one of {', '.join(ROLES)}, got {role[:40]!r}")
    vals = []
    for name, v in (("batch", batch), ("query", query), ("context", context)):
        lo, hi = LIMITS[name]
        vals.append(parse_cell(v, f"{where}: {name}", integer=True, lo=lo, hi=hi))
    sec = check_seconds(_float(seconds, f"{where}: seconds", "a number"), where)  # NaN, inf, <= 0: broken
    checks.number(sec, f"{where}: seconds", lo=MIN_SECONDS, hi=MAX_SECONDS)
    return StepPoint(role, *vals, sec)


def check_spread(points: list[StepPoint], where: str) -> None:
    """Refuse a role measured at a single batch size: the step fit would be degenerate (the per-sequence and
    compute terms are not identified), and the profile would carry invented hardware peaks."""
    for role in ("target", "draft"):
        sizes = {p.batch for p in points if p.role == role}
        if len(sizes) == 1:
            raise PlannerError(f"{where}: every {role} row has batch {sizes.pop()}; the step fit needs at least "
                               "2 batch sizes (e.g. 1 and 16) to separate per-step from per-sequence cost")


def read_points_csv(path: str | Path) -> list[StepPoint]:
    """Parse a points CSV; any bad row gives one PlannerError naming the file and line."""
    path = Path(path)
    text = read_text(path, "points file")
    rows = list(csv.reader(line for line in text.splitlines() if line.strip() and not line.startswith("#")))
    if not rows:
        raise PlannerError(f"points file {path} is empty; expected columns {','.join(COLUMNS)}")
    header = [h.strip().lstrip("\ufeff").strip().lower() for h in rows[0]]
    missing = [c for c in COLUMNS if c not in header]
    dup = next((c for c in COLUMNS if header.count(c) > 1), None)
    if dup:
        raise PlannerError(f"points file {path}: column {dup} appears twice in the header")
    if len(rows) - 1 > MAX_ROWS:
        raise PlannerError(f"points file {path}: {len(rows) - 1} rows (at most {MAX_ROWS})")
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
    check_spread(out, f"points file {path}")
    return out
