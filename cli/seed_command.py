"""`keyops seed`: progress while it writes, and a Ctrl+C that stops at a chunk boundary.

Ctrl+C is taken as a request to stop after the chunk being written: on Python 3.11 the usual
path (asyncio cancels the task) can be lost inside redis-py's `asyncio.wait_for` when the
cancel meets a write that just finished, and the seed then runs on as if nothing was pressed.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time

from keyops.cli.text import plural
from keyops.core.api import BadInput, KeyopsSession, settings_from_args


class SeedStopped(Exception):
    """Ctrl+C was pressed; raised at the next chunk boundary."""


class SeedReport:
    """What `seed` has written so far: the progress line, and what Ctrl+C leaves behind."""

    def __init__(self, total: int, force: bool) -> None:
        self.endpoint = "the DB"
        self.force = force
        self.total = total
        self.phase = "starting"
        self.done = 0
        self.stop_requested = False
        self.tty = sys.stderr.isatty()
        self.last_line = 0.0

    def __call__(self, phase: str, done: int, total: int) -> None:
        self.phase, self.done, self.total = phase, done, total
        if self.stop_requested:
            raise SeedStopped
        now = time.monotonic()
        # A terminal gets a live line; a log gets a line every few seconds, not one per chunk.
        if phase == "keys" and now - self.last_line < (0.2 if self.tty else 5.0):
            return
        self.last_line = now
        what = "writing indexes" if phase == "indexes" else "writing keys"
        percent = self.done * 100 // max(1, self.total)
        line = f"seed: {what}: {self.done}/{self.total} keys ({percent}%)"
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr)

    def end_line(self) -> None:
        if self.tty and self.last_line:
            print(file=sys.stderr)

    def interrupted(self) -> str:
        where = (
            "every key record, not yet their indexes"
            if self.phase == "indexes"
            else f"{self.done} of {plural(self.total, 'key')}"
        )
        again = (
            "run the same 'keyops seed --force' again to write the rest"
            if self.force
            else "run the same 'keyops seed' again to redo it (keyops marked the DB as its own "
            "seed, so no --force is needed)"
        )
        return f"seed interrupted: {self.endpoint} holds part of it ({where}); {again}"


async def _seed(args: argparse.Namespace, report: SeedReport) -> int:
    settings = settings_from_args(args)
    report.endpoint = settings.endpoint
    session = await KeyopsSession.open(settings, require_crs=False)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, lambda: setattr(report, "stop_requested", True))
    try:
        written = await session.seed(args.keys, seed=args.seed, force=args.force, progress=report)
    except SeedStopped:
        report.end_line()
        print(f"keyops: {report.interrupted()}", file=sys.stderr)
        return 130
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        await session.aclose()
    report.end_line()
    print(f"seeded {plural(written, 'key')} into {settings.endpoint}")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    if args.keys < 0:
        raise BadInput("--keys must be 0 or more")
    return asyncio.run(_seed(args, SeedReport(args.keys, args.force)))
