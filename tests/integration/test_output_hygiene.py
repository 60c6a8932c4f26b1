"""Control characters and escape sequences stored in Redis (key names, descriptions, tags,
account and group names, audit values) never reach the terminal raw: not in any CLI output,
text or JSON, and not on any console screen. Rich markup in them is shown, not obeyed."""

from __future__ import annotations

import json
import re

import redis.asyncio as aioredis

from keyops.core.api import KeyopsSession
from tests.integration.test_cli import keyops
from tests.support.redis_server import RedisServer
from tests.tui.conftest import (
    add_tag_to_marked,
    session_app,
    type_filter,
    wait_for,
    wait_loaded,
    wait_screen,
)

# OSC (set the title), clear screen, bell, CSI in its one-byte C1 form, a right-to-left
# override, Rich markup that closes a tag nobody opened.
EVIL_NAME = "evil\x1b]0;owned\x07\x1b[2J\u202eman[/b]"
EVIL_TAG = "t\x1b[31m"
EVIL_ACCOUNT = "acct\x1b[5m\x9b2J"
EVIL_GROUP = "grp\x1b[7m"
# What a terminal acts on: C0 but newline, DEL, C1, bidi controls, unpaired surrogates.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


async def plant_hostile_text(crs: aioredis.Redis) -> str:
    """A key, its tag, its account and a group, all named with escape sequences."""
    key_id = sorted(await crs.smembers("apikey:tag:loop20"))[0]
    account = sorted(await crs.smembers("claude_console_account:index"))[0]
    group = sorted(await crs.smembers("account_groups"))[0]
    old_tags = json.loads(await crs.hget(f"apikey:{key_id}", "tags"))
    await crs.hset(f"apikey:{key_id}", mapping={
        "name": EVIL_NAME, "description": "d\x9b31m", "claudeAccountId": "",
        "tags": json.dumps([*old_tags, EVIL_TAG], separators=(",", ":")),
        "claudeConsoleAccountId": account, "evil\x1b[1mField": "x\x1b[0m",
    })  # fmt: skip
    await crs.zadd("apikey:idx:name", {f"{EVIL_NAME.lower()}\x00{key_id}": 0})
    await crs.sadd(f"apikey:tag:{EVIL_TAG}", key_id)
    await crs.sadd("apikey:tags:all", EVIL_TAG)
    await crs.hset(f"claude_console_account:{account}", "name", EVIL_ACCOUNT)
    await crs.hset(f"account_group:{group}", "name", EVIL_GROUP)
    return str(key_id)


def assert_clean(output: str, what: object) -> None:
    found = RAW.findall(output)
    assert not found, (what, found, output[:2000])


async def test_no_cli_output_carries_a_raw_control_character(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    key_id = await plant_hostile_text(crs)
    url = redis_server.url

    def run(*args: str) -> str:
        result = keyops(*args, "--redis-url", url)
        assert result.returncode == 0, (args, result.stderr)
        assert_clean(result.stdout + result.stderr, args)
        return result.stdout

    listed = run("keys", "list", "--where", "name:evil*")
    assert "\\x1b]0;owned\\x07" in listed and "\\u202e" in listed  # shown, as escapes
    assert json.loads(run("keys", "list", "--json", "--where", "name:evil*"))[0]["name"] == (
        EVIL_NAME
    )  # JSON keeps the exact value
    run("accounts", "list")
    run("accounts", "list", "--json")
    run("info")
    run("tags", "add", "x", "--ids", key_id, "--dry-run")
    run("tags", "add", "x", "--ids", key_id, "--dry-run", "--json")
    run("status", "disable", "--where", "name:evil*", "--dry-run")
    op_id = json.loads(run("tags", "remove", EVIL_TAG, "--ids", key_id, "--yes", "--json"))["op_id"]
    run("tags", "add", "y", "--ids", key_id, "--yes")
    run("ops", "list")
    run("ops", "show", op_id)
    run("ops", "show", op_id, "--json")
    run("audit", "list", "--op", op_id)
    run("audit", "list", "--op", op_id, "--json")
    run("audit", "export", "--op", op_id, "--format", "json")
    run("audit", "export", "--op", op_id, "--format", "csv")
    run("ops", "revert", op_id, "--dry-run")


async def test_no_console_screen_shows_a_raw_control_character(crs: aioredis.Redis) -> None:
    await plant_hostile_text(crs)
    app = session_app(KeyopsSession.from_client(crs, "real redis-server"))

    def screen_is_clean(what: str) -> None:
        assert_clean(app.export_screenshot(), what)

    async with app.run_test(size=(160, 50)) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "name:evil*")
        screen_is_clean("key list")
        await pilot.press("enter")
        await wait_screen(pilot, "KeyDetailScreen")
        await wait_for(pilot, lambda: "evil" in app.export_screenshot(), "fields read")
        await pilot.pause(0.3)
        screen_is_clean("key detail")
        await pilot.press("escape")
        await wait_screen(pilot, "KeyListScreen")
        await pilot.press("space")
        progress = await add_tag_to_marked(pilot, "z")
        assert progress.outcome is not None and progress.outcome.status.value == "done"
        screen_is_clean("progress summary")
        await pilot.press("escape")
        await wait_screen(pilot, "KeyListScreen")
        await pilot.press("a")
        await wait_screen(pilot, "AccountAssignScreen")
        await pilot.pause(0.3)
        screen_is_clean("account assignment")
        await pilot.press("escape")
        await wait_screen(pilot, "KeyListScreen")
        await pilot.press("o")
        await wait_screen(pilot, "OperationsScreen")
        await pilot.pause(0.5)
        screen_is_clean("operations and audit")
