"""`planner recommend --deadline 60s`: the cheapest configuration meeting the deadline whose accuracy is
indistinguishable from the best (planner.api.recommend; the rule is in planner/optimize/select.py)."""

from __future__ import annotations

import json

from planner.commands import model_flags
from planner.commands import types as T
from planner.plan import METHODS


def register(sub) -> None:
    p = sub.add_parser("recommend", help="best test-time-scaling plan under a deadline",
                       description="Search method x branches (1..256) x draft length (0..8) (x answer budget with "
                                   "--budgets); among plans whose "
                                   "latency quantile meets the deadline, print the cheapest whose accuracy is "
                                   "within the tolerance of the best (--objective accuracy: the most accurate).")
    p.add_argument("--deadline", "-d", type=T.duration(),
                   help="wall-clock budget per request, e.g. 60s, 500ms, 1.5m, 2")
    p.add_argument("--profile", "-p", action="append", metavar="NAME|PATH",
                   help="profile name (see `planner profiles`) or JSON path; repeat to choose between models")
    p.add_argument("--quantile", "-q", type=T.quantile(), default=0.9,
                   help="latency quantile that must meet the deadline (default 0.9)")
    p.add_argument("--method", "-m", action="append", type=T.choice("--method", METHODS),
                   help="restrict to method(s): " + ", ".join(METHODS))
    p.add_argument("--target-accuracy", type=T.fraction(), metavar="A",
                   help="instead: the fastest plan reaching accuracy A (0..1)")
    p.add_argument("--max-branches", type=T.branches("--max-branches"), default=256,
                   help="largest N searched (default 256)")
    p.add_argument("--max-draft-len", type=T.draft_len("--max-draft-len"), default=8,
                   help="largest K searched (default 8)")
    p.add_argument("--strategy", default="exhaustive", help="exhaustive (default, exact), greedy (the seed "
                                                              "paper's baseline), optuna (TPE) or optuna-cap (TPE "
                                                              "also tuning a max_tokens cap)")
    p.add_argument("--objective", type=T.choice("--objective", ("cost", "accuracy")), default="cost",
                   help="cost (default): the cheapest plan (device-seconds per request) whose accuracy is within "
                        "the tolerance of the best; accuracy: the most accurate plan")
    p.add_argument("--tolerance", type=T.points(), default=None, metavar="PP",
                   help="accuracy band for --objective cost, in percentage points (default 0.5pp; the band is "
                        "the larger of this and 1 SE of the difference)")
    p.add_argument("--prompt-tokens", type=T.prompt_tokens(), metavar="N",
                   help="prompt length in tokens of your workload (default: the profile's prompt_tokens, the calibration prompts' length); prefill grows with it, per branch on vLLM when the prompt is short")
    p.add_argument("--budgets", metavar="T1,T2,...",
                   help="also search the answer budget (max_tokens per branch), e.g. 512,1024,2048,4096: sequential "
                        "scaling next to N and K; a branch over its budget stops without an answer")
    p.add_argument("--trials", type=T.trials(), default=300, help="optuna trials (default 300)")
    p.add_argument("--seed", type=T.count("--seed", 0), default=0, help="optuna seed (default 0)")
    p.add_argument("--engine", type=T.choice("--engine", ("vllm", "sglang", "trtllm")),
                   help="only plans this serving engine can run (vllm, sglang, trtllm; e.g. vLLM needs draft and "
                        "target vocabularies to match)")
    p.add_argument("--gpus", type=T.count("--gpus", 1), metavar="G",
                   help="GPUs to deploy on: also search the layout, tensor-parallel degree x replicas (a request's "
                        "branches split over the replicas; cost counts every GPU the layout holds)")
    p.add_argument("--nodes", type=T.count("--nodes", 1), metavar="M",
                   help="with --gpus: the GPUs sit in M nodes of G/M each (TP stays within a node unless the "
                        "GPU's inter-node network is known)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON (tts-plan/1)")
    p.add_argument("-o", "--output", metavar="FILE", help="also write the plan JSON to FILE (atomically)")
    T.add_load_flags(p)
    model_flags.add(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from planner import api
    from planner.errors import PlannerError
    from planner.plan import save_plan
    from planner.report import render_plan

    if args.deadline is None and args.target_accuracy is None:
        raise PlannerError("give --deadline (e.g. --deadline 60s) or --target-accuracy")
    _refuse_contradictions(args)
    budgets = None
    if args.budgets is not None:
        from planner.optimize.budget import parse_budgets

        budgets = parse_budgets(args.budgets)
    profiles = [api.load_profile(name) for name in (args.profile or ([] if args.model_config else [None]))]
    if model_flags.given(args):
        profiles.append(model_flags.profile(args))
    plan = api.recommend(profiles, args.deadline, args.quantile, args.method, args.target_accuracy,
                         max_branches=args.max_branches, max_draft_len=args.max_draft_len, strategy=args.strategy,
                         trials=args.trials, seed=args.seed, engine=args.engine, objective=args.objective,
                         tolerance=args.tolerance, prompt_tokens=args.prompt_tokens, budgets=budgets,
                         arrival_rate=args.arrival_rate, concurrency=args.concurrency, gpus=args.gpus,
                         nodes=args.nodes)
    if args.output:
        save_plan(plan, args.output)
    print(json.dumps(plan.to_dict(), indent=2) if args.json else render_plan(plan))
    return 0


def _refuse_contradictions(args) -> None:
    """Flags the chosen rule would silently ignore are refused (issue 17): --tolerance is the band of
    --objective cost; --target-accuracy takes the fastest plan reaching it by an exhaustive search."""
    from planner.errors import PlannerError

    if args.objective == "accuracy" and args.tolerance is not None:
        raise PlannerError("--tolerance and --objective accuracy contradict: the tolerance is the band of "
                           "--objective cost (the most accurate plan has none); drop one of them")
    if args.target_accuracy is not None:
        extra = ([f"--objective {args.objective}"] if args.objective != "cost" else []) + \
            (["--tolerance"] if args.tolerance is not None else []) + \
            ([f"--strategy {args.strategy}"] if args.strategy != "exhaustive" else [])
        if extra:
            raise PlannerError(f"--target-accuracy and {', '.join(extra)} contradict: a target takes the fastest "
                               "plan reaching it (exhaustive search); drop one of them")
