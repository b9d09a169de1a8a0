"""Sweep logic with a fake timer (no model): caps for slow steps, memory and out-of-memory, time budget,
refusal of broken timings, and normalisation of load drift; held-out points and work between passes through the
pass-level API (bench/_common.py builds them on planner.calibrate.sweep.Sweep)."""

import sys
from pathlib import Path

import pytest

from planner.calibrate.repeats import LoadMeter
from planner.calibrate.sweep import OutOfMemory, Sweep, sweep
from planner.errors import PlannerError

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench._common import spread_visits, sweep_with_held_out  # noqa: E402


def step_s(B, q, L):
    return 0.01 + 0.001 * B * q + 1e-6 * B * L


class FakeCtx:
    def __init__(self, timer, B, L):
        self.t, self.B, self.L = timer, B, L

    def time(self, q, repeats, warmup):
        out = []
        for _ in range(warmup + repeats):
            self.t.calls += 1
            out.append(self.t.value(self.B, q, self.L))
        return out[warmup:]


class FakeTimer:
    def __init__(self, drift=0.0, oom_at=None, value=None):
        self.calls = 0
        self.drift = drift
        self.oom_at = oom_at
        self.contexts = []
        self._value = value

    def value(self, B, q, L):
        if self._value:
            return self._value(B, q, L)
        return step_s(B, q, L) * (1 + self.drift * self.calls)

    def context(self, B, L):
        if self.oom_at and B >= self.oom_at:
            raise OutOfMemory("fake OOM")
        self.contexts.append((B, L))
        return FakeCtx(self, B, L)

    def kv_bytes(self, B, L):
        return B * L * 1000.0


def test_full_grid_medians_without_drift():
    res = sweep(FakeTimer(), "target", [1, 4], [1, 3], [64, 512], repeats=3)
    assert len(res.points) == 8 and not res.caps and not res.cut_by_budget
    for p in res.points:
        assert p.seconds == pytest.approx(step_s(p.batch, p.query, p.context))
    # batches grow in the outer loop: all (q, L) at B=1 come first
    assert [p.batch for p in res.points[:4]] == [1, 1, 1, 1]


def test_slow_steps_stop_growing_batch_and_record_cap():
    res = sweep(FakeTimer(), "target", [1, 8, 64, 256], [1, 9], [64], repeats=1, max_step_s=0.1)
    got = {(p.batch, p.query) for p in res.points}
    # q=9 at B=64 takes 0.59 s > 0.1 s: B=256 is not tried for q=9, but q=1 goes on (0.074 s at B=64)
    assert (64, 9) in got and (256, 9) not in got and (256, 1) in got
    assert res.caps["target:q=9,L=64"]["batch"] == 256


def test_memory_cap_and_oom_back_off_continue_with_other_contexts():
    res = sweep(FakeTimer(), "target", [1, 4, 16], [1], [64, 4096], repeats=1, mem_limit_bytes=10e6)
    got = {(p.batch, p.context) for p in res.points}
    assert (16, 64) in got and (1, 4096) in got and (4, 4096) not in got
    assert res.caps["target:q=1,L=4096"] == {"batch": 4, "why": "memory (estimated)"}
    res = sweep(FakeTimer(oom_at=16), "target", [1, 4, 16, 64], [1, 2], [64], repeats=1)
    assert max(p.batch for p in res.points) == 4
    assert res.caps["target:q=2,L=64"]["batch"] == 16 and "out of memory" in res.caps["target:q=2,L=64"]["why"]


def test_budget_cuts_the_sweep():
    res = sweep(FakeTimer(), "target", [1, 2, 4], [1], [64], repeats=1, budget_s=-1)
    assert res.cut_by_budget and res.points == []


@pytest.mark.parametrize("bad", [-0.01, 0.0, float("inf"), float("nan")])
def test_broken_timings_are_refused(bad):
    with pytest.raises(PlannerError, match="finite positive"):
        sweep(FakeTimer(value=lambda B, q, L: bad), "target", [1], [1], [64], repeats=3)


def test_load_drift_is_normalised_away():
    timer = FakeTimer(drift=0.03)   # everything slows down by 3 % per forward: ~3x by the end
    meter = LoadMeter(timer, repeats=1)
    res = sweep(timer, "target", [1, 2, 4, 8, 16], [1, 5], [64, 512], repeats=3, warmup=0, meter=meter)
    assert meter.drift()["max_ratio"] / meter.drift()["min_ratio"] > 2
    # relative to the grid's own first point, raw times are bent by the drift, normalised ones are not
    def shape(points):
        first = points[0].seconds / step_s(points[0].batch, points[0].query, points[0].context)
        return [p.seconds / step_s(p.batch, p.query, p.context) / first for p in points]
    assert max(shape(res.raw_points)) > 2
    assert max(abs(x - 1) for x in shape(res.points)) < 0.05
    assert res.level == pytest.approx(meter.level())
    # held-out (extra) points timed after the grid and normalised to the same level share the grid's scale;
    # their raw times, taken ~3x later in the drift, do not
    late = sweep_with_held_out(timer, "target", [1, 2, 4, 8, 16], [1, 5], [64, 512], repeats=3, warmup=0,
                               meter=LoadMeter(timer, repeats=1), extra=[(3, 2, 100), (6, 1, 300)])
    grid = late.result
    assert [p.batch for p in late.points] == [3, 6]
    scale = grid.points[0].seconds / step_s(grid.points[0].batch, grid.points[0].query, grid.points[0].context)
    for p in late.points:
        assert p.seconds / step_s(p.batch, p.query, p.context) == pytest.approx(scale, rel=0.1)
    raw_first = grid.raw_points[0].seconds / step_s(grid.raw_points[0].batch, 1, grid.raw_points[0].context)
    assert late.raw_points[0].seconds / step_s(3, 2, 100) > 1.5 * raw_first


