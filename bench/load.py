"""Plans under load (issue 20, item 3): the configuration `planner recommend --arrival-rate R` picks as the Poisson
rate rises on the default profile, its predicted p50/p90 and deadline hit rate at that rate next to the discrete-
event simulation of the same engine model (tools/load_sim.py), and its goodput (the highest rate at which it still
meets the deadline).

Target: the chosen N falls as load rises; predicted p90 within 6 % and hit rate within 3 points of the simulation
up to 60 % of the plan's capacity (tests/unit/test_load.py holds those at fixed configurations).

    python bench/load.py                 # ~1 min on the 2-core VM
    python bench/load.py --deadline 5s --rates 1,4,16 --requests 1500
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from planner import api  # noqa: E402
from planner.report import table  # noqa: E402
from planner.units import parse_duration  # noqa: E402
from tools.load_sim import simulate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=None)
    ap.add_argument("--deadline", default="3s")
    ap.add_argument("--rates", default="0.5,2,5,10,20", help="Poisson rates, requests/s")
    ap.add_argument("--requests", type=int, default=800, help="simulated requests per rate")
    args = ap.parse_args()
    prof = api.load_profile(args.profile)
    d = parse_duration(args.deadline)
    rows = []
    for rate in (float(r) for r in args.rates.split(",")):
        plan = api.recommend(prof, d, arrival_rate=rate)
        lat, load = plan.predicted["latency_s"], plan.predicted["load"]
        sim = simulate(prof, plan.branches, plan.draft_len, arrival_rate=rate, n_requests=args.requests, seed=1)
        rows.append([f"{rate:g}", str(plan.branches), str(plan.draft_len), f"{100 * plan.predicted['accuracy']:.1f}",
                     f"{lat['p50']:.2f}", f"{np.quantile(sim, 0.5):.2f}", f"{lat['p90']:.2f}",
                     f"{np.quantile(sim, 0.9):.2f}", f"{100 * plan.predicted['p_meet_deadline']:.1f}",
                     f"{100 * np.mean(sim <= d):.1f}", f"{load['capacity_rps']:.3g}",
                     "-" if load["goodput_rps"] is None else f"{load['goodput_rps']:.3g}"])
    print(f"{prof.id}, deadline {d:g} s at p90, Poisson arrivals; sim = tools/load_sim.py, {args.requests} requests")
    print(table(rows, ["rate/s", "N", "K", "acc %", "p50 model", "p50 sim", "p90 model", "p90 sim",
                       "hit % model", "hit % sim", "capacity/s", "goodput/s"]))


if __name__ == "__main__":
    main()
