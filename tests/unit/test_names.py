"""Names that say one thing: no class defined in two planner modules (there were three `Problem`s: a dataset
question, a bank's samples, a miniworld task), and no function named like a planner package that is also a command
(`calibrate` was a package, a command, a module and a function). Read from the code with `ast`; the checkers are tried on planted
clashes so they can fail."""

from __future__ import annotations

import pytest

import ast
from collections import defaultdict
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "planner"


def class_clashes(root: Path) -> dict[str, list[str]]:
    """Top-level class names defined in more than one module under root."""
    seen: dict[str, list[str]] = defaultdict(list)
    for f in sorted(root.rglob("*.py")):
        for node in ast.parse(f.read_text()).body:
            if isinstance(node, ast.ClassDef):
                seen[node.name].append(str(f.relative_to(root)))
    return {k: v for k, v in seen.items() if len(v) > 1}


def functions_named_like_packages(root: Path) -> list[str]:
    """Functions or methods (any depth) named like a package under root that is also a command (a module of
    root/commands): the names a reader meets as a directory, a subcommand and a call."""
    packages = {d.name for d in root.rglob("*") if d.is_dir() and (d / "__init__.py").is_file()}
    packages &= {f.stem for f in (root / "commands").glob("*.py")}
    out = []
    for f in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in packages:
                out.append(f"{f.relative_to(root)}:{node.lineno} {node.name}")
    return out


def test_no_class_name_is_defined_twice_in_planner():
    assert class_clashes(PKG) == {}


@pytest.mark.slow
def test_no_function_is_named_like_a_planner_package_and_command():
    assert (PKG / "calibrate" / "__init__.py").is_file() and (PKG / "commands" / "calibrate.py").is_file()
    assert functions_named_like_packages(PKG) == []


def test_the_checkers_find_planted_clashes(tmp_path):
    for pkg in ("calibrate", "executor", "commands"):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "commands" / "calibrate.py").write_text("def run(args):\n    pass\n")
    (tmp_path / "executor" / "datasets.py").write_text("class Problem:\n    pass\n")
    (tmp_path / "bank.py").write_text("class Problem:\n    pass\n\nclass Bank:\n    def calibrate(self):\n"
                                      "        pass\n\ndef executor():\n    pass\n")   # a package, but no command: allowed
    (tmp_path / "cli.py").write_text("def main():\n    def calibrate():\n        pass\n")
    assert class_clashes(tmp_path) == {"Problem": ["bank.py", "executor/datasets.py"]}
    assert functions_named_like_packages(tmp_path) == ["bank.py:5 calibrate", "cli.py:2 calibrate"]
