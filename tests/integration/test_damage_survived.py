"""Damage never blocks a disable and never crashes: values CRS's JSON.stringify or a hand edit
leave in a key (an unpaired UTF-16 surrogate in `tags`, an unreadable date, odd tags, no `tags`
field at all) are listed and survived, a disable needs only `isActive`, and a key without a
`tags` field can be tagged."""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from keyops.core.api import KeyopsSession
from tests.integration.test_cli import keyops
from tests.support.invariants import crs_index_problems
from tests.support.redis_server import RedisServer
from tests.tui.conftest import session_app, shown_names, type_filter, wait_loaded

# What Node's JSON.stringify writes for a tag cut inside an emoji: valid JSON, and an unpaired
# UTF-16 surrogate once parsed.
CUT_TAG_JSON = '"cut\\ud83d"'


async def _team_b_key(crs: aioredis.Redis) -> str:
    return str(sorted(await crs.smembers("apikey:tag:team-b"))[0])


async def _cut_a_tag(crs: aioredis.Redis, key_id: str) -> None:
    """The key carries the cut tag the way CRS stores it: in the hash as JSON.stringify wrote
    it, and in the index under the UTF-8 Node's Buffer makes of it (U+FFFD for the surrogate)."""
    tags = await crs.hget(f"apikey:{key_id}", "tags")
    await crs.hset(f"apikey:{key_id}", "tags", tags[:-1] + "," + CUT_TAG_JSON + "]")
    await crs.sadd("apikey:tag:cut\ufffd", key_id)
    await crs.sadd("apikey:tags:all", "cut\ufffd")


async def test_an_unpaired_surrogate_in_tags_is_listed_and_every_command_survives_it(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    key_id = await _team_b_key(crs)
    await _cut_a_tag(crs, key_id)
    url = redis_server.url

    listed = keyops("keys", "list", "--where", "tag:team-b", "--json", "--redis-url", url)
    assert listed.returncode == 0, listed.stderr
    by_id = {key["id"]: key for key in json.loads(listed.stdout)}
    assert by_id[key_id]["tags"][-1] == "cut\ud83d"
    text = keyops("keys", "list", "--where", "tag:team-b", "--redis-url", url)
    assert text.returncode == 0, text.stderr
    assert "cut\\ud83d" in text.stdout  # shown as stored, flagged by the visible escape
    assert keyops("info", "--redis-url", url).returncode == 0

    before = await crs.hget(f"apikey:{key_id}", "tags")
    tagged = keyops("tags", "add", "incident-9", "--ids", key_id, "--yes", "--redis-url", url)
    assert tagged.returncode == 0, tagged.stdout + tagged.stderr
    # Exactly what CRS's batch edit would have stored: the cut tag kept as JSON.stringify
    # writes it, the new tag indexed.
    assert await crs.hget(f"apikey:{key_id}", "tags") == before[:-1] + ',"incident-9"]'
    assert await crs.sismember("apikey:tag:incident-9", key_id)
    assert await crs_index_problems(crs) == []

    replaced = keyops("tags", "replace", "team-b", "--ids", key_id, "--yes", "--redis-url", url)
    assert replaced.returncode == 0, replaced.stdout + replaced.stderr
    # Dropping the cut tag takes it out of the set CRS indexed it under, and out of tags:all.
    assert not await crs.exists("apikey:tag:cut\ufffd")
    assert not await crs.sismember("apikey:tags:all", "cut\ufffd")
    assert await crs_index_problems(crs) == []

    await _cut_a_tag(crs, key_id)
    disabled = keyops("status", "disable", "--ids", key_id, "--yes", "--redis-url", url)
    assert disabled.returncode == 0, disabled.stdout + disabled.stderr
    assert await crs.hget(f"apikey:{key_id}", "isActive") == "false"


async def test_the_console_lists_a_key_with_a_cut_tag(crs: aioredis.Redis) -> None:
    key_id = await _team_b_key(crs)
    name = await crs.hget(f"apikey:{key_id}", "name")
    await _cut_a_tag(crs, key_id)
    app = session_app(KeyopsSession.from_client(crs, "real redis-server"))
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_loaded(pilot)
        await type_filter(pilot, "tag:team-b")
        assert name in shown_names(app)
        for number in range(len(shown_names(app)) + 1):
            app.screen.query_one("#keys").render_line(number)  # type: ignore[attr-defined]


async def test_a_disable_needs_only_isactive(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    """Unreadable dates and odd tags elsewhere in a key never keep a disable from landing."""
    ids = sorted(await crs.smembers("apikey:tag:loop20"))[:3]
    await crs.hset(f"apikey:{ids[0]}", mapping={"expiresAt": "next friday", "updatedAt": "?"})
    await crs.hset(f"apikey:{ids[1]}", "tags", '["loop20", 7, null]')
    await crs.hset(f"apikey:{ids[2]}", "updatedAt", "2026-13-45T99:00:00Z")
    result = keyops(
        "status", "disable", "--ids", ",".join(ids), "--yes", "--json",
        "--redis-url", redis_server.url,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["counts"]["applied"] == 3 and outcome["counts"]["skipped"] == 0, outcome
    for key_id in ids:
        assert await crs.hget(f"apikey:{key_id}", "isActive") == "false"
        assert not await crs.sismember("apikey:set:active", key_id)
    # The odd values stay exactly as they were.
    assert await crs.hget(f"apikey:{ids[0]}", "expiresAt") == "next friday"
    assert await crs.hget(f"apikey:{ids[1]}", "tags") == '["loop20", 7, null]'


async def test_a_key_without_a_tags_field_can_be_tagged(
    crs: aioredis.Redis, redis_server: RedisServer
) -> None:
    """Older CRS wrote no `tags`, `isDeleted` or `updatedAt`: such a key exists all the same."""
    key_id = sorted(await crs.smembers("apikey:tag:loop20"))[0]
    await crs.hdel(f"apikey:{key_id}", "tags", "isDeleted", "updatedAt")
    await crs.srem("apikey:tag:loop20", key_id)
    for action in ("add", "remove"):
        result = keyops(
            "tags", action, "legacy", "--ids", key_id, "--yes", "--json",
            "--redis-url", redis_server.url,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert json.loads(result.stdout)["status"] == "done"
        expected = '["legacy"]' if action == "add" else "[]"
        assert await crs.hget(f"apikey:{key_id}", "tags") == expected
    assert await crs_index_problems(crs) == []
