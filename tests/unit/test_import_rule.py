"""The import rule of the source tree (docs/architecture.md), read from the code itself with `ast`.

- `planner.calibrate` is a leaf: only the CLI (`planner.cli`, `planner.commands.*`) and `planner.demo` import it;
- `planner.demo` is imported by the CLI only;
- nothing in `planner` imports `tools` or `bench` (they are not in the wheel);
- no import cycle between files through module-level imports.

How lazy imports (inside a function body) count: for the three "who may import whom" rules they count like any
other import, since calling the function loads the module all the same. For cycles they do not: a lazy import
runs when the function is called, after both modules finished loading, so it cannot leave a half-initialised
module behind (that is what they are for, e.g. to keep torch off `planner recommend`'s path)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "planner"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _targets(node: ast.AST, here: str, is_pkg: bool, known: set[str]) -> list[str]:
    """Modules an import statement loads (`from a import b` is module a.b when that is a file, else a)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = here if is_pkg else here.rpartition(".")[0]
    for _ in range(max(node.level - 1, 0)):
        base = base.rpartition(".")[0]
    mod = node.module or ""
    if node.level:
        mod = f"{base}.{mod}" if mod else base
    return [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]


def imports() -> dict[str, tuple[set[str], set[str]]]:
    """module -> (module-level imports, imports inside functions)."""
    mods = modules()
    known = set(mods)
    out = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        top, lazy = set(), set()

        def walk(node: ast.AST, in_func: bool) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    (lazy if in_func else top).update(_targets(child, name, path.name == "__init__.py", known))
                walk(child, in_func or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

        walk(tree, False)
        out[name] = (top, lazy)
    return out


def _under(mod: str, pkg: str) -> bool:
    return mod == pkg or mod.startswith(pkg + ".")


def offenders(pkg: str, allowed: tuple[str, ...]) -> list[str]:
    return sorted(f"{m} imports {t}" for m, (top, lazy) in imports_cache.items() for t in top | lazy
                  if _under(t, pkg) and not any(_under(m, a) for a in allowed + (pkg,)))


def test_the_walk_sees_imports_of_every_kind():
    """Guards the walker itself: relative, `from package import module`, lazy and module-level imports."""
    got = imports_cache
    top, lazy = got["planner.commands.calibrate"]
    assert any(_under(t, "planner.calibrate") for t in lazy)       # lazy, inside run()
    assert "planner.calibrate.settings" in got["planner.demo.closed_loop"][0]   # module level
    assert "planner.calibrate.endpoint.probe" in got["planner.calibrate.endpoint.parts"][0]
    assert offenders("planner.calibrate", ()) and offenders("planner.demo", ())  # the rules below can fail


def test_calibrate_is_a_leaf_only_the_cli_and_demo_import():
    assert offenders("planner.calibrate", ("planner.cli", "planner.commands", "planner.demo")) == []


def test_demo_is_imported_by_the_cli_only():
    assert offenders("planner.demo", ("planner.cli", "planner.commands")) == []


def test_planner_never_imports_tools_or_bench_or_the_old_calibrate_package():
    bad = sorted(f"{m} imports {t}" for m, (top, lazy) in imports_cache.items() for t in top | lazy
                 if t.split(".")[0] in ("tools", "bench", "calibrate"))
    assert bad == []


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every back edge of a depth-first walk, as the cycle it closes."""
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return cycles


def test_cycle_finder_finds_a_planted_cycle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_no_file_level_import_cycle():
    graph = {m: {t for t in top if t in imports_cache} for m, (top, _) in imports_cache.items()}
    cycles = find_cycles(graph)
    assert cycles == [], " ; ".join(" -> ".join(c) for c in cycles)


imports_cache = imports()
