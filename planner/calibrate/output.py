"""What every calibration source hands back, and the one way it becomes a profile file.

Sources (device sweeps, whole engine rounds, an endpoint, a points CSV) differ in what they can measure, not
in how a profile is built or written: `save` runs the one assembler (planner.profile.assemble) and the one
atomic writer (planner.profile.writer) for all of them, `planner calibrate` and `planner demo` alike."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from planner.profile.assemble import ProfileParts, assemble
from planner.profile.schema import Profile
from planner.profile.writer import bank_accuracy, write_profile


@dataclass
class Measured:
    parts: ProfileParts
    bank: list[dict] | None = None          # tts-bank/1 lines, written as PROFILE.bank.<sha>.jsonl
    sidecars: dict[str, str] | None = None  # extra files next to the profile (name -> text)


def save(m: Measured, path: str | os.PathLike) -> Profile:
    """Assemble, validate and write the profile (and its bank and sidecars) atomically."""
    if m.bank:
        m.parts.accuracy = bank_accuracy(m.parts.accuracy, f"{Path(path).stem}.bank.jsonl")  # named by write_profile
    return write_profile(assemble(m.parts, origin=str(path)), path, m.bank, m.sidecars)
