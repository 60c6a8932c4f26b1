"""The core must never import Textual: the headless CLI and any other front end rely on it."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import core


def test_no_core_module_pulls_in_textual() -> None:
    modules = sorted(info.name for info in pkgutil.walk_packages(core.__path__, prefix="core."))
    assert "core.store.key_table" in modules and "core.cli.main" in modules
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.')"
        " or m == 'tui' or m.startswith('tui.'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"core imported: {result.stdout.strip()}"
