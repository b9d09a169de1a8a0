"""Assemble and write a measured `tts-profile/1`: sections from the fits, provenance, raw data.

Written atomically and only after `Profile.from_dict` accepted it, so a failed or interrupted calibration never
leaves a half-written or invalid profile. The output location is checked before any measuring starts
(`check_writable`), so an unwritable `-o` costs seconds, not a 15-minute sweep."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
from pathlib import Path

from planner.errors import PlannerError
from planner.io import atomic_write_json, atomic_write_text
from planner.profile.schema import SCHEMA, ModelArch, Profile

DTYPE_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp32": 4.0}


def check_writable(path: str | os.PathLike) -> Path:
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise PlannerError(f"cannot write profile {path}: it is a directory")
    if not parent.is_dir():
        raise PlannerError(f"cannot write profile {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise PlannerError(f"cannot write profile {path}: permission denied")
    return path


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


def hub_id(name_or_path: str | None) -> str | None:
    """A Hugging Face hub id ("org/name"), or None for local folders and caches (no machine paths in profiles)."""
    if not name_or_path or name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") != 1:
        return None
    return None if os.path.exists(name_or_path) else name_or_path


def arch_from_model(model, name: str, dtype: str, hf_id: str | None = None) -> ModelArch:
    """Architecture facts of a loaded HF causal LM; params counted from its tensors (tied ones once)."""
    hf_id = hub_id(hf_id)
    cfg = model.config.get_text_config(decoder=True) if hasattr(model.config, "get_text_config") else model.config
    seen, params = set(), 0
    for p in model.parameters():
        if p.data_ptr() not in seen:
            seen.add(p.data_ptr())
            params += p.numel()
    heads = int(cfg.num_attention_heads)
    hidden = int(cfg.hidden_size)
    return ModelArch(name=name, params=float(params), layers=int(cfg.num_hidden_layers), hidden=hidden, heads=heads,
                     kv_heads=int(getattr(cfg, "num_key_value_heads", None) or heads),
                     head_dim=int(getattr(cfg, "head_dim", None) or hidden // heads), vocab=int(cfg.vocab_size),
                     dtype_bytes=DTYPE_BYTES.get(dtype, 2.0), hf_id=hf_id,
                     max_context=int(getattr(cfg, "max_position_embeddings", 0) or 0) or None)


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


def write_profile(data: dict, path: str | os.PathLike, bank_lines: list[dict] | None = None) -> Profile:
    """Validate, then write the bank (if any; referenced relative to the profile) and the profile, atomically."""
    import json

    path = Path(path)
    if data.get("schema") != SCHEMA:
        data = {"schema": SCHEMA, **data}
    bank_name = None
    if bank_lines:
        bank_name = f"{path.stem}.bank.jsonl"
        data["accuracy"] = {**data.get("accuracy", {}), "kind": "bank", "path": bank_name, "format": "tts-bank"}
        for k in ("beta_a", "beta_b", "wrong_mode_share"):
            data["accuracy"].pop(k, None)
    prof = Profile.from_dict(json.loads(json.dumps(data)), origin=str(path))  # also proves it is JSON-able
    if bank_name:
        atomic_write_text(path.parent / bank_name, "".join(json.dumps(x) + "\n" for x in bank_lines))
    atomic_write_json(path, data)
    return prof
