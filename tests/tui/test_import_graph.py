"""No import cycles: screens see the console through a protocol, never the app module, and no
module reaches back to one that imports it — lazy (function-local) and type-only imports count."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.import_graph import cycles, import_graph


@pytest.mark.parametrize("package", ["keyops.tui", "keyops.core"])
def test_no_import_cycles(package: str) -> None:
    graph = import_graph(package)
    assert len(graph) > 10  # the package was found and read
    assert cycles(graph) == []


def test_screens_do_not_import_the_app() -> None:
    graph = import_graph("keyops.tui")
    importers = sorted(name for name, targets in graph.items() if "keyops.tui.app" in targets)
    assert importers == []


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


def test_the_finder_counts_lazy_and_type_only_imports(sample_package: str) -> None:
    graph = import_graph(sample_package)
    assert cycles(graph) == [
        ["cyclesample.alone", "cyclesample.typed"],
        ["cyclesample.lazy", "cyclesample.top"],
    ]
