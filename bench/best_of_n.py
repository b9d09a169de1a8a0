"""Best-of-N and weighted voting with the miniature world's reward model vs majority voting: predicted vs measured
accuracy and latency (scoring included), on this machine.

1. calibrate the miniworld (target, K = 0) on `val` problems: closed-loop latency profile (planner/demo/closed_loop);
2. a scored bank: the executor runs N = 16 branches on other `val` problems and the reward model
   (`reward:planner/demo/miniworld/weights/reward?step=min&sep=%3B`, planner/executor/reward_local.py: its head
   read at every line end, the weakest line's logit) scores every answer;
3. the reward model's scoring forward timed on this CPU (`planner calibrate --scorer-model`'s measurement) into
   the profile's `scorer` section, so the cost model charges best-of-N and weighted voting for it;
4. the held-out `test` problems are run by the executor in every (method, N): measured accuracy with its
   standard error, mean/p90 latency of the whole request (generation + scoring), against the planner's
   prediction for the same configuration; best-of-N minus majority with its paired standard error.

    python bench/best_of_n.py            # ~6-9 min on the 2-core VM: 12 + 60 val problems, 80 test problems
    python bench/best_of_n.py --quick    # ~2 min: a smoke run, numbers too noisy to quote
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
REWARD = ROOT / "planner" / "demo" / "miniworld" / "weights" / "reward"
STEPS = "?step=min&sep=%3B"   # read at every line's `;` and the answer's end, the weakest line counts
METHODS = ("majority", "best_of_n", "weighted_majority")


def run_config(backend, probs, method: str, n: int, scorer, eq) -> list[dict]:
    """Every problem of one configuration through the executor (no deadline, no early stop)."""
    from planner import validate as V
    from planner.demo.closed_loop import RAW_TEMPLATE
    from planner.executor.runner import RunSettings, solve

    s = RunSettings(n, method, None, False, scorer if method != "majority" else None, template=RAW_TEMPLATE, seed=0)
    out = []
    for i, p in enumerate(probs):
        rec = solve(p, backend, s, eq, index=i)
        out.append(V.compact(rec) | {"scoring_s": rec.get("scoring_s", 0.0), "correct": bool(rec["correct"])})
    return out


def scored_bank(backend, probs, scorer, eq, samples: int) -> list[dict]:
    from planner.demo.closed_loop import RAW_TEMPLATE
    from planner.executor.runner import RunSettings, bank_entry, solve

    s = RunSettings(samples, "majority", None, False, scorer, template=RAW_TEMPLATE, seed=7)
    return [{"schema": "tts-bank/1", **bank_entry(p, solve(p, backend, s, eq, index=i))} for i, p in enumerate(probs)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cal", type=int, default=12, help="val problems for the latency calibration")
    ap.add_argument("--bank", type=int, default=60, help="val problems for the scored bank (16 samples each)")
    ap.add_argument("--test", type=int, default=80, help="held-out test problems per configuration")
    ap.add_argument("--n", default="4,8", help="branch counts")
    ap.add_argument("--out", default=None, help="directory for the profile, bank and raw records")
    ap.add_argument("--json", help="also write the rows here")
    ap.add_argument("--reward", default=str(REWARD), help="reward model folder (default: the shipped one)")
    a = ap.parse_args(argv)
    if a.quick:
        a.cal, a.bank, a.test = 4, 12, 12
    import numpy as np

    from planner.calibrate.scorer import measure_scorer
    from planner.demo.closed_loop import calibrate_world, load_backend, miniworld, problems
    from planner.executor.answers import Equivalence
    from planner.executor.scorers import make_scorer
    from planner.optimize.evaluate import evaluate
    from planner.profile.schema import Profile

    out = Path(a.out or f"/tmp/best_of_n_{os.getpid()}")
    out.mkdir(parents=True, exist_ok=True)
    ns = [int(x) for x in a.n.split(",")]
    t0 = time.perf_counter()
    world = miniworld()
    backend = load_backend(world, 0, log=lambda m: None)
    val = problems(a.cal + a.bank, "val", seed=3)
    cal_path = calibrate_world(world, backend, val[:a.cal], out / "cal", samples=8, ks=(0,), log=lambda m: None)
    t_cal = time.perf_counter() - t0
    scorer = make_scorer(f"reward:{a.reward}{STEPS}")
    eq = Equivalence()
    bank = scored_bank(backend, val[a.cal:], scorer, eq, 16)
    (out / "scored.bank.jsonl").write_text("".join(json.dumps(r) + "\n" for r in bank))
    t_bank = time.perf_counter() - t0 - t_cal
    d = json.loads(cal_path.read_text())
    d["accuracy"] = {"kind": "bank", "path": "scored.bank.jsonl", "format": "tts-bank",
                     "source": f"executor, {a.bank} val problems x 16, scored by the miniworld reward model"}
    d["scorer"] = measure_scorer(a.reward)
    d["id"] = "miniworld-best-of-n"
    (out / "profile.json").write_text(json.dumps(d, indent=1))
    prof = Profile.from_dict(d, origin=str(out / "profile.json"))
    ev = evaluate(prof, None, 0.9, METHODS, n_values=np.array(ns), k_values_=np.array([0]))
    test = problems(a.test, "test", seed=5)
    rows, recs = [], {}
    for j, n in enumerate(ns):
        for i, m in enumerate(METHODS):
            r = recs[(m, n)] = run_config(backend, test, m, n, scorer, eq)
            lat = np.array([x["latency_s"] for x in r])
            acc = np.array([x["correct"] for x in r], dtype=float)
            c = ev.config(i, 0, j)
            rows.append({"method": m, "N": n, "pred_acc": c["accuracy"], "pred_acc_se": c["accuracy_stderr"],
                         "acc": float(acc.mean()), "acc_se": float(acc.std(ddof=1) / np.sqrt(len(acc))),
                         "pred_mean_s": c["latency_s"]["mean"], "pred_p90_s": c["latency_s"]["p90"],
                         "mean_s": float(lat.mean()), "p90_s": float(np.quantile(lat, 0.9)),
                         "pred_scoring_s": c.get("scoring_s", 0.0),
                         "scoring_s": statistics.fmean(x["scoring_s"] for x in r)})
    print(f"\nminiworld, {a.test} test problems per row; calibration {a.cal} + bank {a.bank} val problems; "
          f"setup {t_cal:.0f} + {t_bank:.0f} s, total {time.perf_counter() - t0:.0f} s")
    pre = d["scorer"]["prefill"]
    print(f"scorer: t = {pre['t0_s'] * 1e3:.2f} ms + {pre['s_per_token'] * 1e6:.2f} us x tokens "
          f"(fit median error {d['scorer']['fit']['median_rel_error']:.0%})\n")
    print("| method | N | accuracy pred | accuracy measured | mean s pred / meas | p90 s pred / meas | "
          "scoring s pred / meas |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['N']} | {100 * r['pred_acc']:.1f} ± {100 * r['pred_acc_se']:.1f} | "
              f"{100 * r['acc']:.1f} ± {100 * r['acc_se']:.1f} | {r['pred_mean_s']:.3f} / {r['mean_s']:.3f} | "
              f"{r['pred_p90_s']:.3f} / {r['p90_s']:.3f} | {r['pred_scoring_s']:.4f} / {r['scoring_s']:.4f} |")
    print("\n| N | best_of_n - majority (measured, paired SE) | weighted - majority |")
    print("|---|---|---|")
    for n in ns:
        base = np.array([x["correct"] for x in recs[("majority", n)]], dtype=float)
        cells = []
        for m in ("best_of_n", "weighted_majority"):
            diff = np.array([x["correct"] for x in recs[(m, n)]], dtype=float) - base
            cells.append(f"{100 * diff.mean():+.1f} ± {100 * diff.std(ddof=1) / np.sqrt(len(diff)):.1f} points")
        print(f"| {n} | {cells[0]} | {cells[1]} |")
    if a.json:
        Path(a.json).write_text(json.dumps({"rows": rows, "scorer": d["scorer"]}, indent=1) + "\n")
    (out / "records.json").write_text(json.dumps({f"{m}/N{n}": r for (m, n), r in recs.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
