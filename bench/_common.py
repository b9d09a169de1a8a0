"""Helpers shared by the benchmarks, kept out of the runtime package: a step-time sweep with held-out points
timed in the same passes as the fit grid, and work (e.g. whole requests) run between the passes.

Why outside planner/calibrate: `planner calibrate` needs neither held-out points nor per-pass hooks; the sweep
offers a pass-level API (planner.calibrate.sweep.Sweep) and the benchmarks build their interleaving on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from planner.calibrate.points import StepPoint
from planner.calibrate.sweep import Key, Sweep, SweepResult


@dataclass
class HeldOutSweep:
    """The fit grid's result and the held-out (`extra`) configurations, normalised to the same level."""
    result: SweepResult
    points: list[StepPoint] = field(default_factory=list)
    raw_points: list[StepPoint] = field(default_factory=list)
    by_pass: list[list[float]] = field(default_factory=list)  # each point's raw median per pass


def sweep_with_held_out(timer, role: str, batches, queries, contexts, *, passes: int = 1, extra=(),
                        extra_repeats: int | None = None, extra_visits: int = 1,
                        after_pass: Callable[[int], None] | None = None, **kw) -> HeldOutSweep:
    """The grid as `sweep()` measures it, plus `extra` configurations timed in every pass but kept apart.

    extra_repeats: repeats per extra point and pass (default the grid's): a few held-out points can afford more
    repeats than the whole grid, and their own noise is then not mistaken for the model's error. extra_visits > 1:
    in passes after the first, each extra point is visited that many times, spread evenly through the grid, its
    repeats shared among the visits — a VM whose speed moves between moments tens of seconds apart then weighs on
    a held-out point as it weighs on the fit. after_pass(p) runs after each completed pass p (e.g. whole requests
    timed at the same moments of the run as the grid); not after a pass the budget cut."""
    sw = Sweep(timer, role, batches, queries, contexts, passes=passes, **kw)
    extra = [tuple(k) for k in extra]
    r_more = extra_repeats or sw.repeats
    visits = max(1, min(int(extra_visits), r_more))
    sw.expect(len(extra) * passes)
    if sw.first_pass():
        more = [k for k in extra if k not in sw.grid]
        sw.expect(len(more) * (1 + visits * (passes - 1)))
        sw.measure(more, r_more, "extra")
        if after_pass:
            after_pass(1)
        while sw.result.passes < passes:
            p = sw.result.passes + 1
            if visits > 1:
                parts = spread_visits(sw.grid, more, visits, sw.repeats, r_more)
                parts = parts if p % 2 else [(keys[::-1], r) for keys, r in parts[::-1]]
            else:
                parts = [(sw.grid, sw.repeats), (more, r_more)] if p % 2 else \
                    [(more[::-1], r_more), (sw.grid[::-1], sw.repeats)]
            if not sw.run_pass(parts):
                break
            if after_pass:
                after_pass(p)
    res = sw.finish()
    got = [sw.point(k) for k in extra if sw.timed(k)]
    return HeldOutSweep(res, [g[0] for g in got], [g[1] for g in got], [g[2] for g in got])


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
