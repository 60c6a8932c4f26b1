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

import pkgutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import keyops.core
import keyops.core.api as api
from tests.support.import_graph import Graph, cycles
from tests.support.import_graph import import_graph as import_graph_of

# Low to high: a module may import its own package and the layers below it, never a sibling
# on its layer or one above (the packages of one layer know nothing of each other).
CORE_LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"errors"}),
    frozenset({"retry", "timestamps", "safe_text", "logs", "settings", "secret_file"}),
    frozenset({"schema"}),
    frozenset({"wire", "connection"}),
    frozenset({"usage"}),  # usage figures: queries filter on them
    frozenset({"store", "query"}),
    frozenset({"seeding"}),  # a seed checks the DB first (store.probe)
    frozenset({"edits"}),
    frozenset({"batch"}),
    frozenset({"api"}),
)

PACKAGES = ("keyops.core", "keyops.tui", "keyops.cli")


def import_graph() -> Graph:
    return import_graph_of(*PACKAGES)


@pytest.fixture
def sample_package(tmp_path: Path) -> Iterator[str]:
    """A package whose modules import each other only lazily or for type checking."""
    root = tmp_path / "cyclesample"
    root.mkdir()
    files = {
        "__init__.py": "",
        "top.py": "from cyclesample.lazy import helper\n",
        "lazy.py": """
            def helper():
                from cyclesample import top  # hides the cycle until helper() runs
                return top
        """,
        "typed.py": """
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                from .alone import Thing
        """,
        "alone.py": "from . import typed\nclass Thing: ...\n",
        "leaf.py": "import cyclesample.alone\n",
    }
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text), encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        yield "cyclesample"
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.split(".")[0] == "cyclesample"]:
            del sys.modules[name]


def test_the_cycle_finder_counts_lazy_and_type_only_imports(sample_package: str) -> None:
    graph = import_graph_of(sample_package)
    assert cycles(graph) == [
        ["cyclesample.alone", "cyclesample.typed"],
        ["cyclesample.lazy", "cyclesample.top"],
    ]


def test_no_import_cycles_in_core_tui_or_cli() -> None:
    graph = import_graph()
    assert "keyops.tui.app" in graph and "keyops.cli.main" in graph
    assert cycles(graph) == []


def test_no_module_imports_the_console_app() -> None:
    # Screens see the console through tui/context.py's protocol, so the app may import them all.
    graph = import_graph()
    importers = sorted(name for name, targets in graph.items() if "keyops.tui.app" in targets)
    assert importers == ["keyops.cli.launcher"]  # only the launcher, which starts it


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
