"""`planner validate`: run a plan (and its runners-up, or a small grid) on held-out problems and print the
cost model's prediction next to what was measured, so a user can check the planner on their own machine."""

from __future__ import annotations

import contextlib
import json
import sys

RAW_TEMPLATES = {"raw": "{question}"}


def register(sub) -> None:
    from planner.commands import types as T
    from planner.executor.setup import add_backend_args

    p = sub.add_parser("validate", help="predicted vs measured latency, accuracy and deadline-hit rate",
                       description="Run configurations with the executor on a held-out problem set and compare "
                                   "with the cost model's predictions. The deadline outcome is read from the "
                                   "branch finish times of one untruncated run (see docs/validation.md).")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--plan", help="plan JSON (tts-plan/1) written by `planner recommend -o`")
    src.add_argument("--deadline", "-d", help="deadline to recommend for and validate at (with --profile)")
    p.add_argument("--profile", "-p", metavar="NAME|PATH", help="profile for the predictions (required without "
                   "--plan; with --plan, predictions are recomputed from it instead of read from the plan)")
    p.add_argument("--quantile", "-q", type=T.quantile(), help="latency quantile (default: the plan's, else 0.9)")
    p.add_argument("--configs", choices=("top", "all"), default="top",
                   help="top: the plan and up to 3 runners-up; all: the grid --n-values x --k-values")
    p.add_argument("--n-values", default="1,2,4,8,16", help="branches of the `all` grid (default 1,2,4,8,16)")
    p.add_argument("--k-values", default="0,2,4", help="draft lengths of the `all` grid (default 0,2,4; only 0 "
                   "when the profile has no drafter)")
    p.add_argument("--method", "-m", default="majority", help="voting method of the `all` grid")
    p.add_argument("--max-branches", type=T.branches("--max-branches"), default=256,
                   help="largest N the recommendation (--deadline with "
                        "--configs top) may choose: keep it to what you can afford to run (default 256)")
    p.add_argument("--max-draft-len", type=T.draft_len("--max-draft-len"), default=8,
                   help="largest K the recommendation may choose (default 8)")
    p.add_argument("--dataset", required=True, help="held-out problems: math500 or a JSONL file")
    p.add_argument("--limit", type=T.count("--limit", 1, 10**7), help="first K problems")
    p.add_argument("--template", default=None, help="prompt template with {question}; 'raw' = the question "
                   "alone (default: the MATH 'reason step by step ... \\boxed{}' wording)")
    p.add_argument("--temperature", "-t", type=T.flag_number("--temperature", lo=0.0, hi=5.0),
                   help="sampling temperature (default: plan/profile)")
    p.add_argument("--enforce-deadline", action="store_true", help="pass the deadline to the executor (latencies "
                   "are then cut at it) instead of reading the outcome from untruncated runs")
    p.add_argument("--horizon", type=T.flag_number("--horizon", lo=1.0, hi=1000.0), default=3.0,
                   help="untruncated runs still stop at this many deadlines "
                        "(default 3)")
    p.add_argument("--early-stop", action="store_true", help="stop a problem once its vote is decided (faster; "
                   "the model does not predict that saving)")
    p.add_argument("--records", metavar="FILE", help="also write every problem's record (JSONL; streamed to "
                   "FILE.partial as problems finish, renamed to FILE at the end)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted --records run: skip the "
                   "(configuration, problem) pairs FILE.partial (or FILE) already holds")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_backend_args(p)
    p.set_defaults(func=run)


def _stream(args, problems, n_configs: int):
    """The --records stream (None without it); records are keyed by configuration and problem id."""
    if args.records is None:
        return None
    from planner.errors import PlannerError
    from planner.executor.results import ResultStream

    if args.resume and len({p.problem_id for p in problems}) < len(problems):
        raise PlannerError("dataset has problems sharing an id: --resume needs unique ids")
    return ResultStream(args.records, key=lambda r: f"{r.get('config')}\t{r.get('problem_id')}",
                        resume=args.resume, command="validate", flag="--records",
                        unit=f"runs (configuration x problem, {n_configs} configurations)")


def _ints(text: str, what: str, lo: int, hi: int) -> list[int]:
    from planner.errors import PlannerError

    parts = [x.strip() for x in text.split(",") if x.strip()]
    if not text.isascii() or len(parts) > 64 or not all(x.lstrip("+-").isdigit() and len(x) < 20 for x in parts):
        raise PlannerError(f"{what} must be comma-separated integers, got {text[:60]!r}") from None
    vals = [int(x) for x in parts]
    if not vals or min(vals) < lo or max(vals) > hi:
        raise PlannerError(f"{what} must be integers in {lo}..{hi}, got {text[:60]!r}")
    return vals


