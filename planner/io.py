"""File helpers: safe replacement (a crash, kill or full disk never leaves a half-written file or clobbers the old
one) and JSON/JSONL reading that turns every failure into one clear PlannerError line.

Replacement writes a temp file beside the target, fsyncs it, renames it over the target and fsyncs the
directory. It keeps the target's permission bits (new files get 0666 minus the umask, like `open()`), writes
through a symlink to the file it points to, refuses a read-only target, and removes its temp file when the
process is interrupted (SIGINT) or terminated (SIGTERM/SIGHUP). A profile and its bank are written as one unit
by `atomic_write_bundle`: the bank goes first under a content-addressed name and the profile that names it
last, so a reader sees either the old pair or the new pair, never a new profile with an old bank."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import signal
import stat
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from planner.checks import MAX_JSON_DEPTH, dumps_json, loads_json
from planner.errors import PlannerError

MAX_READ_BYTES = 256 << 20  # a profile, plan or config.json is kilobytes; refuse to slurp /dev/zero
_HINTS = {errno.ENOSPC: "free some space or choose another path", errno.EDQUOT: "free some space",
          errno.EFBIG: "the file size limit (ulimit -f) was reached", errno.EROFS: "choose a writable location",
          errno.EACCES: "check the permissions or choose another path",
          errno.ENAMETOOLONG: "use a shorter name", errno.ELOOP: "the path has a symlink loop"}


def _os_error(action: str, path: Path | str, e: OSError) -> PlannerError:
    hint = _HINTS.get(e.errno)
    return PlannerError(f"cannot {action} {path}: {e.strerror or e}" + (f" ({hint})" if hint else ""))


def _kind(st: os.stat_result) -> str:
    m = st.st_mode
    return ("a directory" if stat.S_ISDIR(m) else "a character device" if stat.S_ISCHR(m) else
            "a block device" if stat.S_ISBLK(m) else "a named pipe" if stat.S_ISFIFO(m) else
            "a socket" if stat.S_ISSOCK(m) else "not a regular file")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _cleanup_on_termination():
    """While a temp file exists, make SIGTERM/SIGHUP raise (as SIGINT does) so `finally` blocks remove it.
    Only from the main thread and only where nobody installed a handler (the CLI installs its own)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {}

    def _raise(signum, _frame):
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) == signal.SIG_DFL:
            old[sig] = signal.signal(sig, _raise)
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems cannot fsync a directory; the rename is still atomic
        pass
    finally:
        os.close(fd)


def _target(path: Path) -> tuple[Path, os.stat_result | None]:
    """The file a write really replaces (a symlink's target) and its stat, or None if it does not exist yet."""
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            path = Path(os.path.realpath(path))
        return path, path.stat()
    except FileNotFoundError:
        return path, None
    except OSError as e:
        raise _os_error("write", path, e) from None


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Replace `path` with `data` safely (see the module docstring); returns `path`."""
    path = Path(path)
    real, st = _target(path)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise PlannerError(f"cannot write {path}: it is a directory")
    if st is not None and not stat.S_ISREG(st.st_mode):  # /dev/null, a pipe: write into it, never replace it
        try:
            with open(real, "wb") as f:
                f.write(data)
        except OSError as e:
            raise _os_error("write", path, e) from None
        return path
    if st is not None and (not st.st_mode & 0o222 or not os.access(real, os.W_OK)):
        raise PlannerError(f"cannot write {path}: the file is read-only (chmod u+w it or choose another path)")
    parent = real.parent if str(real.parent) else Path(".")
    if not parent.is_dir():
        raise PlannerError(f"cannot write {path}: directory {parent} does not exist")
    mode = stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~_umask()
    with _cleanup_on_termination():
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{real.name[:64]}.", suffix=".tmp", dir=parent)
        except OSError as e:
            raise _os_error("write", path, e) from None
        try:
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), mode)
                if st is not None and os.geteuid() == 0:  # root rewriting someone's file keeps their ownership
                    with contextlib.suppress(OSError):
                        os.fchown(f.fileno(), st.st_uid, st.st_gid)
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, real)
        except BaseException as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if isinstance(e, OSError):
                raise _os_error("write", path, e) from None
            raise
    _fsync_dir(parent)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write `obj` as indented JSON; NaN/Infinity are refused (naming the field), not written as invalid JSON."""
    return atomic_write_text(path, dumps_json(obj, str(path), indent=2, sort_keys=False) + "\n")


