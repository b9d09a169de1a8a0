"""GPU layouts (issue 20, item 1): the replica model (planner/model/replicas.py) against a token-by-token simulation
of whole requests dealt to D replicas, and what `planner recommend --gpus G` picks on a few profiles.

Part 1: a batch-bound step (a CPU-like roofline, where splitting pays) and the default H100 profile (memory-bound,
where it hardly does), against the simulation of tools/split_sim.py (the one tests/unit/test_replicas.py uses):
mean and p90 of the model next to the simulation for several (N, D), with and without the problem effect
(lengths.between_share). Target: within 5 % (tests/unit/test_replicas.py holds 4 % on its cases).
Part 2: the layout, configuration and cost recommend chooses for G = 1, 2, 4, 8 at one deadline, with its time.

    python bench/replicas.py                   # ~1-2 min on the 2-core VM
    python bench/replicas.py --deadline 3s --gpus 1,8
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from planner import api  # noqa: E402
from planner.model.replicas import split_grid  # noqa: E402
from planner.profile.schema import Profile, StepCoeffs  # noqa: E402
from planner.report import table  # noqa: E402
from tools.split_sim import simulate_split  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deadline", default="5s")
    ap.add_argument("--gpus", default="1,2,4,8")
    ap.add_argument("--problems", type=int, default=2000)
    args = ap.parse_args()
    data = os.path.join(ROOT, "tests", "data", "profile_test.json")
    cpu = Profile.from_dict(json.loads(open(data).read()), origin=data)
    cpu = replace(cpu, step=StepCoeffs(t0_s=0.002, weight_bw_GBps=1e5, kv_bw_GBps=1e5, tflops=0.4))
    h100 = api.load_profile("h100-sxm-qwen2.5-7b")     # K = 0 below: the draft plays no part
    rows = []
    for name, base in (("batch-bound", cpu), ("h100 7B", h100)):
        for rho in (0.0, 0.8):
            p = replace(base, lengths=replace(base.lengths, between_share=rho or None, within_shape=None))
            for N, D in ((8, 1), (8, 2), (16, 4), (7, 3), (32, 8)):
                g = split_grid(p, [N], [0], None, D)
                s = simulate_split(p, N, D, args.problems)
                m, q = float(g.mean[0, 0]), float(g.q[0.9][0, 0])
                rows.append([name, f"{rho:g}", str(N), str(D), f"{m:.3f}", f"{s.mean():.3f}",
                             f"{100 * (m / s.mean() - 1):+.1f}", f"{q:.3f}", f"{np.quantile(s, 0.9):.3f}",
                             f"{100 * (q / np.quantile(s, 0.9) - 1):+.1f}"])
    print(table(rows, ["step", "rho", "N", "D", "mean s", "sim", "err %", "p90 s", "sim", "err %"]))
    print()
    rows = []
    for prof in ("h100-sxm-qwen2.5-7b", "h100-sxm-qwen2.5-32b", "cpu-smollm2-135m"):
        for G in (int(x) for x in args.gpus.split(",")):
            d = args.deadline if not prof.startswith("cpu") else "120s"
            t0 = time.process_time()
            try:
                plan = api.recommend(prof, d, gpus=G)
            except Exception as e:  # noqa: BLE001 - a deadline no layout meets is a row too
                rows.append([prof, d, str(G), "-", "-", "-", "-", "-", str(e)[:60]])
                continue
            L, pr = plan.layout, plan.predicted
            rows.append([prof, d, str(G), f"TP{L['tensor_parallel']}x{L['replicas']}",
                         f"{plan.method} N={plan.branches} K={plan.draft_len}", f"{pr['accuracy'] * 100:.1f}",
                         f"{pr['latency_s']['p90']:.2f}", f"{pr['device_s_per_request']:.2f}",
                         f"{time.process_time() - t0:.1f}"])
    print(table(rows, ["profile", "deadline", "G", "layout", "plan", "acc %", "p90 s", "GPU-s/req", "CPU s"]))


if __name__ == "__main__":
    main()
