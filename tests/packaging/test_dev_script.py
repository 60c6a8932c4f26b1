"""`./dev`, the newcomer's entry point: a typo fails loudly, `./dev bench` says what there is."""

from __future__ import annotations

import subprocess
from pathlib import Path

DEV = Path(__file__).resolve().parents[2] / "dev"


def dev(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DEV), *args], capture_output=True, text=True, timeout=60)


def test_an_unknown_command_fails_with_usage_on_stderr() -> None:
    result = dev("tset")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "unknown command 'tset'" in result.stderr and "./dev test" in result.stderr


def test_no_command_prints_usage_and_succeeds() -> None:
    result = dev()
    assert result.returncode == 0
    assert "./dev test" in result.stdout and "./dev bench" in result.stdout


def test_bench_without_a_name_lists_each_bench_with_its_summary() -> None:
    result = dev("bench")
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    benches = {p.stem for p in (DEV.parent / "bench").glob("*.py")} - {"__init__"}
    assert set(listed) == benches
    assert "Start-up cost of the `keyops` command" in listed["cli_startup"]


def test_an_unknown_bench_fails_and_lists_the_real_ones() -> None:
    result = dev("bench", "no_such_bench")
    assert result.returncode == 2
    assert "no bench named 'no_such_bench'" in result.stderr and "cli_startup" in result.stderr
