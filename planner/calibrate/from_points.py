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
from planner.calibrate.output import Measured
from planner.calibrate.settings import PointsRun
from planner.profile.assemble import ProfileParts, placeholder_accuracy
from planner.profile.schema import PrefillCoeffs
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


def fit_points(run: PointsRun) -> Measured:
    from planner.profile import load_profile

    points = read_points_csv(run.points_csv)
    base = load_profile(run.base_profile) if run.base_profile else None
    temperature = run.temperature if run.temperature is not None else (base.temperature if base else 0.7)
    # every input is read before the (slow) fits: a bad acceptance file fails at once
    read_acceptance = read_acceptance_csv(run.acceptance_csv, temperature) if run.acceptance_csv else None
    tp = run.tp if run.tp else (base.hardware.tensor_parallel if base else 1)
    ic = base.hardware.interconnect_GBps if base else None
    target = [p for p in points if p.role == "target"]
    draft = [p for p in points if p.role == "draft"]
    tarch = _arch(run.model_config, base, "target")
    tfit = fit_step(target, tarch, tp, ic)
    b = dict(base.to_dict()) if base else {}
    notes = [f"step times fitted from {len(points)} points in {run.points_csv}"]
    draft_sec, darch, dfit = b.get("draft", {"kind": "none"}), None, None
    if draft:
        darch = _arch(run.draft_config, base, "draft")
        dfit = fit_step(draft, darch, tp, ic)
        draft_sec = {"kind": "model", "name": darch.name}
    elif base is None or base.draft.kind == "model":
        # no draft rows: a model drafter's cost is unknown, so the profile is model-free (or none)
        kind = "ngram" if run.acceptance_csv else "none"
        draft_sec = {"kind": kind, "name": kind}
    prefill, pre_err = b.get("prefill"), None
    if any(p.role == "prefill" for p in points):
        prefill, pre_err = fit_prefill(points)
    elif base is None:
        prefill = PrefillCoeffs(0.0, 0.0)
        notes.append("no prefill rows: prefill cost set to 0")
    acceptance = b.get("acceptance")
    if run.acceptance_csv:
        acceptance = read_acceptance
        if draft_sec.get("kind", "none") == "none":
            draft_sec = {"kind": "ngram", "name": "ngram"}
    elif draft_sec.get("kind", "none") != "none" and not (base and base.acceptance):
        raise PlannerError("--from-points: a drafter needs acceptance rates: give --acceptance-csv FILE")
    if base is None:
        if not run.memory_gb:
            raise PlannerError("--from-points without --base-profile needs --memory-gb (device memory, GB)")
        c = tfit.coeffs
        hardware = {"name": run.hardware or "imported device", "mem_bw_GBps": round(c.weight_bw_GBps, 4),
                    "bf16_tflops": round(c.tflops, 6), "memory_GB": float(run.memory_gb), "gpus": max(tp, 1),
                    "tensor_parallel": tp}
        notes.append("no base profile: hardware peaks are the fitted effective values (lower bounds); lengths "
                     "(log-normal, median 500) and accuracy are placeholders")
    else:
        hardware = {**b["hardware"], **({"name": run.hardware} if run.hardware else {})}
    accuracy = b.get("accuracy") or placeholder_accuracy()
    if base is not None and base.accuracy.kind == "bank":
        accuracy = {**accuracy, "path": _rebase(base, run.output)}
    parts = ProfileParts(
        id=run.id, description=run.description or (f"{tarch.name}: step times imported from {run.points_csv}"
                                                    + (f" onto {base.id}" if base else "")),
        provenance={"kind": "measured", "method": "points", "device": hardware["name"],
                    "source": f"points file {run.points_csv}", "base_profile": base.id if base else None,
                    "notes": notes, "command": run.command_line},
        hardware=hardware, model=b.get("model") or tarch, target=tfit.coeffs, prefill=prefill,
        lengths=b.get("lengths") or {"kind": "lognormal", "median_tokens": 500, "sigma": 0.6, "min_tokens": 16,
                                     "max_tokens": 4096},
        accuracy=accuracy, prompt_tokens=b.get("prompt_tokens", 200), temperature=temperature,
        top_p=b.get("top_p", 1.0), draft=draft_sec, acceptance=acceptance,
        calibration={"points": [p.to_dict() for p in points],
                     "fit": {"target": tfit.to_dict(), **({"draft": dfit.to_dict()} if dfit else {}),
                             **({"prefill": {"median_rel_error": round(pre_err, 5)}} if pre_err is not None
                                else {})}})
    if dfit is not None:
        parts.draft_arch, parts.draft_step = darch, dfit.coeffs
    return Measured(parts)
