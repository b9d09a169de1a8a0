"""Finding and loading profiles: shipped ones by name (works from a wheel and from a source checkout),
or any JSON file by path."""

from __future__ import annotations

import functools
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


def _is_file(p: Path) -> bool:
    try:
        return p.is_file()
    except OSError:  # e.g. a name too long once ".json" is added
        return False


def find_profile(name_or_path: str) -> Path:
    """A path to an existing file wins; otherwise a shipped profile name (file stem)."""
    if not isinstance(name_or_path, str) or not name_or_path.strip() or "\0" in name_or_path:
        raise PlannerError(f"profile: expected a shipped name or a JSON file path, got {name_or_path!r}")
    p = Path(name_or_path)
    try:
        exists = p.exists()
    except OSError as e:  # a name too long for the file system, ...
        raise PlannerError(f"profile {name_or_path[:80]!r}: {e.strerror or e}") from None
    if exists and p.is_file():
        return p
    as_path = p.suffix == ".json" or "/" in name_or_path
    cand = shipped_dir() / f"{name_or_path}.json"
    if not as_path and _is_file(cand):
        return cand
    if exists:  # a directory or /dev/null: load_profile's read_json says what it is instead of "not found"
        return p
    if as_path:
        raise PlannerError(f"profile file not found: {name_or_path}")
    names = list_profiles()
    close = [n for n in names if name_or_path.lower() in n]
    hint = f"; did you mean {', '.join(close[:4])}?" if close else "; `planner profiles` lists them"
    raise PlannerError(f"unknown profile {name_or_path!r}{hint}")


@functools.lru_cache(maxsize=64)
def _load_cached(path: str, mtime: float) -> Profile:
    return Profile.from_dict(read_json(path, "profile"), origin=path)


def load_profile(name_or_path: str | None = None) -> Profile:
    path = find_profile(DEFAULT_PROFILE if name_or_path is None else name_or_path)
    if not path.is_file():
        read_json(path, "profile")  # raises: "profile /dev/null is a character device, not a file"
    return _load_cached(str(path), path.stat().st_mtime)
