"""Benchmark: wall time of the exhaustive search (in process) and of the whole `planner recommend` CLI call.

Targets (issue 2): search < 100 ms, CLI < 1 s on a 2-core machine. Median of repeats; the first in-process
call (which builds and caches the accuracy tables) is reported separately as "cold".

    python bench/recommend_speed.py [--repeats 7] [--profile NAME ...]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import os
import subprocess
import sys
import time

from planner.optimize.evaluate import evaluate
from planner.profile import load_profile
from planner.profile.store import DEFAULT_PROFILE
from planner.api import recommend


def _median_ms(fn, repeats: int, cpu: bool = False) -> tuple[float, float]:
    """Median wall ms and median CPU ms (this process, or its children for subprocess calls): on a shared
    machine the CPU time is the stable number, the wall time includes waiting for a core."""
    walls, cpus = [], []
    for _ in range(repeats):
        r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.process_time()
        t = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        child = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
        cpus.append(child if cpu else time.process_time() - t0)
    return statistics.median(walls) * 1e3, statistics.median(cpus) * 1e3


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
            check=True, capture_output=True), args.repeats, cpu=True)
        n_cfg = evaluate(prof, args.deadline).acc.size
        rows.append((name, n_cfg, cold, warm, cli))
    print(f"{'profile':24} {'configs':>7} {'cold ms':>8} {'search wall ms':>15} {'search cpu ms':>14} "
          f"{'CLI wall ms':>12} {'CLI cpu ms':>11}")
    for name, n, cold, warm, cli in rows:
        print(f"{name:24} {n:7d} {cold:8.1f} {warm[0]:15.1f} {warm[1]:14.1f} {cli[0]:12.0f} {cli[1]:11.0f}")
    print(f"targets: search < 100 ms, CLI < 1000 ms (median of {args.repeats} repeats; load average now "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: wall times include waiting for a core)")


if __name__ == "__main__":
    main()
