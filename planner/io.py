"""File helpers: atomic writes (a crash never leaves a half-written file or clobbers the old one) and
JSON/JSONL reading that turns every failure into one clear PlannerError line."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from planner.errors import PlannerError


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to a temp file in the same directory, fsync, then rename over `path`."""
    path = Path(path)
    if path.exists() and not path.is_file() and not path.is_dir():  # /dev/null, a pipe: write, never replace
        with path.open("w", encoding="utf-8") as f:
            f.write(text)
        return path
    if path.is_dir():
        raise PlannerError(f"cannot write {path}: it is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise PlannerError(f"cannot write {path}: directory {parent} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as e:
        raise PlannerError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_text(path: str | os.PathLike, what: str = "file") -> str:
    """A UTF-8 file's text; a missing or unreadable file is one PlannerError naming `what` and the path."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlannerError(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise PlannerError(f"cannot read {what} {path}: {e}") from None


def read_json(path: str | os.PathLike, what: str = "file") -> Any:
    path = Path(path)
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise PlannerError(f"{what} {path} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None


def iter_jsonl(path: str | os.PathLike, what: str = "JSONL file") -> Iterator[dict]:
    """Yield one dict per non-empty line; a corrupt line raises PlannerError naming the line number."""
    path = Path(path)
    try:
        f = path.open(encoding="utf-8")
    except FileNotFoundError:
        raise PlannerError(f"{what} not found: {path}") from None
    except OSError as e:
        raise PlannerError(f"cannot read {what} {path}: {e}") from None
    with f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise PlannerError(f"{what} {path}: line {lineno} is not valid JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise PlannerError(f"{what} {path}: line {lineno} is not a JSON object")
            yield obj
