"""What `keyops` loads to answer: the short paths import no Redis, pydantic or core, and only
the console imports Textual. (How long they take is measured by bench/cli_startup.py.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Runs keyops in-process with the given arguments and reports which heavy modules it loaded.
PROBE = """
import contextlib, io, json, sys
from keyops.cli.launcher import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exit:
        code = exit.code
watched = ("asyncio", "redis", "pydantic", "textual", "rich", "keyops.core.store.key_table",
           "keyops.tui", "keyops.core.batch.planning")
loaded = sorted(name for name in watched if name in sys.modules)
print(json.dumps({"code": code, "loaded": loaded}))
"""


def loaded_by(*args: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["code"] == 0, result.stderr
    return list(report["loaded"])


@pytest.mark.parametrize(
    "args", [(), ("--help",), ("--version",), ("help", "query"), ("keys", "list", "--help")]
)
def test_help_and_version_load_nothing_heavy(args: tuple[str, ...]) -> None:
    assert loaded_by(*args) == []


async def test_keys_list_loads_neither_the_console_nor_the_batch_engine_nor_pydantic(
    fixture_db: str,
) -> None:
    loaded = loaded_by("keys", "list", "--redis-url", fixture_db)
    assert {"redis", "keyops.core.store.key_table"} <= set(loaded)
    assert not {"textual", "rich", "pydantic", "keyops.tui", "keyops.core.batch.planning"} & set(
        loaded
    )


async def test_a_batch_command_does_not_load_the_console(fixture_db: str) -> None:
    loaded = loaded_by(
        "tags", "add", "x", "--where", "tag:team-a", "--dry-run", "--redis-url", fixture_db
    )
    assert "keyops.core.batch.planning" in loaded
    assert not {"textual", "rich", "keyops.tui"} & set(loaded)


def first_line_then_hang_up(*args: str) -> tuple[str, int, str]:
    """Reads one line of keyops's output and closes the pipe, as `| head -1` does."""
    child = subprocess.Popen(
        [sys.executable, "-m", "keyops", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None and child.stderr is not None
    first = child.stdout.readline()
    child.stdout.close()
    stderr = child.stderr.read()
    return first, child.wait(timeout=60), stderr


async def test_output_cut_off_by_the_reader_ends_quietly(fixture_db: str) -> None:
    first, code, stderr = first_line_then_hang_up("keys", "list", "--redis-url", fixture_db)
    assert first.startswith("ID ")
    assert code == 141
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr
