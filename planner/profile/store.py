"""Finding and loading profiles: shipped ones by name (works from a wheel and from a source checkout),
or any JSON file by path."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from planner.errors import PlannerError
from planner.io import read_json
from planner.profile.schema import Profile

DEFAULT_PROFILE = "h100-sxm-qwen2.5-7b"


def shipped_dir() -> Path:
    """`profiles/` is installed as `planner/_profiles` in the wheel; a source checkout uses the repo folder."""
    here = Path(__file__).resolve().parent.parent
    installed = here / "_profiles"
    return installed if installed.is_dir() else here.parent / "profiles"


def list_profiles() -> list[str]:
    d = shipped_dir()
    return sorted(p.stem for p in d.glob("*.json")) if d.is_dir() else []


def find_profile(name_or_path: str) -> Path:
    """A path to an existing file wins; otherwise a shipped profile name (file stem)."""
    p = Path(name_or_path)
    if p.suffix == ".json" or "/" in name_or_path or p.exists():
        if p.is_file():
            return p
        if p.suffix == ".json" or "/" in name_or_path:
            raise PlannerError(f"profile file not found: {name_or_path}")
    cand = shipped_dir() / f"{name_or_path}.json"
    if cand.is_file():
        return cand
    names = list_profiles()
    close = [n for n in names if name_or_path.lower() in n]
    hint = f"; did you mean {', '.join(close[:4])}?" if close else "; `planner profiles` lists them"
    raise PlannerError(f"unknown profile {name_or_path!r}{hint}")


@functools.lru_cache(maxsize=64)
def _load_cached(path: str, mtime: float) -> Profile:
    return Profile.from_dict(read_json(path, "profile"), origin=path)


def load_profile(name_or_path: str | None = None) -> Profile:
    path = find_profile(name_or_path or DEFAULT_PROFILE)
    return _load_cached(str(path), path.stat().st_mtime)


def profile_json(profile: Profile) -> str:
    return json.dumps(profile.to_dict(), indent=2)
