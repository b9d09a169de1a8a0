"""`planner predict`: latency distribution and accuracy of one configuration you name."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("predict", help="predict latency and accuracy of one configuration")
    p.add_argument("--profile", "-p", metavar="NAME|PATH", help="profile (default: the embedded default)")
    p.add_argument("--branches", "-n", type=int, required=True, help="parallel branches N")
    p.add_argument("--draft-len", "-k", type=int, default=0, help="speculative draft length K (0 = none)")
    p.add_argument("--method", "-m", default=None, help="voting method (default: majority)")
    p.add_argument("--deadline", "-d", help="apply a deadline: unfinished branches do not vote")
    p.add_argument("--quantile", "-q", type=float, default=0.9)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from planner.errors import PlannerError
    from planner.optimize.evaluate import evaluate
    from planner.plan import METHODS
    from planner.profile import load_profile
    from planner.report import config_row, table
    from planner.units import parse_duration

    if args.branches < 1 or args.branches > 4096:
        raise PlannerError(f"--branches must be in 1..4096, got {args.branches}")
    if args.draft_len < 0 or args.draft_len > 16:
        raise PlannerError(f"--draft-len must be in 0..16, got {args.draft_len}")
    if args.method is not None and args.method not in METHODS:
        raise PlannerError(f"unknown method {args.method!r}; choose from {', '.join(METHODS)}")
    prof = load_profile(args.profile)
    if args.draft_len > 0 and prof.draft.kind == "none":
        raise PlannerError(f"profile {prof.id} has no draft (draft.kind is none): use --draft-len 0")
    deadline = parse_duration(args.deadline) if args.deadline else None
    ev = evaluate(prof, deadline, args.quantile, (args.method or "majority",), n_values=[args.branches],
                  k_values_=[args.draft_len])
    cfg = {"profile": prof.id, **ev.config(0, 0, 0)}
    if not ev.fits_memory[0]:
        cfg["warning"] = "does not fit in device memory"
    if args.json:
        print(json.dumps(cfg, indent=2))
        return 0
    spec = {"model": "draft_model"}.get(prof.draft.kind, prof.draft.kind)
    print(table([config_row("config", cfg, spec)],
                ["", "profile", "method", "N", "speculative", "mean s", "p90 s", "p99 s", "accuracy %"]))
    extra = [f"p50 {cfg['latency_s']['p50']:.2f} s"]
    if deadline:
        extra += [f"P(meet {deadline:g} s) = {cfg['p_meet_deadline']:.1%}",
                  f"branches finished by the deadline: {cfg['finished_share']:.1%}"]
    if "warning" in cfg:
        extra.append("WARNING: " + cfg["warning"])
    print("; ".join(extra))
    return 0
