"""Results streamed to disk as they finish, so nothing finished is lost and an interrupted run can resume.

Why: `run`, `eval` and `validate` spend seconds to minutes per problem. Each finished record is appended to
`FILE.partial` (one JSON line, flushed, fsynced at least once a second and at the end) and only a complete
run renames it to FILE in one step, so FILE is either the old content or the new complete one, and a kill -9,
Ctrl-C, full disk or dead server leaves every finished record in `FILE.partial`. `--resume` reads it back
(or a complete FILE, to extend it), skips the problems it holds and appends the rest. A `.partial` left by an
interrupted run is never silently overwritten: without --resume the command refuses to start."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import time
from pathlib import Path
from typing import Callable

from planner.checks import dumps_json, loads_json
from planner.errors import PlannerError
from planner.io import _fsync_dir, _kind, _os_error, _target  # the same replacement rules as every other write

FSYNC_EVERY_S = 1.0


def check_output(path: str | os.PathLike, flag: str = "--out") -> Path:
    """Refuse an output path that cannot be written, before any work (missing directory, a directory, a
    read-only file): one line naming the flag."""
    p = Path(path)
    if not str(path).strip():
        raise PlannerError(f"{flag} is empty: give a file name, e.g. results.jsonl")
    real, st = _target(p)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise PlannerError(f"{flag} {p} is a directory: give a file name inside it")
    if st is not None and not stat.S_ISREG(st.st_mode):  # /dev/null, a pipe: FILE.partial could not sit beside it
        raise PlannerError(f"{flag} {p} is {_kind(st)}: give a regular file (or leave {flag} out)")
    if st is not None and (not st.st_mode & 0o222 or not os.access(real, os.W_OK)):
        raise PlannerError(f"{flag} {p} is read-only (chmod u+w it or choose another path)")
    parent = real.parent if str(real.parent) else Path(".")
    if not parent.is_dir():
        raise PlannerError(f"{flag} {p}: directory {parent} does not exist (create it first)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PlannerError(f"{flag} {p}: directory {parent} is not writable")
    return p


def _read_records(path: Path, what: str, truncate_tail: bool) -> list[dict]:
    """Records of a results file. A last line cut by a kill (no newline, not JSON) is dropped, and with
    `truncate_tail` cut from the file so appending continues on a clean line; a bad line elsewhere is an error."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise _os_error(f"read {what}", path, e) from None
    lines = raw.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    out = []
    for i, line in enumerate(lines, 1):
        if line.strip():
            out.append(_record(line, what, path, i))
    if tail.strip():
        try:
            out.append(_record(tail, what, path, len(lines) + 1))
            tail = b""
        except PlannerError:
            if truncate_tail:
                try:
                    with open(path, "r+b") as f:
                        f.truncate(len(raw) - len(tail))
                except OSError as e:
                    raise _os_error("repair", path, e) from None
    return out


def _record(line: bytes, what: str, path: Path, lineno: int) -> dict:
    try:
        obj = loads_json(line.decode("utf-8"), f"{what} {path}: line {lineno}")
    except UnicodeDecodeError:
        raise PlannerError(f"{what} {path}: line {lineno} is not UTF-8 text") from None
    if not isinstance(obj, dict):
        raise PlannerError(f"{what} {path}: line {lineno} is not a JSON object")
    return obj