def _draft_spec(args, plan, profile) -> str | None:
    if args.draft is not None:
        return args.draft
    if plan is not None and plan.speculative.get("method") == "ngram":
        return f"ngram:{plan.speculative.get('ngram_max', 4)}"
    if plan is not None and plan.speculative.get("draft_model") and plan.speculative.get("method") == "draft_model":
        return plan.speculative["draft_model"]  # a head's checkpoint (eagle/eagle3/mtp) only runs server-side
    if profile is not None and profile.draft.kind == "ngram":
        return "ngram"
    if profile is not None and profile.draft.kind == "model":  # runners-up may speculate when the plan does not
        return (profile.draft.arch.hf_id if profile.draft.arch else None) or profile.draft.name
    # A plan that chose K = 0 still carries its profile's provenance: the drafter the profile was calibrated
    # with (`planner calibrate --draft ngram|layers:N|PATH`), which its runners-up with K > 0 assume.
    prov = ((plan.profile or {}).get("provenance") or {}) if plan is not None else {}
    spec = prov.get("draft") if isinstance(prov, dict) else None
    if isinstance(spec, str) and spec.strip() and spec.strip() != "none":
        return spec.strip()
    return None


def _at_prompt_length(backend, problems, template, plan, profile, pairs, deadline, quantile, backend_name, log):
    """The problems' prompt length (the prediction depends on it): with a profile, every prediction is
    recomputed at it; without one, a plan predicted for another length gets a note. Returns (pairs, length)."""
    from planner import validate as V
    from planner.api import with_prompt_tokens
    from planner.executor.datasets import format_prompt
    from planner.workload import backend_note, length_note, prompt_length

    pl = prompt_length(backend, [format_prompt(p.question, template) for p in problems])
    if profile is not None:
        log(f"planner validate: prompt length: {pl.describe()}; predictions use it (the profile's: "
            f"{profile.prompt_tokens})")
        at = with_prompt_tokens(profile, pl.tokens)
        pairs = [(c, V.predict(at, deadline, quantile, c)) for c, _ in pairs]
    else:
        log(f"planner validate: prompt length: {pl.describe()}")
        note = length_note((plan.predicted or {}).get("prompt_tokens"), pl, "validate")
        if note:
            log(f"planner validate: note: {note}")
    note = backend_note(plan, backend_name)
    if note:
        log(f"planner validate: note: {note}")
    return pairs, pl


