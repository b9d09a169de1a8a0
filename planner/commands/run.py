"""`planner run`: execute a plan (or an explicit N/K configuration) on a prompt or a dataset, for real.

Each problem: N branches under the deadline → answers → vote → one record (answer, correctness, per-branch
answers and token counts, latency, cut branches, and the plan's prediction). A plan made for another model
or hardware can be run with overrides; the run then says so, on stderr and in every record."""

from __future__ import annotations

import json
import sys


def register(sub) -> None:
    from planner.commands import types as T
    from planner.executor.setup import add_backend_args

    p = sub.add_parser("run", help="run a plan (or N branches x K draft tokens) on a prompt or a dataset")
    p.add_argument("--plan", help="plan JSON written by `planner recommend -o`")
    p.add_argument("--profile", help="refuse a plan computed from another profile id")
    p.add_argument("--branches", "-n", type=T.branches(), help="parallel branches N (overrides the plan)")
    p.add_argument("--draft-len", "-k", type=T.draft_len(), help="speculative draft length K (overrides the plan)")
    p.add_argument("--temperature", "-t", type=T.flag_number("--temperature", lo=0.0, hi=5.0),
                   help="sampling temperature (default: plan, else 0.7)")
    p.add_argument("--method", "-m", help="majority | weighted_majority | best_of_n (default: plan, else majority)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--prompt", help="one question")
    src.add_argument("--dataset", help="math500 or a JSONL file (problem/question, answer, id)")
    p.add_argument("--limit", type=T.count("--limit", 1, 10**7), help="first K problems of the dataset")
    p.add_argument("--deadline", "-d", help="wall-clock budget per problem, e.g. 30s (default: plan's)")
    p.add_argument("--no-deadline", action="store_true", help="ignore the plan's deadline")
    p.add_argument("--no-early-stop", action="store_true", help="keep decoding after the vote is decided")
    p.add_argument("--out", "-o", help="write one JSON record per problem (JSONL), streamed to FILE.partial as "
                   "problems finish and renamed to FILE at the end")
    p.add_argument("--resume", action="store_true", help="continue an interrupted --out run: skip the problems "
                   "FILE.partial (or FILE) already holds")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_backend_args(p)
    p.set_defaults(func=run)


def _config(args, plan):
    """Settings from the plan, overridden by flags; returns (settings dict, notes about overrides)."""
    from planner.errors import PlannerError
    from planner.units import parse_duration

    notes = []
    cfg = {"branches": 1, "draft_len": 0, "method": "majority", "temperature": 0.7, "top_p": 1.0,
           "max_tokens": 1024, "deadline_s": None, "draft": args.draft}
    if plan is not None:
        spec = plan.speculative
        cfg.update(branches=plan.branches, draft_len=plan.draft_len, method=plan.method, deadline_s=plan.deadline_s,
                   temperature=float(plan.sampling.get("temperature", 1.0)),
                   top_p=float(plan.sampling.get("top_p", 1.0)),
                   max_tokens=int(plan.sampling.get("max_tokens") or 1024))
        if args.draft is None:
            # a head (eagle/eagle3/mtp) runs server-side only: the local engine gets no drafter (refused below)
            cfg["draft"] = {"ngram": f"ngram:{spec.get('ngram_max', 4)}", "draft_model": spec.get("draft_model"),
                            "none": None}.get(spec["method"])
    for key, val in (("branches", args.branches), ("draft_len", args.draft_len), ("method", args.method),
                     ("temperature", args.temperature), ("top_p", args.top_p), ("max_tokens", args.max_tokens)):
        if val is not None:
            if plan is not None and val != cfg[key]:
                notes.append(f"override: {key} {cfg[key]} -> {val} (plan said {cfg[key]})")
            cfg[key] = val
    if args.no_deadline:
        cfg["deadline_s"] = None
    elif args.deadline:
        new = parse_duration(args.deadline)
        if plan is not None and new != cfg["deadline_s"]:
            notes.append(f"override: deadline {cfg['deadline_s']} s -> {new} s")
        cfg["deadline_s"] = new
    if cfg["branches"] < 1 or cfg["draft_len"] < 0:
        raise PlannerError("need --branches >= 1 and --draft-len >= 0")
    from planner.plan import METHODS

    if cfg["method"] not in METHODS:
        raise PlannerError(f"unknown method {cfg['method']!r}; choose from {', '.join(METHODS)}")
    if plan is not None and args.draft is None and plan.speculative["method"] in ("eagle", "eagle3", "mtp") \
            and args.backend == "local":
        raise PlannerError(f"plan speculative.method {plan.speculative['method']} is a trained head the local engine "
                           "cannot run: serve the plan (`planner export`) and pass --backend openai, or run "
                           "locally with --draft ngram|none")
    if cfg["draft_len"] > 0 and cfg["draft"] in (None, "none") and args.backend == "local":
        raise PlannerError(f"draft length {cfg['draft_len']} needs a drafter: pass --draft ngram, layers:N or a model")
    return cfg, notes


