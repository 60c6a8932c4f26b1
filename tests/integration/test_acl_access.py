"""Restricted Redis users: a permission gap is found before anything is written (ACL DRYRUN),
and a user who may not write keys gets a read-only console that says so."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from keyops.core.api import KeyopsSession
from keyops.core.settings import resolve_settings
from tests.integration.test_cli import keyops
from tests.support.dump import snapshot
from tests.support.redis_server import RedisServer
from tests.tui.conftest import session_app, static_text, type_filter, wait_loaded

OPERATIONS_DOC = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()

USERS = {
    # Reads everything, writes nothing (what an auditor or a look-around session gets).
    "reader": ["+@read", "+@connection", "+info", "+acl|whoami", "+acl|dryrun", "~*", "&*"],
    # Writes CRS's keys but not keyops's bookkeeping (lock, journal, audit): a partial grant.
    "keys-only": ["+@all", "-@dangerous", "+acl|whoami", "+acl|dryrun", "+info",
                  "~apikey:*", "~*account*", "&*"],
    # Everything, but may not ask what it may do: the check cannot run, the batch still does.
    "no-dryrun": ["+@all", "-acl", "~*", "&*"],
}  # fmt: skip


@pytest.fixture
async def acl_crs(crs: aioredis.Redis, redis_server: RedisServer) -> AsyncIterator[RedisServer]:
    for user, rules in USERS.items():
        await crs.execute_command("ACL", "SETUSER", user, "reset", "on", f">{user}-pw", *rules)
    yield redis_server
    for user in USERS:
        await crs.execute_command("ACL", "DELUSER", user)


def url(server: RedisServer, user: str) -> str:
    return f"redis://{user}:{user}-pw@127.0.0.1:{server.port}/0"


@pytest.mark.parametrize("user", ["reader", "keys-only"])
async def test_a_batch_the_user_may_not_finish_is_refused_before_writing(
    acl_crs: RedisServer, crs: aioredis.Redis, user: str
) -> None:
    before = await snapshot(crs)
    result = keyops(
        "tags",
        "add",
        "blocked",
        "--where",
        "tag:team-a",
        "--yes",
        "--redis-url",
        url(acl_crs, user),
    )
    assert result.returncode == 1, result.stderr
    said = result.stdout
    assert f"batch refused: Redis user '{user}' may not run" in said, result.stderr
    assert "nothing was written" in said
    if user == "reader":
        assert "HSET apikey:" in said
    else:
        assert "keyops:" in said  # the bookkeeping it lacks is named
    assert f"{user}-pw" not in result.stderr + result.stdout
    assert await snapshot(crs) == before  # not a byte, not even keyops's own keys


async def test_a_user_who_cannot_check_runs_with_a_note(
    acl_crs: RedisServer, crs: aioredis.Redis
) -> None:
    result = keyops(
        "tags",
        "add",
        "unchecked",
        "--where",
        "tag:team-a",
        "--yes",
        "--redis-url",
        url(acl_crs, "no-dryrun"),
    )
    assert result.returncode == 0, result.stderr
    assert await crs.scard("apikey:tag:unchecked") > 0


async def test_the_console_of_a_read_only_user_says_so_and_writes_nothing(
    acl_crs: RedisServer,
) -> None:
    session = await KeyopsSession.open(resolve_settings(url(acl_crs, "reader")))
    app = session_app(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        assert app.read_only
        banner = static_text(app, "#banner")
        assert "READ-ONLY" in banner and "'reader' may not run" in banner
        await type_filter(pilot, "tag:team-a")
        await pilot.press("asterisk", "t")
        await pilot.pause(0.2)
        assert type(app.screen).__name__ == "KeyListScreen"


async def test_the_least_privilege_acl_in_the_docs_runs_a_batch(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    line = next(row for row in OPERATIONS_DOC.splitlines() if row.startswith("ACL SETUSER keyops "))
    words = line.split()
    await crs.execute_command(
        *words[:3], *[w.replace(">CHANGE-ME", ">least-pw") for w in words[3:]]
    )
    try:
        target = f"redis://keyops:least-pw@127.0.0.1:{redis_server.port}/0"
        result = keyops(
            "tags", "add", "least", "--where", "tag:team-a", "--yes", "--redis-url", target
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "may not run" not in result.stdout
        listed = keyops("ops", "list", "--redis-url", target)
        assert listed.returncode == 0, listed.stderr
        assert await crs.scard("apikey:tag:least") > 0
    finally:
        await crs.execute_command("ACL", "DELUSER", "keyops")
