"""`planner demo`: the whole loop on the miniature world in a few minutes on a laptop CPU.

calibrate (measure this machine) → recommend (plan for a deadline) → run (the plan, deadline enforced, on
held-out problems) → validate (the plan and its runners-up: predicted vs measured). Everything it writes goes
to --out (default: a new temporary folder), never into the source tree."""

from __future__ import annotations

import json
import sys
import time


def register(sub) -> None:
    from planner.commands import types as T

    p = sub.add_parser("demo", help="calibrate → recommend → run → validate on the miniature world (CPU)")
    p.add_argument("--out", help="folder for the profile, bank, plan and records (default: a temporary folder)")
    p.add_argument("--weights", help="miniworld weights folder with target/ and draft/ "
                                     "(default: the shipped planner/demo/miniworld/weights)")
    p.add_argument("--deadline", "-d", help="deadline to plan for (default: chosen from the calibration so that "
                                            "the choice matters: the predicted p90 of 8 branches)")
    p.add_argument("--quantile", "-q", type=T.quantile(), default=0.9)
    p.add_argument("--problems", type=T.count("--problems", 1, 100_000), default=24,
                   help="held-out problems for run and validate (default 24)")
    p.add_argument("--cal-problems", type=T.count("--cal-problems", 1, 100_000), default=16,
                   help="calibration problems (default 16)")
    p.add_argument("--samples", type=T.branches("--samples"), default=16,
                   help="samples per calibration problem (default 16; plans "
                        "search N up to this)")
    p.add_argument("--threads", type=T.count("--threads", 1, 4096), default=1, help="torch CPU threads (default 1)")
    p.add_argument("--max-tokens", type=T.count("--max-tokens", 1, 10**7), default=128,
                   help="output cap per branch (default 128; the longest "
                        "miniworld chain is shorter)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _step(i: int, text: str) -> None:
    print(f"\n[{i}/4] {text}", flush=True)


def run(args) -> int:
    import tempfile
    from pathlib import Path

    from planner.errors import PlannerError
    from planner.units import parse_duration

    if not 0.0 < args.quantile < 1.0:
        raise PlannerError(f"--quantile must be in (0, 1), got {args.quantile}")
    for name in ("problems", "cal_problems", "samples", "threads", "max_tokens"):
        if getattr(args, name) < 1:
            raise PlannerError(f"--{name.replace('_', '-')} must be >= 1")
    deadline = parse_duration(args.deadline) if args.deadline else None
    from planner.demo import closed_loop as CL

    world = CL.miniworld(args.weights, threads=args.threads, max_tokens=args.max_tokens)
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise PlannerError(f"--out {args.out} is a file; give a folder for the demo's artefacts (created if missing)")
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="tts-demo-"))
    created = not out.exists() or not args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (NotADirectoryError, FileExistsError):  # a file on the way: a/file.txt/sub
        raise PlannerError(f"--out {args.out}: a parent of this folder is a file; give a folder path") from None
    try:
        return _loop(args, CL, world, out, deadline)
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # a failed demo leaves no empty folder behind
        raise


