"""The decode loop's own time per round, beyond the forward (sampling, acceptance, bookkeeping), at several widths.

The latency model prices a round as the forward plus one constant (`t0` holds the loop overhead calibration
read at one width); this shows how far that constant is from the truth at other widths.

    python bench/loop_overhead.py [--model smollm2-135m] [--dtype bf16] [--threads 1] [--tokens 48]

Prints, per (K, N): median over rounds of wall − forward − draft time, the median forward, and (K = 0) the
calibration timer's forward at the same width and mid-generation context, timed right after: the sweep that
`planner calibrate` fits and the engine that runs plans time the same forward, so the two should agree."""

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

    from planner.calibrate.engine_timer import EngineTimer
    from planner.calibrate.model_arch import arch_from_model
    from planner.engine.decode import Engine
    from planner.engine.models import load_model, make_drafter
    from planner.executor.datasets import format_prompt, load_problems

    torch.set_num_threads(a.threads)
    lm = load_model(a.model, "cpu", a.dtype)
    timer = EngineTimer(lm.model, "cpu", arch_from_model(lm.model, a.model, lm.dtype).kv_bytes_per_token)
    print(f"{'K':>2} {'N':>3} {'loop overhead ms':>17} {'forward ms':>11} {'timer forward ms':>17}")
    for K, drafter in ((0, None), (3, make_drafter("ngram", lm))):
        eng = Engine(lm.model, lm.tokenizer, drafter, "cpu")
        ids = eng.encode_chat(format_prompt(load_problems("math500", 2)[1].question))
        eng.generate(ids, 2, K, 0.7, max_new_tokens=4, seed=0)   # warm-up
        for N in (int(x) for x in a.widths.split(",")):
            steps = eng.generate(ids, N, K, 0.7, max_new_tokens=a.tokens, seed=0).steps[1:]
            over = statistics.median(s.wall_s - s.forward_s - s.draft_s for s in steps)
            fw = statistics.median(s.forward_s for s in steps)
            tf = statistics.median(timer.context(N, len(ids) + a.tokens // 2).time(1, 5, 1)) if K == 0 else None
            print(f"{K:2d} {N:3d} {over * 1e3:17.2f} {fw * 1e3:11.1f} " + (f"{tf * 1e3:17.1f}" if tf else f"{'-':>17}"),
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
