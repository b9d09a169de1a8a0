"""Oracle experiment in the miniature world: do the planner's recommendations pick the configuration that is
really best under a deadline?

1. calibrate on the `val` split (closed-loop calibration: sample bank + engine round records → profile);
2. brute force: measure EVERY configuration of the grid N x K on held-out `test` problems with the executor
   (untruncated; one run per configuration serves every deadline, see planner/validate.py). Steps 1 and 2 are
   interleaved problem by problem (planner.demo.closed_loop.calibrate_and_sweep), so a drift of the machine's speed
   during the run moves calibration and measurement alike;
3. for deadlines spanning 1.05 x the fastest to 1.05 x the slowest measured p90 (closed_loop.deadlines_between:
   at the fastest p90 itself only a knife-edge prediction is feasible), ask exhaustive, greedy and optuna for a
   configuration (search restricted to the same grid) and report its measured accuracy within the deadline,
   its measured deadline-hit rate, and the regret vs the measured-best configuration.

Targets (issue 6): regret <= 2 % absolute; exhaustive >= greedy; hit rate >= requested quantile - 2 %.

    python bench/regret.py            # ~7-15 min on a 2-core CPU: 120 held-out problems, 15 configurations
    python bench/regret.py --quick    # ~2-3 min: 24 problems, 6 configurations
Measurements are cached (--cache) once the run completes; a second run only re-does the analysis. Timings on a
shared machine are noisy: run it on an idle machine for numbers you quote.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("OMP_NUM_THREADS", "1")

DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tts-planner" / "regret"


def pct(x, fmt="5.1f"):
    return "-" if x is None else format(100 * x, fmt)


def table(title, header, rows):
    print(f"\n## {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")


def hit_cell(r: dict, problems: int) -> str:
    """Predicted P(meet) / measured hit rate ± its binomial standard error over the held-out problems."""
    if r["hit_rate"] is None:
        return "-"
    h = r["hit_rate"]
    return (f"{pct(r.get('predicted_p_meet'), '.0f')} / {pct(h, '.0f')} ± "
            f"{pct((h * (1 - h) / problems) ** 0.5, '.1f')}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="24 problems, N in 1,4,16, K in 0,2 (~2-3 min)")
    ap.add_argument("--weights", help="miniworld weights folder (default: planner/demo/miniworld/weights)")
    ap.add_argument("--problems", type=int, help="held-out problems (default 120, quick 24)")
    ap.add_argument("--cal-problems", type=int, help="calibration problems (default 80, quick 16)")
    ap.add_argument("--samples", type=int, default=16, help="samples per calibration problem (default 16)")
    ap.add_argument("--n-values", help="grid branches (default 1,2,4,8,16; quick 1,4,16)")
    ap.add_argument("--k-values", help="grid draft lengths (default 0,2,4; quick 0,2)")
    ap.add_argument("--deadlines", type=int, default=6, help="how many deadlines (default 6)")
    ap.add_argument("--quantile", type=float, default=0.9)
    ap.add_argument("--strategies", default="exhaustive,greedy,optuna")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--val-file", help="calibration problems from a JSONL file instead of the generator")
    ap.add_argument("--test-file", help="held-out problems from a JSONL file instead of the generator")
    ap.add_argument("--cache", default=str(DEFAULT_CACHE), help=f"cache folder (default {DEFAULT_CACHE})")
    ap.add_argument("--recalibrate", action="store_true", help="ignore a cached calibration")
    ap.add_argument("--json", help="also write all rows here")
    ap.add_argument("--speed-factors", choices=("on", "off"), default="on",
                    help="off: analyse as if the calibration had not measured the machine's speed spread "
                         "(hardware.speed_factors), e.g. to compare on a cached run")
    a = ap.parse_args(argv)

    from planner.demo import closed_loop as CL
    from planner import validate as V
    from planner.profile import load_profile

    n_vals = [int(x) for x in (a.n_values or ("1,4,16" if a.quick else "1,2,4,8,16")).split(",")]
    k_vals = [int(x) for x in (a.k_values or ("0,2" if a.quick else "0,2,4")).split(",")]
    P = a.problems or (24 if a.quick else 120)
    C = a.cal_problems or (16 if a.quick else 80)
    world = CL.miniworld(a.weights, threads=a.threads)
    log = CL.stderr_log
    t0 = time.perf_counter()
    backend = CL.load_backend(world, max(k_vals), log)
    cal_probs = CL.problems(C, "val", file=a.val_file)
    cal_dir = Path(a.cache) / f"cal-{world.tag(problems=[p.question for p in cal_probs], samples=a.samples, ks=k_vals)}"
    prof_path = cal_dir / "profile.json"
    probs = CL.problems(P, "test", file=a.test_file)
    configs = [V.Config("majority", n, k, "grid") for k in sorted(set(k_vals)) for n in sorted(set(n_vals))]
    cache = Path(a.cache) / "sweeps.jsonl"
    tag = world.tag(problems=[p.question for p in probs], cal=cal_dir.name, interleaved=True)
    measured = CL.cached_sweep(cache, tag, P)
    if a.recalibrate or not prof_path.is_file() or any(c.key not in measured for c in configs):
        log(f"calibrating on {C} val problems x {a.samples} samples, interleaved with {len(configs)} configurations "
            f"x {P} held-out problems ...")
        prof_path, measured = CL.calibrate_and_sweep(world, backend, cal_probs, probs, configs, cal_dir, a.samples,
                                                     tuple(k_vals), cache, tag, log)
    else:
        log(f"using cached calibration {prof_path} and sweep")
    measured = {c.key: measured[c.key] for c in configs}
    profile = load_profile(str(prof_path))
    if a.speed_factors == "off":
        profile = replace(profile, hardware=replace(profile.hardware, speed_factors=None))
    t_all = time.perf_counter() - t0

    # 1. fidelity of every configuration with no deadline
    rows = []
    for c in configs:
        pred = V.predict(profile, None, a.quantile, c)
        m = V.summarize(measured[c.key], None)
        e = V.compare(c, pred, m).errors
        rows.append([c.branches, c.draft_len, f"{pred['latency_s']['mean']:.3f} / {m['latency_s']['mean']:.3f}",
                     f"{e['latency_mean_pct']:+.0f}%", f"{pred['latency_s']['p90']:.3f} / {m['latency_s']['p90']:.3f}",
                     f"{e['latency_p90_pct']:+.0f}%", f"{pct(pred['accuracy'])} / {pct(m['accuracy'])}",
                     f"{e['accuracy_pp']:+.1f}"])
    table(f"Predicted vs measured, no deadline ({P} held-out problems, profile {profile.id})",
          ["N", "K", "mean s pred/meas", "err", "p90 s pred/meas", "err", "accuracy % pred/meas", "err pp"], rows)

    # 1b. each request against the model given its own branch lengths: the machine's spread, not the lengths'
    from bench.request import predict_request

    bare = replace(profile, hardware=replace(profile.hardware, speed_factors=None))
    rows = []
    for c in configs:
        r = np.array([rec["latency_s"] / predict_request(bare, [b["num_tokens"] for b in rec["branches"]],
                                                          c.draft_len) for rec in measured[c.key]])
        rows.append([c.branches, c.draft_len, *(f"{x:.2f}" for x in np.quantile(r, (0.1, 0.5, 0.9)))])
    factors = profile.hardware.speed_factors
    table("Each request's time / the model's time for its own branch lengths (no speed factors); the calibration's "
          f"speed factors: {', '.join(f'{f:.2f}' for f in factors) if factors else 'none'}",
          ["N", "K", "p10", "median", "p90"], rows)

    # 2. regret per deadline and strategy
    deadlines = CL.deadlines_between(measured, a.deadlines)
    strategies = tuple(a.strategies.split(","))
    res = CL.regret_rows(profile, configs, measured, deadlines, a.quantile, strategies)
    table(f"Recommendations under a deadline (requested p{a.quantile * 100:g}; best = most accurate configuration "
          f"whose measured hit rate >= {a.quantile:.0%})",
          ["deadline s", "strategy", "pick", "acc % pred / meas", "hit % pred / meas ± SE", "best (meas)",
           "best acc %", "regret pp ± SE", "best-any acc %", "regret-any pp"],
          [[f"{r['deadline_s']:.3f}", r["strategy"], r["pick"] or "none feasible",
            f"{pct(r['predicted_accuracy'])} / {pct(r['accuracy'])}", hit_cell(r, P), r["best"] or "-",
            pct(r["best_accuracy"]), pct(r["regret"], "+.1f") + (f" ± {pct(r['regret_se'], '.1f')}"
                                                                  if r.get("regret_se") is not None else ""),
            pct(r["best_any_accuracy"]),
            pct(r["regret_any"], "+.1f")] for r in res])

    # 3. targets
    summary = []
    for s in strategies:
        mine = [r for r in res if r["strategy"] == s]
        reg = [r["regret"] for r in mine if r["regret"] is not None]
        hits = [r["hit_rate"] for r in mine if r["hit_rate"] is not None]
        summary.append([s, pct(statistics.fmean(reg), "+.1f") if reg else "-", pct(max(reg), "+.1f") if reg else "-",
                        sum(x <= 0.02 + 1e-9 for x in reg),
                        pct(statistics.fmean(r["accuracy"] for r in mine)), pct(min(hits), ".0f") if hits else "-",
                        sum(h >= a.quantile - 0.02 for h in hits), len(mine)])
    table("Summary over deadlines", ["strategy", "mean regret pp", "max regret pp", "regret <= 2 pp", "mean accuracy %",
                                     "min hit %", "deadlines with hit >= q-2%", "deadlines"], summary)
    ex = {r["deadline_s"]: r["accuracy"] for r in res if r["strategy"] == "exhaustive"}
    gr = {r["deadline_s"]: r["accuracy"] for r in res if r["strategy"] == "greedy"}
    if ex and gr:
        worse = [d for d in ex if d in gr and ex[d] < gr[d] - 1e-9]
        print(f"\nexhaustive >= greedy (measured) at {len(ex) - len(worse)}/{len(ex)} deadlines"
              + (f"; worse at {worse}" if worse else ""))
    print(f"\ncalibration + sweep {t_all:.0f} s ({C} calibration problems, {len(configs)} configs x {P} problems), "
          f"threads {a.threads}; machine: {os.cpu_count()} CPUs (shared, timings noisy)")
    if a.json:
        Path(a.json).write_text(json.dumps({"deadlines": deadlines, "rows": res}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
