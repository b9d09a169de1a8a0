"""Benchmark: wall time of the exhaustive search (in process) and of the whole `planner recommend` CLI call.

Targets (issue 2): search < 100 ms, CLI < 1 s on a 2-core machine. Median of repeats; the first in-process
call (which builds and caches the accuracy tables) is reported separately as "cold".

    python bench/recommend_speed.py [--repeats 7] [--profile NAME ...]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from planner.profile import load_profile
from planner.profile.store import DEFAULT_PROFILE
from planner.recommend import recommend


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--profile", action="append")
    ap.add_argument("--deadline", type=float, default=60.0)
    args = ap.parse_args()
    rows = []
    for name in args.profile or [DEFAULT_PROFILE]:
        prof = load_profile(name)
        t = time.perf_counter()
        plan = recommend([prof], args.deadline)
        cold = (time.perf_counter() - t) * 1e3
        warm = _median_ms(lambda: recommend([prof], args.deadline), args.repeats)
        cli = _median_ms(lambda: subprocess.run(
            [sys.executable, "-m", "planner", "recommend", "--deadline", f"{args.deadline}s", "--profile", name],
            check=True, capture_output=True), args.repeats)
        n_cfg = 256 * 9 * len(plan.runners_up and {r["method"] for r in plan.runners_up} | {plan.method})
        rows.append((name, n_cfg, cold, warm, cli))
    print(f"{'profile':32} {'configs':>8} {'search cold ms':>15} {'search warm ms':>15} {'CLI ms':>8}")
    for name, n, cold, warm, cli in rows:
        print(f"{name:32} {n:8d} {cold:15.1f} {warm:15.1f} {cli:8.0f}")
    print("targets: search < 100 ms, CLI < 1000 ms (median of", args.repeats, "repeats)")


if __name__ == "__main__":
    main()
