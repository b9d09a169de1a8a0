"""How the repeats of one timing become one number: outlier-robust medians, repeats interleaved over the q values
of one context, and a load meter for wall-clock runs on a machine shared with other jobs. Shared by the step sweep
(calibrate/sweep.py) and the calibration's generation runs."""

from __future__ import annotations

import statistics
from typing import Protocol

from planner.calibrate.points import StepPoint, check_seconds


class Context(Protocol):
    def time(self, q: int, repeats: int, warmup: int) -> list[float]: ...


class Timer(Protocol):
    def context(self, batch: int, L: int) -> Context: ...
    def kv_bytes(self, batch: int, L: int) -> float: ...


class LoadMeter:
    """A fixed reference forward (B=1, q=1, L=64) timed between measurement groups.

    On a machine shared with other jobs the speed of *everything* drifts by a common factor over minutes (time
    slicing), which would bend a fit whose points were taken at different moments. Each group's times are
    scaled by level / (reference around that group), where level is the median reference of the run: the
    profile then describes the run's typical load, and the drift itself is recorded (`drift`)."""

    def __init__(self, timer: Timer, repeats: int = 3):
        self.ctx = timer.context(1, 64)
        self.repeats = repeats
        self.samples: list[float] = []

    def tick(self) -> float:
        med = statistics.median(self.ctx.time(1, self.repeats, 0))
        self.samples.append(check_seconds(med, "reference forward"))
        return med

    def level(self) -> float:
        return statistics.median(self.samples)

    def drift(self) -> dict:
        lv = self.level()
        return {"reference_s": round(lv, 6), "min_ratio": round(min(self.samples) / lv, 3),
                "max_ratio": round(max(self.samples) / lv, 3), "ticks": len(self.samples)}


def robust_median(times: list[float]) -> tuple[float, int, float]:
    """Median after dropping slow outliers (> median + 3 MAD, one-sided: preemption only adds time).
    Returns (median, n_dropped, relative IQR)."""
    for t in times:
        check_seconds(t, "forward timing")
    med = statistics.median(times)
    mad = statistics.median(abs(t - med) for t in times) * 1.4826
    kept = [t for t in times if t <= med + 3 * max(mad, 0.01 * med)]
    m = statistics.median(kept)
    if len(kept) >= 4:
        qs = statistics.quantiles(kept, n=4)
        spread = (qs[2] - qs[0]) / m
    else:
        spread = (max(kept) - min(kept)) / m
    return m, len(times) - len(kept), spread


def interleaved(ctx: Context, queries: list[int], repeats: int, warmup: int,
                no_warmup: frozenset = frozenset()) -> dict[int, list[float]]:
    """Repeats taken round-robin over the q values of one context, so a burst of load from another process
    spreads over all of them instead of inflating one point (and bending the fit)."""
    for q in queries:
        if warmup and q not in no_warmup:
            ctx.time(q, 0, warmup)
    out: dict[int, list[float]] = {q: [] for q in queries}
    for _ in range(repeats):
        for q in queries:
            out[q] += ctx.time(q, 1, 0)
    return out


def rescale(points: list[StepPoint], old_level: float | None, new_level: float | None) -> list[StepPoint]:
    """Re-express normalised points at another reference level (e.g. the whole run's, known at the end)."""
    if not old_level or not new_level:
        return points
    f = new_level / old_level
    return [StepPoint(p.role, p.batch, p.query, p.context, p.seconds * f) for p in points]
