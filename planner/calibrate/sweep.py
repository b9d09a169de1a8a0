"""Step-time sweep: forward time at batch B, query width q, context L, for the target (and a draft model).

The timing itself goes through a small interface (`Timer`) so the sweep logic (ordering, repeats, outlier
rejection, memory and time caps) is testable without a model; `EngineTimer` implements it with the project's
decoding engine (`planner.engine`: the same ragged-cache `forward_step` the decode loop runs), so the fitted
coefficients describe exactly the forward that `planner run` executes.

Order: batch sizes ascending in the outer loop, so if the time budget runs out the sweep still covers every
(q, L) at the small batches. A (q, L) stops growing B once one forward exceeds `max_step_s` (a CPU would
need minutes for B = 256 at q = 9), and a (B, L) whose KV cache would not fit in memory is skipped and recorded
as the batch cap instead of being tried (on a CPU a real out-of-memory is a SIGKILL, not an exception).

`Sweep` runs pass by pass (benchmarks interleave their own measurements with it: bench/_common.py); `sweep()` is
the whole run that `planner calibrate` uses."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

from planner.calibrate.points import StepPoint, check_seconds
from planner.calibrate.progress import Progress
from planner.calibrate.repeats import LoadMeter, Timer, interleaved, robust_median


class OutOfMemory(Exception):
    """Raised by a Timer when a configuration does not fit on the device."""


@dataclass
class SweepResult:
    points: list[StepPoint] = field(default_factory=list)
    raw_points: list[StepPoint] = field(default_factory=list)  # before load normalisation
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


class Sweep:
    """One sweep run pass by pass, so a caller can put its own work between and inside passes (a benchmark's
    held-out points, whole requests timed at the same moments of the run) without hooks in here.

    first_pass() explores the grid (caps, memory, budget); each run_pass() times the grid again, every other
    pass in reverse order, so a machine whose speed drifts over minutes moves all points alike instead of
    bending the fit; measure() times any explicit configurations in the current pass, pooled like the grid's;
    finish() normalises and returns the grid's points; point() gives any timed configuration afterwards."""

    def __init__(self, timer: Timer, role: str, batches, queries, contexts, *, repeats: int = 5, warmup: int = 1,
                 max_step_s: float = 2.0, budget_s: float | None = None, mem_limit_bytes: float | None = None,
                 progress: Progress | None = None, meter: LoadMeter | None = None, passes: int = 1):
        self.timer, self.role, self.dims = timer, role, (batches, queries, contexts)
        self.repeats, self.warmup, self.max_step_s, self.budget_s = repeats, warmup, max_step_s, budget_s
        self.mem_limit_bytes, self.progress, self.planned = mem_limit_bytes, progress, passes
        self.result, self.log, self.grid = SweepResult(), _Log(meter), []
        self.t_start = time.monotonic()
        self.log.total = len(batches) * len(queries) * len(contexts) * passes
        self.extra_items = 0   # measurements a caller announced (progress totals only)
        self._slow: frozenset = frozenset()   # timed configurations slow enough to skip their warm-up

    def out_of_time(self) -> bool:
        return self.result.cut_by_budget or (self.budget_s is not None
                                             and time.monotonic() - self.t_start > self.budget_s)

    def expect(self, items: int) -> None:
        """Announce `items` measurements besides the grid's over the whole run (the progress line's total)."""
        self.log.total += items - self.extra_items
        self.extra_items = items

    def first_pass(self) -> bool:
        """Explore the grid; False if the budget cut it (then no later pass runs)."""
        _explore(self.timer, self.role, *self.dims, self.repeats, self.warmup, self.max_step_s, self.budget_s,
                 self.mem_limit_bytes, self.progress, self.result, self.log, self.grid, self.t_start)
        self.log.done = len(self.grid)   # the grid's size is known now
        self.log.total = len(self.grid) * self.planned + self.extra_items
        if self.result.cut_by_budget:
            return False
        self.result.passes = 1
        return True

    def grid_order(self, p: int) -> list[Key]:
        """The grid in pass p's order: as explored on odd passes, reversed on even ones."""
        return list(self.grid) if p % 2 else self.grid[::-1]

    def run_pass(self, parts: list[tuple[list[Key], int]] | None = None) -> bool:
        """Start the next pass and time `parts` ((configurations, repeats) runs, default the grid in this pass's
        order); True if it completed, False if the budget ran out before or during it."""
        if self.out_of_time() or self.result.passes == 0:
            return False
        p = self.result.passes + 1
        self.log.pass_no = p
        if parts is None:
            parts = [(self.grid_order(p), self.repeats)]
        # warm-up only where it costs little
        self._slow = frozenset(k for k in self.log.samples if self.log.median(k) >= 0.3)
        if not all(self.measure(keys, r, f"pass {p}/{self.planned}") for keys, r in parts):
            return False   # budget spent mid-pass: the points it reached keep their extra repeats
        self.result.passes = p
        return True

    def measure(self, configs: list[Key], repeats: int | None = None, what: str = "extra") -> bool:
        """Time explicit (B, q, L) in the current pass, pooled with their other repeats; False if the budget ran
        out first."""
        return _measure(self.timer, [tuple(k) for k in configs], repeats or self.repeats, self.warmup, self.log,
                        self.progress, what, self.t_start, getattr(self, "_slow", frozenset()), self.budget_s)

    def finish(self) -> SweepResult:
        """Close the load meter and return the grid's points (normalised with a meter)."""
        res = self.result
        res.level = self.log.close()
        for key in self.grid:
            pt, raw, dropped, spread = self.log.point(self.role, key, res.level)
            res.points.append(pt)
            res.raw_points.append(raw)
            res.spreads.append(round(spread, 4))
            res.rejected += dropped
        return res

    def timed(self, key: Key) -> bool:
        return tuple(key) in self.log.samples

    def point(self, key: Key) -> tuple[StepPoint, StepPoint, list[float]]:
        """After finish(): (normalised point, raw point, raw median per pass) of any timed configuration."""
        norm, raw, _, _ = self.log.point(self.role, tuple(key), self.result.level)
        return norm, raw, self.log.by_pass(tuple(key))


def sweep(timer: Timer, role: str, batches, queries, contexts, *, passes: int = 1, **kw) -> SweepResult:
    """Measure the grid in `passes` passes while the budget lasts (see Sweep); with a LoadMeter, points are
    normalised for load drift."""
    sw = Sweep(timer, role, batches, queries, contexts, passes=passes, **kw)
    if sw.first_pass():
        while sw.result.passes < passes and sw.run_pass():
            pass
    return sw.finish()


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
