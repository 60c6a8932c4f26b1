"""Start-up cost of the `keyops` command: --help, --version, keys list and a tag add on 1,000 keys.

    ./dev bench cli_startup [--runs 7] [--label after] [--build LABEL=DIR ...]

Each command runs as its own process, the way an operator or a script runs it, against a
redis-server this bench starts on a loopback port and seeds with 1,000 CRS-shaped keys. Reported
per command: the median wall time and the median CPU time (user + sys of the child, read from
wait4), beside a bare `python -c pass` of the same interpreter. The machine is shared, so CPU
time is the steadier number; wall time is what a user waits. Targets: `--help` <= 0.12 s,
`keys list` <= 0.25 s, `tags add --yes` on 1,000 keys <= 0.6 s.

`--build LABEL=DIR` (repeatable) measures the keyops installed in DIR instead (e.g. `pip install
--no-deps --target DIR .` from an older commit; DIR goes first on PYTHONPATH); several builds are
measured in interleaved rounds, so load from other users of the machine falls on all of them
alike. Without it the keyops of this environment is measured, under `--label`. Every command runs
from an empty temporary folder, as an operator's would. Results go to
bench/results/cli_startup.txt, one section per label; sections with other labels stay.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis

from keyops.core.seeding.writer import seed_dataset
from tests.support.redis_server import start_redis_server

RESULTS = Path(__file__).parent / "results" / "cli_startup.txt"
KEYS = 1000
TARGETS = {"keyops --help": 0.12, "keys list": 0.25, "tags add --yes": 0.6}


@dataclass(frozen=True)
class Sample:
    wall: float
    cpu: float
    exit_code: int


def run_once(command: list[str], env: dict[str, str], cwd: Path) -> Sample:
    started = time.perf_counter()
    child = subprocess.Popen(
        command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    assert child.stderr is not None
    error = child.stderr.read()  # drained before the wait, so a chatty child never blocks
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    child.stderr.close()
    if child.returncode not in (0, 2):  # 2: an older keyops refusing --version is still timed
        raise RuntimeError(f"{command} exited {child.returncode}: {error.decode()[-500:]}")
    return Sample(wall, usage.ru_utime + usage.ru_stime, child.returncode)


async def seed(url: str) -> None:
    client = aioredis.from_url(url, decode_responses=True)
    await seed_dataset(client, KEYS)
    await client.aclose()


@dataclass(frozen=True)
class Build:
    label: str
    env: dict[str, str]
    location: str


def build(label: str, site: Path | None, cwd: Path) -> Build:
    env = dict(os.environ)
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(site.resolve()), *filter(None, [env.get("PYTHONPATH")])]
        )
    location = subprocess.run(
        [sys.executable, "-c", "import keyops; print(keyops.__file__)"],
        env=env, cwd=cwd, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    return Build(label, env, location)


def commands(url: str, run: int, label: str) -> dict[str, list[str]]:
    python = sys.executable
    # What the `keyops` console script runs.
    keyops = [python, "-c", "import sys; from keyops.cli.launcher import main; sys.exit(main())"]
    return {
        "python -c pass": [python, "-c", "pass"],
        "keyops --help": [*keyops, "--help"],
        "keyops --version": [*keyops, "--version"],
        "keys list": [*keyops, "keys", "list", "--redis-url", url],
        # A new tag every run, so each run writes every key (lock, journal, verify, audit).
        "tags add --yes": [*keyops, "tags", "add", f"bench-{label}-{run}", "--where", "",
                           "--yes", "--redis-url", url],
    }  # fmt: skip


def report(build: Build, results: dict[str, list[Sample]], runs: int) -> str:
    load = os.getloadavg()
    lines = [
        f"## {build.label}",
        f"keyops from {build.location}; {runs} runs each, medians; {KEYS} seeded keys; "
        f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores, shared)",
        f"{'command':<18} {'wall s':>7} {'cpu s':>7} {'target':>7}",
    ]
    for name, samples in results.items():
        wall = statistics.median(s.wall for s in samples)
        cpu = statistics.median(s.cpu for s in samples)
        target = f"{TARGETS[name]:.2f}" if name in TARGETS else ""
        note = f"  (exit {samples[0].exit_code})" if samples[0].exit_code else ""
        lines.append(f"{name:<18} {wall:>7.3f} {cpu:>7.3f} {target:>7}{note}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--label", default="current", help="name of this environment's keyops")
    parser.add_argument("--build", action="append", default=[], metavar="LABEL=DIR",
                        help="measure the keyops installed in DIR; an empty DIR is this environment (repeatable)")  # fmt: skip
    parser.add_argument("--no-save", action="store_true", help="print only")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="keyops-bench-") as folder:
        cwd = Path(folder)
        builds = [build(args.label, None, cwd)] if not args.build else [
            build(label, Path(site) if site else None, cwd) for label, site in
            (spec.split("=", 1) for spec in args.build)
        ]  # fmt: skip
        server = start_redis_server()
        try:
            asyncio.run(seed(server.url))
            results: dict[str, dict[str, list[Sample]]] = {
                b.label: {name: [] for name in commands("", 0, "")} for b in builds
            }
            # Interleaved rounds: a burst of load from the other users of the machine spreads
            # over every command and every build instead of landing on one.
            for run in range(args.runs):
                for each in builds:
                    for name, command in commands(server.url, run, each.label).items():
                        results[each.label][name].append(run_once(command, each.env, cwd))
        finally:
            server.stop()

    for each in builds:
        section = report(each, results[each.label], args.runs)
        print(section)
        if not args.no_save:
            save(each.label, section)


def save(label: str, section: str) -> None:
    """Replace this label's section in the results file and keep the others."""
    kept: list[str] = []
    if RESULTS.exists():
        for block in RESULTS.read_text().split("\n\n"):
            if block.strip() and not block.startswith(f"## {label}\n"):
                kept.append(block.strip())
    RESULTS.write_text("\n\n".join([*kept, section]) + "\n")


if __name__ == "__main__":
    main()
