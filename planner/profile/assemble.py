"""The one profile assembler: every source of numbers (device sweeps, whole engine rounds, a serving endpoint, a
points CSV, the datasheet derivation) hands over `ProfileParts` and gets the same `tts-profile/1` dict back.

Why one: each field must mean one thing whatever wrote it (docs/profile.md defines them), so sections are
formatted here once (architecture, step coefficients with one rounding, prefill), measured provenance gets its
date and library versions here, and the result is validated before anyone writes it (planner.profile.writer)."""

from __future__ import annotations

import datetime as _dt
import platform
from importlib import metadata as _metadata
import sys
from dataclasses import dataclass, field, fields

from planner.errors import PlannerError
from planner.profile.schema import SCHEMA, ModelArch, PrefillCoeffs, Profile, StepCoeffs


@dataclass
class ProfileParts:
    """A profile's sections as a source measured or derived them. Typed coefficients and architectures are
    formatted by `assemble`; a dict (e.g. a base profile's section, the derivation's) is written as given."""
    id: str
    description: str
    provenance: dict                      # source facts; kind "measured" gets date/versions added when missing
    hardware: dict                        # name, mem_bw_GBps, bf16_tflops, memory_GB, gpus, tensor_parallel, ...
    model: ModelArch | dict
    target: StepCoeffs | dict             # step.target
    prefill: PrefillCoeffs | dict
    lengths: dict
    accuracy: dict
    prompt_tokens: int
    temperature: float
    top_p: float = 1.0
    draft: dict = field(default_factory=lambda: {"kind": "none"})  # kind, name (arch added from draft_arch)
    draft_arch: ModelArch | dict | None = None
    draft_step: StepCoeffs | dict | None = None
    acceptance: dict | None = None
    calibration: dict | None = None       # the source's raw data and fit records (free-form)
    notes: list[str] = field(default_factory=list)  # appended to provenance.notes
    serving: dict | None = None           # how the engine serves requests (prefill_sharing), when known
    scorer: dict | None = None            # reward model's measured scoring cost (planner/calibrate/scorer.py)


def assemble(parts: ProfileParts, origin: str = "calibration") -> dict:
    """The profile dict in canonical key order, validated with `Profile.from_dict`."""
    prov = dict(parts.provenance)
    if prov.get("kind", "measured") == "measured":
        prov = {"kind": "measured", "date": now_iso(), "versions": versions(), **prov}
    if parts.notes:
        prov["notes"] = list(prov.get("notes") or []) + list(parts.notes)
    draft = dict(parts.draft)
    if parts.draft_arch is not None:
        draft["arch"] = _section(parts.draft_arch, arch_dict)
    step = {"target": _section(parts.target, coeff_dict)}
    if parts.draft_step is not None:
        step["draft"] = _section(parts.draft_step, coeff_dict)
    data = {"schema": SCHEMA, "id": parts.id, "description": parts.description, "provenance": prov,
            "hardware": dict(parts.hardware), "model": _section(parts.model, arch_dict), "step": step,
            "prefill": _section(parts.prefill, prefill_dict), "draft": draft}
    if parts.acceptance is not None:
        data["acceptance"] = parts.acceptance
    data.update(lengths=parts.lengths, accuracy=parts.accuracy, prompt_tokens=int(parts.prompt_tokens),
                temperature=parts.temperature, top_p=parts.top_p)
    if parts.serving:
        data["serving"] = dict(parts.serving)
    if parts.scorer:
        data["scorer"] = dict(parts.scorer)
    if parts.calibration is not None:
        data["calibration"] = parts.calibration
    try:
        Profile.from_dict(data, origin=origin)
    except PlannerError as e:
        raise PlannerError(f"{origin} produced an invalid profile: {e}") from None
    return data


def _section(value, fmt):
    return dict(value) if isinstance(value, dict) else fmt(value)


def sig(x: float, digits: int = 6) -> float:
    """x to `digits` significant digits: the one rounding of fitted coefficients (a 10 us GPU t0 and a 50 ms CPU
    one keep the same relative precision)."""
    return float(f"{x:.{digits}g}")


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def versions() -> dict:
    out = {"python": platform.python_version()}
    for mod in ("torch", "transformers", "numpy", "scipy"):   # versions of the loaded module, else installed
        m = sys.modules.get(mod)
        if m is not None:
            out[mod] = getattr(m, "__version__", "?")
            continue
        try:                                     # package metadata: no 2-second `import torch` to read a string
            out[mod] = _metadata.version(mod)
        except _metadata.PackageNotFoundError:
            continue
    try:
        from planner import __version__

        out["tts-planner"] = __version__
    except ImportError:
        pass
    return out


def arch_dict(a: ModelArch) -> dict:
    return {f.name: getattr(a, f.name) for f in fields(a) if getattr(a, f.name) is not None}


def coeff_dict(c: StepCoeffs) -> dict:
    """Every set field of the step coefficients; fitted quantities rounded by `sig`, a zero verify_s or
    allreduce_s left out (absent means 0)."""
    d = {}
    for f in fields(c):
        v = getattr(c, f.name)
        if v is None or (f.name in ("verify_s", "allreduce_s") and not v):
            continue
        d[f.name] = v if f.name in ("fit_rel_error", "allreduce_s") else sig(v)
    return d


def prefill_dict(c: PrefillCoeffs) -> dict:
    return {"t0_s": sig(c.t0_s), "s_per_token": sig(c.s_per_token)}


def placeholder_accuracy() -> dict:
    """A flat prior that says "unknown": sample_size 1 makes its standard error +-50 points, so the plan prints
    that it knows nothing and every plan meeting the deadline ties (the cheapest is taken)."""
    return {"kind": "parametric", "beta_a": 1.0, "beta_b": 1.0, "wrong_mode_share": 0.5, "sample_size": 1,
            "source": "placeholder: accuracy not measured by this calibration (run with --accuracy for a bank)"}
