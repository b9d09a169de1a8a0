"""Write a profile: validated first, then atomically, bank beside it; and the output check done before measuring.

Written only after `Profile.from_dict` accepted it, so a failed or interrupted calibration never leaves a
half-written or invalid profile. The output location is checked before any measuring starts
(`check_writable`), so an unwritable `-o` costs seconds, not a 15-minute sweep. Every writer of profile JSON
(the calibration sources, the closed loop, `planner.profile.derive`) goes through `write_profile`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from planner.errors import PlannerError
from planner.io import atomic_write_json, atomic_write_text
from planner.profile.schema import SCHEMA, Profile


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


def write_profile(data: dict, path: str | os.PathLike, bank_lines: list[dict] | None = None,
                  sidecars: dict[str, str] | None = None) -> Profile:
    """Validate, then write the bank (if any; `PROFILE.bank.jsonl`, referenced relative to the profile), any
    sidecar files (name in the profile's folder -> text, e.g. the raw rounds of a closed-loop calibration) and the
    profile, each atomically; the profile last, so it never points at a bank that is not there yet."""
    path = Path(path)
    if data.get("schema") != SCHEMA:
        data = {"schema": SCHEMA, **data}
    bank_name = None
    if bank_lines:
        data["accuracy"] = bank_accuracy(data.get("accuracy", {}), path)
        bank_name = data["accuracy"]["path"]
    prof = Profile.from_dict(json.loads(json.dumps(data)), origin=str(path))  # also proves it is JSON-able
    if bank_name:
        atomic_write_text(path.parent / bank_name, "".join(json.dumps(x) + "\n" for x in bank_lines))
    for name, text in (sidecars or {}).items():
        atomic_write_text(path.parent / name, text)
    atomic_write_json(path, data)
    return prof


def bank_accuracy(accuracy: dict, path: str | os.PathLike) -> dict:
    """The accuracy section of a profile whose sample bank is written next to it as `PROFILE.bank.jsonl`."""
    out = {**accuracy, "kind": "bank", "path": f"{Path(path).stem}.bank.jsonl", "format": "tts-bank"}
    for k in ("beta_a", "beta_b", "wrong_mode_share"):
        out.pop(k, None)
    return out