def _loop(args, CL, world, out, deadline) -> int:
    """Calibrate, recommend, run and validate, writing the artefacts into `out`."""
    t0 = time.perf_counter()
    log = CL.stderr_log
    print(f"planner demo: miniature world ({world.target}), artefacts in {out}")
    backend = CL.load_backend(world, 4, log)

    _step(1, f"calibrate: {args.cal_problems} problems x {args.samples} samples, K in 0,2,4 (step times, "
             "acceptance, lengths, sample bank)")
    prof_path = CL.calibrate_world(world, backend, CL.problems(args.cal_problems, "val"), out, args.samples,
                                   (0, 2, 4), lambda m: print("  " + m))
    from planner.profile import load_profile

    profile = load_profile(str(prof_path))
    print(f"  profile: {prof_path}")

    from planner.plan import save_plan
    from planner.api import recommend
    from planner.report import render_plan
    from planner import validate as V

    if deadline is None:
        p90 = V.predict(profile, None, args.quantile, V.Config("majority", min(8, args.samples), 0))["latency_s"]["p90"]
        deadline = float(f"{p90:.3g}")
    _step(2, f"recommend: the cheapest plan as accurate as the best (within its error) whose "
          f"p{args.quantile * 100:g} latency meets {deadline:g} s")
    plan = recommend([profile], deadline, args.quantile, ("majority",), max_branches=args.samples,
                     max_draft_len=4)
    save_plan(plan, str(out / "plan.json"))
    print("  " + render_plan(plan).replace("\n", "\n  "))

    _step(3, f"run: the plan on {args.problems} held-out problems, deadline enforced (as `planner run` does)")
    from planner.executor.answers import Equivalence
    from planner.executor.runner import RunSettings, solve
    from planner.io import atomic_write_text

    probs = CL.problems(args.problems, "test")
    V.set_draft_len(backend, plan.draft_len)
    settings = RunSettings(plan.branches, plan.method, deadline, True, template=CL.RAW_TEMPLATE, seed=world.seed)
    eq = Equivalence()
    recs = [solve(p, backend, settings, eq, plan.predicted, index=i) for i, p in enumerate(probs)]
    atomic_write_text(out / "run.jsonl", "".join(json.dumps(r) + "\n" for r in recs))
    acc = sum(bool(r["correct"]) for r in recs) / len(recs)
    met = sum(r["met_deadline"] for r in recs) / len(recs)
    cut = sum(len(r["cut_branches"]) for r in recs)
    print(f"  accuracy {acc:.1%}, deadline met {met:.0%}, mean latency "
          f"{sum(r['latency_s'] for r in recs) / len(recs):.3f} s, branches cut {cut}")

    _step(4, "validate: the plan and 2 runners-up, predicted vs measured (untruncated runs, early stop off)")
    rows = []
    for cfg, _ in V.plan_configs(plan, limit=3):
        pred = V.predict(profile, deadline, args.quantile, cfg)
        meas = V.summarize(V.measure(backend, probs, cfg, 3 * deadline, CL.RAW_TEMPLATE, world.seed,
                                     progress=not args.quiet), deadline, cfg.method, eq, horizon=3.0)
        rows.append(V.compare(cfg, pred, meas))
    print("  " + V.format_table(rows, deadline, args.quantile).replace("\n", "\n  "))
    atomic_write_text(out / "validate.json", json.dumps([r.to_dict() for r in rows], indent=1) + "\n")

    p0 = rows[0]
    print(f"\nsummary ({time.perf_counter() - t0:.0f} s): plan N={plan.branches} K={plan.draft_len} for a "
          f"{deadline:g} s deadline at p{args.quantile * 100:g}; predicted accuracy {p0.predicted['accuracy']:.1%}, "
          f"measured {p0.measured['accuracy']:.1%} (run with the deadline enforced: {acc:.1%}); predicted "
          f"P(meet) {p0.predicted['p_meet_deadline']:.0%}, measured {p0.measured['hit_rate']:.0%}; p90 latency "
          f"predicted {p0.predicted['latency_s']['p90']:.3f} s, measured {p0.measured['latency_s']['p90']:.3f} s")
    atomic_write_text(out / "test.jsonl", "".join(json.dumps({"problem": p.question, "answer": p.reference,
                                                               "unique_id": p.problem_id}) + "\n" for p in probs))
    print(f"artefacts: {out} (profile.json, profile.bank.jsonl, rounds.jsonl, plan.json, run.jsonl, validate.json, test.jsonl)")
    print(f"try: planner recommend --profile {prof_path} --deadline {2 * deadline:g}s -o {out / 'plan2.json'}\n"
          f"     planner validate --plan {out / 'plan2.json'} --profile {prof_path} --dataset {out / 'test.jsonl'} "
          f"--template raw --threads {world.threads}", file=sys.stderr)
    return 0
