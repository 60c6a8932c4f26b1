"""How the packages may import each other, checked from the source.

- No import cycle anywhere in keyops.core, keyops.tui or keyops.cli. Every import counts,
  wherever it stands: a function-local ("lazy") import only hides a cycle until the function
  runs, and a type-only one still ties the two modules together.
- The front ends reach the core through its facade: the TUI and the CLI each import at most
  three keyops.core modules.
- The core imports no front end (statically, and Textual never shows up when it runs).
- Inside the core, imports point down the layers (models below what uses them), and importing
  the facade costs nothing the cheapest command does not need.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import keyops.core
import keyops.core.api as api

REPOSITORY = Path(__file__).resolve().parents[2]
FOLDERS = {"keyops.core": "core", "keyops.tui": "tui", "keyops.cli": "cli"}

# Low to high: a module may import its own package and the layers below it, never a sibling
# on its layer or one above (the packages of one layer know nothing of each other).
CORE_LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"errors"}),
    frozenset({"retry", "timestamps", "logs", "settings"}),
    frozenset({"schema"}),
    frozenset({"wire", "connection"}),
    frozenset({"store", "query", "seeding"}),
    frozenset({"edits"}),
    frozenset({"batch"}),
    frozenset({"api"}),
)

Graph = dict[str, set[str]]


def source_modules() -> dict[str, Path]:
    """Every module of the three packages (package __init__ files included) and its file."""
    modules: dict[str, Path] = {}
    for package, folder in FOLDERS.items():
        for path in sorted((REPOSITORY / folder).rglob("*.py")):
            parts = list(path.relative_to(REPOSITORY / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([package, *parts])] = path
    return modules


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The keyops modules a file imports anywhere: at the top, in functions, type-only."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("keyops"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("keyops"):
            assert node.level == 0, f"{path}: relative import"
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in known else node.module)
    return found


def import_graph() -> Graph:
    modules = source_modules()
    known = set(modules)
    return {name: imports_of(path, known) - {name} for name, path in modules.items()}


def cycles(graph: Graph) -> list[list[str]]:
    """Groups of modules that import each other round a loop (Tarjan's strongly connected
    components of more than one module)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in graph.get(module, ()):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_the_cycle_finder_sees_lazy_and_type_only_imports(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from keyops.core.api import KeyopsSession\n"
        "def later():\n    from keyops.core.store import key_table\n",
        encoding="utf-8",
    )
    assert imports_of(source, {"keyops.core.store.key_table"}) == {
        "keyops.core.api",
        "keyops.core.store.key_table",
    }
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles_in_core_tui_or_cli() -> None:
    graph = import_graph()
    assert "keyops.tui.app" in graph and "keyops.cli.main" in graph
    assert cycles(graph) == []


def test_each_front_end_imports_at_most_three_core_modules() -> None:
    graph = import_graph()
    for front_end in ("keyops.tui", "keyops.cli"):
        used = {
            target
            for module, targets in graph.items()
            if module.startswith(front_end)
            for target in targets
            if target.startswith("keyops.core")
        }
        assert len(used) <= 3, f"{front_end} imports {sorted(used)}"


def test_the_core_imports_no_front_end() -> None:
    graph = import_graph()
    leaks = {
        module: sorted(t for t in targets if t.startswith(("keyops.tui", "keyops.cli")))
        for module, targets in graph.items()
        if module.startswith("keyops.core")
    }
    assert {module: targets for module, targets in leaks.items() if targets} == {}


def test_no_core_module_pulls_in_textual() -> None:
    modules = sorted(
        info.name for info in pkgutil.walk_packages(keyops.core.__path__, prefix="keyops.core.")
    )
    assert "keyops.core.store.key_table" in modules and "keyops.core.batch.runner" in modules
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'textual'"
        " or m.startswith(('keyops.tui', 'keyops.cli')))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"core imported: {result.stdout.strip()}"


def _core_layer(module: str) -> tuple[int, str]:
    part = module.removeprefix("keyops.core").lstrip(".").split(".")[0]
    for number, layer in enumerate(CORE_LAYERS):
        if part in layer:
            return number, part
    raise AssertionError(f"{module} is on no layer: add its package to CORE_LAYERS")


def test_core_imports_point_down_the_layers() -> None:
    graph = import_graph()
    wrong = []
    for module, targets in graph.items():
        if not module.startswith("keyops.core.") or module.count(".") < 2:
            continue
        level, package = _core_layer(module)
        for target in targets:
            if not target.startswith("keyops.core.") or target == "keyops.core":
                continue
            target_level, target_package = _core_layer(target)
            if target_level > level or (target_level == level and target_package != package):
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_importing_the_facade_pulls_in_no_engine_seeding_pydantic_or_redis() -> None:
    # `keyops keys list` and `keyops --help` import it first: it must stay cheap.
    script = (
        "import sys, keyops.core.api\n"
        "heavy = ('keyops.core.batch', 'keyops.core.edits', 'keyops.core.seeding',"
        " 'keyops.core.store', 'pydantic', 'redis', 'fakeredis')\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith(heavy))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_everything_the_facade_exports_can_be_imported() -> None:
    exported = set(api._EXPORTS)
    assert exported <= set(api.__all__)
    for name in api.__all__:
        assert getattr(api, name) is not None, name
