"""How much of the generation-length variance is shared by the branches of one problem (lengths.between_share).

    python bench/length_correlation.py                                   # the shared Qwen2.5-Math MATH bank
    python bench/length_correlation.py --bank my.bank.jsonl --format tts-bank

Prints, per bank, the estimate the calibration stores (planner.calibrate.lengths.between_share: one-way random-effects
ANOVA on normal scores) and the plain log-length variance split, plus what the latency model makes of it: the
p90 request latency of N = 16 branches with and without the correlation on a compute-bound (CPU-like) and a
memory-bound (GPU-like) step, so the size of the effect is visible, not just the coefficient."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from planner.calibrate.lengths import between_share  # noqa: E402
from planner.accuracy.bank import load_bank  # noqa: E402
from planner.model.latency import latency_grid  # noqa: E402
from planner.profile import load_profile  # noqa: E402
from planner.profile.schema import StepCoeffs  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "samples" / "qwen25math_math_cot_100.jsonl"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bank", default=str(SHARED))
    ap.add_argument("--format", default="qwen-math", help="tts-bank or qwen-math")
    a = ap.parse_args()
    bank = load_bank(a.bank, a.format)
    groups = [[s.num_tokens for s in p.samples] for p in bank.problems()]
    groups = [g for g in groups if len(g) >= 2]
    logs = [np.log(np.maximum(g, 1)) for g in groups]
    within = float(np.mean([np.var(g, ddof=1) for g in logs]))
    total = float(np.var(np.concatenate(logs)))
    rho = between_share(groups)
    print(f"bank {a.bank} ({bank.meta.get('format')}, tokens estimated: {bank.meta.get('num_tokens_estimated')})")
    print(f"{len(groups)} problems x ~{np.mean([len(g) for g in groups]):.1f} samples; "
          f"var(log length) total {total:.3f}, within problems {within:.3f}")
    print(f"between_share (normal scores, random-effects ANOVA): {rho}")
    base = load_profile("h100-sxm-qwen2.5-7b")
    steps = {"memory-bound (H100 7B profile)": base.step,
             "compute-bound (step ~ batch)": StepCoeffs(t0_s=0.002, weight_bw_GBps=1e5, kv_bw_GBps=1e5, tflops=0.4)}
    print(f"\n| step | N | p90 s independent | p90 s with between_share {rho} | change |")
    print("|---|---|---|---|---|")
    for name, st in steps.items():
        for N in (1, 16):
            p0 = replace(base, step=st, lengths=replace(base.lengths, between_share=None))
            p1 = replace(p0, lengths=replace(base.lengths, between_share=rho or None))
            q0, q1 = (float(latency_grid(p, [N], [0]).q[0.9][0, 0]) for p in (p0, p1))
            print(f"| {name} | {N} | {q0:.2f} | {q1:.2f} | {100 * (q1 / q0 - 1):+.0f} % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
