"""`keyops seed` on a real redis-server: progress, Ctrl+C, and redoing a seed it cut short."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import signal
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from keyops.core.errors import BadInput
from keyops.core.seeding.database import SEED_MARKER, seed_database
from tests.integration.test_cli import assert_one_line_error, keyops
from tests.support.dump import crs_fixture, load_dump
from tests.support.invariants import crs_index_problems
from tests.support.redis_server import RedisServer


@pytest.fixture
async def empty_db(redis_server: RedisServer) -> AsyncIterator[tuple[aioredis.Redis, str]]:
    client = aioredis.Redis(port=redis_server.port, db=4, decode_responses=True)
    await client.flushdb()
    yield client, f"redis://127.0.0.1:{redis_server.port}/4"
    await client.flushdb()
    await client.aclose()


def _default_sigint() -> None:
    # The test runner may have been started with SIGINT ignored, which a child inherits.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def _interrupted_seed(client: aioredis.Redis, url: str, keys: int) -> str:
    """Starts `keyops seed`, presses Ctrl+C once some key records are in, returns its stderr."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "keyops", "seed", "--keys", str(keys), "--redis-url", url,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_default_sigint,
    )  # fmt: skip
    try:
        for _ in range(600):
            if await client.exists("apikey:idx:all"):
                pytest.fail("the seed finished before it could be interrupted")
            if await client.dbsize() > 2000:  # a few chunks of key records are in
                break
            await asyncio.sleep(0.05)
        child.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(child.communicate(), 60)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert child.returncode == 130, stderr
    return stderr.decode()


def _on_a_terminal(*args: str) -> tuple[int, str, str]:
    """Runs keyops with its stderr on a pseudo-terminal: (exit code, stdout, what the terminal got)."""
    leader, follower = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "keyops", *args], stdout=subprocess.PIPE, stderr=follower, text=True
    )
    os.close(follower)
    stdout, _ = child.communicate(timeout=120)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal's other end is closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    return child.returncode, stdout, shown.decode()


async def test_an_interrupted_seed_says_what_it_left_and_is_redone_without_force(
    empty_db: tuple[aioredis.Redis, str],
) -> None:
    client, url = empty_db
    stderr = await _interrupted_seed(client, url, 20_000)
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("keyops: seed interrupted:") and "of 20000 keys" in last, stderr
    assert "run the same 'keyops seed' again" in last
    assert await client.hget(SEED_MARKER, "state") == "writing"
    assert await client.get("apikey:index:version") is None  # half a seed: records, no indexes

    # Redone with another size: nothing of the cut-off seed is left over.
    redo = keyops("seed", "--keys", "700", "--redis-url", url)
    assert redo.returncode == 0, redo.stderr
    assert "seeded 700 keys" in redo.stdout
    assert await crs_index_problems(client) == []
    listed = json.loads(
        keyops("keys", "list", "--json", "--include-deleted", "--redis-url", url).stdout
    )
    assert len(listed) == 700
    assert await client.hget(SEED_MARKER, "state") == "done"

    # A finished seed may have been used since: it is refused, as real data is.
    again = keyops("seed", "--keys", "10", "--redis-url", url)
    assert_one_line_error(again, 2, "keyops seeded 700 keys here")


async def test_real_crs_keys_are_never_taken_for_an_interrupted_seed(
    empty_db: tuple[aioredis.Redis, str],
) -> None:
    client, url = empty_db
    await load_dump(client, crs_fixture())
    # A marker of a cut-off seed next to keys keyops did not write (say, CRS ran here since).
    await client.hset(SEED_MARKER, mapping={"state": "writing", "keys": "50", "seed": "7"})
    before = await client.dbsize()
    with pytest.raises(BadInput, match="did not write"):
        await seed_database(client, 50)
    assert await client.dbsize() == before
    refused = keyops("seed", "--keys", "50", "--redis-url", url)
    assert_one_line_error(refused, 2, "did not write")


async def test_seed_shows_progress_lines_on_a_log_and_a_live_line_on_a_terminal(
    empty_db: tuple[aioredis.Redis, str],
) -> None:
    client, url = empty_db
    logged = keyops("seed", "--keys", "1500", "--redis-url", url)
    assert logged.returncode == 0, logged.stderr
    lines = logged.stderr.splitlines()
    assert lines[0] == "seed: writing keys: 0/1500 keys (0%)"
    assert lines[-1] == "seed: writing indexes: 1500/1500 keys (100%)"

    await client.flushdb()
    code, stdout, text = _on_a_terminal("seed", "--keys", "1500", "--redis-url", url)
    assert code == 0 and "seeded 1500 keys" in stdout
    # One line, rewritten in place (\r), ended once.
    assert "\rseed: writing keys: 0/1500 keys (0%)" in text
    assert "\rseed: writing indexes: 1500/1500 keys (100%)" in text
    assert text.count("\n") == 1
