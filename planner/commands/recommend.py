"""`planner recommend --deadline 60s`: the most accurate configuration that meets the deadline."""

from __future__ import annotations

import json

from planner.units import parse_duration


def register(sub) -> None:
    p = sub.add_parser("recommend", help="best test-time-scaling plan under a deadline",
                       description="Search method x branches (1..256) x draft length (0..8) and print the most "
                                   "accurate plan whose latency quantile meets the deadline.")
    p.add_argument("--deadline", "-d", help="wall-clock budget per request, e.g. 60s, 500ms, 1.5m, 2")
    p.add_argument("--profile", "-p", action="append", metavar="NAME|PATH",
                   help="profile name (see `planner profiles`) or JSON path; repeat to choose between models")
    p.add_argument("--model-config", metavar="CONFIG_JSON",
                   help="describe a model with no preset by its Hugging Face config.json (use with --gpu)")
    p.add_argument("--gpu", metavar="PRESET", help="GPU preset for --model-config: h100-sxm, h200, h800, "
                                                   "a100-80gb, l40s, rtx4090")
    p.add_argument("--quantile", "-q", type=float, default=0.9, help="latency quantile that must meet the deadline "
                                                                        "(default 0.9)")
    p.add_argument("--method", "-m", action="append", help="restrict to method(s): majority, best_of_n, "
                                                             "weighted_majority")
    p.add_argument("--target-accuracy", type=float, metavar="A",
                   help="instead: the fastest plan reaching accuracy A (0..1)")
    p.add_argument("--max-branches", type=int, default=256, help="largest N searched (default 256)")
    p.add_argument("--max-draft-len", type=int, default=8, help="largest K searched (default 8)")
    p.add_argument("--strategy", default="exhaustive", help="exhaustive (default, exact), greedy (the seed "
                                                              "paper's baseline), optuna (TPE) or optuna-cap (TPE "
                                                              "also tuning a max_tokens cap)")
    p.add_argument("--trials", type=int, default=300, help="optuna trials (default 300)")
    p.add_argument("--seed", type=int, default=0, help="optuna seed (default 0)")
    p.add_argument("--engine", choices=["vllm", "sglang", "trtllm"],
                   help="only plans this serving engine can run (e.g. vLLM needs draft and target vocabularies "
                        "to match)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON (tts-plan/1)")
    p.add_argument("-o", "--output", metavar="FILE", help="also write the plan JSON to FILE (atomically)")
    p.set_defaults(func=run)


def run(args) -> int:
    from planner.errors import PlannerError
    from planner.plan import METHODS, save_plan
    from planner.profile import load_profile
    from planner.recommend import STRATEGIES, recommend
    from planner.report import render_plan

    if args.deadline is None and args.target_accuracy is None:
        raise PlannerError("give --deadline (e.g. --deadline 60s) or --target-accuracy")
    deadline = parse_duration(args.deadline) if args.deadline is not None else None
    if not 0.0 < args.quantile < 1.0:
        raise PlannerError(f"--quantile must be in (0, 1), got {args.quantile}")
    for m in args.method or ():
        if m not in METHODS:
            raise PlannerError(f"unknown method {m!r}; choose from {', '.join(METHODS)}")
    if args.target_accuracy is not None and not 0.0 < args.target_accuracy <= 1.0:
        raise PlannerError(f"--target-accuracy must be in (0, 1], got {args.target_accuracy}")
    if not 1 <= args.max_branches <= 4096 or not 0 <= args.max_draft_len <= 16:
        raise PlannerError("--max-branches must be in 1..4096 and --max-draft-len in 0..16")
    if args.strategy not in STRATEGIES:
        raise PlannerError(f"unknown strategy {args.strategy!r}; choose from {', '.join(STRATEGIES)}")
    if args.trials < 1:
        raise PlannerError(f"--trials must be at least 1, got {args.trials}")
    profiles = [load_profile(name) for name in (args.profile or ([] if args.model_config else [None]))]
    if args.model_config or args.gpu:
        profiles.append(_from_config(args.model_config, args.gpu))
    plan = recommend(profiles, deadline, args.quantile, tuple(args.method) if args.method else None,
                     args.target_accuracy, n_max=args.max_branches, k_max=args.max_draft_len,
                     strategy=args.strategy, trials=args.trials, seed=args.seed, engine=args.engine)
    if args.output:
        save_plan(plan, args.output)
    print(json.dumps(plan.to_dict(), indent=2) if args.json else render_plan(plan))
    return 0


def _from_config(config: str | None, gpu: str | None):
    from planner.errors import PlannerError
    from planner.profile.derive import derive_profile
    from planner.profile.hf_config import arch_from_hf_config
    from planner.profile.schema import Profile

    if not config or not gpu:
        raise PlannerError("--model-config and --gpu go together (e.g. --model-config config.json --gpu h100-sxm)")
    from pathlib import Path

    cp = Path(config)
    name = cp.name if cp.is_dir() else (cp.parent.resolve().name if cp.name == "config.json" else cp.stem)
    data = derive_profile(gpu, arch_from_hf_config(config, name=name))
    data["provenance"]["notes"] += ("; model from a user config.json: acceptance, lengths and accuracy are "
                                    "those of the nearest Qwen2.5 preset by size")
    return Profile.from_dict(data, origin=f"<derived from {config}>")
