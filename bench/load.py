"""Plans under load (issue 20, item 3): the configuration `planner recommend --arrival-rate R` picks as the Poisson
rate rises on the default profile, its predicted p50/p90 and deadline hit rate at that rate (the event-driven
simulation its pick is confirmed by, planner/model/queue_sim.py, with standard errors), the closed-form screen at
the same configuration, the token-level oracle of the same engine model (tools/load_sim.py), and its goodput (the
highest rate at which it still meets the deadline).

Target: the chosen N falls as load rises; the plan's p90 within its Monte-Carlo error of the oracle's; the screen
within 6 % / 3 points up to 60 % of capacity on this memory-bound profile (tests/unit/test_load.py).

`--endpoint`: instead, the calibrated SmolLM2-135M vLLM-CPU replica of bench/load_engine.py's 2026-12-03 22:53 run
(ENDPOINT, its step, prefill, lengths and KV memory; a batch-bound step) at that run's per-replica rates and plans,
model vs simulation (the engine's measured figures are in docs/validation.md).

    python bench/load.py                 # ~1 min on the 2-core VM
    python bench/load.py --deadline 5s --rates 1,4,16 --requests 1500
    python bench/load.py --endpoint      # seconds
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from planner import api  # noqa: E402
from planner.report import table  # noqa: E402
from planner.units import parse_duration  # noqa: E402
from tools.load_sim import simulate  # noqa: E402


# The calibrated replica of bench/load_engine.py's run (docs/validation.md, 'On a real engine'): `planner calibrate
# --endpoint --quick` against vLLM 0.32.0 CPU serving SmolLM2-135M-Instruct, bf16, 1 GiB KV, one pinned core.
ENDPOINT = {
    "id": "vllm-cpu-smollm2-135m-endpoint",
    "hardware": {"name": "vllm endpoint (CPU)", "mem_bw_GBps": 4.507200853945612, "bf16_tflops": 0.005621984783534091,
                 "memory_GB": 1.343, "gpus": 1, "tensor_parallel": 1},
    "step": {"target": {"t0_s": 0.0261894, "weight_bw_GBps": 4.5072, "kv_bw_GBps": 4.5072, "tflops": 0.00562198,
                        "fit_rel_error": 0.01343}},
    "prefill": {"t0_s": 0.0337137, "s_per_token": 0.0369686},
    "draft": {"kind": "none"},
    "lengths": {"kind": "empirical", "tokens": [12, 13, 20, 36, 48, 48, 48, 48, 48, 48, 48, 48], "between_share": 0.2872},
    "accuracy": {"kind": "parametric", "beta_a": 1.0, "beta_b": 1.0, "wrong_mode_share": 0.5,
                 "source": "placeholder: endpoint calibration measures latency only"},
    "prompt_tokens": 45,
    "serving": {"prefill_sharing": {"mode": "blocks", "block_size": 128, "prefix_caching": True,
                                    "source": "vllm:cache_config_info"}},
}
ENDPOINT_RUNS = ((0.0352, 3), (0.106, 1), (0.201, 1))   # per-replica rate/s and the plan's N, deadline 19 s


def endpoint_profile():
    """ENDPOINT on the shipped SmolLM2-135M profile's model (the same architecture), without its drafter."""
    base = json.loads((Path(__file__).resolve().parents[1] / "profiles" / "cpu-smollm2-135m.json").read_text())
    base.update(ENDPOINT)
    for key in ("acceptance", "calibration"):
        base.pop(key, None)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "endpoint.json"
        path.write_text(json.dumps(base))
        return api.load_profile(str(path))


def endpoint_table(requests: int) -> None:
    from planner.model.load import Load
    from planner.optimize.evaluate import evaluate
    from planner.optimize.load_check import check_cell

    prof, d, rows = endpoint_profile(), 19.0, []
    for rate, n in ENDPOINT_RUNS:
        ev = evaluate(prof, d, n_values=[n], k_values_=[0], load=Load(arrival_rate=rate))
        screen = {k: float(ev.latency[k][0, 0]) for k in ("p50", "p90")}
        screen_hit = float(ev.p_meet[0, 0])
        st = check_cell(ev, 0, 0)
        sim = simulate(prof, n, 0, arrival_rate=rate, n_requests=requests, seed=1)
        rows.append([f"{rate:g}", str(n), f"{screen['p50']:.2f}", f"{st.p50:.2f}", f"{np.quantile(sim, 0.5):.2f}",
                     f"{screen['p90']:.2f}", f"{st.p90:.2f} ± {st.se['p90']:.2f}", f"{np.quantile(sim, 0.9):.2f}",
                     f"{100 * screen_hit:.1f}", f"{100 * st.p_meet:.1f}", f"{100 * np.mean(sim <= d):.1f}"])
    print(f"{prof.id}, deadline {d:g} s, Poisson arrivals per replica; screen = the closed forms "
          f"(planner/model/load.py), plan = the simulation the pick is confirmed by (planner/model/queue_sim.py), "
          f"oracle = tools/load_sim.py, {requests} requests")
    print(table(rows, ["rate/s", "N", "p50 screen", "p50 plan", "p50 oracle", "p90 screen", "p90 plan",
                       "p90 oracle", "hit % screen", "hit % plan", "hit % oracle"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=None)
    ap.add_argument("--deadline", default="3s")
    ap.add_argument("--rates", default="0.5,2,5,10,20", help="Poisson rates, requests/s")
    ap.add_argument("--requests", type=int, default=800, help="simulated requests per rate")
    ap.add_argument("--endpoint", action="store_true", help="the calibrated vLLM-CPU replica (ENDPOINT) instead")
    args = ap.parse_args()
    if args.endpoint:
        return endpoint_table(args.requests)
    prof = api.load_profile(args.profile)
    d = parse_duration(args.deadline)
    from planner.model.load import Load
    from planner.optimize.evaluate import evaluate

    rows = []
    for rate in (float(r) for r in args.rates.split(",")):
        plan = api.recommend(prof, d, arrival_rate=rate)
        lat, load = plan.predicted["latency_s"], plan.predicted["load"]
        se = load["simulated"]["stderr"]
        screen = evaluate(prof, d, n_values=[plan.branches], k_values_=[plan.draft_len],
                          load=Load(arrival_rate=rate)).latency["p90"][0, 0]
        sim = simulate(prof, plan.branches, plan.draft_len, arrival_rate=rate, n_requests=args.requests, seed=1)
        rows.append([f"{rate:g}", str(plan.branches), str(plan.draft_len), f"{100 * plan.predicted['accuracy']:.1f}",
                     f"{lat['p50']:.2f}", f"{np.quantile(sim, 0.5):.2f}", f"{screen:.2f}",
                     f"{lat['p90']:.2f} ± {se['p90']:.2f}", f"{np.quantile(sim, 0.9):.2f}",
                     f"{100 * plan.predicted['p_meet_deadline']:.1f}", f"{100 * np.mean(sim <= d):.1f}",
                     f"{load['capacity_rps']:.3g}", "-" if load["goodput_rps"] is None else f"{load['goodput_rps']:.3g}"])
    print(f"{prof.id}, deadline {d:g} s at p90, Poisson arrivals; plan = the simulation its pick is confirmed by, "
          f"screen = the closed forms at the same configuration, oracle = tools/load_sim.py, {args.requests} requests")
    print(table(rows, ["rate/s", "N", "K", "acc %", "p50 plan", "p50 oracle", "p90 screen", "p90 plan",
                       "p90 oracle", "hit % plan", "hit % oracle", "capacity/s", "goodput/s"]))


if __name__ == "__main__":
    main()
