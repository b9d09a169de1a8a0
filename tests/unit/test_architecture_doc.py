"""docs/architecture.md's package table checked against the code: every path it lists exists, every planner
package and top-level module is listed, and its "torch" column is what the imports say (read with `ast`, the
walker of tests/unit/test_import_rule.py). `PLANNER_UPDATE_DOCS=1` rewrites the column from the code and appends a
row (its docstring's first line) for anything unlisted, so the table cannot drift silently."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

from test_import_rule import ROOT, imports_cache, module_name

DOC = ROOT / "docs" / "architecture.md"
HEAVY = ("torch", "transformers")
LEVELS = ("no", "when called", "yes")
ROW = re.compile(r"^\| (?P<paths>[^|]*`[^|]*) \| (?P<holds>.*) \| (?P<torch>[^|]*) \|$", re.M)


def rows(text: str) -> list[re.Match]:
    return [m for m in ROW.finditer(text) if "planner/" in m["paths"] or "tools/" in m["paths"]]


def paths_of(m: re.Match) -> list[str]:
    return re.findall(r"`([^`]+)`", m["paths"])


def _heavy(t: str) -> bool:
    return t.split(".")[0] in HEAVY


def at_import(mod: str, imports: dict, seen: set | None = None) -> bool:
    """Importing mod loads torch/transformers (through module-level imports, planner modules included)."""
    seen = set() if seen is None else seen
    if mod in seen:
        return False
    seen.add(mod)
    return any(_heavy(t) or (t in imports and at_import(t, imports, seen)) for t in imports[mod][0])


def torch_level(mod: str, imports: dict) -> str:
    """'yes' when importing it loads torch; 'when called' when one of its functions imports torch or a module
    that loads it; else 'no'."""
    if at_import(mod, imports):
        return "yes"
    top, lazy = imports[mod]
    return "when called" if any(_heavy(t) or (t in imports and at_import(t, imports)) for t in top | lazy) else "no"


def modules_under(path: str, imports: dict) -> list[str]:
    p = ROOT / path
    files = sorted(p.rglob("*.py")) if p.is_dir() else [p]
    return [module_name(f) for f in files if module_name(f) in imports]


def row_level(m: re.Match, imports: dict) -> str:
    mods = [x for p in paths_of(m) if p.startswith("planner/") for x in modules_under(p, imports)]
    return max((torch_level(x, imports) for x in mods), key=LEVELS.index, default="no")


def unlisted(listed: list[str], base: Path = ROOT) -> list[str]:
    """Top-level packages (folders holding Python files) and modules of base/planner that no listed path covers."""
    covered = [(base / p).resolve() for p in listed]
    root = base / "planner"
    items = [d for d in root.iterdir() if d.is_dir() and any(d.rglob("*.py"))] + list(root.glob("*.py"))
    return sorted(str(i.relative_to(base)) + ("/" if i.is_dir() else "") for i in items
                  if not any(i.resolve() == c or c in i.resolve().parents for c in covered))


def _first_line(path: Path) -> str:
    f = path / "__init__.py" if path.is_dir() else path
    doc = ast.get_docstring(ast.parse(f.read_text())) if f.is_file() else None
    return (doc or "(describe)").split("\n")[0].replace("|", "/")


def test_every_listed_path_exists_and_every_planner_package_is_listed():
    text = DOC.read_text()
    table = rows(text)
    assert len(table) >= 10, "docs/architecture.md: package table not found"
    listed = [p for m in table for p in paths_of(m) if p.startswith(("planner/", "tools/", "bench/"))]
    missing = [p for p in listed if not (ROOT / p).exists()]
    assert missing == [], f"docs/architecture.md lists paths that do not exist: {missing}"
    todo = unlisted(listed)
    if todo and os.environ.get("PLANNER_UPDATE_DOCS") == "1":
        end = table[-1].end()
        new = "".join(f"\n| `{p}` | {_first_line(ROOT / p)} | no |" for p in todo)
        DOC.write_text(text[:end] + new + text[end:])
        return
    assert todo == [], f"planner packages/modules missing from docs/architecture.md's table: {todo} " \
                       "(run PLANNER_UPDATE_DOCS=1 pytest tests/unit/test_architecture_doc.py, then describe them)"


def test_torch_column_matches_the_imports():
    text = DOC.read_text()
    got, want = {}, {}
    for m in rows(text):
        if not any(p.startswith("planner/") for p in paths_of(m)):
            continue
        key = m["paths"]
        got[key] = next((lv for lv in LEVELS[::-1] if m["torch"].strip().startswith(lv)), m["torch"].strip())
        want[key] = row_level(m, imports_cache)
    if got != want and os.environ.get("PLANNER_UPDATE_DOCS") == "1":
        for m in rows(text)[::-1]:
            if m["paths"] in want and got[m["paths"]] != want[m["paths"]]:
                text = text[:m.start("torch")] + want[m["paths"]] + text[m.end("torch"):]
        DOC.write_text(text)
        return
    assert got == want, "docs/architecture.md's torch column drifted: run PLANNER_UPDATE_DOCS=1 pytest " \
                        "tests/unit/test_architecture_doc.py"


def test_the_checks_can_fail(tmp_path):
    """Planted cases: an unlisted package and module, a module loading torch at import, one only when called."""
    pkg = tmp_path / "planner"
    for d in ("engine/backends", "data", "empty"):
        (pkg / d).mkdir(parents=True)
    (pkg / "engine" / "backends" / "kv.py").write_text("import torch\n")
    (pkg / "data" / "__init__.py").write_text("")
    (pkg / "cli.py").write_text("")
    assert unlisted([], tmp_path) == ["planner/cli.py", "planner/data/", "planner/engine/"]
    assert unlisted(["planner/engine/", "planner/cli.py"], tmp_path) == ["planner/data/"]
    fake = {"a.kv": ({"torch"}, set()), "a.decode": ({"a.kv"}, set()), "a.setup": (set(), {"a.decode"}),
            "a.report": ({"numpy"}, set())}
    assert [torch_level(x, fake) for x in fake] == ["yes", "yes", "when called", "no"]
