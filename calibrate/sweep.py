"""Step-time sweep: forward time at batch B, query width q, context L, for the target (and a draft model).

The timing itself goes through a small interface (`Timer`) so the sweep logic (ordering, repeats, outlier
rejection, memory and time caps) is testable without a model; `EngineTimer` implements it with the project's
decoding engine (`planner.engine`: the same ragged-cache `forward_step` the decode loop runs), so the fitted
coefficients describe exactly the forward that `planner run` executes.

Order: batch sizes ascending in the outer loop, so if the time budget runs out the sweep still covers every
(q, L) at the small batches. A (q, L) stops growing B once one forward exceeds `max_step_s` (a CPU would
need minutes for B = 256 at q = 9), and a (B, L) whose KV cache would not fit in memory is skipped and recorded
as the batch cap instead of being tried (on a CPU a real out-of-memory is a SIGKILL, not an exception)."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Protocol

from calibrate.points import StepPoint, check_seconds
from calibrate.progress import Progress


class Context(Protocol):
    def time(self, q: int, repeats: int, warmup: int) -> list[float]: ...


class Timer(Protocol):
    def context(self, batch: int, L: int) -> Context: ...
    def kv_bytes(self, batch: int, L: int) -> float: ...


class OutOfMemory(Exception):
    """Raised by a Timer when a configuration does not fit on the device."""


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


def normalise(points: list[StepPoint], groups: list[int], refs: list[float], level: float) -> list[StepPoint]:
    """Scale the points of group g by level / sqrt(refs[g] * refs[g + 1]) (the references around it)."""
    out = []
    for p, g in zip(points, groups):
        around = (refs[g] * refs[min(g + 1, len(refs) - 1)]) ** 0.5
        out.append(StepPoint(p.role, p.batch, p.query, p.context, p.seconds * level / around))
    return out


@dataclass
class SweepResult:
    points: list[StepPoint] = field(default_factory=list)
    raw_points: list[StepPoint] = field(default_factory=list)  # before load normalisation
    level: float | None = None                                  # reference time the points are normalised to
    spreads: list[float] = field(default_factory=list)   # (p75 - p25) / median of each point's repeats
    caps: dict = field(default_factory=dict)             # "q=9,L=1024" -> first B not measured, and why
    rejected: int = 0                                    # repeats dropped as outliers
    cut_by_budget: bool = False


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


def interleaved(ctx: Context, queries: list[int], repeats: int, warmup: int) -> dict[int, list[float]]:
    """Repeats taken round-robin over the q values of one context, so a burst of load from another process
    spreads over all of them instead of inflating one point (and bending the fit)."""
    for q in queries:
        if warmup:
            ctx.time(q, 0, warmup)
    out: dict[int, list[float]] = {q: [] for q in queries}
    for _ in range(repeats):
        for q in queries:
            out[q] += ctx.time(q, 1, 0)
    return out


def sweep(timer: Timer, role: str, batches, queries, contexts, *, repeats: int = 5, warmup: int = 1,
          max_step_s: float = 2.0, budget_s: float | None = None, mem_limit_bytes: float | None = None,
          progress: Progress | None = None, meter: LoadMeter | None = None) -> SweepResult:
    """Measure the grid (see module docstring); with a LoadMeter, points are normalised for load drift."""
    res = SweepResult()
    groups: list[int] = []
    refs: list[float] = []
    try:
        _sweep(timer, role, batches, queries, contexts, repeats, warmup, max_step_s, budget_s, mem_limit_bytes,
               progress, res, meter, groups, refs)
    finally:
        res.raw_points = list(res.points)
        if meter is not None and res.points:
            refs.append(meter.tick())
            res.level = meter.level()
            res.points = normalise(res.points, groups, refs, res.level)
    return res


def _sweep(timer, role, batches, queries, contexts, repeats, warmup, max_step_s, budget_s, mem_limit_bytes,
           progress, res, meter, groups, refs) -> None:
    t_start = time.monotonic()
    total = len(batches) * len(queries) * len(contexts)
    done = 0
    stopped: set[tuple[int, int]] = set()   # (q, L) that hit max_step_s
    for B in sorted(batches):
        for L in sorted(contexts):
            todo = [q for q in sorted(queries) if (q, L) not in stopped]
            if not todo:
                done += len(queries)
                continue
            if budget_s is not None and time.monotonic() - t_start > budget_s:
                res.cut_by_budget = True
                return
            if mem_limit_bytes is not None and timer.kv_bytes(B, L + max(todo)) > mem_limit_bytes:
                for q in todo:
                    res.caps.setdefault(f"{role}:q={q},L={L}", {"batch": B, "why": "memory (estimated)"})
                    stopped.add((q, L))
                done += len(queries)
                continue
            try:
                ctx = timer.context(B, L)
                if meter is not None:
                    refs.append(meter.tick())
                times_by_q = interleaved(ctx, todo, repeats, warmup)
                for q in todo:
                    med, dropped, spread = robust_median(times_by_q[q])
                    res.points.append(StepPoint(role, B, q, L, med))
                    groups.append(len(refs) - 1)
                    res.spreads.append(round(spread, 4))
                    res.rejected += dropped
                    done += 1
                    if progress:
                        progress.item(f"{role} B={B} q={q} L={L}: {med * 1e3:.1f} ms", done, total,
                                      time.monotonic() - t_start, budget_s)
                    if med > max_step_s:
                        nxt = next((b for b in sorted(batches) if b > B), None)
                        if nxt is not None:
                            res.caps.setdefault(f"{role}:q={q},L={L}", {"batch": nxt, "why": f"step > {max_step_s}s"})
                        stopped.add((q, L))
                done += len(queries) - len(todo)
            except OutOfMemory as e:
                for q in todo:
                    res.caps.setdefault(f"{role}:q={q},L={L}", {"batch": B, "why": f"out of memory: {e}"})
                    stopped.add((q, L))
                done += len(queries)
                if progress:
                    progress.say(f"{role} B={B} L={L}: out of memory, batch capped at {B // 2 or 1}", force=True)
            finally:
                ctx = None


def measure_configs(timer: Timer, role: str, configs: list[tuple[int, int, int]], repeats: int = 5,
                    warmup: int = 1, progress: Progress | None = None,
                    meter: LoadMeter | None = None) -> tuple[list[StepPoint], list[StepPoint], float | None]:
    """Time an explicit list of (B, q, L) (e.g. a held-out set); contexts are built once per (B, L).
    Returns (points normalised for load drift with `meter`, raw points, the reference level used) in the
    order of `configs`."""
    raw: dict[tuple[int, int, int], StepPoint] = {}
    group: dict[tuple[int, int, int], int] = {}
    refs: list[float] = []
    by_bl: dict[tuple[int, int], list[int]] = {}
    for B, q, L in configs:
        by_bl.setdefault((B, L), []).append(q)
    t0, n = time.monotonic(), 0
    for (B, L), qs in sorted(by_bl.items()):
        ctx = timer.context(B, L)
        if meter is not None:
            refs.append(meter.tick())
        times_by_q = interleaved(ctx, qs, repeats, warmup)
        for q in qs:
            med, _, _ = robust_median(times_by_q[q])
            raw[(B, q, L)] = StepPoint(role, B, q, L, med)
            group[(B, q, L)] = len(refs) - 1
            n += 1
            if progress:
                progress.item(f"{role} B={B} q={q} L={L}: {med * 1e3:.1f} ms", n, len(configs),
                              time.monotonic() - t0, None)
        ctx = None
    pts = [raw[c] for c in configs]
    if meter is None:
        return pts, pts, None
    refs.append(meter.tick())
    level = meter.level()
    return normalise(pts, [group[c] for c in configs], refs, level), pts, level


def rescale(points: list[StepPoint], old_level: float | None, new_level: float | None) -> list[StepPoint]:
    """Re-express normalised points at another reference level (e.g. the whole run's, known at the end)."""
    if not old_level or not new_level:
        return points
    f = new_level / old_level
    return [StepPoint(p.role, p.batch, p.query, p.context, p.seconds * f) for p in points]