def _bend(points):
    """max / min of measured / true over the points: 1.0 when a common factor is all that moved them."""
    r = [p.seconds / step_s(p.batch, p.query, p.context) for p in points]
    return max(r) / min(r)


def test_passes_in_alternating_order_cancel_a_linear_drift():
    grid = ([1, 2, 4, 8], [1, 3], [64, 512])
    one = sweep(FakeTimer(drift=0.01), "target", *grid, repeats=1, warmup=0)
    two = sweep(FakeTimer(drift=0.01), "target", *grid, repeats=1, warmup=0, passes=2)
    assert one.passes == 1 and two.passes == 2
    assert [(p.batch, p.query, p.context) for p in one.points] == [(p.batch, p.query, p.context) for p in two.points]
    # one pass: the last point is ~16 forwards slower than the first; two mirrored passes average that away
    assert _bend(one.points) > 1.1
    assert _bend(two.points) < 1.01


def test_extra_configs_are_timed_in_every_pass_but_kept_apart():
    timer = FakeTimer()
    res = sweep_with_held_out(timer, "target", [1, 4], [1], [64], repeats=2, warmup=0, passes=3,
                              extra=[(3, 2, 100), (1, 1, 64)])
    assert [(p.batch, p.query, p.context) for p in res.result.points] == [(1, 1, 64), (4, 1, 64)]
    assert [(p.batch, p.query, p.context) for p in res.points] == [(3, 2, 100), (1, 1, 64)]
    assert res.points[0].seconds == pytest.approx(step_s(3, 2, 100))
    assert res.by_pass[0] == pytest.approx([step_s(3, 2, 100)] * 3)
    # grid 2 points + 1 new extra point, 3 passes x 2 repeats each; (1, 1, 64) is shared, not timed twice a pass
    assert timer.calls == 3 * 3 * 2


def test_held_out_points_can_take_more_repeats_than_the_grid():
    timer = FakeTimer()
    res = sweep_with_held_out(timer, "target", [1, 4], [1], [64], repeats=2, warmup=0, passes=3, extra=[(3, 2, 100)],
                              extra_repeats=5)
    assert res.result.passes == 3 and res.points[0].seconds == pytest.approx(step_s(3, 2, 100))
    assert timer.calls == 3 * 2 * 2 + 3 * 5           # grid: 2 points x 2 repeats; held-out: 1 point x 5


def test_later_passes_stop_at_the_budget():
    import time

    def slow(B, q, L):
        time.sleep(0.1)
        return step_s(B, q, L)

    # the first pass ends after >= 0.2 s > budget (B=2 starts at ~0.1 s < budget): complete, but no second pass
    res = sweep(FakeTimer(value=slow), "target", [1, 2], [1], [64], repeats=1, warmup=0, passes=5, budget_s=0.15)
    assert res.passes == 1 and not res.cut_by_budget and len(res.points) == 2



def test_after_pass_runs_between_passes_and_not_after_a_cut_pass():
    timer = FakeTimer()
    seen = []
    res = sweep_with_held_out(timer, "target", [1, 2], [1, 3], [64], repeats=1, warmup=0, passes=3,
                              extra=[(3, 1, 64)], after_pass=lambda p: seen.append((p, timer.calls)))
    # pass 1: 4 grid points + the extra point; passes 2, 3: the same 5 again each
    assert res.result.passes == 3 and seen == [(1, 5), (2, 10), (3, 15)]

    import time

    def slow(B, q, L):
        time.sleep(0.1)
        return step_s(B, q, L)

    seen.clear()
    res = sweep_with_held_out(FakeTimer(value=slow), "target", [1, 2], [1], [64], repeats=1, warmup=0, passes=5,
                              budget_s=0.15, after_pass=lambda p: seen.append(p))
    assert res.result.passes == 1 and seen == [1]

@pytest.mark.parametrize("extra_repeats", [None, 3])
def test_extra_points_in_passes_keep_the_given_order_and_cancel_drift(extra_repeats):
    cfg = [(6, 1, 300), (3, 2, 100), (3, 1, 100)]
    res = sweep_with_held_out(FakeTimer(drift=0.01), "target", [1, 2], [1], [64], repeats=1, warmup=0, passes=2,
                              extra=cfg, extra_repeats=extra_repeats)
    pts = res.points
    assert [(p.batch, p.query, p.context) for p in pts] == cfg and res.result.level is None and pts == res.raw_points
    assert _bend(pts) < 1.01