def _plan_mismatch(plan, args, desc) -> list[str]:
    """Notes when the plan was made for another model or hardware than this run uses."""
    notes = []
    want = [x for x in (plan.model.get("hf_id"), plan.model.get("name")) if x]
    have = (args.server_model if args.backend == "openai" else None) or args.model
    norm = lambda s: s.lower().rstrip("/").split("/")[-1]  # noqa: E731
    if want and have and not any(norm(w) == norm(have) or norm(have) in norm(w) or norm(w) in norm(have)
                                 for w in want):
        notes.append(f"plan was made for model {want[0]!r} (profile {plan.profile.get('id')}); running {have!r}: "
                     "its predictions do not apply")
    from planner.workload import backend_note

    notes += [n for n in [backend_note(plan, args.backend)] if n]
    hw = str(plan.hardware.get("name", "")).lower()
    # measured profiles say what they ran on (provenance.device_type); otherwise guess from the name
    on_cpu = plan.hardware.get("device_type", "cpu" if "cpu" in hw else "cuda") == "cpu"
    dev = str(desc.get("device", "")) if args.backend == "local" else ""
    if hw and dev and ((dev == "cpu") != on_cpu):
        notes.append(f"plan was made for hardware {plan.hardware.get('name')!r}; running on {dev}: its latency "
                     "predictions do not apply")
    return notes


def run(args) -> int:
    from planner.errors import PlannerError
    from planner.plan import load_plan

    if args.resume and args.out is None:
        raise PlannerError("--resume needs --out FILE (the results file to continue)")
    if args.out is not None:  # a bad output path fails here, before a model is loaded or a request sent
        from planner.executor.results import check_output

        check_output(args.out)
    plan = load_plan(args.plan) if args.plan else None
    if plan is not None and args.profile and plan.profile.get("id") != args.profile:
        raise PlannerError(f"plan {args.plan} was computed from profile {plan.profile.get('id')!r}, "
                           f"not {args.profile!r}")
    if plan is None and not args.model and args.backend == "local":
        raise PlannerError("give --plan or --model (e.g. --model smollm2-135m)")
    if args.model is None and plan is not None:
        from planner.executor.backends import model_for_plan

        args.model = model_for_plan(plan.model, args.backend)
    if args.backend == "local":
        from planner.executor.backends import require_local_engine

        require_local_engine(args.model, "run")
    cfg, notes = _config(args, plan)
    from planner.executor.datasets import DatasetProblem, load_problems

    problems = [DatasetProblem("prompt", args.prompt)] if args.prompt is not None else \
        load_problems(args.dataset, args.limit)
    if args.limit is not None and args.limit < 1:
        raise PlannerError("--limit must be >= 1")
    stream = None
    if args.out is not None:
        from planner.executor.results import ResultStream

        config = json.loads(json.dumps(cfg))
        stream = ResultStream(args.out, key=lambda r: str(r.get("problem_id")), resume=args.resume, command="run",
                              check=lambda r: _other_settings(r, config))
        _refuse_duplicate_ids(problems, args.resume)
    from planner.executor.answers import Equivalence
    from planner.executor.runner import RunSettings, solve
    from planner.executor.scorers import scorer_for
    from planner.executor.setup import make_backend

    scorer, scorer_notes = scorer_for(args.scorer, plan.scorer if plan else None, {cfg["method"]},
                                      plan_path=args.plan, device=args.device, command="run")
    notes += scorer_notes
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    from planner.executor.setup import adopt_plan_settings

    notes += adopt_plan_settings(args, plan)
    backend, desc = make_backend(args, cfg["draft"], cfg["draft_len"], cfg["temperature"], cfg["top_p"],
                                 cfg["max_tokens"], bool(scorer and scorer.needs_logprobs), log,
                                 layout=plan.layout if plan is not None else None)  # branches per replica
    if plan is not None:
        notes += _plan_mismatch(plan, args, desc)
    notes += _prompt_length(backend, problems, plan, log)
    for n in notes:
        log(f"planner run: note: {n}")
    settings = RunSettings(cfg["branches"], cfg["method"], cfg["deadline_s"], not args.no_early_stop, scorer,
                           seed=args.seed)
    run_info = {"config": {k: v for k, v in cfg.items()}, "backend": desc, "plan": args.plan, "notes": notes,
                "scorer": scorer.spec.to_dict() if scorer is not None else None}
    eq = Equivalence()
    todo = [(i, p) for i, p in enumerate(problems) if stream is None or not stream.has(p.problem_id)]
    if stream is not None and len(todo) < len(problems):
        log(f"planner run: resuming: {len(problems) - len(todo)} of {len(problems)} problems already done")
    records = [] if stream is None else list(stream.records)
    bar = None
    if len(todo) > 1 and not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), file=sys.stderr, unit="problem", dynamic_ncols=True)
    with stream.guard(len(problems)) if stream is not None else _nothing():
        for i, prob in todo:
            rec = solve(prob, backend, settings, eq, plan.predicted if plan else None, index=i)
            rec["run"] = run_info
            records.append(rec)
            if stream is not None:
                stream.append(rec)
            if bar is not None:
                graded = [r["correct"] for r in records if r["correct"] is not None]
                bar.set_postfix(acc=f"{sum(graded) / len(graded):.1%}" if graded else "-",
                                lat=f"{rec['latency_s']:.1f}s")
                bar.update(1)
        if bar is not None:
            bar.close()
        if stream is not None:
            stream.finish()
    wanted = {p.problem_id for p in problems}
    records = [r for r in records if r.get("problem_id") in wanted] or records
    _summary(records, plan, args)
    return 0


