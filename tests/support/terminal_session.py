"""A process on a pseudo-terminal it leads, as an operator's SSH session runs keyops: the tests
that hang the terminal up (a dropped link) or type Ctrl+C into it."""

from __future__ import annotations

import asyncio
import fcntl
import os
import select
import subprocess
import sys
import termios

import pytest
import redis.asyncio as aioredis


def cli_env() -> dict[str, str]:
    """The environment a command runs in: no Redis or keyops settings of the test process."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "KEYOPS_"))}


def take_terminal() -> None:
    """In the child: the pty on its stdin becomes its controlling terminal (it leads a new
    session), so closing the pty's far end hangs it up as a dropped SSH link does."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def spawn_on_terminal(*argv: str) -> tuple[subprocess.Popen[bytes], int]:
    """`python -m ARGV…` on a new pty; returns the child and the pty's master side."""
    master, slave = os.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", *argv], stdin=slave, stdout=slave, stderr=slave,
        start_new_session=True, preexec_fn=take_terminal, env={**cli_env(), "TERM": "xterm"},
    )  # fmt: skip
    os.close(slave)
    return child, master


def drain(master: int, seconds: float = 0.05) -> bytes:
    """Whatever the child wrote to its terminal (so it never blocks on a full one)."""
    got = b""
    while select.select([master], [], [], seconds)[0]:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed its side
            break
        if not chunk:
            break
        got += chunk
    return got


async def hang_up_at_stall(
    client: aioredis.Redis, child: subprocess.Popen[bytes], master: int, wait: float
) -> int:
    """Waits for a batch stalled by `tests.support.slow_batch` (`test:stalled` set), drops the
    link (the kernel sends SIGHUP to the session leader, later writes to the terminal fail with
    EIO), then lets the batch go on; returns the child's exit code."""
    try:
        for _ in range(int(wait / 0.05)):
            drain(master)  # the child draws; its terminal must never fill up
            if await client.exists("test:stalled"):
                break
            if child.poll() is not None:
                pytest.fail(f"it exited before the stall: {drain(master)!r}")
        else:
            pytest.fail("the batch never reached its stall")
        os.close(master)
        master = -1
        await asyncio.sleep(0.5)  # the hang-up lands before the batch is let go
        await client.set("test:release", "1")
        return await asyncio.to_thread(child.wait, wait)
    finally:
        if master >= 0:
            os.close(master)
        if child.poll() is None:
            child.kill()
            child.wait()
        await client.delete("test:stalled", "test:release")
