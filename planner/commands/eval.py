"""`planner eval`: sample M branches per problem and write a sample bank (`tts-bank/1`).

The bank is what the accuracy model reads: per problem, every sample's extracted answer, correctness, token
count and optional score. Measured this way (same prompt, extraction and grading as `planner run`), the
planner's accuracy predictions describe the model you will actually run. No deadline and no early stop here:
a bank must hold unbiased samples of the full length distribution."""

from __future__ import annotations

import json
import sys


def register(sub) -> None:
    from planner.executor.setup import add_backend_args

    p = sub.add_parser("eval", help="sample M answers per problem and write a sample bank (tts-bank/1)")
    p.add_argument("--dataset", required=True, help="math500 or a JSONL file (problem/question, answer, id)")
    p.add_argument("--limit", type=int, help="first K problems")
    p.add_argument("--samples", "-M", type=int, default=8, help="samples per problem (default 8)")
    p.add_argument("--draft-len", "-k", type=int, default=0, help="speculative draft length (speed only)")
    p.add_argument("--temperature", "-t", type=float, default=0.7)
    p.add_argument("--out", "-o", required=True, help="sample bank to write (JSONL)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_backend_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from planner.errors import PlannerError

    if args.samples < 1:
        raise PlannerError(f"--samples must be >= 1, got {args.samples}")
    if args.limit is not None and args.limit < 1:
        raise PlannerError("--limit must be >= 1")
    if args.samples > 1 and args.temperature == 0:
        raise PlannerError("--temperature 0 makes all samples identical; use > 0 for a bank")
    from planner.executor.answers import Equivalence
    from planner.executor.datasets import load_problems
    from planner.executor.runner import RunSettings, bank_entry, solve
    from planner.executor.scorers import make_scorer
    from planner.executor.setup import make_backend
    from planner.io import atomic_write_text

    problems = load_problems(args.dataset, args.limit)
    scorer = make_scorer(args.scorer)
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    backend, _ = make_backend(args, args.draft, args.draft_len, args.temperature, args.top_p or 1.0,
                              args.max_tokens or 1024, bool(scorer and scorer.needs_logprobs), log)
    settings = RunSettings(args.samples, "majority", None, early_stop=False, scorer=scorer, seed=args.seed)
    eq = Equivalence()
    lines, maj, per_sample, tokens = [], 0, [], []
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=len(problems), file=sys.stderr, unit="problem", dynamic_ncols=True)
    for i, prob in enumerate(problems):
        rec = solve(prob, backend, settings, eq, index=i)
        entry = bank_entry(prob, rec)
        lines.append(json.dumps({"schema": "tts-bank/1"} | entry) + "\n")
        maj += bool(rec["correct"])
        per_sample += [s["correct"] for s in entry["samples"]]
        tokens += [s["num_tokens"] for s in entry["samples"]]
        if bar is not None:
            bar.set_postfix(pass1=f"{sum(per_sample) / len(per_sample):.1%}")
            bar.update(1)
    if bar is not None:
        bar.close()
    atomic_write_text(args.out, "".join(lines))
    graded = any(p.reference is not None for p in problems)
    print(f"wrote {args.out}: {len(problems)} problems x {args.samples} samples; "
          + (f"accuracy per sample {sum(per_sample) / len(per_sample):.1%}, maj@{args.samples} "
             f"{maj / len(problems):.1%}; " if graded else "no references; ")
          + f"mean {sum(tokens) / len(tokens):.0f} tokens per sample")
    return 0
