"""The decode loop's own time per round, beyond the forward (sampling, acceptance, bookkeeping), at several widths.

The latency model prices a round as the forward plus one constant (`t0` holds the loop overhead calibration
read at one width); this shows how far that constant is from the truth at other widths.

    python bench/loop_overhead.py [--model smollm2-135m] [--dtype bf16] [--threads 1] [--tokens 48]

Prints, per (K, N): median over rounds of wall − forward − draft time, and the median forward, in ms."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--dtype", default="bf16")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tokens", type=int, default=48, help="new tokens per branch (default 48)")
    ap.add_argument("--widths", default="1,4,8,16")
    a = ap.parse_args()

    import torch

    from planner.engine.decode import Engine
    from planner.engine.models import load_model, make_drafter
    from planner.executor.datasets import format_prompt, load_problems

    torch.set_num_threads(a.threads)
    lm = load_model(a.model, "cpu", a.dtype)
    print(f"{'K':>2} {'N':>3} {'loop overhead ms':>17} {'forward ms':>11}")
    for K, drafter in ((0, None), (3, make_drafter("ngram", lm))):
        eng = Engine(lm.model, lm.tokenizer, drafter, "cpu")
        ids = eng.encode_chat(format_prompt(load_problems("math500", 2)[1].question))
        eng.generate(ids, 2, K, 0.7, max_new_tokens=4, seed=0)   # warm-up
        for N in (int(x) for x in a.widths.split(",")):
            steps = eng.generate(ids, N, K, 0.7, max_new_tokens=a.tokens, seed=0).steps[1:]
            over = statistics.median(s.wall_s - s.forward_s - s.draft_s for s in steps)
            fw = statistics.median(s.forward_s for s in steps)
            print(f"{K:2d} {N:3d} {over * 1e3:17.2f} {fw * 1e3:11.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
