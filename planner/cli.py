"""`planner` entry point: builds the argparse tree from the command registry and turns PlannerError
(and argparse errors) into one line on stderr with exit code 2 - never a traceback for user mistakes."""

from __future__ import annotations

import argparse
import importlib
import sys

from planner import __version__
from planner.commands import COMMANDS
from planner.errors import PlannerError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse's own usage dump is noise)
        raise PlannerError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="planner", description="Deadline-aware test-time-scaling planner.")
    parser.add_argument("--version", action="version", version=f"tts-planner {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"planner.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except PlannerError as e:
        print(f"planner: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("planner: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