def run(args) -> int:
    from planner.errors import PlannerError
    from planner.executor.datasets import MATH_PROMPT
    from planner.plan import METHODS, load_plan
    from planner.profile import load_profile
    from planner.units import parse_duration
    from planner import validate as V

    if args.resume and args.records is None:
        raise PlannerError("--resume needs --records FILE (the records to continue)")
    if args.records is not None:  # a bad path fails here, before minutes of measuring
        from planner.executor.results import check_output

        check_output(args.records, "--records")
    plan = load_plan(args.plan) if args.plan else None
    if plan is None and not args.profile:
        raise PlannerError("--deadline needs --profile (the profile to recommend from and predict with)")
    profile = load_profile(args.profile) if args.profile else None
    quantile = args.quantile if args.quantile is not None else (plan.quantile if plan else 0.9)
    if not 0.0 < quantile < 1.0:
        raise PlannerError(f"--quantile must be in (0, 1), got {quantile}")
    if args.limit is not None and args.limit < 1:
        raise PlannerError("--limit must be >= 1")
    if args.horizon < 1:
        raise PlannerError(f"--horizon must be >= 1 (deadlines), got {args.horizon}")
    if args.method not in METHODS:
        raise PlannerError(f"unknown method {args.method!r}; choose from {', '.join(METHODS)}")
    template = RAW_TEMPLATES.get(args.template, args.template) if args.template else MATH_PROMPT
    if "{question}" not in template:
        raise PlannerError("--template must contain {question} (or be 'raw')")
    from planner.plan import MAX_BRANCHES, MAX_DRAFT_LEN

    n_grid = _ints(args.n_values, "--n-values", 1, MAX_BRANCHES)
    k_grid = _ints(args.k_values, "--k-values", 0, MAX_DRAFT_LEN)
    deadline = plan.deadline_s if plan is not None else parse_duration(args.deadline)

    if plan is None:
        from planner.api import recommend

        if not 1 <= args.max_branches <= 4096 or not 0 <= args.max_draft_len <= 16:
            raise PlannerError("--max-branches must be in 1..4096 and --max-draft-len in 0..16")
        plan = recommend([profile], deadline, quantile, max_branches=args.max_branches,
                         max_draft_len=args.max_draft_len)
    if args.model is None:
        from planner.executor.backends import model_for_plan

        args.model = model_for_plan(plan.model, args.backend)
    if args.backend == "local":
        from planner.executor.backends import require_local_engine

        require_local_engine(args.model, "validate")
    if args.configs == "top":
        pairs = V.plan_configs(plan)
        if profile is not None:
            pairs = [(c, V.predict(profile, deadline, quantile, c)) for c, _ in pairs]
    else:
        if profile is None:
            raise PlannerError("--configs all needs --profile (predictions for the grid)")
        pairs = [(c, V.predict(profile, deadline, quantile, c))
                 for c in V.grid_configs(profile, n_grid, k_grid, args.method)]

    from planner.executor.datasets import load_problems
    from planner.executor.scorers import scorer_for
    from planner.executor.setup import make_backend

    problems = load_problems(args.dataset, args.limit)
    stream = _stream(args, problems, len(pairs))
    methods = {c.method for c, _ in pairs}
    scorer, scorer_notes = scorer_for(args.scorer, plan.scorer, methods, plan_path=args.plan, device=args.device,
                                      command="validate")
    sampling = plan.sampling or {}
    temperature = args.temperature if args.temperature is not None else float(
        sampling.get("temperature", profile.temperature if profile else 0.7))
    top_p = args.top_p or float(sampling.get("top_p", 1.0))
    max_tokens = args.max_tokens or int(sampling.get("max_tokens") or 1024)
    draft = _draft_spec(args, plan, profile)
    log = (lambda m: None) if args.json else (lambda m: print(m, file=sys.stderr))  # noqa: E731
    if draft is None and args.backend == "local" and len(pairs) > 1:
        skipped = [c.key for c, _ in pairs[1:] if c.draft_len > 0]
        pairs = [pairs[0]] + [(c, p) for c, p in pairs[1:] if c.draft_len == 0]
        if skipped:
            log("planner validate: note: the plan's profile names no drafter (pass --draft SPEC or --profile); "
                f"skipping {', '.join(skipped)}")
    k_max = max(c.draft_len for c, _ in pairs)
    from planner.executor.setup import adopt_plan_settings

    for n in scorer_notes + adopt_plan_settings(args, plan):
        log(f"planner validate: note: {n}")
    backend, desc = make_backend(args, draft, k_max, temperature, top_p, max_tokens,
                                 bool(scorer and scorer.needs_logprobs), log, layout=plan.layout)
    if args.backend == "openai" and len({c.draft_len for c, _ in pairs}) > 1:
        raise PlannerError("the openai backend's draft length is the server's: validate one K at a time "
                           "(--k-values K with --configs all)")
    pairs, prompt_len = _at_prompt_length(backend, problems, template, plan, profile, pairs, deadline, quantile,
                                          args.backend, log)
    run_deadline = deadline if args.enforce_deadline else (args.horizon * deadline if deadline else None)
    rows = []
    with stream.guard(len(pairs) * len(problems)) if stream is not None else contextlib.nullcontext():
        for cfg, pred in pairs:
            key = cfg.key
            done = {p.problem_id: stream.done[f"{key}\t{p.problem_id}"] for p in problems
                    if stream is not None and stream.has(f"{key}\t{p.problem_id}")}
            log(f"measuring {cfg.label or 'grid'} {key} on {len(problems) - len(done)} problems"
                + (f" ({len(done)} resumed)" if done else ""))
            on_rec = (lambda r, key=key: stream.append({"config": key, **r})) if stream is not None else None
            new = V.measure(backend, problems, cfg, run_deadline, template, args.seed, scorer, args.early_stop,
                            progress=not (args.quiet or args.json), skip=frozenset(done), on_record=on_rec)
            fresh = iter(new)
            recs = [({k: v for k, v in done[p.problem_id].items() if k != "config"} if p.problem_id in done
                     else next(fresh)) for p in problems]
            meas = V.summarize(recs, deadline, cfg.method, horizon=None if args.enforce_deadline else args.horizon)
            rows.append(V.compare(cfg, pred, meas))
        if stream is not None:
            stream.finish()
    if args.json:
        print(json.dumps({"deadline_s": deadline, "quantile": quantile, "dataset": args.dataset,
                          "problems": len(problems), "prompt_tokens": round(prompt_len.mean, 1), "backend": desc,
                          "enforced": args.enforce_deadline,
                          "rows": [r.to_dict() for r in rows]}, indent=2))
    else:
        print(V.format_table(rows, deadline, quantile))
    return 0
