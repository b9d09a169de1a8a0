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
from typing import Callable

from planner.calibrate.points import StepPoint, check_seconds
from planner.calibrate.progress import Progress
from planner.calibrate.repeats import LoadMeter, Timer, interleaved, robust_median


class OutOfMemory(Exception):
    """Raised by a Timer when a configuration does not fit on the device."""


@dataclass
class SweepResult:
    points: list[StepPoint] = field(default_factory=list)
    raw_points: list[StepPoint] = field(default_factory=list)  # before load normalisation
    extra_points: list[StepPoint] = field(default_factory=list)  # the `extra` configs, timed in the same passes
    extra_raw_points: list[StepPoint] = field(default_factory=list)
    extra_by_pass: list[list[float]] = field(default_factory=list)  # each extra point's median per pass (raw)
    level: float | None = None                                  # reference time the points are normalised to
    spreads: list[float] = field(default_factory=list)   # (p75 - p25) / median of each point's repeats
    caps: dict = field(default_factory=dict)             # "q=9,L=1024" -> first B not measured, and why
    rejected: int = 0                                    # repeats dropped as outliers
    cut_by_budget: bool = False
    passes: int = 0                                      # passes over the grid completed


Key = tuple[int, int, int]   # (B, q, L)


class _Log:
    """Every timed repeat with the load-meter group it was taken in, pooled per (B, q, L) at the end so the
    repeats of one point can come from several passes over the grid."""

    def __init__(self, meter: LoadMeter | None):
        self.meter, self.refs, self.pass_no = meter, [], 1
        self.done = self.total = 0   # progress over all passes
        self.samples: dict[Key, list[tuple[float, int]]] = {}
        self.passes: dict[Key, list[int]] = {}   # the pass each repeat was taken in

    def group(self) -> None:
        if self.meter is not None:
            self.refs.append(self.meter.tick())

    def add(self, key: Key, times: list[float]) -> float:
        """Record repeats; returns the point's median so far."""
        for t in times:
            check_seconds(t, "forward timing")
        self.samples.setdefault(key, []).extend((t, len(self.refs) - 1) for t in times)
        self.passes.setdefault(key, []).extend([self.pass_no] * len(times))
        return self.median(key)

    def median(self, key: Key) -> float:
        return robust_median([t for t, _ in self.samples[key]])[0]

    def by_pass(self, key: Key) -> list[float]:
        """The point's median in each pass (raw times): how far apart two moments of the run put it."""
        got: dict[int, list[float]] = {}
        for (t, _), p in zip(self.samples[key], self.passes[key]):
            got.setdefault(p, []).append(t)
        return [statistics.median(v) for _, v in sorted(got.items())]

    def close(self) -> float | None:
        """Last reference tick; returns the level (median reference) that points are normalised to."""
        if self.meter is None or not self.samples:
            return None
        self.refs.append(self.meter.tick())
        return self.meter.level()

    def point(self, role: str, key: Key, level: float | None) -> tuple[StepPoint, StepPoint, int, float]:
        """(normalised point, raw point, repeats dropped, spread). With a level, each repeat of group g is scaled
        by level / sqrt(refs[g] * refs[g + 1]) (the references around it) before pooling."""
        raw = [t for t, _ in self.samples[key]]
        norm = raw
        if level:
            r = self.refs
            norm = [t * level / (r[g] * r[min(g + 1, len(r) - 1)]) ** 0.5 for t, g in self.samples[key]]
        med, dropped, spread = robust_median(norm)
        B, q, L = key
        return StepPoint(role, B, q, L, med), StepPoint(role, B, q, L, robust_median(raw)[0]), dropped, spread


