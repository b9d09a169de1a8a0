"""`planner` entry point: builds the argparse tree from the command registry and keeps the error contract.

Exit codes: 0 ok; 2 bad input or a fixable environment problem (PlannerError, argparse errors, a full disk):
one line `planner: error: ...`; 1 anything unexpected (a bug): one line and a hint to rerun with `--debug`,
which prints the traceback; 130 interrupted (Ctrl-C); 143 terminated (SIGTERM). Never a traceback otherwise."""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import os
import re
import signal
import sys
import threading
import traceback

from planner import __version__
from planner.commands import COMMANDS
from planner.errors import PlannerError

# (dest, dest, flag, flag): options that cannot be given together
CONFLICTS = (("deadline", "no_deadline", "--deadline", "--no-deadline"),)
_WRITE_ERRNOS = {errno.ENOSPC: "free some space", errno.EDQUOT: "free some space",
                 errno.EFBIG: "the file size limit (ulimit -f) was reached", errno.EROFS: "read-only file system",
                 errno.EIO: "input/output error", errno.EBADF: "is the output closed?",
                 errno.EACCES: "check the permissions", errno.ENAMETOOLONG: "use a shorter path"}


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so `finally` blocks (temp-file cleanup) run before exiting."""


class _Parser(argparse.ArgumentParser):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        # `--deadline -5s` is a (bad) value, not an unknown flag: anything that starts like a number is a value,
        # so the value's own check says what is wrong instead of "expected one argument"
        self._negative_number_matcher = re.compile(r"^-(\.?\d|inf|nan)", re.IGNORECASE)

    def error(self, message: str):  # one line, exit 2 (argparse's own usage dump is noise)
        raise PlannerError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="planner", description="Deadline-aware test-time-scaling planner.")
    parser.add_argument("--version", action="version", version=f"tts-planner {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error "
                        "(also accepted after the command; or set PLANNER_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"planner.commands.{name}").register(sub)
    return parser


def _take_debug(argv: list[str]) -> tuple[list[str], bool]:
    """Remove `--debug` wherever it is (before a `--`), so it works after the sub-command too."""
    end = argv.index("--") if "--" in argv else len(argv)
    debug = "--debug" in argv[:end]
    return [a for i, a in enumerate(argv) if not (i < end and a == "--debug")], debug


def _check_conflicts(args) -> None:
    for a, b, fa, fb in CONFLICTS:
        if getattr(args, a, None) not in (None, False) and getattr(args, b, None) not in (None, False):
            raise PlannerError(f"{fa} and {fb} contradict each other: give only one")


def _line(message: str) -> None:
    text = " ".join(str(message).split())  # one line, whatever the exception carried
    with contextlib.suppress(Exception):
        print(f"planner: error: {text[:2000]}", file=sys.stderr)


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush cannot complain."""
    with contextlib.suppress(Exception):
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())


def _run(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _check_conflicts(args)
    rc = int(args.func(args) or 0)
    if sys.stdout is not None:
        sys.stdout.flush()  # a full disk or a closed pipe surfaces here, inside the handlers below
    return rc


def main(argv: list[str] | None = None) -> int:
    argv, debug = _take_debug(list(sys.argv[1:] if argv is None else argv))
    debug = debug or os.environ.get("PLANNER_DEBUG", "") not in ("", "0")
    hint = "; rerun with --debug for the traceback" if not debug else ""
    if sys.stdout is None:
        _line("standard output is closed; redirect it (e.g. >/dev/null) instead of closing it")
        return 2
    old = {}

    def _terminate(signum, _frame):
        raise _Terminated()
    if threading.current_thread() is threading.main_thread():
        old[signal.SIGTERM] = signal.signal(signal.SIGTERM, _terminate)
        if hasattr(signal, "SIGXFSZ"):  # exceeding `ulimit -f` raises EFBIG (one line) instead of killing us
            old[signal.SIGXFSZ] = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        return _run(argv)
    except PlannerError as e:
        if debug:
            traceback.print_exc()
        _line(e)
        return e.exit_code
    except KeyboardInterrupt:
        print("planner: interrupted", file=sys.stderr)
        return 130
    except _Terminated:
        print("planner: terminated", file=sys.stderr)
        return 143
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except SystemExit as e:  # argparse --help/--version, or a library calling sys.exit
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException as e:  # the last resort: one line, exit 1, the traceback only with --debug
        if debug:
            traceback.print_exc()
        if isinstance(e, OSError) and e.errno in _WRITE_ERRNOS:
            if not e.filename:  # most likely stdout itself (`> /dev/full`): drop what is still buffered there
                _silence_stdout()
            where = f" {e.filename}" if e.filename else " the output"
            _line(f"cannot write{where}: {e.strerror or e} ({_WRITE_ERRNOS[e.errno]})")
            return 2
        if isinstance(e, RecursionError):
            _line(f"input nested too deeply (RecursionError){hint}")
        elif isinstance(e, MemoryError):
            _line(f"out of memory (MemoryError): try a smaller input or limit{hint}")
        else:
            _line(f"unexpected {type(e).__name__}: {e} (a bug: please report it){hint}")
        return 1
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    raise SystemExit(main())
