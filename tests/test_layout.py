"""The shape of the house: no import cycle inside lmkit, modules small enough to read in one
sitting, the layers importing downwards only, and every package saying what lives in it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lmkit"
MAX_LINES = 400
# Library code never imports these: recipes build the shipped models, exercises grade readers.
TOP_LAYERS = ("lmkit.recipes", "lmkit.exercises")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """lmkit modules that ``path`` imports anywhere (function bodies included).

    ``from pkg import sub`` counts as importing ``pkg.sub`` (not ``pkg``) when that is a module:
    Python runs ``pkg/__init__`` first either way, which is no cycle.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    # `if TYPE_CHECKING:` blocks never run; the annotations they serve are strings.
    skipped = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for stmt in node.body
        for inner in ast.walk(stmt)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            subs = [f"{base}.{alias.name}" for alias in node.names]
            # `from pkg import name`: an edge to pkg only if some name is not a submodule
            targets = subs + ([base] if any(sub not in known for sub in subs) else [])
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target.startswith("lmkit") and target != name and target != "lmkit":
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, name, known) for name, path in modules.items()}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_import_graph_sees_function_level_and_relative_imports(tmp_path):
    module = tmp_path / "lmkit" / "x" / "y.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import lmkit.q\n"
        "def f():\n    from lmkit.a import b, c\nfrom . import z\n"
    )
    known = {"lmkit.a", "lmkit.a.b", "lmkit.q", "lmkit.x.z", "lmkit.x.y"}
    # c is a name in lmkit.a, so lmkit.a itself is imported too; z is a submodule only
    assert _imports(module, "lmkit.x.y", known) == {"lmkit.a", "lmkit.a.b", "lmkit.x.z"}


def test_no_import_cycle_inside_lmkit():
    cycle = _find_cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_library_modules_never_import_recipes_or_exercises():
    offenders = [
        f"{name} imports {target}"
        for name, targets in _graph().items()
        if not name.startswith(TOP_LAYERS)
        for target in targets
        if target.startswith(TOP_LAYERS)
    ]
    assert not offenders, offenders


def test_recipes_do_not_import_each_other():
    offenders = [
        f"{name} imports {target}"
        for name, targets in _graph().items()
        if name.startswith("lmkit.recipes.")
        for target in targets
        if target.startswith("lmkit.recipes.") and not target.startswith("lmkit.recipes._")
        and target != name
    ]
    assert not offenders, offenders


@pytest.mark.parametrize("name", sorted(_modules()))
def test_every_module_is_short_enough_to_read_in_one_sitting(name):
    lines = len(_modules()[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines; split it by concept"


def test_every_package_says_what_lives_in_it():
    for init in sorted(PACKAGE.rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc) > 40, f"{init.relative_to(ROOT)} needs a docstring"
