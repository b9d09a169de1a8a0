"""`planner profiles [show NAME]`: list the shipped profiles or print one; `profiles derive --model-config ...
--gpu ... -o FILE` writes a derived profile; `profiles gpus` / `profiles models` list the datasheet presets."""

from __future__ import annotations


def register(sub) -> None:
    from planner.commands import model_flags

    p = sub.add_parser("profiles", help="list shipped profiles, `profiles show NAME`, `profiles derive ... -o FILE`")
    p.add_argument("action", nargs="?", choices=["list", "show", "derive", "gpus", "models"], default="list")
    p.add_argument("name", nargs="?", help="profile name or path (for show)")
    p.add_argument("--json", action="store_true", help="show: print the profile JSON")
    p.add_argument("-o", "--output", metavar="FILE", help="derive: write the profile to FILE (atomically)")
    model_flags.add(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from planner.errors import PlannerError
    from planner.profile import list_profiles, load_profile
    from planner.profile.store import DEFAULT_PROFILE
    from planner.report import table

    if args.action in ("derive", "gpus", "models"):
        return _presets(args)
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
        fmt = (f", weights {p.model.weight_dtype or 'bf16'} ({p.model.weight_bytes / 1e9:.1f} GB), KV "
               f"{p.model.kv_dtype or 'bf16'}") if p.model.weight_dtype or p.model.kv_dtype else ""
        print(f"  model      {p.model.name} ({p.model.params / 1e9:.2f} B params, {p.model.layers} layers{fmt})")
        draft = p.draft.name if p.draft.kind != "none" else "none"
        acc = ", ".join(f"{a:.2f}" for a in p.acceptance.alpha) if p.acceptance else "-"
        print(f"  draft      {p.draft.kind}: {draft}; acceptance per position {acc}")
        L = p.lengths
        print(f"  lengths    {L.kind}" + (f" median {L.median_tokens:g} tokens, sigma {L.sigma:g}" if L.kind ==
                                         "lognormal" else f" {len(L.tokens)} samples") + f", max {L.max_tokens}")
        print(f"  accuracy   {p.accuracy.kind}" + (f" Beta({p.accuracy.beta_a:g}, {p.accuracy.beta_b:g})"
                                                   if p.accuracy.kind == "parametric" else
                                                   f" {p.accuracy.bank_path}" if p.accuracy.kind == "bank" else
                                                   f" ({p.accuracy.source})"))
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


def _presets(args) -> int:
    """derive: the profile --model-config/--gpu describe (to -o FILE, else stdout); gpus / models: the presets."""
    import json

    from planner.commands import model_flags
    from planner.profile import presets as P
    from planner.report import table

    if args.action == "gpus":
        print(table([[k, g["name"], f"{g['mem_bw_GBps']:g}", f"{g['bf16_tflops']:g}", f"{g.get('fp8_tflops') or '-'}",
                      f"{g['int8_tops']:g}", f"{g['memory_GB']:g}", f"{g['interconnect_GBps']:g}"]
                     for k, g in P.GPUS.items()],
                    ["gpu", "device", "GB/s", "bf16 TF", "fp8 TF", "int8 TOPS", "GB", "link GB/s"]))
        return 0
    if args.action == "models":
        acc = {**{k: f"{a['pass1']:.3f} / {a['maj_at_budget']['acc']:.3f}" for k, a in P.ACCURACY.items()},
               **{k: f"{a['pass1']:.3f} / - (latency-only)" for k, a in P.PASS1_ONLY.items()}}
        print(table([[k, m["hf_id"], f"{m['params'] / 1e9:.2f}", f"{m['layers']}", f"{m['heads']}/{m['kv_heads']}",
                      acc.get(k, "- (latency-only)")] for k, m in P.MODELS.items()],
                    ["model", "hf_id", "B params", "layers", "heads/kv", "MATH-500 pass@1 / majority"]))
        return 0
    from planner.profile.writer import check_writable, write_profile

    if args.output:
        check_writable(args.output)
    data = model_flags.derive(args)
    if not args.output:
        print(json.dumps(data, indent=2))
        return 0
    p = write_profile(data, args.output)
    print(f"wrote {args.output}: {p.id} ({p.model.name}, TP {p.hardware.tensor_parallel}, accuracy {p.accuracy.kind})")
    return 0
