"""`planner profiles [show NAME]`: list the shipped profiles or print one."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("profiles", help="list shipped profiles, or `profiles show NAME`")
    p.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    p.add_argument("name", nargs="?", help="profile name or path (for show)")
    p.add_argument("--json", action="store_true", help="show: print the profile JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from planner.errors import PlannerError
    from planner.profile import list_profiles, load_profile
    from planner.profile.store import DEFAULT_PROFILE
    from planner.report import table

    if args.action == "show":
        if not args.name:
            raise PlannerError("usage: planner profiles show NAME")
        p = load_profile(args.name)
        if args.json:
            print(json.dumps(p.to_dict(), indent=2))
            return 0
        prov = p.provenance
        print(f"{p.id}: {p.description}")
        print(f"  hardware   {p.hardware.name}: {p.hardware.mem_bw_GBps:g} GB/s, {p.hardware.bf16_tflops:g} TFLOP/s "
              f"bf16, {p.hardware.memory_GB:g} GB x {p.hardware.gpus} (TP {p.hardware.tensor_parallel})")
        print(f"  model      {p.model.name} ({p.model.params / 1e9:.2f} B params, {p.model.layers} layers)")
        draft = p.draft.name if p.draft.kind != "none" else "none"
        acc = ", ".join(f"{a:.2f}" for a in p.acceptance.alpha) if p.acceptance else "-"
        print(f"  draft      {p.draft.kind}: {draft}; acceptance per position {acc}")
        L = p.lengths
        print(f"  lengths    {L.kind}" + (f" median {L.median_tokens:g} tokens, sigma {L.sigma:g}" if L.kind ==
                                         "lognormal" else f" {len(L.tokens)} samples") + f", max {L.max_tokens}")
        print(f"  accuracy   {p.accuracy.kind}" + (f" Beta({p.accuracy.beta_a:g}, {p.accuracy.beta_b:g})"
                                                   if p.accuracy.kind == "parametric" else
                                                   f" {p.accuracy.bank_path}"))
        print(f"  provenance {prov.get('kind')}" + (f", {prov.get('device')} on {prov.get('date')}"
                                                    if prov.get("kind") == "measured" else
                                                    f", {len(prov.get('sources', []))} sources (see --json)"))
        return 0
    rows = []
    for name in list_profiles():
        try:
            p = load_profile(name)
            rows.append([name + (" (default)" if name == DEFAULT_PROFILE else ""), p.hardware.name, p.model.name,
                         p.draft.kind if p.draft.kind != "model" else p.draft.name, p.provenance.get("kind", "?")])
        except PlannerError as e:
            rows.append([name, "INVALID", str(e)[:60], "", ""])
    print(table(rows, ["profile", "hardware", "model", "draft", "provenance"]))
    return 0