class ResultStream:
    """Append-only JSONL results with resume. `key(record)` names the unit of work a record completes;
    `check(record)` returns why a resumed record does not belong to this run (other settings) or None."""

    def __init__(self, path: str | os.PathLike, key: Callable[[dict], str], resume: bool = False,
                 command: str = "run", flag: str = "--out", unit: str = "problems",
                 check: Callable[[dict], str | None] | None = None):
        self.path = check_output(path, flag)
        self.partial = Path(str(self.path) + ".partial")
        self.key, self.command, self.unit = key, command, unit
        self.records: list[dict] = []        # resumed first, then new, in file order
        self.done: dict[str, dict] = {}
        self.new = 0
        self._fd: int | None = None
        self._synced = 0.0
        pst = _target(self.partial)[1]
        if pst is not None and not stat.S_ISREG(pst.st_mode):
            raise PlannerError(f"{self.partial} exists and is not a file: remove it")
        if pst is not None and not resume:
            n = len(_read_records(self.partial, "partial results", truncate_tail=False))
            raise PlannerError(f"{self.partial} holds {n} finished {unit} of an interrupted run: pass --resume to "
                               f"continue it, or delete that file to start over")
        self._from_final = False
        if resume:
            if pst is not None:
                resumed = _read_records(self.partial, "partial results", truncate_tail=True)
            elif _target(self.path)[1] is not None:
                resumed, self._from_final = _read_records(self.path, "results", truncate_tail=False), True
            else:
                resumed = []
            for rec in resumed:
                why = check(rec) if check else None
                if why:
                    src = self.path if self._from_final else self.partial
                    raise PlannerError(f"cannot resume from {src}: {why}; rerun with the same settings, or "
                                       "delete it to start over")
                self._remember(rec)

    def _remember(self, rec: dict) -> None:
        k = self.key(rec)
        if k not in self.done:
            self.records.append(rec)
        self.done[k] = rec

    def has(self, key: str) -> bool:
        return key in self.done

    def _open(self) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        try:
            if self._from_final:  # extending a complete file: its records go first into the new partial
                self._fd = os.open(self.partial, flags | os.O_TRUNC, 0o666)
                os.write(self._fd, "".join(dumps_json(r, str(self.path)) + "\n" for r in self.records).encode())
                self._from_final = False
            else:
                self._fd = os.open(self.partial, flags, 0o666)
        except OSError as e:
            self._fd = None
            raise _os_error("write", self.partial, e) from None

    def append(self, rec: dict) -> None:
        """Write one finished record now (one write of one line; fsynced at least every FSYNC_EVERY_S)."""
        line = (dumps_json(rec, str(self.partial)) + "\n").encode("utf-8")
        if self._fd is None:
            self._open()
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(self._fd, view):]
            if time.monotonic() - self._synced >= FSYNC_EVERY_S:
                os.fsync(self._fd)
                self._synced = time.monotonic()
        except OSError as e:
            raise _os_error("write", self.partial, e) from None
        self._remember(rec)
        self.new += 1

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None

    def finish(self) -> Path:
        """The run is complete: FILE.partial becomes FILE in one rename (FILE's mode kept, symlinks followed)."""
        self.close()
        if not self.partial.exists():
            if _target(self.path)[1] is not None and not self.new and self.records:
                return self.path  # resumed from a complete FILE and nothing was left to do
            self._open()      # a run with no records still leaves an (empty) file
            self.close()
        real, st = _target(self.path)
        try:
            if st is not None:
                os.chmod(self.partial, stat.S_IMODE(st.st_mode))
            os.replace(self.partial, real)
        except OSError as e:
            raise _os_error("write", self.path, e) from None
        _fsync_dir(real.parent if str(real.parent) else Path("."))
        return self.path

    def hint(self, total: int | None = None) -> str:
        """Where the finished records are and how to continue (empty when nothing was saved)."""
        if not self.partial.exists():
            return ""
        of = f" of {total}" if total is not None else ""
        return (f"{len(self.records)}{of} {self.unit} finished and saved in {self.partial}; rerun the same "
                f"command with --resume to finish")

    @contextlib.contextmanager
    def guard(self, total: int | None = None):
        """On any failure: close (fsync) the partial file and say how to resume — inside the one error line
        for a PlannerError, as a note line before the interrupt/termination message otherwise."""
        try:
            yield self
        except PlannerError as e:
            self.close()
            h = self.hint(total)
            raise PlannerError(f"{e} ({h})" if h else str(e)) from None
        except BaseException:
            self.close()
            h = self.hint(total)
            if h:
                print(f"planner {self.command}: {h}", file=sys.stderr)
            raise
