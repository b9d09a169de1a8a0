"""`planner predict`: latency distribution and accuracy of one configuration you name (planner.api.predict)."""

from __future__ import annotations

import json

from planner.commands import model_flags
from planner.commands import types as T
from planner.plan import METHODS


def register(sub) -> None:
    p = sub.add_parser("predict", help="predict latency and accuracy of one configuration")
    p.add_argument("--profile", "-p", metavar="NAME|PATH", help="profile (default: the embedded default)")
    p.add_argument("--branches", "-n", type=T.branches(), help="parallel branches N (required unless --tpot)")
    p.add_argument("--draft-len", "-k", type=T.draft_len(), default=0,
                   help="speculative draft length K (0 = none)")
    p.add_argument("--method", "-m", type=T.choice("--method", METHODS), default="majority",
                   help="voting method (default: majority)")
    p.add_argument("--deadline", "-d", type=T.duration(), help="apply a deadline: unfinished branches do not vote")
    p.add_argument("--quantile", "-q", type=T.quantile(), default=0.9)
    p.add_argument("--prompt-tokens", type=T.prompt_tokens(), metavar="N",
                   help="prompt length in tokens of your workload (default: the profile's prompt_tokens, the calibration prompts' length); prefill grows with it, per branch on vLLM when the prompt is short")
    p.add_argument("--json", action="store_true")
    p.add_argument("--tpot", action="store_true",
                   help="instead: step time and time per output token by batch (and draft length 0..K), to hold "
                        "against an engine benchmark")
    p.add_argument("--context", type=T.prompt_tokens("--context"), metavar="TOKENS",
                   help="--tpot: cached tokens per sequence (default: prompt + half the median generation)")
    p.add_argument("--gpus", type=T.count("--gpus", 1), metavar="G",
                   help="GPUs of the deployment: G / T replicas of the profile's tensor-parallel degree T (with "
                        "--model-config: its --tp), a request's branches split over them")
    p.add_argument("--nodes", type=T.count("--nodes", 1), metavar="M", help="with --gpus: nodes of G/M GPUs each")
    T.add_load_flags(p)
    model_flags.add(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from planner import api
    from planner.report import CONFIG_HEADER, config_row, table

    from planner.errors import PlannerError

    derived = model_flags.profile(args)
    if derived is not None and args.profile:
        raise PlannerError("give --profile or --model-config/--gpu, not both")
    if args.tpot:
        return _tpot(derived or api.load_profile(args.profile), args)
    if args.branches is None:
        raise PlannerError("--branches is required (e.g. --branches 8), or --tpot for the step-time view")
    pred = api.predict(derived or args.profile, args.branches, args.draft_len, args.method, args.deadline,
                       args.quantile, prompt_tokens=args.prompt_tokens,
                       arrival_rate=args.arrival_rate, concurrency=args.concurrency, gpus=args.gpus,
                       nodes=args.nodes)
    cfg = pred.to_dict()
    if args.json:
        print(json.dumps(cfg, indent=2))
        return 0
    prof = derived or api.load_profile(args.profile)
    spec = {"model": "draft_model"}.get(prof.draft.kind, prof.draft.kind)
    print(table([config_row("config", cfg, spec)], CONFIG_HEADER))
    extra = [f"p50 {cfg['latency_s']['p50']:.2f} s"]
    if args.deadline:
        extra += [f"P(meet {args.deadline:g} s) = {cfg['p_meet_deadline']:.1%}",
                  f"branches finished by the deadline: {cfg['finished_share']:.1%}"]
    if pred.layout:
        from planner.report import layout_text

        extra.append(f"layout: {layout_text(pred.layout)}")
    if not pred.fits_memory:
        extra.append("WARNING: does not fit in device memory")
    print("; ".join(extra))
    return 0


def _tpot(prof, args) -> int:
    from planner.model.tpot import tpot_rows
    from planner.report import table

    rows = tpot_rows(prof, ks=range(args.draft_len + 1), context=args.context)
    if args.json:
        print(json.dumps({"profile": prof.id, "rows": rows}, indent=2))
        return 0
    print(f"{prof.id}: {prof.model.name} on {prof.hardware.tensor_parallel}x {prof.hardware.name}, "
          f"{rows[0]['context']} cached tokens per sequence ({prof.provenance.get('kind', '?')} profile)")
    print(table([[str(r["batch"]), str(r["draft_len"]), f"{r['step_ms']:.2f}", f"{r['round_ms']:.2f}",
                  f"{r['tokens_per_round']:.2f}", f"{r['tpot_ms']:.2f}", f"{r['output_tok_s']:.0f}"] for r in rows],
                ["batch", "K", "step ms", "round ms", "tokens/round", "TPOT ms", "output tok/s"]))
    return 0
