"""Write a profile: validated first, then with its bank as one atomic unit; and the output check done before
measuring.

Written only after `Profile.from_dict` accepted it, so a failed or interrupted calibration never leaves a
half-written or invalid profile. The output location is checked before any measuring starts
(`check_writable`), so an unwritable `-o` costs seconds, not a 15-minute sweep. Every writer of profile JSON
(the calibration sources, the closed loop, `planner.profile.derive`) goes through `write_profile`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from planner.errors import PlannerError
from planner.checks import dumps_json
from planner.io import atomic_write_bundle, content_name
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
    """Validate, then write profile, bank and sidecar files (name in the profile's folder -> text, e.g. the raw
    rounds of a closed-loop calibration) as one unit (`planner.io.atomic_write_bundle`): the bank under a
    content-addressed name `PROFILE.bank.<sha>.jsonl` first, the profile that names it last, then the bank the
    old profile named is removed. A crash at any point leaves the old pair or the new pair, never a mix."""
    path = Path(path)
    if data.get("schema") != SCHEMA:
        data = {"schema": SCHEMA, **data}
    parts = dict(sidecars or {})
    if bank_lines:
        bank_text = "".join(dumps_json(x, f"bank line {i + 1}") + "\n" for i, x in enumerate(bank_lines))
        bank_name = content_name(f"{path.stem}.bank", bank_text, ".jsonl")
        data["accuracy"] = bank_accuracy(data.get("accuracy", {}), bank_name)
        parts[bank_name] = bank_text
    prof = Profile.from_dict(json.loads(json.dumps(data)), origin=str(path))  # also proves it is JSON-able
    atomic_write_bundle(path, dumps_json(data, str(path), indent=2, sort_keys=False) + "\n", parts,
                        stale=_old_bank(path))
    return prof


def _old_bank(path: Path) -> list[str]:
    """The bank file the profile now at `path` names (to remove once the new pair is in place)."""
    try:
        acc = json.loads(path.read_text(encoding="utf-8")).get("accuracy") or {}
    except (OSError, ValueError, AttributeError):
        return []
    name = acc.get("path") if isinstance(acc, dict) else None
    return [name] if isinstance(name, str) and Path(name).name == name and ".bank" in name else []


def bank_accuracy(accuracy: dict, bank_name: str) -> dict:
    """The accuracy section of a profile whose sample bank `bank_name` is written next to it."""
    out = {**accuracy, "kind": "bank", "path": bank_name, "format": "tts-bank"}
    for k in ("beta_a", "beta_b", "wrong_mode_share"):
        out.pop(k, None)
    return out