def content_name(stem: str, data: str | bytes, suffix: str) -> str:
    """`stem.<16 hex of sha256>suffix`: a name that can never hold two different contents."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return f"{stem}.{hashlib.sha256(raw).hexdigest()[:16]}{suffix}"


def atomic_write_bundle(path: str | os.PathLike, text: str, parts: Mapping[str, str],
                        stale: Iterable[str] = ()) -> Path:
    """Write `parts` (name relative to path's directory -> text; use `content_name` names) first and `path`
    last, then delete the `stale` part names the new `path` no longer refers to. A crash at any point leaves
    the old `path` with the parts it names intact (at worst an unreferenced new part stays behind)."""
    path = Path(path)
    real, _ = _target(path)
    for name, part in parts.items():
        if Path(name).name != name:
            raise PlannerError(f"bundle part {name!r} must be a plain file name beside {path}")
        atomic_write_text(real.parent / name, part)
    atomic_write_text(path, text)
    for name in stale:
        if name not in parts and Path(name).name == name:
            with contextlib.suppress(OSError):
                os.unlink(real.parent / name)
    return path


def read_text(path: str | os.PathLike, what: str = "file", max_bytes: int = MAX_READ_BYTES) -> str:
    """A UTF-8 file's text; a missing, special, huge or unreadable file is one PlannerError naming `what`."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise PlannerError(f"{what} not found: {path}") from None
    except OSError as e:
        raise _os_error(f"read {what}", path, e) from None
    if not stat.S_ISREG(st.st_mode):
        raise PlannerError(f"{what} {path} is {_kind(st)}, not a file")
    if st.st_size > max_bytes:
        raise PlannerError(f"{what} {path} is {st.st_size / 2**20:.0f} MiB (at most {max_bytes >> 20} MiB)")
    try:
        with open(path, "rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError as e:
        raise _os_error(f"read {what}", path, e) from None
    if len(raw) > max_bytes:
        raise PlannerError(f"{what} {path} is larger than {max_bytes >> 20} MiB")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PlannerError(f"{what} {path} is not UTF-8 text (byte {e.start})") from None


def read_json(path: str | os.PathLike, what: str = "file", max_bytes: int = MAX_READ_BYTES,
              max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Strict JSON (see planner.checks.loads_json) from a file; an empty file says so."""
    path = Path(path)
    text = read_text(path, what, max_bytes)
    if not text.strip():
        raise PlannerError(f"{what} {path} is empty")
    return loads_json(text, f"{what} {path}", max_depth=max_depth)


def iter_jsonl(path: str | os.PathLike, what: str = "JSONL file", max_line_bytes: int = 64 << 20) -> Iterator[dict]:
    """Yield one dict per non-empty line; a corrupt, NaN-bearing, deep or huge line raises PlannerError naming
    the line number."""
    path = Path(path)
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise PlannerError(f"{what} {path} is {_kind(st)}, not a file")
        f = path.open("rb")
    except FileNotFoundError:
        raise PlannerError(f"{what} not found: {path}") from None
    except OSError as e:
        raise _os_error(f"read {what}", path, e) from None
    with f:
        lineno = 0
        while True:
            try:
                raw = f.readline(max_line_bytes + 1)
            except OSError as e:
                raise _os_error(f"read {what}", path, e) from None
            if not raw:
                return
            lineno += 1
            if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
                raise PlannerError(f"{what} {path}: line {lineno} is longer than {max_line_bytes >> 20} MiB")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise PlannerError(f"{what} {path}: line {lineno} is not UTF-8 text") from None
            if not line.strip():
                continue
            obj = _strict_line(line, what, path, lineno)
            if not isinstance(obj, dict):
                raise PlannerError(f"{what} {path}: line {lineno} is not a JSON object")
            yield obj


def _strict_line(line: str, what: str, path: Path, lineno: int) -> Any:
    try:
        return loads_json(line, "line")
    except PlannerError as e:
        msg = str(e).removeprefix("line ").replace("is not valid JSON (line 1, ", "is not valid JSON (")
        raise PlannerError(f"{what} {path}: line {lineno} {msg}") from None