def test_engine_timer_warmup_leaves_no_prefill_point(tiny_qwen2):
    pytest.importorskip("torch")
    from planner.calibrate.engine_timer import EngineTimer

    model = tiny_qwen2()
    timer = EngineTimer(model, "cpu", 1024.0)
    timer.warmup(0.05)
    assert timer.prefill_s == {}            # the warm-up's first (cold) prefill is not a measurement
    ctx = timer.context(3, 8)
    assert list(timer.prefill_s) == [8] and len(ctx.time(2, 2, 1)) == 2


def test_spread_puts_each_held_out_visit_between_grid_runs():
    grid = [(b, 1, 64) for b in range(1, 9)]
    parts = spread_visits(grid, [(3, 2, 100), (6, 1, 300)], 3, 2, 7)
    flat = [k for keys, _ in parts for k in keys]
    assert [k for k in flat if k in grid] == grid                        # the grid keeps its order
    visits = [(keys[0], r) for keys, r in parts if keys[0] not in grid]
    assert [k for k, _ in visits] == [(3, 2, 100), (6, 1, 300)] * 3
    assert sum(r for k, r in visits if k == (3, 2, 100)) == 7             # repeats shared among visits: 3 + 2 + 2
    assert all(len(keys) >= 1 for keys, _ in parts)
    assert not any(a[0][0] not in grid and b[0][0] not in grid for a, b in zip(parts, parts[1:]))  # never adjacent


def test_visits_spread_over_the_run_average_out_moments_of_a_slow_machine():
    """Speed that moves in blocks of calls (a VM's neighbours come and go): held-out points seen at more moments
    land closer to the fit's level (mean over seeded runs; one visit per pass: ~5 %, three: ~2.7 %)."""
    import numpy as np

    def err(visits, seed):
        speed = np.exp(np.random.default_rng(seed).normal(0, 0.1, 400))   # one factor per block of 6 calls
        timer = FakeTimer()
        timer.value = lambda B, q, L: step_s(B, q, L) * speed[timer.calls // 6]
        res = sweep_with_held_out(timer, "target", [1, 2, 4, 8], [1, 3], [64, 512], repeats=2, warmup=0, passes=3,
                                  extra=[(3, 2, 100), (6, 1, 300), (5, 3, 200)], extra_repeats=6, extra_visits=visits)
        assert res.result.passes == 3 and len(res.points) == 3
        level = np.median([p.seconds / step_s(p.batch, p.query, p.context) for p in res.result.points])
        return np.mean([abs(p.seconds / step_s(p.batch, p.query, p.context) / level - 1) for p in res.points])

    one, three = (np.mean([err(v, s) for s in range(20)]) for v in (1, 3))
    assert three < 0.75 * one
    assert one == pytest.approx(0.049, abs=0.002) and three == pytest.approx(0.0265, abs=0.002)  # docs' figures


def test_console_says_when_a_sweep_was_cut_by_its_budget():
    import io

    from planner.calibrate.device import _say_if_cut
    from planner.calibrate.progress import Progress
    from planner.calibrate.sweep import SweepResult

    out = io.StringIO()
    p = Progress(stream=out)
    _say_if_cut(p, "target", SweepResult(cut_by_budget=False), 60)
    assert out.getvalue() == ""
    _say_if_cut(p, "target", SweepResult(points=[object()] * 7, cut_by_budget=True), 60)
    line = out.getvalue().strip()
    assert "target sweep cut short by its 60 s budget after 7 points" in line and "not measured" in line


def test_pass_level_api_runs_the_same_measurements_as_the_whole_sweep():
    grid = ([1, 2, 4], [1, 3], [64, 512])
    whole = sweep(FakeTimer(drift=0.01), "target", *grid, repeats=2, warmup=0, passes=3)
    timer = FakeTimer(drift=0.01)
    sw = Sweep(timer, "target", *grid, repeats=2, warmup=0, passes=3)
    assert not sw.run_pass()                       # no later pass before the first one explored the grid
    assert sw.first_pass() and sw.grid_order(2) == sw.grid[::-1]
    calls = []
    while sw.result.passes < 3 and sw.run_pass():
        calls.append(timer.calls)                  # the caller's own work would go here, between passes
    res = sw.finish()
    by_pass = sw.point((2, 3, 512))[2]
    assert calls == [48, 72] and res.passes == whole.passes == 3   # 12 points x 2 repeats a pass
    assert [(p.batch, p.query, p.context, p.seconds) for p in res.points] == \
        [(p.batch, p.query, p.context, p.seconds) for p in whole.points]
    assert len(by_pass) == 3 and by_pass[0] < by_pass[1] < by_pass[2]   # drift: each pass slower