def _nothing():
    import contextlib

    return contextlib.nullcontext()


def _other_settings(rec: dict, config: dict) -> str | None:
    """Why a record from an earlier run does not belong to this one (its N, K, method, deadline... differ)."""
    old = (rec.get("run") or {}).get("config") if isinstance(rec.get("run"), dict) else None
    if not isinstance(old, dict):
        return f"problem {rec.get('problem_id')!r} has no run settings (not written by planner run)"
    diff = [f"{k} {old.get(k)!r} -> {v!r}" for k, v in config.items() if old.get(k) != v]
    return f"it was run with other settings ({', '.join(diff)})" if diff else None


def _refuse_duplicate_ids(problems, resume: bool) -> None:
    """Resuming skips problems by id: two problems sharing one would be confused."""
    from planner.errors import PlannerError

    seen = set()
    for p in problems:
        if p.problem_id in seen and resume:
            raise PlannerError(f"dataset has two problems with id {p.problem_id!r}: --resume needs unique ids")
        seen.add(p.problem_id)


def _prompt_length(backend, problems, plan, log) -> list[str]:
    """Say which prompt length these problems have (the latency prediction depends on it) and note a plan
    predicted for another one."""
    from planner.executor.datasets import format_prompt
    from planner.workload import length_note, prompt_length

    pl = prompt_length(backend, [format_prompt(p.question) for p in problems])
    log(f"planner run: prompt length: {pl.describe()}")
    note = length_note((plan.predicted or {}).get("prompt_tokens"), pl, "run") if plan is not None else None
    return [note] if note else []


def quantile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default): over two problems p50 is their mean, not the larger."""
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (pos - lo) * (sorted_values[hi] - sorted_values[lo])


def _summary(records, plan, args) -> None:
    import statistics

    if args.prompt is not None:
        r = records[0]
        print(f"answer: {r['answer']}")
        print(f"votes: {json.dumps(r['votes'])}  ({r['voters']} of {len(r['branches'])} branches voted)")
        print(f"latency: {r['latency_s']:.2f} s, {r['num_tokens']} tokens, cut branches: {r['cut_branches'] or 'none'}")
        return
    lat = sorted(r["latency_s"] for r in records)
    graded = [r["correct"] for r in records if r["correct"] is not None]
    q = lambda p: quantile(lat, p)  # noqa: E731
    line = [f"{len(records)} problems", f"accuracy {sum(graded) / len(graded):.1%}" if graded else "no references",
            f"latency mean {statistics.fmean(lat):.2f} s p50 {q(0.5):.2f} p90 {q(0.9):.2f}",
            f"tokens/problem {statistics.fmean(r['num_tokens'] for r in records):.0f}"]
    if any(r["deadline_s"] for r in records):
        met = sum(r["met_deadline"] for r in records) / len(records)
        cut = sum(len(r["cut_branches"]) for r in records)
        line.append(f"deadline met {met:.0%}, branches cut {cut}")
    print("; ".join(line))
    if plan is not None and plan.predicted:
        p = plan.predicted
        acc = p.get("accuracy")
        lq = p.get("latency_quantile_s")
        print(f"plan predicted: accuracy {acc:.1%}" if acc is not None else "plan predicted: accuracy -",
              f"latency p{plan.quantile * 100:g} {lq:.2f} s" if lq is not None else "")
