"""`planner eval`: sample M branches per problem and write a sample bank (`tts-bank/1`).

The bank is what the accuracy model reads: per problem, every sample's extracted answer, correctness, token
count and optional score. Measured this way (same prompt, extraction and grading as `planner run`), the
planner's accuracy predictions describe the model you will actually run. No deadline and no early stop here:
a bank must hold unbiased samples of the full length distribution."""

from __future__ import annotations

import sys


def register(sub) -> None:
    from planner.commands import types as T
    from planner.executor.setup import add_backend_args

    p = sub.add_parser("eval", help="sample M answers per problem and write a sample bank (tts-bank/1)")
    p.add_argument("--dataset", required=True, help="math500 or a JSONL file (problem/question, answer, id)")
    p.add_argument("--limit", type=T.count("--limit", 1, 10**7), help="first K problems")
    p.add_argument("--samples", "-M", type=T.count("--samples", 1, T.MAX_BRANCHES), default=8,
                   help="samples per problem (default 8)")
    p.add_argument("--draft-len", "-k", type=T.draft_len(), default=0, help="speculative draft length (speed only)")
    p.add_argument("--temperature", "-t", type=T.flag_number("--temperature", lo=0.0, hi=5.0), default=0.7)
    p.add_argument("--out", "-o", required=True, help="sample bank to write (JSONL; streamed to FILE.partial as "
                   "problems finish, renamed to FILE at the end)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run: skip the problems "
                   "FILE.partial (or FILE) already holds")
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
    from planner.executor.results import ResultStream, check_output

    check_output(args.out)  # before the model loads or a request is sent
    from planner.executor.answers import Equivalence
    from planner.executor.datasets import load_problems
    from planner.executor.runner import RunSettings, bank_entry, solve
    from planner.executor.scorers import make_scorer
    from planner.executor.setup import make_backend

    problems = load_problems(args.dataset, args.limit)
    stream = ResultStream(args.out, key=lambda r: str(r.get("problem_id")), resume=args.resume, command="eval",
                          check=lambda r: _other_samples(r, args.samples))
    if args.resume and len({p.problem_id for p in problems}) < len(problems):
        raise PlannerError("dataset has problems sharing an id: --resume needs unique ids")
    todo = [(i, p) for i, p in enumerate(problems) if not stream.has(p.problem_id)]
    scorer = make_scorer(args.scorer, getattr(args, "device", "cpu"))
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    if len(todo) < len(problems):
        log(f"planner eval: resuming: {len(problems) - len(todo)} of {len(problems)} problems already done")
    backend, _ = make_backend(args, args.draft, args.draft_len, args.temperature, args.top_p or 1.0,
                              args.max_tokens or 1024, bool(scorer and scorer.needs_logprobs), log)
    settings = RunSettings(args.samples, "majority", None, early_stop=False, scorer=scorer, seed=args.seed)
    eq = Equivalence()
    bar = None
    if not args.quiet and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), file=sys.stderr, unit="problem", dynamic_ncols=True)
    with stream.guard(len(problems)):
        for i, prob in todo:
            rec = solve(prob, backend, settings, eq, index=i)
            stream.append({"schema": "tts-bank/1"} | bank_entry(prob, rec)
                          | ({"scorer": scorer.spec.to_dict()} if scorer is not None else {}))  # which scores
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        stream.finish()
    wanted = {p.problem_id for p in problems}
    lines = [r for r in stream.records if r.get("problem_id") in wanted]
    per_sample = [bool(s["correct"]) for r in lines for s in r["samples"]]
    tokens = [s["num_tokens"] for r in lines for s in r["samples"]]
    maj = sum(_majority_correct(r, eq) for r in lines)
    graded = any(p.reference is not None for p in problems)
    print(f"wrote {args.out}: {len(lines)} problems x {args.samples} samples; "
          + (f"accuracy per sample {sum(per_sample) / len(per_sample):.1%}, maj@{args.samples} "
             f"{maj / len(lines):.1%}; " if graded else "no references; ")
          + f"mean {sum(tokens) / len(tokens):.0f} tokens per sample")
    return 0


def _other_samples(line: dict, samples: int) -> str | None:
    got = line.get("samples")
    if not isinstance(got, list):
        return f"problem {line.get('problem_id')!r} is not a tts-bank/1 line"
    return None if len(got) == samples else f"it holds {len(got)} samples per problem, not --samples {samples}"


def _majority_correct(line: dict, eq) -> bool:
    """Whether the majority vote of a bank line's samples is correct (the line keeps answers, not the vote)."""
    from planner.executor.answers import is_correct
    from planner.executor.voting import vote

    v = vote([s.get("answer") for s in line["samples"]], "majority", eq=eq)
    return bool(is_correct(v.answer, line.get("reference"), eq))
