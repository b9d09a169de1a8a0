"""`planner calibrate --from-points FILE.csv`: a measured profile from step times taken elsewhere.

For users whose numbers come from vLLM/SGLang benchmarks or their own scripts: the CSV (role, batch, query,
context, seconds; docs/calibration.md) is fitted with the same code as an on-device sweep. What the points
cannot say (architecture, lengths, accuracy, memory) comes from `--base-profile` (any shipped or saved
profile: its step, prefill and acceptance are replaced) or, without one, from `--model-config` (HF
config.json) plus placeholders that the description and notes name. Acceptance can come from
`--acceptance-csv` (per-position counts or rates)."""

from __future__ import annotations

from planner.calibrate.acceptance import read_acceptance_csv
from planner.calibrate.fit import fit_prefill, fit_step
from planner.calibrate.points import read_points_csv
from planner.profile.assemble import arch_dict, coeff_dict, now_iso, placeholder_accuracy, versions
from planner.errors import PlannerError


def _arch(config: str | None, base, role: str):
    from planner.profile.hf_config import arch_from_hf_config

    if config:
        return arch_from_hf_config(config)
    if base is not None:
        if role == "target":
            return base.model
        if base.draft.arch is not None:
            return base.draft.arch
    flag = "--model-config" if role == "target" else "--draft-config"
    raise PlannerError(f"--from-points: {role} rows need the {role} architecture: give {flag} config.json "
                       "or --base-profile NAME")


def _rebase(base, output: str) -> str:
    """A base profile's bank path, re-expressed relative to the new profile's folder."""
    import os
    from pathlib import Path

    bank = Path(base.origin).parent / base.accuracy.bank_path
    return os.path.relpath(bank.resolve(), Path(output).resolve().parent)


def profile_from_points(args) -> dict:
    from planner.profile import load_profile

    points = read_points_csv(args.from_points)
    base = load_profile(args.base_profile) if args.base_profile else None
    tp = args.tp if args.tp else (base.hardware.tensor_parallel if base else 1)
    ic = base.hardware.interconnect_GBps if base else None
    target = [p for p in points if p.role == "target"]
    draft = [p for p in points if p.role == "draft"]
    tarch = _arch(args.model_config, base, "target")
    tfit = fit_step(target, tarch, tp, ic)
    data = dict(base.to_dict()) if base else {}
    if base is not None and base.accuracy.kind == "bank":
        data["accuracy"] = {**data["accuracy"], "path": _rebase(base, args.output)}
    notes = [f"step times fitted from {len(points)} points in {args.from_points}"]
    data["step"] = {"target": coeff_dict(tfit.coeffs)}
    dfit = None
    if draft:
        darch = _arch(args.draft_config, base, "draft")
        dfit = fit_step(draft, darch, tp, ic)
        data["step"]["draft"] = coeff_dict(dfit.coeffs)
        data["draft"] = {"kind": "model", "name": darch.name, "arch": arch_dict(darch)}
    elif base is None or base.draft.kind == "model":
        # no draft rows: a model drafter's cost is unknown, so the profile is model-free (or none)
        data["draft"] = {"kind": "ngram" if args.acceptance_csv else "none", "name": "ngram" if args.acceptance_csv
                         else "none"}
    pre_err = None
    if any(p.role == "prefill" for p in points):
        pre, pre_err = fit_prefill(points)
        data["prefill"] = {"t0_s": round(pre.t0_s, 6), "s_per_token": pre.s_per_token}
    elif base is None:
        data["prefill"] = {"t0_s": 0.0, "s_per_token": 0.0}
        notes.append("no prefill rows: prefill cost set to 0")
    temperature = args.temperature if args.temperature is not None else (base.temperature if base else 0.7)
    if args.acceptance_csv:
        data["acceptance"] = read_acceptance_csv(args.acceptance_csv, temperature)
        if data.get("draft", {}).get("kind", "none") == "none":
            data["draft"] = {"kind": "ngram", "name": "ngram"}
    elif data.get("draft", {}).get("kind", "none") != "none" and not (base and base.acceptance):
        raise PlannerError("--from-points: a drafter needs acceptance rates: give --acceptance-csv FILE")
    if base is None:
        if not args.memory_gb:
            raise PlannerError("--from-points without --base-profile needs --memory-gb (device memory, GB)")
        c = tfit.coeffs
        data.update(model=arch_dict(tarch), draft=data.get("draft", {"kind": "none"}),
                    lengths={"kind": "lognormal", "median_tokens": 500, "sigma": 0.6, "min_tokens": 16,
                             "max_tokens": 4096},
                    accuracy=placeholder_accuracy(), prompt_tokens=200)
        data["hardware"] = {"name": args.hardware or "imported device", "mem_bw_GBps": round(c.weight_bw_GBps, 4),
                            "bf16_tflops": round(c.tflops, 6), "memory_GB": float(args.memory_gb), "gpus": max(tp, 1),
                            "tensor_parallel": tp}
        notes.append("no base profile: hardware peaks are the fitted effective values; lengths (log-normal, "
                     "median 500) and accuracy are placeholders")
    elif args.hardware:
        data["hardware"] = {**data["hardware"], "name": args.hardware}
    data["temperature"] = temperature
    data["id"] = args.id
    data["description"] = args.description or (f"{tarch.name}: step times imported from {args.from_points}"
                                                + (f" onto {base.id}" if base else ""))
    data["provenance"] = {"kind": "measured", "device": data["hardware"]["name"], "date": now_iso(),
                          "versions": versions(), "source": f"points file {args.from_points}",
                          "base_profile": base.id if base else None, "notes": notes,
                          "command": getattr(args, "command_line", None)}
    data.pop("calibration", None)
    data["calibration"] = {"points": [p.to_dict() for p in points],
                           "fit": {"target": tfit.to_dict(), **({"draft": dfit.to_dict()} if dfit else {}),
                                   **({"prefill": {"median_rel_error": round(pre_err, 5)}} if pre_err is not None
                                      else {})}}
    return data
