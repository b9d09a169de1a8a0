"""`planner pareto`: the accuracy-vs-latency front over all configurations (table, CSV, PNG)."""

from __future__ import annotations

from planner.commands import types as T


def register(sub) -> None:
    p = sub.add_parser("pareto", help="accuracy-vs-latency Pareto front (table, --csv, --plot)")
    p.add_argument("--profile", "-p", metavar="NAME|PATH", help="profile (default: the embedded default)")
    p.add_argument("--max-latency", type=T.duration("--max-latency"),
                   help="only configurations with latency quantile up to this, e.g. 30s")
    p.add_argument("--deadline", "-d", type=T.duration(),
                   help="mark the plan chosen for this deadline (default: --max-latency)")
    p.add_argument("--quantile", "-q", type=T.quantile(), default=0.9, help="latency quantile on the x axis")
    p.add_argument("--prompt-tokens", type=T.prompt_tokens(), metavar="N",
                   help="prompt length in tokens of your workload (default: the profile's prompt_tokens, the calibration prompts' length); prefill grows with it, per branch on vLLM when the prompt is short")
    p.add_argument("--csv", metavar="FILE", help="write the front as CSV (atomically)")
    p.add_argument("--plot", metavar="FILE.png", help="write a PNG: all configs, the front, greedy path, plan")
    p.add_argument("--compare", metavar="sequential,parallel",
                   help="instead: accuracy vs latency for longer chains (N=1, budget grows) vs more branches "
                        "(largest budget, N grows) vs both (the front over budget x N), no speculation")
    p.add_argument("--gpus", type=T.count("--gpus", 1), metavar="G",
                   help="the front over GPU layouts too (TP degree x replicas, as recommend --gpus); a layout column")
    p.add_argument("--nodes", type=T.count("--nodes", 1), metavar="M", help="with --gpus: nodes of G/M GPUs each")
    p.add_argument("--budgets", metavar="T1,T2,...",
                   help="answer budgets (max_tokens) for --compare, e.g. 256,512,1024,2048 (default: the "
                        "profile's length quantiles 25/50/75/90 %% and its max_tokens)")
    p.set_defaults(func=run)


