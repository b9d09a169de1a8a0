"""One exception type for everything the user can fix. The CLI turns it into one line on stderr and exit 2."""

from __future__ import annotations

import importlib.util

# What the `engine` extra brings that the commands running a model import (pyproject.toml [engine]).
ENGINE_MODULES = ("torch", "transformers")
# How to install each extra, from a checkout and from an installed package (tts-planner is not on PyPI:
# for `plot` the index form names matplotlib itself).
INSTALL_HINTS = {
    "engine": 'pip install ".[engine]" in a checkout (on a CPU-only machine first: pip install torch==2.13.0 '
              '--index-url https://download.pytorch.org/whl/cpu), or pip install "tts-planner[engine]"',
    "plot": 'pip install ".[plot]" in a checkout, or pip install matplotlib',
}


class PlannerError(Exception):
    """A user-facing error: bad input, infeasible request, missing file. Message is one line, no traceback."""

    exit_code = 2


def require_extra(modules=ENGINE_MODULES, extra: str = "engine", purpose: str = "this command") -> None:
    """Raise a one-line PlannerError naming the install command when an optional dependency is missing, so a
    light install (`pip install tts-planner`) gets an instruction instead of a ModuleNotFoundError traceback.
    Checks with find_spec: nothing heavy is imported here."""
    missing = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    if missing:
        hint = INSTALL_HINTS.get(extra, f'pip install ".[{extra}]" in a checkout, or pip install "tts-planner[{extra}]"')
        raise PlannerError(f"{purpose} needs the {extra} extra ({', '.join(missing)} not installed): {hint}")
