"""Acceptance per draft position with confidence intervals, from counts or from a CSV.

α_i = P(draft token i accepted | tokens 1..i-1 accepted) = accepted_i / reached_i, where reached_i counts the
rows whose drafts 1..i-1 were all accepted (so position i was in the verify; a drafter that proposed fewer
tokens counts as rejected there, since the verify costs the same: an n-gram lookup often proposes short). Pooled
over rounds and rows; `draft_rate` is the share of decode rounds that verified drafts at all. The interval is Wilson's score interval, which stays inside [0, 1] and is honest for small n and
for rates near 0 or 1 (where the normal approximation collapses to a zero-width interval)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from planner.errors import PlannerError

Z95 = 1.959963984540054


def wilson(k: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials (n = 0 → the uninformative (0, 1))."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


def draft_rate(rounds: list[dict]) -> float:
    """Share of decode rounds (engine round records) that verified drafts (q > 1); 1.0 with no rounds."""
    return round(sum(r["q"] > 1 for r in rounds) / len(rounds), 4) if rounds else 1.0


def acceptance_from_counts(accepted: list[int], reached: list[int], temperature: float,
                           min_reached: int = 20) -> dict:
    """Profile `acceptance` section. Positions after the first that were tested fewer than `min_reached` times
    are dropped from the end (too noisy; the schema reuses the last value for later positions)."""
    if len(accepted) != len(reached):
        raise PlannerError("acceptance counts: accepted and reached lists differ in length")
    alpha, lo, hi, used = [], [], [], []
    for i, (a, r) in enumerate(zip(accepted, reached)):
        if a < 0 or r < 0 or a > r:
            raise PlannerError(f"acceptance counts at position {i + 1}: need 0 <= accepted <= reached, "
                               f"got {a} / {r}")
        if r < max(min_reached, 1) and (i > 0 or r == 0):
            break
        alpha.append(a / r)
        l, h = wilson(a, r)
        lo.append(l)
        hi.append(h)
        used.append({"position": i + 1, "accepted": int(a), "reached": int(r)})
    if not alpha:
        raise PlannerError("acceptance: no draft position was tested; run longer or with more prompts")
    return {"temperature": float(temperature), "alpha": [round(a, 5) for a in alpha],
            "ci_low": [round(x, 5) for x in lo], "ci_high": [round(x, 5) for x in hi], "counts": used}


def pool_counts(records) -> tuple[list[int], list[int]]:
    """Sum per-position accepted/reached over engine StepRecords (objects or dicts with those fields)."""
    acc: list[int] = []
    rea: list[int] = []
    for s in records:
        a = s["accepted"] if isinstance(s, dict) else s.accepted
        r = s["reached"] if isinstance(s, dict) else s.reached
        for i, (x, y) in enumerate(zip(a, r)):
            if i >= len(acc):
                acc.append(0)
                rea.append(0)
            acc[i] += int(x)
            rea[i] += int(y)
    return acc, rea


MAX_POSITIONS = 64        # draft positions in a file (the planner searches K <= 16)
MAX_COUNT = 10**12        # accepted/reached per position


def read_acceptance_csv(path: str | Path, temperature: float) -> dict:
    """CSV with `position` and either `accepted,reached` (counts → rates + Wilson intervals) or `alpha`
    (optionally `ci_low,ci_high`). Positions must be 1..K in order. Every cell goes through planner.checks
    (ASCII digits only: int() would read an Arabic-Indic '١' as 1; no absurd counts)."""
    from planner.calibrate.points import parse_cell
    from planner.io import read_text

    path = Path(path)
    text = read_text(path, "acceptance file")
    try:
        table = list(csv.reader(l for l in text.splitlines() if l.strip() and not l.startswith("#")))
    except csv.Error as e:
        raise PlannerError(f"cannot read acceptance file {path}: {e}") from None
    if len(table) < 2:
        raise PlannerError(f"acceptance file {path} has no rows; columns: position and accepted,reached or alpha")
    header = [h.strip().lstrip("\ufeff").strip().lower() for h in table[0]]
    dup = next((h for h in header if h and header.count(h) > 1), None)
    if dup:
        raise PlannerError(f"acceptance file {path}: column {dup[:40]} appears twice in the header")
    if len(table) - 1 > MAX_POSITIONS:
        raise PlannerError(f"acceptance file {path}: {len(table) - 1} positions (at most {MAX_POSITIONS})")
    cols = set(header)
    rows = []
    for lineno, row in enumerate(table[1:], 2):
        if len(row) != len(header):
            raise PlannerError(f"acceptance file {path}: line {lineno} has {len(row)} fields, expected "
                               f"{len(header)}")
        rows.append(dict(zip(header, (c.strip() for c in row))))

    def num(r, key, lineno, integer=False, **bounds):
        if key not in r:
            raise PlannerError(f"acceptance file {path}: line {lineno}: {key} must be a number, got None")
        return parse_cell(r[key], f"acceptance file {path}: line {lineno}: {key}", integer=integer, **bounds)

    if "position" not in cols:
        raise PlannerError(f"acceptance file {path}: needs columns position and accepted,reached or alpha")
    for i, r in enumerate(rows):
        if num(r, "position", i + 2, True, lo=1, hi=MAX_POSITIONS) != i + 1:
            raise PlannerError(f"acceptance file {path}: line {i + 2}: positions must be 1, 2, ... in order")
    if {"accepted", "reached"} <= cols:
        counts = {key: [num(r, key, i + 2, True, lo=0, hi=MAX_COUNT) for i, r in enumerate(rows)]
                  for key in ("accepted", "reached")}
        try:
            return acceptance_from_counts(counts["accepted"], counts["reached"], temperature)
        except PlannerError as e:
            raise PlannerError(f"acceptance file {path}: {e}") from None
    if "alpha" not in cols:
        raise PlannerError(f"acceptance file {path}: needs columns position and accepted,reached or alpha")
    out = {"temperature": float(temperature), "alpha": []}
    for key in ("alpha", "ci_low", "ci_high"):
        if key in cols:
            out[key] = [num(r, key, i + 2, lo=0.0, hi=1.0) for i, r in enumerate(rows)]
    return out