def run(args) -> int:
    import io

    from planner.errors import PlannerError
    from planner.io import atomic_write_text
    from planner.optimize import exhaustive
    from planner.optimize.evaluate import evaluate
    from planner.optimize.greedy import greedy_path
    from planner.optimize.pareto import pareto_front
    from planner.profile import load_profile
    from planner.report import table

    max_lat = args.max_latency
    deadline = args.deadline or max_lat
    if args.plot and not args.plot.lower().endswith(".png"):
        raise PlannerError(f"--plot must name a .png file, got {args.plot!r}")
    from planner.api import with_prompt_tokens

    prof = with_prompt_tokens(load_profile(args.profile), args.prompt_tokens)
    if args.compare is not None or args.budgets is not None:
        if args.gpus is not None:
            raise PlannerError("--compare and --gpus cannot be combined yet; drop one")
        return _compare(args, prof, deadline)
    if args.gpus is not None or args.nodes is not None:
        return _layouts(args, prof, deadline, max_lat)
    ev = evaluate(prof, deadline, args.quantile)
    front = pareto_front(ev, max_lat)
    if not front:
        raise PlannerError("no configuration within --max-latency; the fastest is "
                           f"{float(ev.latency['q'].min()):.2f} s")
    rows, csv, shown = [], io.StringIO(), -1.0
    csv.write("method,branches,draft_len,latency_mean_s,latency_p50_s,latency_p90_s,latency_p99_s,"
              f"latency_q{args.quantile:g}_s,accuracy\n")
    for i in front:
        c = ev.config(*i)
        lat = c["latency_s"]
        if c["accuracy"] - shown >= 0.001 or i == front[-1]:  # the table shows steps of >= 0.1 point
            shown = c["accuracy"]
            rows.append([c["method"], str(c["branches"]), str(c["draft_len"]), f"{c['latency_q_s']:.3f}",
                         f"{c['accuracy'] * 100:.2f}"])
        csv.write(f"{c['method']},{c['branches']},{c['draft_len']},{lat['mean']:.5f},{lat['p50']:.5f},"
                  f"{lat['p90']:.5f},{lat['p99']:.5f},{c['latency_q_s']:.5f},{c['accuracy']:.6f}\n")
    print(f"Pareto front for {prof.id} ({len(front)} of {ev.acc.size} configurations; latency at "
          f"p{args.quantile * 100:g}{'; with deadline cuts at ' + format(deadline, 'g') + ' s' if deadline else ''})")
    print(table(rows, ["method", "N", "K", f"p{args.quantile * 100:g} s", "accuracy %"]))
    if len(rows) < len(front):
        print(f"({len(rows)} rows shown: steps of at least 0.1 accuracy point; --csv has all {len(front)})")
    if args.csv:
        atomic_write_text(args.csv, csv.getvalue())
    if args.plot:
        from planner.plot import plot_front

        chosen = exhaustive.best_index(ev) if deadline else None
        plot_front(ev, front, greedy_path(ev, 0) if deadline else [], chosen, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _layouts(args, prof, deadline, max_lat) -> int:
    """`--gpus G`: the exact front over every layout's configurations (planner/optimize/layout.py)."""
    from planner.errors import PlannerError
    from planner.io import atomic_write_text
    from planner.optimize import layout as LO
    from planner.optimize.pareto import pareto_front
    from planner.report import table

    if args.gpus is None:
        raise PlannerError("--nodes needs --gpus (the total GPU count, e.g. --gpus 16 --nodes 2)")
    if args.plot:
        raise PlannerError("--plot and --gpus cannot be combined yet: use --csv for the layouts' front")
    evs = LO.evaluate_layouts(prof, deadline, args.quantile, None, 256, 8, args.gpus, LO.check_gpus(args.gpus,
                                                                                                      args.nodes))
    pts = [(float(ev.lat("q")[i]), -float(ev.acc[i]), ev.layout.held, ev, i)
           for ev in evs for i in pareto_front(ev, max_lat)]
    if not pts:
        raise PlannerError("no configuration of any layout within --max-latency")
    pts.sort(key=lambda x: x[:3])
    front, best = [], -1.0
    for lat, neg, _, ev, i in pts:
        if -neg > best + 1e-6:
            front.append((ev, i))
            best = -neg
    rows = ["layout,method,branches,draft_len,latency_q_s,accuracy,gpus_used"]
    shown = []
    for ev, i in front:
        c, L = ev.config(*i), ev.layout
        rows.append(f"TP{L.tp}x{L.replicas},{c['method']},{c['branches']},{c['draft_len']},{c['latency_q_s']:.5f},"
                    f"{c['accuracy']:.6f},{L.held}")
        if not shown or c["accuracy"] - float(shown[-1][-1]) / 100 >= 0.001 or (ev, i) == front[-1]:
            shown.append([f"TP{L.tp}x{L.replicas}", c["method"], str(c["branches"]), str(c["draft_len"]),
                          f"{c['latency_q_s']:.3f}", f"{c['accuracy'] * 100:.2f}"])
    print(f"Pareto front for {prof.id} over {len(evs)} layouts of {args.gpus} GPUs ({len(front)} points; latency "
          f"at p{args.quantile * 100:g})")
    print(table(shown, ["layout", "method", "N", "K", f"p{args.quantile * 100:g} s", "accuracy %"]))
    if args.csv:
        atomic_write_text(args.csv, "\n".join(rows) + "\n")
    return 0


def _compare(args, prof, deadline) -> int:
    """`--compare sequential,parallel`: the seed paper's sequential-vs-parallel comparison as three tables."""
    from planner.errors import PlannerError
    from planner.io import atomic_write_text
    from planner.optimize.budget import compare, parse_budgets
    from planner.report import table

    want = {x.strip() for x in (args.compare or "").split(",")}
    if args.compare is None:
        raise PlannerError("--budgets goes with --compare sequential,parallel (recommend takes --budgets too)")
    if want != {"sequential", "parallel"}:
        raise PlannerError(f"--compare takes sequential,parallel, got {args.compare!r}")
    cmp = compare(prof, deadline, args.quantile, parse_budgets(args.budgets) if args.budgets else None)
    q = f"p{args.quantile * 100:g} s"
    print(f"Sequential vs parallel scaling for {prof.id} ({cmp['method']}, no speculation; budgets "
          f"{', '.join(map(str, cmp['budgets']))} tokens; latency at p{args.quantile * 100:g}"
          f"{'; with deadline cuts at ' + format(deadline, 'g') + ' s' if deadline else ''})")
    csv = ["series,budget,branches,latency_q_s,accuracy,accuracy_stderr"]
    for name, title in (("sequential", "longer chains: N=1, budget grows"),
                        ("parallel", f"more branches: budget {cmp['budgets'][-1]}, N grows"),
                        ("both", "both: the front over budget x N")):
        rows = [[str(c["budget"]), str(c["N"]), f"{c['latency_q_s']:.3f}",
                 f"{c['accuracy'] * 100:.2f}" + ("" if c.get("feasible", True) else " (misses)")]
                for c in cmp[name]]
        csv += [f"{name},{c['budget']},{c['N']},{c['latency_q_s']:.5f},{c['accuracy']:.6f},{c['accuracy_stderr']:.6f}"
                for c in cmp[name]]
        print(f"\n{title}")
        print(table(rows, ["budget", "N", q, "accuracy %"]))
    if args.csv:
        atomic_write_text(args.csv, "\n".join(csv) + "\n")
    if args.plot:
        from planner.plot_compare import plot_compare

        plot_compare(cmp, prof.id, args.quantile, args.plot)
        print(f"wrote {args.plot}")
    return 0
