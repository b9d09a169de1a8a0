"""What bench/load_engine.py compares a measured load run with: the plan's long-run figures, the band a run of that
many requests lands in by the model (short runs simulated from an empty engine, as the bench starts), and a replay
of the run itself (its own arrival times and branch lengths through the same engine model, per replica).

Why: a run of 15-60 requests measures its p90 with a spread the bootstrap over requests understates (latencies
of a queue are correlated, and the arrival pattern is one draw): the band says whether the measurement is what
the model expects of such a run, and the replay separates the engine model's error from the luck of the draw.

    python bench/load_stats.py DIR     # the table again from DIR/load_engine.json and DIR/ep.json, seconds
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner.model.lengths import LengthDist  # noqa: E402
from planner.model.load import Load, kv_branches  # noqa: E402
from planner.model.queue_sim import simulate  # noqa: E402
from planner.optimize.evaluate import evaluate  # noqa: E402
from planner.profile import load_profile  # noqa: E402

WARMUP = 0.1   # as bench/loadgen.WARMUP_SHARE: the first arrivals are not scored


def closed_form(prof, N: int, K: int, D: int, rate: float, deadline: float) -> dict:
    """The closed forms' figures (planner/model/load.py: the screen before the simulation judges the pick)."""
    ev = evaluate(prof, deadline, 0.9, ("majority",), n_values=[N], k_values_=[K],
                  load=Load(arrival_rate=rate / D, round_robin=D))
    return {"p50": float(ev.latency["p50"][0, 0]), "p90": float(ev.latency["p90"][0, 0]), "hit": float(ev.p_meet[0, 0])}


def short_run_band(prof, N: int, K: int, D: int, rate: float, count: int, deadline: float, reps: int = 400,
                   lo: float = 0.05, hi: float = 0.95) -> dict:
    """lo-hi range (default 5-95 %) of p50, p90 and hit rate over `reps` simulated runs of `count` requests dealt
    round-robin to D replicas from an empty engine, the first WARMUP share of arrivals unscored, as the bench
    runs them."""
    dist, kv = LengthDist(prof.lengths), kv_branches(prof, K)
    out = {"p50": [], "p90": [], "hit": []}
    for r in range(reps):
        lats = []
        for j in range(D):
            share = len(range(j, count, D))
            lat = simulate(prof, N, K, dist, kv, rate=rate / D, round_robin=D, n_requests=share, seed=1000 * r + j,
                           warmup=WARMUP)
            lats.append(lat)
        lat = np.concatenate(lats)
        out["p50"].append(np.quantile(lat, 0.5, method="inverted_cdf"))
        out["p90"].append(np.quantile(lat, 0.9, method="inverted_cdf"))
        out["hit"].append(np.mean(lat <= deadline))
    return {k: (float(np.quantile(v, lo)), float(np.quantile(v, hi))) for k, v in out.items()}


def replay(prof, N: int, K: int, requests: list[dict], deadline: float) -> dict:
    """The run's own requests through the engine model, per replica (their due times, their branches' token
    counts; an even split of the request's total where the run did not record them): the model's latency for
    each scored request, its p50/p90/hit and the median measured/replayed ratio."""
    dist, kv = LengthDist(prof.lengths), kv_branches(prof, K)
    pred = np.full(len(requests), np.nan)
    for rep in sorted({q["replica"] for q in requests}):
        idx = [i for i, q in enumerate(requests) if q["replica"] == rep]
        lengths = [q.get("branch_tokens") or [max(1, round(q["tokens"] / N))] * N for q in (requests[i] for i in idx)]
        lengths = [[max(int(x), 1) for x in L] for L in lengths]
        pred[idx] = simulate(prof, N, K, dist, kv, trace=([requests[i]["due_s"] for i in idx], lengths), warmup=0.0)
    scored = slice(int(WARMUP * len(requests)), None)
    p, m = pred[scored], np.array([q["latency_s"] for q in requests])[scored]
    return {"p50": float(np.quantile(p, 0.5, method="inverted_cdf")),
            "p90": float(np.quantile(p, 0.9, method="inverted_cdf")), "hit": float(np.mean(p <= deadline)),
            "ratio": float(np.median(m / p)), "even_split": not all(q.get("branch_tokens") for q in requests)}


def analyse(prof, row: dict, deadline: float) -> dict:
    """The row with the closed form, the short-run band and the replay added."""
    N, K, D, rate = row["N"], row["K"], row["replicas"], row["rate"]
    return {**row, "closed_form": closed_form(prof, N, K, D, rate, deadline),
            "band": short_run_band(prof, N, K, D, rate, row["sent"], deadline),
            "replay": replay(prof, N, K, row["requests"], deadline)}


def print_table(rows: list[dict]) -> None:
    print("\n| rate/s | replicas | N | sent/scored | p50 plan | p50 replay | p50 | p90 screen | p90 plan | p90 band "
          "| p90 replay | p90 | p90 vs replay | hit % plan | hit % band | hit % |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        b, rp = r["band"], r["replay"]
        print(f"| {r['rate']:.3g} | {r['replicas']} | {r['N']} | {r['sent']}/{r['scored']} | {r['p50_model']:.2f} "
              f"| {rp['p50']:.2f} | {r['p50']:.2f} | {r['closed_form']['p90']:.2f} "
              f"| {r['p90_model']:.2f} ± {r['p90_se'] or 0:.2f} | {b['p90'][0]:.1f}–{b['p90'][1]:.1f} "
              f"| {rp['p90']:.2f} | {r['p90']:.2f} | {100 * (rp['p90'] - r['p90']) / r['p90']:+.0f} % "
              f"| {100 * r['hit_model']:.1f} | {100 * b['hit'][0]:.0f}–{100 * b['hit'][1]:.0f} "
              f"| {100 * r['hit']:.1f} |")


def main(workdir: str) -> None:
    d = Path(workdir)
    data = json.loads((d / "load_engine.json").read_text())
    prof = load_profile(str(d / "ep.json"))
    rows = [analyse(prof, r, r["deadline"]) for r in data["rates"]]
    print_table(rows)


if __name__ == "__main__":
    main(sys.argv[1])
