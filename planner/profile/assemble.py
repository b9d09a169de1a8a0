"""Assemble a `tts-profile/1` dict from its sections, the same way for every source of numbers.

Helpers shared by every profile writer: architecture and step-coefficient sections with one rounding, the
placeholder accuracy a latency-only source writes, provenance date and library versions."""

from __future__ import annotations

import datetime as _dt
import platform
import sys

from planner.profile.schema import ModelArch


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def versions() -> dict:
    out = {"python": platform.python_version()}
    for mod in ("torch", "transformers", "numpy", "scipy"):
        m = sys.modules.get(mod)
        if m is None:
            try:
                m = __import__(mod)
            except ImportError:
                continue
        out[mod] = getattr(m, "__version__", "?")
    try:
        from planner import __version__

        out["tts-planner"] = __version__
    except ImportError:
        pass
    return out


def arch_dict(a: ModelArch) -> dict:
    d = {k: getattr(a, k) for k in ("name", "params", "layers", "hidden", "heads", "kv_heads", "head_dim",
                                    "vocab", "dtype_bytes", "hf_id", "max_context")}
    return {k: v for k, v in d.items() if v is not None}


def coeff_dict(c) -> dict:
    d = {"t0_s": round(c.t0_s, 7), "weight_bw_GBps": round(c.weight_bw_GBps, 4), "kv_bw_GBps": round(c.kv_bw_GBps, 4),
         "tflops": round(c.tflops, 6)}
    if c.allreduce_s:
        d["allreduce_s"] = c.allreduce_s
    if c.verify_s:
        d["verify_s"] = round(c.verify_s, 7)
    if c.fit_rel_error is not None:
        d["fit_rel_error"] = c.fit_rel_error
    return d


def placeholder_accuracy() -> dict:
    return {"kind": "parametric", "beta_a": 1.0, "beta_b": 1.0, "wrong_mode_share": 0.5,
            "source": "placeholder: accuracy not measured by this calibration (run with --accuracy for a bank)"}
