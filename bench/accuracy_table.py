"""Benchmark: cold wall and CPU time of AccuracyModel.table(method, n_max=256, 60 finish quantiles) for the
parametric model and for a sample bank (default: the shared 100-problem Qwen2.5-Math bank), plus the
no-cut accuracy at a few N. Each repeat builds a fresh model (and clears the module caches) so it is cold.

    python bench/accuracy_table.py [--bank PATH --format qwen-math|tts-bank] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from planner.accuracy import bootstrap, estimators, parametric
from planner.accuracy.bank import load_bank
from planner.accuracy.model import BankAccuracyModel, ParametricAccuracyModel

DEFAULT_BANK = Path(__file__).resolve().parents[2] / "shared/data/samples/qwen25math_math_cot_100.jsonl"
FQ = np.linspace(0.0, 1.0, 60)


def _clear():
    for fn in (estimators.majority_curve, estimators.hypergeom_mix, bootstrap.boot_majority_curve,
               bootstrap.binom_mix, parametric.majority_curve, parametric._win_given_x0):
        fn.cache_clear()


def _time(make, method, repeats):
    wall, cpu = [], []
    for _ in range(repeats):
        _clear()
        model = make()
        t, c = time.perf_counter(), time.process_time()
        acc, _ = model.table(method, 256, FQ)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall) * 1e3, statistics.median(cpu) * 1e3, acc[-1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bank", default=str(DEFAULT_BANK))
    ap.add_argument("--format", default="qwen-math")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rows = [("parametric a=2 b=0.8 rho=0.5", "majority", lambda: ParametricAccuracyModel(2.0, 0.8, 0.5))]
    if Path(args.bank).is_file():
        bank = load_bank(args.bank, args.format)
        label = f"bank {bank.num_problems}x{int(bank.sizes.max())}"
        for m in ("majority", "best_of_n", "weighted_majority", "pass"):
            rows.append((label, m, lambda: BankAccuracyModel(bank)))
    else:
        print(f"(no bank at {args.bank}: parametric only)")
    cols = (1, 2, 4, 8, 9, 64, 256)
    print(f"{'model':30s} {'method':18s} {'wall ms':>8s} {'cpu ms':>8s}  " + " ".join(f"N={n:<4d}" for n in cols))
    for label, method, make in rows:
        wall, cpu, acc = _time(make, method, args.repeats)
        print(f"{label:30s} {method:18s} {wall:8.1f} {cpu:8.1f}  " + " ".join(f"{acc[n - 1]:.4f}" for n in cols))


if __name__ == "__main__":
    main()
