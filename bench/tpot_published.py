"""Derived step time / TPOT (`planner predict --tpot`) against published engine figures for the same model and GPU.

Rows: plain-decode TPOT of Llama-3.1-8B-Instruct at batch 1 on H100 under vLLM (vllm#20780: 7.07 ms; vllm PR
#16937, "H100 BS1": 133 tok/s = 7.5 ms), and the SpecDecode-Bench step-time fit for the same pair (vLLM, H100:
5.89 ms + 21.0 us per batched token + 39.3 ns per cached token + 1.21 ms per engine step; docs/sources.md,
"Speculation x batch") at batch 1..128. The derived profile is the datasheet one (`--model-config llama-3.1-8b
--gpu h100-sxm`), nothing fitted to these rows except what docs/sources.md says was fitted on the train split.

    python bench/tpot_published.py [--context 400]
"""

from __future__ import annotations

import argparse

from planner.model.tpot import tpot_rows
from planner.profile.derive import derive_profile
from planner.profile.schema import Profile

PUBLISHED_B1 = [("vllm#20780 (MT-Bench, vLLM V1)", 7.07), ("vllm PR #16937 (H100 BS1, 133 tok/s)", 1000 / 133)]


def specbench_step_ms(batch: int, context: int) -> float:
    """SpecDecode-Bench simulator, class Llama8BH100 (predictor.py): one decode step of `batch` sequences."""
    return 5.89 + 0.0210 * batch + 39.3e-6 * batch * context + 1.21


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--context", type=int, default=400, help="cached tokens per sequence (default 400)")
    args = ap.parse_args(argv)
    p = Profile.from_dict(derive_profile("h100-sxm", "llama-3.1-8b"))
    rows = {r["batch"]: r for r in tpot_rows(p, context=args.context)}
    print(f"Llama-3.1-8B-Instruct on H100 SXM (derived profile {p.id}), {args.context} cached tokens per sequence\n")
    print(f"{'published':42s} {'published ms':>12s} {'derived ms':>10s} {'error':>7s}")
    for name, ms in PUBLISHED_B1:
        d = rows[1]["tpot_ms"]
        print(f"{name:42s} {ms:12.2f} {d:10.2f} {d / ms - 1:+7.1%}")
    for b, r in rows.items():
        ms = specbench_step_ms(b, args.context)
        print(f"{'SpecDecode-Bench step fit, batch ' + str(b):42s} {ms:12.2f} {r['step_ms']:10.2f} "
              f"{r['step_ms'] / ms - 1:+7.1%}")


if __name__ == "__main__":
    main()
