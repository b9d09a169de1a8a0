"""Benchmark: exhaustive vs greedy (seed paper baseline) vs Optuna TPE under the one selection rule
(planner/optimize/select.py: the cheapest plan within max(0.5 point, 1 SE) of the best), side by side.

For each profile and deadline: what each strategy picks (accuracy ± SE, p90, device-seconds per request) and
its search time (the grid evaluation is shared and timed separately), then the default plan with ± and cost.
Expect exhaustive in the band of the best and no strategy cheaper than it inside the band.

    python bench/strategies.py [--profile NAME ...] [--trials 300]
"""

from __future__ import annotations

import argparse
import time

from planner import recommend
from planner.optimize import exhaustive
from planner.optimize.cost import with_cost
from planner.optimize.evaluate import evaluate
from planner.optimize.select import DEFAULT_TOLERANCE
from planner.optimize.strategies import SearchSettings, pick
from planner.profile import load_profile
from planner.report import render_plan

DEADLINES = (5.0, 10.0, 30.0, 60.0, 120.0)
NAMES = ("exhaustive", "greedy", "optuna")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", action="append")
    ap.add_argument("--trials", type=int, default=300)
    args = ap.parse_args()
    names = args.profile or ["h100-sxm-qwen2.5-3b", "h100-sxm-qwen2.5-32b"]
    print(f"{'profile':22} {'deadline':>8} {'best %':>6} | " + " | ".join(f"{n:>27}" for n in NAMES))
    print(f"{'':22} {'':>8} {'':>6} | " + " | ".join(f"{'acc ± se %':>11} {'p90':>5} {'dev-s':>5} {'ms':>3}"
                                                     for _ in NAMES))
    for name in names:
        prof = load_profile(name)
        evaluate(prof, 60.0)  # warm the accuracy tables once
        for d in DEADLINES:
            ev = evaluate(prof, d)
            top = exhaustive.most_accurate_index(ev)
            if top is None:
                print(f"{name:22} {d:7.0f}s  nothing meets the deadline")
                continue
            best = float(ev.acc[ev.feasible()].max())
            cells, got = [], {}
            for label in NAMES:
                t = time.perf_counter()
                p = pick(label, ev, SearchSettings(trials=args.trials, seed=0))
                ms = (time.perf_counter() - t) * 1e3
                c = got[label] = with_cost(p.ev, p.idx)
                cells.append(f"{c['accuracy'] * 100:5.1f} ± {c['accuracy_stderr'] * 100:3.1f} "
                             f"{c['latency_q_s']:5.2f} {c['device_s_per_request']:5.2f} {ms:3.0f}")
            ex = got["exhaustive"]
            assert ex["accuracy"] >= best - DEFAULT_TOLERANCE - 1e-12
            assert all(ex["device_s_per_request"] <= c["device_s_per_request"] + 1e-12 for c in got.values()
                       if c["accuracy"] >= best - DEFAULT_TOLERANCE)
            print(f"{name:22} {d:7.0f}s {best * 100:6.2f} | " + " | ".join(cells))
    print("\nexhaustive is in the band of the best and no strategy is cheaper inside it (asserted).\n")
    print("default plan, `planner recommend --deadline 60s`:\n")
    print(render_plan(recommend(None, "60s")))


if __name__ == "__main__":
    main()
