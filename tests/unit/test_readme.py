"""The README's example output is what `planner recommend --deadline 60s` prints today (it depends only on the
shipped default profile), so the page a user reads first cannot drift from the code. After an intended change:
`UPDATE_README=1 python -m pytest tests/unit/test_readme.py` rewrites the block; review the diff."""

from __future__ import annotations

import os
import re
from pathlib import Path

from planner.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"(Example output of command 1.*?\n\n```\n)(.*?)(```\n)", re.S)


def test_readme_example_is_the_commands_output(capsys):
    assert main(["recommend", "--deadline", "60s"]) == 0
    out = capsys.readouterr().out
    text = README.read_text(encoding="utf-8")
    m = BLOCK.search(text)
    assert m, "README lost its 'Example output of command 1' block"
    if os.environ.get("UPDATE_README") == "1":
        README.write_text(text[:m.start(2)] + out + text[m.end(2):], encoding="utf-8")
        return
    assert m.group(2) == out, "README example differs from `planner recommend --deadline 60s` (UPDATE_README=1)"


def test_readme_commands_exist():
    """Every `planner SUB` and every file the README points to exists (a renamed command or doc shows here)."""
    from planner.commands import COMMANDS

    text = README.read_text(encoding="utf-8")
    subs = set(re.findall(r"^\s*(?:\S+ && )?planner ([a-z]+)", text, re.M))
    assert subs and subs <= set(COMMANDS), subs - set(COMMANDS)
    for path in set(re.findall(r"\]\(((?:docs|bench|tests)/[^)#]+)", text)) | set(
            re.findall(r"`((?:bench|tests)/[\w./]+\.(?:py|sh))`", text)):
        assert (README.parent / path).exists(), path