def sweep(timer: Timer, role: str, batches, queries, contexts, *, repeats: int = 5, warmup: int = 1,
          max_step_s: float = 2.0, budget_s: float | None = None, mem_limit_bytes: float | None = None,
          progress: Progress | None = None, meter: LoadMeter | None = None, passes: int = 1,
          extra: list[Key] = (), extra_repeats: int | None = None, extra_visits: int = 1,
          after_pass: Callable[[int], None] | None = None) -> SweepResult:
    """Measure the grid (see module docstring); with a LoadMeter, points are normalised for load drift.

    passes > 1: after the first pass (which finds the caps), the measured points and the `extra` configs are
    timed again `passes - 1` times, every other pass in reverse order, while the budget lasts; each pass takes
    `repeats` repeats per point. A machine whose speed drifts over minutes then moves all points alike instead
    of bending the fit. `extra` (e.g. a held-out set) is timed in every pass but not part of `points`, with
    `extra_repeats` repeats per pass (default `repeats`): a few held-out points can afford more repeats than
    the whole grid, and their own noise is then not mistaken for the model's error. extra_visits > 1: in passes
    after the first, each extra point is visited that many times, spread evenly through the grid, its repeats
    shared among the visits — a VM whose speed moves between moments tens of seconds apart then weighs on a
    held-out point as it weighs on the fit, averaged over many moments instead of a few. after_pass(p) runs after
    each completed pass p (e.g. a benchmark timing whole requests at the same moments of the run as the grid)."""
    res = SweepResult()
    log = _Log(meter)
    t_start = time.monotonic()
    grid: list[Key] = []
    extra = [tuple(k) for k in extra]
    log.total = (len(batches) * len(queries) * len(contexts) + len(extra)) * passes
    visits = max(1, min(int(extra_visits), extra_repeats or repeats))
    try:
        _explore(timer, role, batches, queries, contexts, repeats, warmup, max_step_s, budget_s, mem_limit_bytes,
                 progress, res, log, grid, t_start)
        more = [k for k in extra if k not in grid]
        log.done = len(grid)   # the grid's size is known now
        log.total = len(grid) * passes + len(more) * (1 + visits * (passes - 1))
        r_more = extra_repeats or repeats
        if not res.cut_by_budget:
            _measure(timer, more, r_more, warmup, log, progress, "extra", t_start, budget_s=budget_s)
            res.passes = 1
            if after_pass:
                after_pass(1)
        for p in range(2, passes + 1):
            if res.cut_by_budget or (budget_s is not None and time.monotonic() - t_start > budget_s):
                break
            log.pass_no = p
            slow = frozenset(k for k in grid + more if log.median(k) >= 0.3)  # warm-up only where it costs little
            if visits > 1:
                parts = spread_visits(grid, more, visits, repeats, r_more)
                parts = parts if p % 2 else [(keys[::-1], r) for keys, r in parts[::-1]]
            else:
                parts = [(grid, repeats), (more, r_more)] if p % 2 else [(more[::-1], r_more), (grid[::-1], repeats)]
            if not all(_measure(timer, keys, r, warmup, log, progress, f"pass {p}/{passes}", t_start, slow, budget_s)
                       for keys, r in parts):
                break   # budget spent mid-pass: the points it reached keep their extra repeats
            res.passes = p
            if after_pass:
                after_pass(p)
    finally:
        res.level = log.close()
        for key in grid:
            pt, raw, dropped, spread = log.point(role, key, res.level)
            res.points.append(pt)
            res.raw_points.append(raw)
            res.spreads.append(round(spread, 4))
            res.rejected += dropped
        extra_pts = [log.point(role, k, res.level) for k in extra if k in log.samples]
        res.extra_points, res.extra_raw_points = [p[0] for p in extra_pts], [p[1] for p in extra_pts]
        res.extra_by_pass = [log.by_pass(k) for k in extra if k in log.samples]
    return res


def spread_visits(grid: list[Key], more: list[Key], visits: int, r_grid: int,
                  r_more: int) -> list[tuple[list[Key], int]]:
    """One pass's order as (keys, repeats) runs: the grid, with `visits` visits of every `more` point inserted at
    evenly spaced places; the r_more repeats are shared among a point's visits (the first visits take the rest)."""
    calls = [(k, r_more // visits + (v < r_more % visits)) for v in range(visits) for k in more]
    out: list[tuple[list[Key], int]] = []
    g0 = 0
    for i, (k, r) in enumerate(calls):
        g1 = round((i + 1) * len(grid) / (len(calls) + 1))
        if g1 > g0:
            out.append((grid[g0:g1], r_grid))
            g0 = g1
        out.append(([k], r))
    return out + ([(grid[g0:], r_grid)] if g0 < len(grid) else [])


def _explore(timer, role, batches, queries, contexts, repeats, warmup, max_step_s, budget_s, mem_limit_bytes,
             progress, res, log, grid, t_start) -> None:
    """First pass: batch sizes ascending, caps for slow steps, memory and out-of-memory, the time budget."""
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
                log.group()
                times_by_q = interleaved(ctx, todo, repeats, warmup)
                for q in todo:
                    med = log.add((B, q, L), times_by_q[q])
                    grid.append((B, q, L))
                    done += 1
                    if progress:
                        progress.item(f"{role} B={B} q={q} L={L}: {med * 1e3:.1f} ms", done, log.total,
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


def _measure(timer: Timer, configs: list[Key], repeats: int, warmup: int, log: _Log, progress, what: str,
             t_start: float, no_warmup: frozenset = frozenset(), budget_s: float | None = None) -> bool:
    """Time an explicit list of (B, q, L) in its order, one context per consecutive run of equal (B, L).
    Returns False if the budget ran out first."""
    runs: list[tuple[tuple[int, int], list[int]]] = []
    for B, q, L in configs:
        if runs and runs[-1][0] == (B, L):
            runs[-1][1].append(q)
        else:
            runs.append(((B, L), [q]))
    for (B, L), qs in runs:
        if budget_s is not None and time.monotonic() - t_start > budget_s:
            return False
        ctx = timer.context(B, L)
        log.group()
        times_by_q = interleaved(ctx, qs, repeats, warmup, frozenset(q for q in qs if (B, q, L) in no_warmup))
        for q in qs:
            med = log.add((B, q, L), times_by_q[q])
            log.done += 1
            if progress:
                progress.item(f"{what}: B={B} q={q} L={L}: {med * 1e3:.1f} ms", log.done, log.total,
                              time.monotonic() - t_start, budget_s)
        ctx = None
    return True
