"""keyops as a user installs it: a wheel built from the repository, run from somewhere else.

The editable install the tests run from reads package data straight from the working tree, so
a .tcss or sample file missing from the wheel would pass every other test and break the first
`keyops demo` after `pipx install`. This builds the wheel, installs it into a folder of its own
and runs it from an unrelated directory, with that folder first on the path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import keyops

REPO = Path(__file__).resolve().parents[2]

# Runs the installed console on its built-in sample, headless, and prints what it shows.
DEMO_SCRIPT = """
import asyncio, sys
import keyops
assert keyops.__file__.startswith(sys.argv[1]), keyops.__file__
from keyops.tui.app import make_demo_app

async def main():
    app = make_demo_app(key_count=200)
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(300):
            await pilot.pause(0.05)
            status = str(app.screen.query_one("#status-line").render())
            if "shown of" in status:
                break
        print(status)
        print(app.screen.query_one("#keys").render_line(1).text)

asyncio.run(main())
"""


# What a build reads. Built from a copy, so nothing a build left in the working tree (build/,
# *.egg-info listing files from an earlier configuration) can add files the configuration lacks.
BUILD_INPUTS = ("pyproject.toml", "README.md", "keyops", "core", "tui", "cli")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in BUILD_INPUTS:
        if (REPO / name).is_dir():
            shutil.copytree(
                REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(source), "-w", str(out)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (built,) = out.glob("keyops-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
         str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    yield target


def run_installed(
    target: Path, cwd: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "KEYOPS_"))}
    env["PYTHONPATH"] = str(target)  # ahead of the editable install of the checkout
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_the_wheel_adds_only_keyops_and_carries_every_module_and_data_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    top_level = {
        name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")
    }
    assert top_level == {"keyops"}
    for part in ("core", "tui", "cli"):
        for source in (REPO / part).rglob("*.py"):
            installed_as = f"keyops/{part}/{source.relative_to(REPO / part).as_posix()}"
            assert installed_as in names, f"{installed_as} is missing from the wheel"
    assert "keyops/tui/keyops.tcss" in names
    assert "keyops/core/data/crs-sample.json" in names


def test_the_installed_command_prints_its_version_from_anywhere(
    installed: Path, tmp_path: Path
) -> None:
    for command in ([sys.executable, "-m", "keyops"], [str(installed / "bin" / "keyops")]):
        result = run_installed(installed, tmp_path, *command, "--version")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"keyops {keyops.__version__}"


def test_the_installed_demo_opens_on_its_sample(installed: Path, tmp_path: Path) -> None:
    result = run_installed(installed, tmp_path, sys.executable, "-c", DEMO_SCRIPT, str(installed))
    assert result.returncode == 0, result.stderr
    status, first_row = result.stdout.splitlines()[-2:]
    assert "shown of 200 keys" in status
    assert "alpha-console-1" in first_row  # the sample's first key, sorted by name
