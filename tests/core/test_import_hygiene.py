"""The core must never import Textual or a front end: the headless CLI and any other front end rely on it."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import keyops.core


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
