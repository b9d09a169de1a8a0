"""Benchmark of the decoding engine (planner.engine), side by side with HF `generate` in one run.

Tables:
  1. machine: weight bytes, measured streaming bandwidth, bandwidth floor W/BW of one decode step;
  2. step time of the engine's forward vs that floor, at batch B and query width q (what calibration fits);
  3. tokens/s at N = 1, 4, 16 branches: engine vs model.generate(num_return_sequences=N), same prompt,
     same fixed length (EOS ignored in both), sampled at T = 0.7;
  4. speculation K = 0..6 at T = 0 (greedy, N = 1 and N = 4): tokens/s, speed-up vs K = 0, acceptance α, for
     drafters that accept well (n-gram prompt lookup on a copying task; the target itself) and a layer-
     truncated self-draft.

Targets (issue 4): ≥ 1.0x HF generate at K = 0; ≥ 1.3x with a draft whose acceptance ≥ 0.7.
Run: `python bench/executor.py [--model smollm2-135m] [--dtype auto|bf16|fp32] [--threads 1] [--quick]`.
Timings are best of --repeats runs, engine and HF interleaved (on a shared machine best-of filters out other
jobs' bursts, interleaving gives both the same background load).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

COPY_TEXT = ("The quick brown fox jumps over the lazy dog. A journey of a thousand miles begins with a single "
             "step. All that glitters is not gold. Actions speak louder than words. Where there is a will, "
             "there is a way. Knowledge is power, and time is money.")


def clocked(fn):
    """(wall seconds, CPU seconds of this process, result). With one torch thread, CPU time is what the run
    itself consumed; unlike wall time it hardly moves when other jobs share the cores."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, out


def best_time(fn, repeats):
    wall, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeats):
        w, c, out = clocked(fn)
        wall, cpu = min(wall, w), min(cpu, c)
    return wall, cpu, out


def table(title, header, rows):
    print(f"\n## {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")


def load(args):
    from planner.engine.models import LoadedModel, load_model

    if args.quick:  # tiny random model: checks that the script runs, numbers mean nothing
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
        from conftest import make_char_tokenizer, make_tiny_qwen2

        tok = make_char_tokenizer()
        return LoadedModel(make_tiny_qwen2(0, 4, vocab=len(tok), hidden=64), tok, "tiny-qwen2", "random", "cpu",
                           "fp32", 0.0)
    return load_model(args.model, args.device, args.dtype)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--tokens", type=int, default=48, help="new tokens per branch")
    ap.add_argument("--repeats", type=int, default=2, help="best-of repeats for tables 2-3")
    ap.add_argument("--spec-repeats", type=int, default=1, help="best-of repeats for table 4")
    ap.add_argument("--quick", action="store_true", help="tiny random model, smoke test only")
    args = ap.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from planner.engine.decode import Engine
    from planner.engine.drafters import ModelDrafter, NgramDrafter
    from planner.engine.models import truncated_copy
    from planner.engine.timing import measure_bandwidth, measure_step, weight_bytes

    lm = load(args)
    model, tok, dev = lm.model, lm.tokenizer, lm.device
    W = weight_bytes(model)
    bw = measure_bandwidth(dev, 256 if not args.quick else 16)
    floor = W / bw
    print(f"# bench/executor.py — {lm.name} ({lm.num_params / 1e6:.0f}M params, {lm.dtype}) on {dev}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, best of {args.repeats}")
    table("1. machine", ["weight bytes", "bandwidth (GB/s)", "floor W/BW (ms)"],
          [[f"{W / 1e6:.0f} MB", f"{bw / 1e9:.1f}", f"{floor * 1e3:.1f}"]])

    rows = []
    for B, q in [(1, 1), (4, 1), (16, 1), (1, 4), (1, 7), (4, 7)]:
        r = measure_step(model, B, q, 128, dev, repeats=max(3, args.repeats))
        rows.append([B, q, 128, f"{r['min_s'] * 1e3:.1f}", f"{r['min_s'] / floor:.2f}x"])
    table("2. engine forward vs bandwidth floor (context 128)", ["B", "q", "L", "step ms", "vs floor"], rows)

    engine = Engine(model, tok, eos_token_ids=[])
    prompt = engine.encode_chat("Explain why the sky is blue.")
    M = args.tokens
    rows = []
    for N in (1, 4, 16):
        ids = torch.tensor([prompt], device=dev)

        def hf():
            with torch.inference_mode():
                return model.generate(ids, do_sample=True, temperature=0.7, top_p=1.0, top_k=0, max_new_tokens=M,
                                      min_new_tokens=M, num_return_sequences=N, pad_token_id=0)

        e_w = e_c = h_w = h_c = float("inf")
        for _ in range(args.repeats):  # interleaved, so both see the same background load
            w, c, g = clocked(lambda: engine.generate(prompt, N, temperature=0.7, max_new_tokens=M, seed=1))
            e_w, e_c = min(e_w, w), min(e_c, c)
            w, c, out = clocked(hf)
            h_w, h_c = min(h_w, w), min(h_c, c)
        assert out.shape == (N, len(prompt) + M) and g.generated_tokens == N * M
        rows.append([N, f"{N * M / h_w:.1f}", f"{N * M / e_w:.1f}", f"{h_w / e_w:.2f}x", f"{N * M / h_c:.1f}",
                     f"{N * M / e_c:.1f}", f"{h_c / e_c:.2f}x"])
    table(f"3. tokens/s, {M} tokens per branch, T=0.7 (wall clock | per CPU second)",
          ["N", "HF wall", "engine wall", "engine/HF wall", "HF cpu", "engine cpu", "engine/HF cpu"], rows)

    copy_prompt = engine.encode_chat(f"Repeat this text exactly, word for word:\n\n{COPY_TEXT}")
    n_layers = len(model.model.layers)
    drafters = [("ngram (prompt lookup), copy task", lambda: NgramDrafter(3), copy_prompt, (1, 4)),
                ("target itself, copy task", lambda: ModelDrafter(model, dev, "self"), copy_prompt, (1,)),
                (f"layers:{n_layers // 2} (first half of target)",
                 lambda: ModelDrafter(truncated_copy(model, n_layers // 2), dev), prompt, (1,))]
    for name, make, p, n_values in drafters:
        for N in n_values:
            rows, base = [], None
            for K in range(0, 7):
                eng = Engine(model, tok, make() if K else None, eos_token_ids=[])
                t, c, g = best_time(lambda: eng.generate(p, N, draft_len=K, max_new_tokens=M), args.spec_repeats)
                tps, cps = N * M / t, N * M / c
                base = base or (tps, cps)
                alpha = g.acceptance_by_position()
                a1 = f"{alpha[0]:.2f}" if alpha and alpha[0] is not None else "-"
                rounds = sum(1 for s in g.steps if s.kind != "prefill")
                rows.append([K, f"{tps:.1f}", f"{tps / base[0]:.2f}x", f"{cps:.1f}", f"{cps / base[1]:.2f}x", a1,
                             f"{g.mean_accepted_per_round():.2f}", rounds])
            table(f"4. speculation, greedy, N={N}, draft: {name}",
                  ["K", "tok/s wall", "vs K=0", "tok/CPU-s", "vs K=0 (cpu)", "α1", "accepted/round", "rounds"], rows)


if __name__ == "__main__":
    main()
